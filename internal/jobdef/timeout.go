package jobdef

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"time"
)

// Timeout is one LAVA timeout block: exactly one of days, hours, minutes or
// seconds (an integer ≥ 1) and an optional skip flag. Duration is always
// positive in a parsed Job. Skip, on a test action block's own timeout
// (Action.Timeout), makes a timeout of that test action "continue with the
// next action" instead of failing the job; as in LAVA, the dispatcher
// ignores it anywhere else.
type Timeout struct {
	Duration time.Duration
	Skip     bool
}

type timeoutJSON struct {
	Duration string `json:"duration"`
	Skip     bool   `json:"skip,omitempty"`
}

// MarshalJSON writes the duration in time.Duration's text form ("1h30m0s").
func (t Timeout) MarshalJSON() ([]byte, error) {
	return json.Marshal(timeoutJSON{Duration: t.Duration.String(), Skip: t.Skip})
}

// UnmarshalJSON reads the form written by MarshalJSON.
func (t *Timeout) UnmarshalJSON(b []byte) error {
	var v timeoutJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("decode timeout: %w", err)
	}
	d, err := time.ParseDuration(v.Duration)
	if err != nil {
		return fmt.Errorf("decode timeout: %w", err)
	}
	*t = Timeout{Duration: d, Skip: v.Skip}
	return nil
}

// Timeouts is the job's top-level timeouts block. Job is required; the
// others are optional (nil or empty). Actions and Connections override the
// timeout of pipeline actions by name (names match ^[a-z-]+$). Every action
// and connection timeout is at most Job.
type Timeouts struct {
	Job         Timeout            `json:"job"`
	Action      *Timeout           `json:"action,omitempty"`
	Connection  *Timeout           `json:"connection,omitempty"`
	Queue       *Timeout           `json:"queue,omitempty"`
	Actions     map[string]Timeout `json:"actions,omitempty"`
	Connections map[string]Timeout `json:"connections,omitempty"`
}

var timeoutUnits = []struct {
	name string
	unit time.Duration
}{
	{"days", 24 * time.Hour},
	{"hours", time.Hour},
	{"minutes", time.Minute},
	{"seconds", time.Second},
}

// actionName is the shape of pipeline action names in timeouts blocks.
var actionName = regexp.MustCompile(`^[a-z-]+$`)

// timeoutRef remembers where an action or connection timeout was written,
// for the check against the job timeout.
type timeoutRef struct {
	t    Timeout
	pos  Pos
	path string
}

// timeout reads one timeout block.
func (d *decoder) timeout(n *node, path string) (Timeout, bool) {
	m := d.asMap(n, path)
	if m == nil {
		return Timeout{}, false
	}
	var t Timeout
	ok := true
	var units []string
	for _, u := range timeoutUnits {
		v, present := m.get(u.name)
		if !present {
			continue
		}
		units = append(units, u.name)
		p := m.sub(u.name)
		x, good := d.integer(v, p)
		if !good {
			ok = false
			continue
		}
		if x < 1 {
			d.errorf(v.pos, p, "must be an integer of at least 1, got %d", x)
			ok = false
			continue
		}
		if x > int64(math.MaxInt64/u.unit) {
			d.errorf(v.pos, p, "%d %s is too long a timeout", x, u.name)
			ok = false
			continue
		}
		t.Duration = time.Duration(x) * u.unit
	}
	switch {
	case len(units) == 0:
		d.errorf(n.pos, path, "timeout needs one of days, hours, minutes or seconds")
		ok = false
	case len(units) > 1:
		d.errorf(m.keyPos(units[1]), path, "timeout must use exactly one of days, hours, minutes or seconds, got %s and %s", units[0], units[1])
		ok = false
	}
	if v, present := m.get("skip"); present {
		b, good := d.boolean(v, m.sub("skip"))
		ok = ok && good
		t.Skip = b
	}
	d.unknownKeys(m, []string{"days", "hours", "minutes", "seconds", "skip"})
	if !ok {
		return Timeout{}, false
	}
	return t, true
}

// namedTimeouts reads {action-name: timeout}, recording each for the job
// timeout check.
func (d *decoder) namedTimeouts(n *node, path string, refs *[]timeoutRef) map[string]Timeout {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	out := make(map[string]Timeout, len(n.entries))
	for _, e := range n.entries {
		p := KeyPath(path, e.key)
		if !actionName.MatchString(e.key) {
			d.errorf(e.keyPos, p, "%q is not a valid action name (must match %s)", truncate(e.key, 60), actionName)
			continue
		}
		t, ok := d.timeout(e.val, p)
		if !ok {
			continue
		}
		out[e.key] = t
		*refs = append(*refs, timeoutRef{t: t, pos: e.val.pos, path: p})
	}
	return out
}

// timeouts reads the top-level timeouts block. ok is false when the job
// timeout itself could not be read.
func (d *decoder) timeouts(n *node, path string, refs *[]timeoutRef) (Timeouts, bool) {
	var ts Timeouts
	m := d.asMap(n, path)
	if m == nil {
		return ts, false
	}
	jobOK := false
	if v, ok := d.require(m, "job"); ok {
		ts.Job, jobOK = d.timeout(v, m.sub("job"))
	}
	one := func(key string, dst **Timeout, check bool) {
		v, ok := m.get(key)
		if !ok {
			return
		}
		t, ok := d.timeout(v, m.sub(key))
		if !ok {
			return
		}
		*dst = &t
		if check {
			*refs = append(*refs, timeoutRef{t: t, pos: v.pos, path: m.sub(key)})
		}
	}
	one("action", &ts.Action, true)
	one("connection", &ts.Connection, true)
	one("queue", &ts.Queue, false)
	if v, ok := m.get("actions"); ok {
		ts.Actions = d.namedTimeouts(v, m.sub("actions"), refs)
	}
	if v, ok := m.get("connections"); ok {
		ts.Connections = d.namedTimeouts(v, m.sub("connections"), refs)
	}
	d.unknownKeys(m, []string{"job", "action", "connection", "queue", "actions", "connections"})
	return ts, jobOK
}

// checkTimeouts reports every action or connection timeout longer than the
// job timeout.
func (d *decoder) checkTimeouts(job Timeout, refs []timeoutRef) {
	for _, r := range refs {
		if r.t.Duration > job.Duration {
			d.errorf(r.pos, r.path, "timeout %s is longer than the job timeout %s", r.t.Duration, job.Duration)
		}
	}
}
