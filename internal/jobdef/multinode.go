package jobdef

import (
	"fmt"
	"math"
	"strings"
)

// Protocols is the top-level protocols block. Only lava-multinode is
// supported; lava-xnbd is recognised and rejected as not supported.
type Protocols struct {
	Multinode *Multinode `json:"lava-multinode,omitempty"`
}

// Multinode is protocols.lava-multinode. In a submission it lists the
// roles of a multinode group: Roles is never empty, RoleNames has their
// names in the order written, and the role counts add up to 1 to
// MaxGroupSize. In a sub-job that Split made (parsed with
// ServerGenerated), Member says which member of the group the job is, and
// Roles is nil. Timeout is the default timeout of multinode API calls (in a
// sub-job, the block's timeout, or else its role's, see Split).
type Multinode struct {
	Pos       Pos             `json:"pos"`
	Roles     map[string]Role `json:"roles,omitempty"`
	RoleNames []string        `json:"role_names,omitempty"`
	Timeout   *Timeout        `json:"timeout,omitempty"`
	Member    *Member         `json:"member,omitempty"`
}

// Member is a sub-job's place in its multinode group and what its role
// asks for beyond what Job holds. LAVA writes device_type, connection,
// host_role and context at the top level of a sub-job and the other role
// keys in protocols.lava-multinode; Parse reads them from there, and fills
// Job.DeviceType, Job.Context, Job.Tags, Job.Environment, Job.Device and
// Job.Worker from the role, so that a sub-job is scheduled like any job.
type Member struct {
	// TargetGroup names the group (LAVA: a UUID), 1 to MaxTargetGroup
	// characters; the coordinator's group_name.
	TargetGroup string `json:"target_group"`
	// Role is the job's role.
	Role string `json:"role"`
	// SubID is the job's 0-based place in the group (SubJob.Index).
	SubID int `json:"sub_id"`
	// GroupSize is the number of jobs in the group, SubID < GroupSize.
	GroupSize int `json:"group_size"`
	// Essential: when this job ends Incomplete or is canceled, the
	// whole group is canceled.
	Essential bool `json:"essential,omitempty"`
	// Connection is set (ssh) for a dynamic-connection role, which has no
	// device (Job.DeviceType is empty) and runs on the worker of its
	// HostRole's job; ExpectRole is the role it waits for when Request is
	// lava-start. HostRole and ExpectRole go together.
	Connection string `json:"connection,omitempty"`
	HostRole   string `json:"host_role,omitempty"`
	ExpectRole string `json:"expect_role,omitempty"`
	Request    string `json:"request,omitempty"`
}

// Role is one role of a multinode job. A device role has DeviceType; a
// dynamic-connection role has Connection, HostRole and ExpectRole instead
// (and no Device or Worker). HostRole and ExpectRole name other roles of the
// job; the host role has Count 1. Device requires Count 1.
type Role struct {
	Pos         Pos            `json:"pos"`
	DeviceType  string         `json:"device_type,omitempty"`
	Connection  string         `json:"connection,omitempty"`
	Count       int            `json:"count"`
	Device      string         `json:"device,omitempty"`
	Worker      string         `json:"worker,omitempty"`
	Context     map[string]any `json:"context,omitempty"`
	Tags        []string       `json:"tags,omitempty"`
	Environment map[string]any `json:"environment,omitempty"`
	Essential   bool           `json:"essential,omitempty"`
	Timeout     *Timeout       `json:"timeout,omitempty"`
	HostRole    string         `json:"host_role,omitempty"`
	ExpectRole  string         `json:"expect_role,omitempty"`
	Request     string         `json:"request,omitempty"`
}

var roleKeys = []string{
	"device_type", "connection", "count", "device", "worker", "context", "tags",
	"environment", "essential", "timeout", "host_role", "expect_role", "request",
}

// memberKeys are the keys of protocols.lava-multinode in a sub-job.
var memberKeys = []string{
	"target_group", "role", "group_size", "sub_id", "timeout", "essential", "tags",
	"environment", "device", "worker", "expect_role", "request",
}

// serverOnly is the message for a key only the server writes, in the
// sub-jobs it makes of a multinode submission.
func serverOnly(key string) string {
	return fmt.Sprintf("%s is set by the server in the jobs it makes of a multinode submission: submit the whole job, with protocols.lava-multinode.roles", key)
}

