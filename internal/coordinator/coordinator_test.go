package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestScenarios runs every conversation of the table and checks each
// answer.
func TestScenarios(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			c, p := newCoord(t, sc.lim)
			for i, st := range sc.steps {
				got, err := c.Handle(t.Context(), st.req)
				if err != nil {
					t.Fatalf("step %d %+v: %v", i, st.req, err)
				}
				var want any
				if st.want != "" {
					want = jsonOf(t, st.want)
				}
				if g := answer(t, got); !sameJSON(g, want) {
					t.Fatalf("step %d (%s from %s): answer %v, want %v (reason %q)", i, st.req.Request, st.req.ClientName, g, want, got.Reason)
				}
				if got.Response == RespNack && got.Reason == "" {
					t.Errorf("step %d: nack without a reason", i)
				}
			}
			// What is in memory is what was saved.
			saved, _ := p.LoadGroups(t.Context())
			mem := snapshot(c)
			if len(saved) != len(mem) {
				t.Errorf("saved groups %v, in memory %v", p.Names(), c.Groups())
			}
			for name, enc := range mem {
				if string(saved[name]) != enc {
					t.Errorf("group %s: saved %s, in memory %s", name, short(string(saved[name])), short(enc))
				}
			}
		})
	}
}

// TestRestart stops a coordinator in the middle of every conversation and
// goes on with a new one over the same persister: the answers are the
// same as without the restart.
func TestRestart(t *testing.T) {
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			for cut := range sc.steps {
				c, p := newCoord(t, sc.lim)
				for i, st := range sc.steps {
					if i == cut {
						var err error
						if c, err = New(t.Context(), p, quiet(sc.lim)); err != nil {
							t.Fatalf("reopen: %v", err)
						}
					}
					got, err := c.Handle(t.Context(), st.req)
					if err != nil {
						t.Fatal(err)
					}
					var want any
					if st.want != "" {
						want = jsonOf(t, st.want)
					}
					if g := answer(t, got); !sameJSON(g, want) {
						t.Fatalf("restart before step %d: step %d answer %v, want %v", cut, i, g, want)
					}
				}
			}
		})
	}
}

// TestUnknownRequestRegisters: as in LAVA, the sender of an unknown
// request is registered (and its group created) before the nack.
func TestUnknownRequestRegisters(t *testing.T) {
	c, _ := newCoord(t, Limits{})
	r, err := c.Handle(t.Context(), req("lava-sync", "11", size(2)))
	if err != nil || r.Response != RespNack {
		t.Fatalf("typo: %+v %v", r, err)
	}
	st, ok := c.Status("g")
	if !ok || st.Clients["11"] != "host-11" || !slices.Equal(st.Roles["server"], []string{"11"}) || st.Size != 2 {
		t.Errorf("status after the typo: %+v %v", st, ok)
	}
}

