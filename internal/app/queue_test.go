package app_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestQueueExplanationHidesPrivateJobs: a queued job's explanation names
// the job holding a device only when the caller may see that job; a
// private job of someone else is "a private job" (app.PrivateJob).
func TestQueueExplanationHidesPrivateJobs(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.online("w1")
		private := f.submit(definition("private", "qemu", "visibility: personal"))
		if _, err := f.app.SchedulePass(f.ctx); err != nil {
			t.Fatal(err)
		}
		if j := f.job(private); j.ActualDevice != "d1" {
			t.Fatalf("the private job was not scheduled on d1: %+v", j)
		}
		u, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob"})
		must(t, err)
		bob := principalOf(t, u)
		ids, _, err := f.app.SubmitJob(f.ctx, bob, definition("waiting", "qemu", ""))
		must(t, err)

		held := fmt.Sprintf("job %d", private)
		for _, c := range []struct {
			who     string
			explain func() (scheduler.Explanation, error)
			shows   bool
		}{
			{"bob", func() (scheduler.Explanation, error) {
				_, e, err := f.app.ExplainJob(f.ctx, bob, ids[0])
				return e, err
			}, false},
			{"admin", func() (scheduler.Explanation, error) {
				_, e, err := f.app.ExplainJob(f.ctx, f.admin, ids[0])
				return e, err
			}, true},
		} {
			e, err := c.explain()
			must(t, err)
			if len(e.Devices) != 1 {
				t.Fatalf("%s: devices %+v", c.who, e.Devices)
			}
			d := e.Devices[0]
			text := e.Summary + " | " + d.Detail
			for _, r := range e.Reasons {
				text += " | " + r.Detail
			}
			if got := strings.Contains(text, held) || d.Job == private; got != c.shows {
				t.Errorf("%s sees %q (device job %d); want the job shown: %v", c.who, text, d.Job, c.shows)
			}
			if !c.shows && !strings.Contains(d.Detail, app.PrivateJob) {
				t.Errorf("%s: device detail %q does not say %s", c.who, d.Detail, app.PrivateJob)
			}
		}
	})
}

// TestQueueExplainsGroup: the explanation of a job of a multinode group
// that cannot start says, per role, what each waits for; the group's
// state lists its queued jobs in queue order.
func TestQueueExplainsGroup(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2")
		f.lab("bbb", "w1", "b1", "b2")
		f.online("w1")
		_, err := f.app.SetDeviceHealth(f.ctx, f.admin, "b2", lab.DeviceMaintenance, "fan")
		must(t, err)
		ids := f.submitGroup(labtest.MultinodeJob("mixed",
			labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
			labtest.Role{Name: "client", DeviceType: "bbb", Count: 2}))
		if r := f.pass(); len(r.Assigned) != 0 {
			t.Fatalf("a pass placed %+v of a group that cannot start", r.Assigned)
		}
		group := f.job(ids[0]).Multinode.TargetGroup

		_, e, err := f.app.ExplainJob(f.ctx, f.user, ids[1])
		must(t, err)
		clientWaits := "role client (1 of 2 jobs) has no free bbb device"
		if e.Verdict != scheduler.VerdictWaiting || len(e.Reasons) == 0 || e.Reasons[0].Code != scheduler.CodeGroupWaits ||
			!strings.Contains(e.Summary, "is part of group "+group+", which cannot be placed whole") ||
			!strings.Contains(e.Summary, clientWaits) {
			t.Fatalf("explanation of a client: %+v", e)
		}
		g := e.Group
		if g == nil {
			t.Fatalf("explanation of a group's job has no group: %+v", e)
		}
		if g.Name != group || g.Role != "client" || g.Size != 3 || fmt.Sprint(g.Queued) != fmt.Sprint(ids) {
			t.Errorf("group %+v, want %s role client size 3 queued %v", g, group, ids)
		}
		want := []scheduler.RoleState{
			{Role: "client", Jobs: ids[1:], Placeable: 1, Detail: clientWaits},
			{Role: "server", Jobs: ids[:1], Placeable: 1, Detail: "role server is satisfiable"},
		}
		if fmt.Sprintf("%+v", g.Roles) != fmt.Sprintf("%+v", want) {
			t.Errorf("roles:\n%+v\nwant\n%+v", g.Roles, want)
		}
		// Every job of the group gets the same per-role account.
		_, e, err = f.app.ExplainJob(f.ctx, f.user, ids[0])
		must(t, err)
		if e.Group == nil || e.Group.Role != "server" || fmt.Sprintf("%+v", e.Group.Roles) != fmt.Sprintf("%+v", want) {
			t.Errorf("explanation of the server: %+v", e.Group)
		}
		// Once b2 is back, the group is placed whole.
		_, err = f.app.SetDeviceHealth(f.ctx, f.admin, "b2", lab.DeviceGood, "fixed")
		must(t, err)
		_, e, err = f.app.ExplainJob(f.ctx, f.user, ids[0])
		must(t, err)
		if e.Verdict != scheduler.VerdictSchedulable || !strings.Contains(e.Summary, "together with the 2 other jobs of group "+group) {
			t.Errorf("explanation with every device free: %+v", e)
		}
	})
}