// protocols reads the protocols block; multinode reports whether
// lava-multinode is present (even if invalid), which changes the top-level
// rules.
func (d *decoder) protocols(n *node, path string) (Protocols, bool) {
	var ps Protocols
	m := d.asMap(n, path)
	if m == nil {
		return ps, false
	}
	v, multinode := m.get("lava-multinode")
	if multinode {
		if isMemberBlock(v) {
			ps.Multinode = d.memberBlock(v, m.sub("lava-multinode"))
		} else {
			ps.Multinode = d.multinodeBlock(v, m.sub("lava-multinode"))
		}
	}
	if _, ok := m.get("lava-xnbd"); ok {
		d.errorf(m.keyPos("lava-xnbd"), m.sub("lava-xnbd"), "protocol lava-xnbd is not supported (supported: lava-multinode)")
	}
	if _, ok := m.get("lava-lxc"); ok {
		d.errorf(m.keyPos("lava-lxc"), m.sub("lava-lxc"), "protocol lava-lxc is not supported (LAVA dropped LXC in 2026.04; supported: lava-multinode)")
	}
	d.unknownKeys(m, []string{"lava-multinode", "lava-xnbd"}, "lava-lxc")
	return ps, multinode
}

func (d *decoder) multinodeBlock(n *node, path string) *Multinode {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	mn := &Multinode{Pos: n.pos, Roles: map[string]Role{}}
	if v, ok := m.get("timeout"); ok {
		if t, ok := d.timeout(v, m.sub("timeout")); ok {
			mn.Timeout = &t
		}
	}
	for _, k := range serverKeys {
		if _, ok := m.get(k); ok {
			d.errorf(m.keyPos(k), m.sub(k), "%s", serverOnly(k))
		}
	}
	d.unknownKeys(m, []string{"roles", "timeout"}, serverKeys...)
	v, ok := d.require(m, "roles")
	if !ok {
		return mn
	}
	rp := m.sub("roles")
	rm := d.asMap(v, rp)
	if rm == nil {
		return mn
	}
	if len(v.entries) == 0 {
		d.errorf(v.pos, rp, "needs at least one role")
		return mn
	}
	type link struct {
		pos  Pos
		path string
		name string
	}
	var links []link     // host_role/expect_role references, checked once all roles are read
	var hostRoles []link // roles used as host_role, which must have count 1
	valid := map[string]bool{}
	total := 0
	for _, e := range v.entries {
		p := KeyPath(rp, e.key)
		if strings.TrimSpace(e.key) == "" {
			d.errorf(e.keyPos, p, "role name must not be empty")
			continue
		}
		// Invalid roles are kept too, so that references to them are not
		// reported as unknown roles on top of their own errors.
		r, ok := d.role(e.val, p)
		mn.Roles[e.key] = r
		mn.RoleNames = append(mn.RoleNames, e.key)
		valid[e.key] = ok
		total += r.Count
		if r.HostRole != "" {
			rm := &mapping{n: e.val, path: p}
			links = append(links, link{rm.keyPos("host_role"), rm.sub("host_role"), r.HostRole})
			hostRoles = append(hostRoles, link{rm.keyPos("host_role"), rm.sub("host_role"), r.HostRole})
		}
		if r.ExpectRole != "" {
			rm := &mapping{n: e.val, path: p}
			links = append(links, link{rm.keyPos("expect_role"), rm.sub("expect_role"), r.ExpectRole})
		}
	}
	for _, l := range links {
		if _, ok := mn.Roles[l.name]; !ok {
			var names []string
			for k := range mn.Roles {
				names = append(names, k)
			}
			d.errorf(l.pos, l.path, "unknown role %q (defined roles: %s)", truncate(l.name, 60), joinSorted(names))
		}
	}
	for _, h := range hostRoles {
		if r, ok := mn.Roles[h.name]; ok && valid[h.name] && r.Count != 1 {
			d.errorf(h.pos, h.path, "host role %q must have count 1, has %d", truncate(h.name, 60), r.Count)
		}
	}
	allValid := true
	for _, ok := range valid {
		allValid = allValid && ok
	}
	if total == 0 && allValid {
		d.errorf(v.pos, rp, "the role counts add up to 0: the group would have no member")
	}
	if total > MaxGroupSize {
		d.errorf(v.pos, rp, "the role counts add up to %d: a multinode job makes at most %d jobs", total, MaxGroupSize)
	}
	return mn
}