// TestSaveFailure: when saving fails, Handle returns the error and the
// group is as before (in memory and saved); creation is undone.
func TestSaveFailure(t *testing.T) {
	ctx := t.Context()
	p := &failingPersister{}
	c, err := New(ctx, p, quiet(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	p.arm(true)
	if _, err := c.Handle(ctx, gd("11", 2)); !errors.Is(err, errDisk) {
		t.Fatalf("create with a failing persister: %v", err)
	}
	if len(c.Groups()) != 0 {
		t.Fatalf("a group whose creation failed exists: %v", c.Groups())
	}
	p.arm(false)
	for _, r := range []Request{gd("11", 2), gd("12", 2), send("11", "m", map[string]any{"a": "1"})} {
		if _, err := c.Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	before := snapshot(c)
	p.arm(true)
	for _, r := range []Request{send("12", "m", nil), syncOn("11", "b"), clearGroup("11", 2)} {
		if _, err := c.Handle(ctx, r); !errors.Is(err, errDisk) {
			t.Errorf("%s with a failing persister: %v", r.Request, err)
		}
	}
	// Reads that change nothing need no save.
	if r, err := c.Handle(ctx, waitFor("12", "m")); err != nil || r.Response != RespAck {
		t.Errorf("lava_wait with a failing persister: %+v %v", r, err)
	}
	if err := c.DropGroup(ctx, "g"); !errors.Is(err, errDisk) {
		t.Errorf("drop with a failing persister: %v", err)
	}
	if after := snapshot(c); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("failed saves changed the state:\n%v\n%v", before, after)
	}
	p.arm(false)
	r, err := c.Handle(ctx, req(ReqWaitAll, "11", id("m")))
	if err != nil || r.Response != RespWait {
		t.Errorf("lava_wait_all after the failures: %+v %v (12's send must not have happened)", r, err)
	}
	c2, err := New(ctx, p, quiet(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(snapshot(c2)) != fmt.Sprint(before) {
		t.Errorf("reloaded state differs:\n%v\n%v", before, snapshot(c2))
	}
}

// TestLoadErrors: a stored state that cannot be read fails New, naming
// the group.
func TestLoadErrors(t *testing.T) {
	for name, data := range map[string]string{
		"not JSON":      `{`,
		"newer version": `{"v":2,"group":"g"}`,
		"other group":   `{"v":1,"group":"h"}`,
	} {
		t.Run(name, func(t *testing.T) {
			p := &MemPersister{}
			_ = p.SaveGroup(t.Context(), "g", []byte(data))
			if _, err := New(t.Context(), p, quiet(Limits{})); !errors.Is(err, errBadState) {
				t.Errorf("New = %v, want a bad state error", err)
			}
		})
	}
	if _, err := New(t.Context(), nil, Options{}); err == nil {
		t.Error("New without a persister works")
	}
}

// TestDropGroup: the server ends a group; it is deleted from the
// persister; dropping an unknown group does nothing.
func TestDropGroup(t *testing.T) {
	ctx := t.Context()
	c, p := newCoord(t, Limits{})
	if _, err := c.Handle(ctx, gd("11", 2)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Names(), []string{"g"}) {
		t.Fatalf("saved %v", p.Names())
	}
	if err := c.DropGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if err := c.DropGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if len(p.Names()) != 0 || len(c.Groups()) != 0 {
		t.Errorf("after drop: saved %v, groups %v", p.Names(), c.Groups())
	}
	if r, _ := c.Handle(ctx, waitFor("11", "m")); r.Response != RespNack {
		t.Errorf("request to a dropped group: %+v", r)
	}
}

// TestDropIdle drops only the groups that did not change since the time
// given.
func TestDropIdle(t *testing.T) {
	ctx := t.Context()
	var now int64
	unix := func(s int64) time.Time { return time.Unix(s, 0) }
	p := &MemPersister{}
	opts := quiet(Limits{})
	opts.Now = func() time.Time { return unix(now) }
	c, err := New(ctx, p, opts)
	if err != nil {
		t.Fatal(err)
	}
	now = 100
	if _, err := c.Handle(ctx, gd("11", 2, inGroup("old"))); err != nil {
		t.Fatal(err)
	}
	now = 200
	if _, err := c.Handle(ctx, gd("11", 2, inGroup("new"))); err != nil {
		t.Fatal(err)
	}
	// A poll that changes nothing does not refresh a group.
	now = 300
	if _, err := c.Handle(ctx, gd("11", 2, inGroup("old"))); err != nil {
		t.Fatal(err)
	}
	dropped, err := c.DropIdle(ctx, unix(150))
	if err != nil || !slices.Equal(dropped, []string{"old"}) {
		t.Errorf("DropIdle = %v, %v", dropped, err)
	}
	if !slices.Equal(c.Groups(), []string{"new"}) || !slices.Equal(p.Names(), []string{"new"}) {
		t.Errorf("left %v, saved %v", c.Groups(), p.Names())
	}
}

// TestStatus shows a group's bookkeeping.
func TestStatus(t *testing.T) {
	ctx := t.Context()
	c, _ := newCoord(t, Limits{})
	for _, r := range []Request{gd("11", 3), gd("12", 3), send("12", "m", nil), syncOn("11", "b")} {
		if _, err := c.Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st, ok := c.Status("g")
	if !ok {
		t.Fatal("no status")
	}
	if st.Size != 3 || len(st.Clients) != 2 || !slices.Equal(st.Sent["m"], []string{"12"}) ||
		!slices.Equal(st.Barriers["b"], []string{"11"}) || !slices.Equal(st.Roles["client"], []string{"12"}) {
		t.Errorf("status %+v", st)
	}
	if _, ok := c.Status("nope"); ok {
		t.Error("status of a missing group")
	}
}
