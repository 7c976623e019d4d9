package app_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/scheduler"
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
