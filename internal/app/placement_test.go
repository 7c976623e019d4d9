package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestAppendAuthorizationFollowsTheDevice: the worker running a job may
// append to its log (checked once, then remembered); when an admin moves
// the device to another worker, the old worker is refused at once and the
// new one accepted; another worker never was.
func TestAppendAuthorizationFollowsTheDevice(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b)
			_, err := l.app.CreateWorker(l.ctx, l.admin, lab.Worker{Name: "w2"})
			must(t, err)
			line := []byte(`{"dt":"2026-11-24T12:00:00Z","lvl":"info","msg":"x"}` + "\n")
			appendAs := func(worker string) error {
				size, err := l.logs.Size(context.Background(), l.job)
				must(t, err)
				_, err = l.app.AppendLog(l.ctx, auth.WorkerPrincipal(worker), l.job, size, line)
				return err
			}
			for range 3 {
				must(t, appendAs("w1"))
			}
			if err := appendAs("w2"); !errors.Is(err, lab.ErrForbidden) {
				t.Fatalf("another worker's append: %v, want forbidden", err)
			}
			_, err = l.app.UpdateDeviceWith(l.ctx, l.admin, "d1", func(d *lab.Device) error { d.Worker = "w2"; return nil })
			must(t, err)
			if err := appendAs("w1"); !errors.Is(err, lab.ErrForbidden) {
				t.Errorf("the old worker's append after the device moved: %v, want forbidden", err)
			}
			must(t, appendAs("w2"))
		})
	}
}
