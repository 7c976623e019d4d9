package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// runPrivateJob leaves alice's personal job running on d1 (her public and
// group jobs canceled) and returns the worker's principal.
func (e *env) runPrivateJob() auth.Principal {
	e.t.Helper()
	ctx := context.Background()
	alicePr := principal(e.t, mustUser(e.t, e.app, "alice"))
	for _, id := range []int64{e.pubJob, e.grpJob} {
		_, err := e.app.CancelJob(ctx, alicePr, id)
		must(e.t, err)
	}
	if status, body := e.do(worker, "POST", "/workers/w1/heartbeat", `{"version":"test"}`); status != 200 {
		e.t.Fatalf("heartbeat: %d %s", status, body)
	}
	_, err := e.app.SchedulePass(ctx)
	must(e.t, err)
	wp := auth.WorkerPrincipal("w1")
	j, err := e.app.StartJob(ctx, wp, e.privJob)
	must(e.t, err)
	if j.State != lab.JobRunning || j.ActualDevice != "d1" {
		e.t.Fatalf("the private job is %s on %q, want Running on d1", j.State, j.ActualDevice)
	}
	return wp
}

// TestDevicePrivateJob: a device running a personal job shows its id only
// to the job's owner and administrators, in the device list, the device
// and its history; anonymous callers and other users get 0 and "a private
// job", while the device still reads as running. On SQLite and PostgreSQL.
func TestDevicePrivateJob(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			wp := e.runPrivateJob()
			sees := [nIdent]bool{alice: true, admin: true}
			humans := []int{anon, alice, bob, admin}
			for _, who := range humans {
				want := int64(0)
				if sees[who] {
					want = e.privJob
				}
				code, body := e.do(who, "GET", "/devices", "")
				if code != 200 {
					t.Fatalf("list devices as %s: %d %s", identNames[who], code, body)
				}
				var l wire.List[wire.Device]
				must(t, json.Unmarshal(body, &l))
				if len(l.Results) != 1 || l.Results[0].CurrentJob != want || l.Results[0].Status != "running" {
					t.Errorf("devices as %s: %+v, want d1 running job %d", identNames[who], l.Results, want)
				}
				code, body = e.do(who, "GET", "/devices/d1", "")
				var d wire.Device
				must(t, json.Unmarshal(body, &d))
				if code != 200 || d.CurrentJob != want || d.Status != "running" || d.State != "Running" {
					t.Errorf("device d1 as %s: %d %+v, want running job %d", identNames[who], code, d, want)
				}
			}

			// The job fails with an infrastructure error: d1 goes Unknown,
			// and its history names the job, in the job field and the reason.
			ctx := context.Background()
			_, err := e.app.FinishJob(ctx, wp, e.privJob, app.JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure})
			must(t, err)
			named := fmt.Sprintf("job %d", e.privJob)
			for _, who := range humans {
				code, body := e.do(who, "GET", "/devices/d1/history", "")
				if code != 200 {
					t.Fatalf("history as %s: %d %s", identNames[who], code, body)
				}
				var l wire.List[wire.DeviceTransition]
				must(t, json.Unmarshal(body, &l))
				if len(l.Results) == 0 || l.Results[0].NewHealth != "UNKNOWN" {
					t.Fatalf("history as %s: %+v, want the change to UNKNOWN first", identNames[who], l.Results)
				}
				got := l.Results[0]
				switch {
				case sees[who] && (got.Job != e.privJob || !strings.Contains(got.Reason, named)):
					t.Errorf("history as %s: job %d, reason %q; want job %d named", identNames[who], got.Job, got.Reason, e.privJob)
				case !sees[who] && (got.Job != 0 || strings.Contains(string(body), named) || !strings.Contains(got.Reason, app.PrivateJob)):
					t.Errorf("history as %s: job %d, reason %q; want the job hidden as %q", identNames[who], got.Job, got.Reason, app.PrivateJob)
				}
			}
		})
	}
}
