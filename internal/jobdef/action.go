package jobdef

import (
	"math"
	"time"
)

// Kind is the family of an action block: the single key of an item of the
// actions list.
type Kind string

// The four action families.
const (
	KindDeploy  Kind = "deploy"
	KindBoot    Kind = "boot"
	KindTest    Kind = "test"
	KindCommand Kind = "command"
)

// Action is one item of the actions list. Exactly one of Deploy, Boot, Test
// and Command is set, matching Kind. Raw is the block's content as plain Go
// values (map[string]any, []any, string, int64, uint64, float64, bool, nil)
// for the dispatcher, which validates it again against the device.
type Action struct {
	Kind Kind `json:"kind"`
	// Pos is the position of the action's key (deploy:, boot:, …).
	Pos Pos `json:"pos"`
	// Namespace groups actions (e.g. per DUT); all actions or none have one.
	Namespace           string `json:"namespace,omitempty"`
	ConnectionNamespace string `json:"connection_namespace,omitempty"`
	// Role lists the multinode roles that run this action (multinode only,
	// then required). In a multinode sub-job it is the job's role, which
	// the definition writes as a string.
	Role []string `json:"role,omitempty"`
	// Timeout is the block's timeout; Timeouts overrides child pipeline
	// actions by name. Both are at most the job timeout.
	Timeout  *Timeout           `json:"timeout,omitempty"`
	Timeouts map[string]Timeout `json:"timeouts,omitempty"`
	// Repeat and FailureRetry are ≥ 1 when set (0 means unset).
	Repeat       int `json:"repeat,omitempty"`
	FailureRetry int `json:"failure_retry,omitempty"`
	// FailureRetryInterval is whole seconds, ≥ 1 s when set.
	FailureRetryInterval time.Duration `json:"failure_retry_interval,omitempty"`
	// Protocols is the block's protocols key (multinode API calls), as written.
	Protocols map[string]any `json:"protocols,omitempty"`

	Deploy  *Deploy  `json:"deploy,omitempty"`
	Boot    *Boot    `json:"boot,omitempty"`
	Test    *Test    `json:"test,omitempty"`
	Command *Command `json:"command,omitempty"`

	Raw map[string]any `json:"-"`
}

// Command is a command action: run the device's named user command.
type Command struct {
	Name string `json:"name"`
}

// commonKeys are accepted by every action block.
var commonKeys = []string{
	"namespace", "connection-namespace", "protocols", "role", "timeout", "timeouts",
	"repeat", "failure_retry", "failure_retry_interval",
}

func keys(specific ...string) []string {
	return append(append([]string(nil), commonKeys...), specific...)
}

var kinds = []string{"boot", "command", "deploy", "test"}

func (d *decoder) actions(n *node, path string, ctx actionCtx) []Action {
	if n.kind != seqNode {
		d.expected(n, path, "a list of actions")
		return nil
	}
	if len(n.items) == 0 {
		d.errorf(n.pos, path, "needs at least one action")
		return nil
	}
	out := make([]Action, 0, len(n.items))
	var paths []string // list-item path of each out[i]
	var withNS, withoutNS []int
	for i, it := range n.items {
		p := IndexPath(path, i)
		a, ok := d.action(it, p, ctx)
		if !ok {
			continue
		}
		if a.Namespace != "" {
			withNS = append(withNS, len(out))
		} else {
			withoutNS = append(withoutNS, len(out))
		}
		out = append(out, a)
		paths = append(paths, p)
	}
	if len(withNS) > 0 {
		first := out[withNS[0]]
		for _, i := range withoutNS {
			a := out[i]
			d.errorf(a.Pos, KeyPath(paths[i], string(a.Kind)),
				"missing namespace: other actions have one (the %s at %s), so every action needs one", first.Kind, first.Pos)
		}
	}
	return out
}