func (d *decoder) role(n *node, path string) (Role, bool) {
	m := d.asMap(n, path)
	if m == nil {
		return Role{}, false
	}
	r := Role{Pos: n.pos}
	ok := true
	str := func(key string, dst *string) {
		if v, present := m.get(key); present {
			s, good := d.nonEmpty(v, m.sub(key), 200)
			*dst = s
			ok = ok && good
		}
	}
	str("device_type", &r.DeviceType)
	str("connection", &r.Connection)
	str("device", &r.Device)
	str("worker", &r.Worker)
	str("host_role", &r.HostRole)
	str("expect_role", &r.ExpectRole)
	if v, present := m.get("request"); present {
		r.Request, _ = d.enum(v, m.sub("request"), "request", "lava-start")
	}
	if v, present := d.require(m, "count"); present {
		c, good := d.intRange(v, m.sub("count"), 0, math.MaxInt32)
		r.Count = c
		ok = ok && good
	} else {
		ok = false
	}
	if v, present := m.get("context"); present {
		r.Context = d.context(v, m.sub("context"))
	}
	if v, present := m.get("tags"); present {
		r.Tags, _ = d.nonEmptyStrings(v, m.sub("tags"))
	}
	if v, present := m.get("environment"); present {
		r.Environment = d.anyMap(v, m.sub("environment"))
	}
	if v, present := m.get("essential"); present {
		r.Essential, _ = d.boolean(v, m.sub("essential"))
	}
	if v, present := m.get("timeout"); present {
		if t, good := d.timeout(v, m.sub("timeout")); good {
			r.Timeout = &t
		}
	}
	d.extraKeys(m, roleKeys, roleRefused)

	_, hasType := m.get("device_type")
	_, hasConn := m.get("connection")
	switch {
	case !hasType && !hasConn:
		d.errorf(n.pos, path, "role needs device_type (a device role) or connection (a dynamic connection role)")
	case hasType && hasConn:
		d.errorf(m.keyPos("connection"), m.sub("connection"), "a role has either device_type or connection, not both")
	case hasConn:
		for _, k := range []string{"device", "worker"} {
			if _, present := m.get(k); present {
				d.errorf(m.keyPos(k), m.sub(k), "a connection role cannot set %s", k)
			}
		}
	}
	_, hasHost := m.get("host_role")
	_, hasExpect := m.get("expect_role")
	if hasHost != hasExpect {
		missing := "expect_role"
		if hasExpect {
			missing = "host_role"
		}
		d.errorf(n.pos, path, "host_role and expect_role go together: %s is missing", missing)
	}
	if r.Device != "" && r.Count != 1 && ok {
		d.errorf(m.keyPos("device"), m.sub("device"), "device requires count 1, count is %d", r.Count)
	}
	return r, ok
}

// roleRefused are the role keys only the server writes, in each job of
// the group (LAVA would let them through and overwrite its own).
var roleRefused = func() map[string]string {
	m := map[string]string{}
	for _, k := range serverKeys {
		m[k] = fmt.Sprintf("%s is set by the server in each job of the group, not in a role", k)
	}
	return m
}()

// isMemberBlock reports whether a lava-multinode block is a sub-job's
// (server keys and no roles) rather than a submission's.
func isMemberBlock(n *node) bool {
	if n.kind != mapNode {
		return false
	}
	m := &mapping{n: n}
	if _, ok := m.get("roles"); ok {
		return false
	}
	for _, k := range serverKeys {
		if _, ok := m.get(k); ok {
			return true
		}
	}
	return false
}

// memberBlock reads a sub-job's protocols.lava-multinode (see Split).
// The keys that become Job fields (tags, environment, device, worker) are
// read by job, from d.memberMap.
func (d *decoder) memberBlock(n *node, path string) *Multinode {
	m := &mapping{n: n, path: path}
	d.memberMap = m
	mem := &Member{}
	mn := &Multinode{Pos: n.pos, Member: mem}
	if !d.serverGenerated {
		for _, k := range serverKeys {
			if _, ok := m.get(k); ok {
				d.errorf(m.keyPos(k), m.sub(k), "%s", serverOnly(k))
			}
		}
	}
	if v, ok := d.require(m, "target_group"); ok {
		mem.TargetGroup, _ = d.nonEmpty(v, m.sub("target_group"), MaxTargetGroup)
	}
	if v, ok := d.require(m, "role"); ok {
		mem.Role, _ = d.nonEmpty(v, m.sub("role"), 0)
	}
	sizeOK := false
	if v, ok := d.require(m, "group_size"); ok {
		mem.GroupSize, sizeOK = d.intRange(v, m.sub("group_size"), 1, MaxGroupSize)
	}
	if v, ok := d.require(m, "sub_id"); ok {
		id, good := d.intRange(v, m.sub("sub_id"), 0, MaxGroupSize-1)
		mem.SubID = id
		if good && sizeOK && id >= mem.GroupSize {
			d.errorf(v.pos, m.sub("sub_id"), "sub_id %d is not below group_size %d", id, mem.GroupSize)
		}
	}
	if v, ok := m.get("timeout"); ok {
		if t, ok := d.timeout(v, m.sub("timeout")); ok {
			mn.Timeout = &t
		}
	}
	if v, ok := m.get("essential"); ok {
		mem.Essential, _ = d.boolean(v, m.sub("essential"))
	}
	if v, ok := m.get("expect_role"); ok {
		mem.ExpectRole, _ = d.nonEmpty(v, m.sub("expect_role"), 200)
	}
	if v, ok := m.get("request"); ok {
		mem.Request, _ = d.enum(v, m.sub("request"), "request", "lava-start")
	}
	// Keys a role may have and Basalt ignores are copied into its jobs, as
	// LAVA copies them: ignored again, with the same warning.
	d.extraKeys(m, memberKeys, nil)
	return mn
}

