package jobdef

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/lab"
)

// MaxGroupSize is the most jobs one multinode submission may make: the sum
// of its role counts. LAVA has no such bound (its device count bounds
// device roles, nothing bounds connection roles); Basalt has one because
// Split writes and parses one definition per job.
const MaxGroupSize = 100

// MaxTargetGroup is the longest target group name (LAVA's
// TestJob.target_group is 64 characters).
const MaxTargetGroup = 64

// SubJob is one job of a multinode group, made by Split: one instance of
// one role.
type SubJob struct {
	// Role is the role this job plays.
	Role string
	// Index is LAVA's sub_id: the job's 0-based place in the group, in
	// the order of the roles in the submission and then of the role's
	// instances. LAVA's TestJob.sub_id is "<first job's id>.<Index>".
	Index int
	// Definition is the job's definition (see Split), to store and run
	// as the job's own.
	Definition string
	// Job is Definition parsed (with ServerGenerated).
	Job *Job
}

// serverKeys are the keys of protocols.lava-multinode that the server
// writes in the sub-jobs it makes of a multinode job, and only there.
var serverKeys = []string{"target_group", "role", "group_size", "sub_id"}

// splitCopies are the top-level keys of a submission each sub-job keeps
// (LAVA's split_multinode_yaml copies); any other top-level key but
// protocols and actions is dropped.
var splitCopies = map[string]bool{
	"job_name": true, "timeouts": true, "priority": true, "visibility": true, "notify": true,
	"metadata": true, "reboot_to_fastboot": true, "secrets": true,
}

// splitTopRoleKeys are the role keys a sub-job has at its top level, in
// this order; the others go to its protocols.lava-multinode, but for count,
// which it does not keep.
var splitTopRoleKeys = []string{"device_type", "connection", "host_role", "context"}

// Split makes the jobs of a multinode submission, as LAVA's server does
// when it is submitted (lava_scheduler_app.utils.split_multinode_yaml):
// one job per instance of each role (count), in the order of the roles in
// the submission, with Index (sub_id) counting from 0 across the group.
// job is src parsed (Parse, with the options given here); it must have
// protocols.lava-multinode with roles. targetGroup names the group (LAVA:
// a random UUID; at most MaxTargetGroup characters).
//
// Each Definition is the submission's, for its role:
//
//   - the top-level keys job_name, timeouts, priority, visibility, notify,
//     metadata, reboot_to_fastboot and secrets, as submitted (others are
//     dropped);
//   - the role's device_type, connection, host_role and context at the
//     top level;
//   - protocols.lava-multinode holding target_group, role, group_size
//     (the sum of every role's count), sub_id, then the role's other keys
//     (tags, environment, essential, timeout, device, worker, expect_role,
//     request, and keys Parse ignored), then the block's own keys but
//     roles (timeout, which replaces a role's timeout, as in LAVA);
//   - the actions whose role list names the role, in order, each with
//     role: <the role> (a string, as LAVA writes it).
//
// Values are written as submitted: strings, numbers, multi-line scripts
// read back the same; mappings and lists the submission shares through
// anchors are written once, with an anchor. Each Definition is parsed
// with ServerGenerated (and opts) into Job, and must read back as built.
//
// Split returns an error wrapping lab.ErrInvalid when the job cannot be
// split: not a multinode submission, a sub-job beyond Parse's limits
// (MaxSourceSize, MaxKeys once aliases are expanded).
func Split(src []byte, job *Job, targetGroup string, opts ...Option) ([]SubJob, error) {
	if job == nil || job.Protocols.Multinode == nil || job.Protocols.Multinode.Member != nil {
		return nil, fmt.Errorf("split multinode job: not a multinode submission (protocols.lava-multinode with roles): %w", lab.ErrInvalid)
	}
	if targetGroup == "" || utf8.RuneCountInString(targetGroup) > MaxTargetGroup {
		return nil, fmt.Errorf("split multinode job: target group %q must have 1 to %d characters: %w", targetGroup, MaxTargetGroup, lab.ErrInvalid)
	}
	if err := lab.CheckText("target group", targetGroup); err != nil {
		return nil, fmt.Errorf("split multinode job: %w", err)
	}
	root := job.root
	if root == nil {
		errs := &errList{}
		if root = readTree(src, errs); root == nil {
			return nil, fmt.Errorf("split multinode job: %w", errs.result())
		}
	}
	trees, err := splitTree(root, targetGroup)
	if err != nil {
		return nil, fmt.Errorf("split multinode job: %w", err)
	}
	opts = append(append([]Option(nil), opts...), ServerGenerated())
	out := make([]SubJob, 0, len(trees))
	for _, t := range trees {
		def, err := emit(t.root, MaxSourceSize)
		if errors.Is(err, errTooLarge) {
			return nil, fmt.Errorf("split multinode job: the job of role %q (sub_id %d) would be larger than %d bytes, with the aliases it uses expanded: %w",
				t.role, t.index, MaxSourceSize, lab.ErrInvalid)
		}
		if err != nil {
			return nil, fmt.Errorf("split multinode job: role %q (sub_id %d): %w", t.role, t.index, err)
		}
		sub, err := Parse(def, opts...)
		if err != nil {
			return nil, fmt.Errorf("split multinode job: the job of role %q (sub_id %d) is invalid:\n%w", t.role, t.index, err)
		}
		if !sameTree(t.root, sub.root) {
			return nil, fmt.Errorf("split multinode job: role %q (sub_id %d): the definition written does not read back as built (a bug in jobdef)", t.role, t.index)
		}
		out = append(out, SubJob{Role: t.role, Index: t.index, Definition: string(def), Job: sub})
	}
	return out, nil
}