// action reads one item of the actions list.
func (d *decoder) action(n *node, path string, ctx actionCtx) (Action, bool) {
	if n.kind != mapNode || len(n.entries) != 1 {
		if n.kind == mapNode && len(n.entries) > 1 {
			d.errorf(n.entries[1].keyPos, KeyPath(path, n.entries[1].key),
				"an action is a mapping with exactly one key (boot, command, deploy or test); found %q and %q",
				truncate(n.entries[0].key, 40), truncate(n.entries[1].key, 40))
		} else {
			d.expected(n, path, "a mapping with one key: boot, command, deploy or test")
		}
		return Action{}, false
	}
	e := n.entries[0]
	kind := Kind(e.key)
	p := KeyPath(path, e.key)
	switch kind {
	case KindDeploy, KindBoot, KindTest, KindCommand:
	default:
		d.errorf(e.keyPos, p, "unknown action %q (expected one of: %s)", truncate(e.key, 60), joinSorted(kinds))
		return Action{}, false
	}
	a := Action{Kind: kind, Pos: e.keyPos}
	m := d.asMap(e.val, p)
	if m == nil {
		return Action{}, false
	}
	a.Raw = toAny(e.val).(map[string]any)
	d.common(&a, m, ctx)
	switch kind {
	case KindDeploy:
		a.Deploy = d.deploy(m)
	case KindBoot:
		a.Boot = d.boot(m)
	case KindTest:
		a.Test = d.test(m)
	case KindCommand:
		c := &Command{}
		if v, ok := d.require(m, "name"); ok {
			c.Name, _ = d.nonEmpty(v, m.sub("name"), 0)
		}
		d.extraKeys(m, keys("name"), nil)
		a.Command = c
	}
	return a, true
}

// common reads the keys every action block accepts.
func (d *decoder) common(a *Action, m *mapping, ctx actionCtx) {
	if v, ok := m.get("namespace"); ok {
		if s, ok := d.nonEmpty(v, m.sub("namespace"), 200); ok {
			if s == "common" || s == "docker-test-shell" {
				d.errorf(v.pos, m.sub("namespace"), "namespace %q is reserved", s)
			} else {
				a.Namespace = s
			}
		}
	}
	if v, ok := m.get("connection-namespace"); ok {
		a.ConnectionNamespace, _ = d.nonEmpty(v, m.sub("connection-namespace"), 200)
	}
	if v, ok := m.get("protocols"); ok {
		a.Protocols = d.anyMap(v, m.sub("protocols"))
	}
	if v, ok := m.get("role"); ok {
		p := m.sub("role")
		if ctx.subJob {
			// A sub-job's: LAVA's split writes the job's role as a string.
			if s, ok := d.nonEmpty(v, p, 0); ok {
				if ctx.member != "" && s != ctx.member {
					d.errorf(v.pos, p, "role %q is not the sub-job's role %q (protocols.lava-multinode.role)", truncate(s, 60), truncate(ctx.member, 60))
				}
				a.Role = []string{s}
			}
		} else if !ctx.multinode {
			d.errorf(m.keyPos("role"), p, "role is only allowed with protocols.lava-multinode")
		} else if roles, ok := d.nonEmptyList(v, p); ok {
			for i, r := range roles {
				if ctx.roles != nil && !ctx.roles[r] {
					d.errorf(v.items[i].pos, IndexPath(p, i), "unknown role %q (defined roles: %s)", truncate(r, 60), ctx.roleList)
				}
			}
			a.Role = roles
		}
	} else if ctx.multinode {
		d.errorf(m.n.pos, m.path, "missing required key %q (every action needs one with protocols.lava-multinode)", "role")
	}
	if v, ok := m.get("timeout"); ok {
		if t, ok := d.timeout(v, m.sub("timeout")); ok {
			a.Timeout = &t
			*ctx.refs = append(*ctx.refs, timeoutRef{t: t, pos: v.pos, path: m.sub("timeout")})
		}
	}
	if v, ok := m.get("timeouts"); ok {
		a.Timeouts = d.namedTimeouts(v, m.sub("timeouts"), ctx.refs)
	}
	if v, ok := m.get("repeat"); ok {
		a.Repeat, _ = d.intRange(v, m.sub("repeat"), 1, math.MaxInt32)
	}
	if v, ok := m.get("failure_retry"); ok {
		a.FailureRetry, _ = d.intRange(v, m.sub("failure_retry"), 1, math.MaxInt32)
	}
	if v, ok := m.get("failure_retry_interval"); ok {
		s, _ := d.intRange(v, m.sub("failure_retry_interval"), 1, math.MaxInt32)
		a.FailureRetryInterval = time.Duration(s) * time.Second
	}
}