// TestQueueExplanationHidesPrivateGroups: a device the scheduler holds
// for a multinode group is named with the group only for those who may
// see its jobs; the group's own jobs see the hold.
func TestQueueExplanationHidesPrivateGroups(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixtureConfig(t, b.Open(t), app.Config{GroupHoldAfter: time.Minute})
			f.lab("qemu", "w1", "d1", "d2")
			f.online("w1")
			u, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob"})
			must(t, err)
			bob := principalOf(t, u)
			ids, _, err := f.app.SubmitJob(f.ctx, bob, definition("busy", "qemu", ""))
			must(t, err)
			busy := ids[0]
			if r := f.pass(); len(r.Assigned) != 1 || r.Assigned[0].Job != busy {
				t.Fatalf("pass: %+v", r.Assigned)
			}
			pair := strings.Replace(labtest.MultinodeJob("pair",
				labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
				labtest.Role{Name: "client", DeviceType: "qemu", Count: 1}), "visibility: public", "visibility: personal", 1)
			group := f.submitGroup(pair)
			name := f.job(group[0]).Multinode.TargetGroup
			f.clk.Add(2 * time.Minute) // the group's hold is due
			ids, _, err = f.app.SubmitJob(f.ctx, bob, definition("behind", "qemu", ""))
			must(t, err)
			behind := ids[0]

			_, e, err := f.app.ExplainJob(f.ctx, f.user, group[0])
			must(t, err)
			if e.Group == nil || fmt.Sprint(e.Group.Held) != "[d2]" || fmt.Sprint(e.Group.Waits) != "[d1]" ||
				!strings.Contains(e.Summary, "the pass holds d2 for it, and it waits for d1") {
				t.Errorf("the group's own explanation: %+v (group %+v)", e, e.Group)
			}
			var hold bool
			for _, r := range e.Reasons {
				hold = hold || r.Code == scheduler.CodeGroupHold
			}
			if !hold {
				t.Errorf("no %s reason in %+v", scheduler.CodeGroupHold, e.Reasons)
			}

			for _, c := range []struct {
				who   string
				p     auth.Principal
				shows bool
			}{{"bob", bob, false}, {"admin", f.admin, true}} {
				_, e, err := f.app.ExplainJob(f.ctx, c.p, behind)
				must(t, err)
				var d2 scheduler.DeviceReason
				for _, d := range e.Devices {
					if d.Device == "d2" {
						d2 = d
					}
				}
				if d2.Code != scheduler.CodeHeld {
					t.Fatalf("%s: d2 is %+v, want held", c.who, d2)
				}
				text := e.Summary + " | " + d2.Detail
				for _, r := range e.Reasons {
					text += " | " + r.Detail
				}
				if got := strings.Contains(text, name) || d2.Group == name; got != c.shows {
					t.Errorf("%s sees %q (device group %q); want the group shown: %v", c.who, text, d2.Group, c.shows)
				}
				if !c.shows && d2.Detail != "d2 is held for "+app.PrivateGroup+", ahead in the queue" {
					t.Errorf("%s: d2's detail %q", c.who, d2.Detail)
				}
			}
		})
	}
}