// subTree is one sub-job's document, built by splitTree.
type subTree struct {
	role  string
	index int
	root  *node
}

// splitTree builds the sub-jobs' documents from a submission's tree. It
// relies on nothing Parse checked (so that LAVA's own examples, which
// Parse may refuse for what Basalt does not run, can be split and
// compared with LAVA's split), and fails on a shape it cannot split. The
// documents share the submission's nodes; only the mappings that differ
// are new.
func splitTree(root *node, targetGroup string) ([]subTree, error) {
	if root.kind != mapNode {
		return nil, fmt.Errorf("the job is not a mapping: %w", lab.ErrInvalid)
	}
	block := lookup(root, "protocols", "lava-multinode")
	roles := lookup(block, "roles")
	if roles == nil || roles.kind != mapNode || len(roles.entries) == 0 {
		return nil, fmt.Errorf("protocols.lava-multinode.roles is missing or empty: %w", lab.ErrInvalid)
	}
	actions := lookup(root, "actions")
	if actions == nil || actions.kind != seqNode {
		return nil, fmt.Errorf("actions is missing: %w", lab.ErrInvalid)
	}

	counts := make([]int, len(roles.entries))
	size := 0
	for i, r := range roles.entries {
		c := lookup(r.val, "count")
		v, ok := intValue(c)
		if r.val.kind != mapNode || !ok || v < 0 {
			return nil, fmt.Errorf("role %q has no count: %w", r.key, lab.ErrInvalid)
		}
		if v > MaxGroupSize || size+int(v) > MaxGroupSize {
			return nil, fmt.Errorf("the role counts add up to more than %d: %w", MaxGroupSize, lab.ErrInvalid)
		}
		counts[i] = int(v)
		size += int(v)
	}
	if size == 0 {
		return nil, fmt.Errorf("the role counts add up to 0: %w", lab.ErrInvalid)
	}

	var out []subTree
	for ri, r := range roles.entries {
		if counts[ri] == 0 {
			continue
		}
		acts, err := roleActions(actions, r.key)
		if err != nil {
			return nil, err
		}
		for range counts[ri] {
			index := len(out)
			var top []entry
			if v := lookup(root, "job_name"); v != nil {
				top = append(top, entry{key: "job_name", val: v})
			}
			for _, k := range splitTopRoleKeys {
				if v := lookup(r.val, k); v != nil {
					top = append(top, entry{key: k, val: v})
				}
			}
			for _, e := range root.entries {
				if splitCopies[e.key] && e.key != "job_name" {
					top = append(top, entry{key: e.key, val: e.val})
				}
			}
			mn := &node{kind: mapNode, entries: []entry{
				{key: "target_group", val: strNode(targetGroup)},
				{key: "role", val: strNode(r.key)},
				{key: "group_size", val: intNode(size)},
				{key: "sub_id", val: intNode(index)},
			}}
			for _, e := range r.val.entries {
				if e.key != "count" && !isOneOf(e.key, splitTopRoleKeys) && !isOneOf(e.key, serverKeys) {
					setEntry(mn, e.key, e.val)
				}
			}
			for _, e := range block.entries {
				if e.key != "roles" && !isOneOf(e.key, serverKeys) {
					setEntry(mn, e.key, e.val)
				}
			}
			top = append(top,
				entry{key: "protocols", val: &node{kind: mapNode, entries: []entry{{key: "lava-multinode", val: mn}}}},
				entry{key: "actions", val: &node{kind: seqNode, items: acts}})
			out = append(out, subTree{role: r.key, index: index, root: &node{kind: mapNode, entries: top}})
		}
	}
	return out, nil
}

