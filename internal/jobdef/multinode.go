package jobdef

import "math"

// Protocols is the top-level protocols block. Only lava-multinode is
// supported; lava-xnbd is recognised and rejected as not supported.
type Protocols struct {
	Multinode *Multinode `json:"lava-multinode,omitempty"`
}

// Multinode is protocols.lava-multinode: the roles of a multinode group and
// the default timeout of multinode API calls. Roles is never empty and the
// role counts add up to at least one.
type Multinode struct {
	Pos     Pos             `json:"pos"`
	Roles   map[string]Role `json:"roles"`
	Timeout *Timeout        `json:"timeout,omitempty"`
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
		ps.Multinode = d.multinodeBlock(v, m.sub("lava-multinode"))
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
	d.unknownKeys(m, []string{"roles", "timeout"})
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
		if e.key == "" {
			d.errorf(e.keyPos, p, "role name must not be empty")
			continue
		}
		// Invalid roles are kept too, so that references to them are not
		// reported as unknown roles on top of their own errors.
		r, ok := d.role(e.val, p)
		mn.Roles[e.key] = r
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
	d.extraKeys(m, roleKeys, nil)

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