// memberTop reads the top-level keys of a sub-job that come from its role,
// and the role keys of its protocols.lava-multinode that are Job fields,
// and checks them together as a role's are checked.
func (d *decoder) memberTop(m *mapping, job *Job) {
	mem := job.Protocols.Multinode.Member
	for _, k := range []string{"tags", "environment", "device", "worker"} {
		if _, ok := m.get(k); ok {
			d.errorf(m.keyPos(k), m.sub(k), "%s is not allowed at the top of a multinode sub-job: its role's %s is in protocols.lava-multinode", k, k)
		}
	}
	bm := d.memberMap
	if v, ok := bm.get("tags"); ok {
		job.Tags, _ = d.nonEmptyStrings(v, bm.sub("tags"))
	}
	if v, ok := bm.get("environment"); ok {
		job.Environment = d.anyMap(v, bm.sub("environment"))
	}
	if v, ok := bm.get("device"); ok {
		job.Device, _ = d.nonEmpty(v, bm.sub("device"), 200)
	}
	if v, ok := bm.get("worker"); ok {
		job.Worker, _ = d.nonEmpty(v, bm.sub("worker"), 200)
	}
	if v, ok := m.get("connection"); ok {
		mem.Connection, _ = d.nonEmpty(v, m.sub("connection"), 200)
	}
	if v, ok := m.get("host_role"); ok {
		mem.HostRole, _ = d.nonEmpty(v, m.sub("host_role"), 200)
	}
	_, hasType := m.get("device_type")
	_, hasConn := m.get("connection")
	switch {
	case !hasType && !hasConn:
		d.errorf(m.n.pos, "$", "missing required key %q (or connection, in the job of a dynamic connection role)", "device_type")
	case hasType && hasConn:
		d.errorf(m.keyPos("connection"), m.sub("connection"), "a multinode sub-job has either device_type or connection, not both")
	case hasConn:
		for _, k := range []string{"device", "worker"} {
			if _, present := bm.get(k); present {
				d.errorf(bm.keyPos(k), bm.sub(k), "the job of a connection role cannot set %s", k)
			}
		}
	}
	_, hasHost := m.get("host_role")
	_, hasExpect := bm.get("expect_role")
	switch {
	case hasHost && !hasExpect:
		d.errorf(m.keyPos("host_role"), m.sub("host_role"), "host_role and expect_role go together: %s.expect_role is missing", bm.path)
	case hasExpect && !hasHost:
		d.errorf(bm.keyPos("expect_role"), bm.sub("expect_role"), "host_role and expect_role go together: $.host_role is missing")
	}
}

// rolesWithoutActions reports the roles with members (count ≥ 1) that no
// action names: their jobs would have nothing to run (LAVA's split fails
// on them).
// It is quiet unless every action names known roles: else the errors
// said already are the ones to fix.
func (d *decoder) rolesWithoutActions(mn *Multinode, actions []Action) {
	used := map[string]bool{}
	for _, a := range actions {
		if len(a.Role) == 0 {
			return
		}
		for _, r := range a.Role {
			if _, ok := mn.Roles[r]; !ok {
				return
			}
			used[r] = true
		}
	}
	for _, name := range mn.RoleNames {
		if r := mn.Roles[name]; r.Count > 0 && !used[name] {
			d.errorf(r.Pos, KeyPath("$.protocols.lava-multinode.roles", name),
				"role %q has no action: no action's role list names it, so its jobs would have nothing to run", truncate(name, 60))
		}
	}
}