// roleActions returns the actions whose role list names role, each with
// role replaced by the role's name.
func roleActions(actions *node, role string) ([]*node, error) {
	var out []*node
	for i, a := range actions.items {
		if a.kind != mapNode || len(a.entries) != 1 || a.entries[0].val.kind != mapNode {
			return nil, fmt.Errorf("actions[%d] is not an action block: %w", i, lab.ErrInvalid)
		}
		kind, body := a.entries[0].key, a.entries[0].val
		roles := lookup(body, "role")
		if roles == nil {
			return nil, fmt.Errorf("actions[%d].%s has no role: %w", i, kind, lab.ErrInvalid)
		}
		if !namesRole(roles, role) {
			continue
		}
		nb := &node{kind: mapNode, entries: make([]entry, len(body.entries))}
		copy(nb.entries, body.entries)
		for j := range nb.entries {
			if nb.entries[j].key == "role" {
				nb.entries[j].val = strNode(role)
			}
		}
		out = append(out, &node{kind: mapNode, entries: []entry{{key: kind, val: nb}}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("role %q has no action: %w", role, lab.ErrInvalid)
	}
	return out, nil
}

// namesRole reports whether an action's role value (a list, or one name)
// names role.
func namesRole(n *node, role string) bool {
	if n.kind == scalarNode {
		return n.text == role
	}
	for _, it := range n.items {
		if it.kind == scalarNode && it.text == role {
			return true
		}
	}
	return false
}

// lookup follows mapping keys from n; nil when one is missing.
func lookup(n *node, keys ...string) *node {
	for _, k := range keys {
		if n == nil || n.kind != mapNode {
			return nil
		}
		var next *node
		for _, e := range n.entries {
			if e.key == k {
				next = e.val
				break
			}
		}
		n = next
	}
	return n
}

func intValue(n *node) (int64, bool) {
	if n == nil || n.kind != scalarNode || n.styp != intScalar {
		return 0, false
	}
	switch v := n.val.(type) {
	case int64:
		return v, true
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v), true
		}
	}
	return 0, false
}

// setEntry replaces the value of key in the mapping n, or appends it.
func setEntry(n *node, key string, val *node) {
	for i := range n.entries {
		if n.entries[i].key == key {
			n.entries[i].val = val
			return
		}
	}
	n.entries = append(n.entries, entry{key: key, val: val})
}

func isOneOf(s string, list []string) bool {
	for _, x := range list {
		if s == x {
			return true
		}
	}
	return false
}

func strNode(s string) *node {
	return &node{kind: scalarNode, styp: strScalar, text: s, val: s}
}

func intNode(v int) *node {
	return &node{kind: scalarNode, styp: intScalar, text: strconv.Itoa(v), val: int64(v)}
}
