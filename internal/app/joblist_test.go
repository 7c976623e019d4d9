package app_test

import (
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/store"
)

// TestListJobsLongerThan: a running job is measured to the app's clock.
func TestListJobsLongerThan(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.online("w1")
		id := f.submit(definition("long", "qemu", ""))
		f.pass()
		if _, err := f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), id); err != nil {
			t.Fatal(err)
		}
		f.clk.Add(10 * time.Minute)
		if got := f.app.Now(); !got.Equal(time.Date(2026, 11, 24, 12, 10, 0, 0, time.UTC)) {
			t.Errorf("Now: %s", got)
		}
		for _, c := range []struct {
			longer time.Duration
			want   int
		}{{5 * time.Minute, 1}, {15 * time.Minute, 0}} {
			d := c.longer
			jobs, total, err := f.app.ListJobs(f.ctx, f.user, store.JobFilter{LongerThan: &d})
			must(t, err)
			if len(jobs) != c.want || total != c.want {
				t.Errorf("longer than %s: %d jobs (total %d), want %d", c.longer, len(jobs), total, c.want)
			}
		}
	})
}
