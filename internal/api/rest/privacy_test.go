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
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// runPrivateJob leaves alice's personal job running on d1 (her public and
// group jobs canceled) and returns the worker's principal.
func (e *env) runPrivateJob() auth.Principal {
	e.T.Helper()
	ctx := context.Background()
	alicePr := e.Principal(alice)
	for _, id := range []int64{e.pubJob, e.grpJob} {
		_, err := e.App.CancelJob(ctx, alicePr, id)
		must(e.T, err)
	}
	if status, body := e.do(worker, "POST", "/workers/w1/heartbeat", `{"version":"test"}`); status != 200 {
		e.T.Fatalf("heartbeat: %d %s", status, body)
	}
	_, err := e.App.SchedulePass(ctx)
	must(e.T, err)
	wp := auth.WorkerPrincipal("w1")
	j, err := e.App.StartJob(ctx, wp, e.privJob)
	must(e.T, err)
	if j.State != lab.JobRunning || j.ActualDevice != "d1" {
		e.T.Fatalf("the private job is %s on %q, want Running on d1", j.State, j.ActualDevice)
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
			_, err := e.App.FinishJob(ctx, wp, e.privJob, app.JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure})
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

// TestHostileInputIsClientError: text PostgreSQL cannot store (NUL
// characters; raw bytes that are not UTF-8 cannot cross JSON, which turns
// them into U+FFFD) and numbers over its INTEGER range get the same clear
// 4xx on SQLite and PostgreSQL, never a 500, and change nothing.
func TestHostileInputIsClientError(t *testing.T) {
	nulDef := strings.Replace(job("nul", "public"), "job_name: nul", "job_name: n\x00ul", 1)
	escapedNUL := strings.Replace(job("nul", "public"), "job_name: nul", `job_name: "n\0ul"`, 1)
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			cases := []struct {
				who                int
				method, path, body string
				status             int
				code               string
				line, column       int // of the first detail, when code is invalid_definition or invalid_dictionary
			}{
				{alice, "POST", "/jobs", jsonDef(nulDef), 400, "invalid_definition", 1, 12},
				{alice, "POST", "/jobs", jsonDef(escapedNUL), 400, "invalid_definition", 1, 11},
				{admin, "PUT", "/device-types/qemu/health-check", jsonDef(nulDef), 400, "invalid_definition", 1, 12},
				{admin, "POST", "/device-types", `{"name":"big","health_frequency":2147483648}`, 400, "invalid", 0, 0},
				{admin, "PATCH", "/device-types/qemu", `{"health_frequency":99999999999}`, 400, "invalid", 0, 0},
				{admin, "PATCH", "/device-types/qemu", `{"health_frequency":-1}`, 400, "invalid", 0, 0},
				{admin, "PATCH", "/device-types/qemu", `{"description":"a\u0000b"}`, 400, "invalid", 0, 0},
				{admin, "POST", "/workers", `{"hostname":"w9","job_limit":2147483648}`, 400, "invalid", 0, 0},
				{admin, "PATCH", "/workers/w1", `{"job_limit":4294967296}`, 400, "invalid", 0, 0},
				{admin, "PATCH", "/workers/w1", `{"description":"\u0000"}`, 400, "invalid", 0, 0},
				{admin, "POST", "/workers/w1/join-token", `{"ttl_seconds":9223372036854775807}`, 400, "invalid", 0, 0},
				{admin, "POST", "/workers/w1/join-token", `{"ttl_seconds":9223372037}`, 400, "invalid", 0, 0},
				{admin, "POST", "/devices", `{"hostname":"d9","device_type":"qemu","worker_host":"w1","description":"x\u0000"}`, 400, "invalid", 0, 0},
				{admin, "PATCH", "/devices/d1", `{"description":"x\u0000"}`, 400, "invalid", 0, 0},
				{admin, "POST", "/devices/d1/health", `{"health":"BAD","reason":"\u0000"}`, 400, "invalid", 0, 0},
				{admin, "PUT", "/devices/d1/dictionary", `{"dictionary":"{% extends 'qemu.jinja2' %}\n{# \u0000 #}\n"}`, 400, "invalid_dictionary", 2, 4},
				{admin, "POST", "/tags", `{"name":"t9","description":"\u0000"}`, 400, "invalid", 0, 0},
				{admin, "POST", "/users", `{"username":"u9","first_name":"\u0000"}`, 400, "invalid", 0, 0},
				{alice, "PATCH", "/users/alice", `{"email":"a\u0000@example.org"}`, 400, "invalid", 0, 0},
				{alice, "POST", "/tokens", `{"description":"\u0000"}`, 400, "invalid", 0, 0},
				{anon, "GET", "/devices/d%001", "", 400, "invalid", 0, 0},
				{anon, "GET", "/jobs?q=%00", "", 400, "invalid", 0, 0},
			}
			for _, c := range cases {
				status, body := e.do(c.who, c.method, c.path, c.body)
				var er wire.ErrorResponse
				if err := json.Unmarshal(body, &er); err != nil || status != c.status || er.Error.Code != c.code {
					t.Errorf("%s %s %.60q as %s: %d %s, want %d %s", c.method, c.path, c.body, identNames[c.who], status, body, c.status, c.code)
					continue
				}
				if c.line > 0 && (len(er.Error.Details) == 0 || er.Error.Details[0].Line != c.line || er.Error.Details[0].Column != c.column) {
					t.Errorf("%s %s: details %+v, want the first at %d:%d", c.method, c.path, er.Error.Details, c.line, c.column)
				}
			}
			// POST /jobs/validate reports the same problem without storing.
			status, body := e.do(alice, "POST", "/jobs/validate", jsonDef(nulDef))
			var v wire.Validation
			if err := json.Unmarshal(body, &v); err != nil || status != 200 || v.Valid || len(v.Errors) != 1 {
				t.Errorf("validate a definition with NUL: %d %s", status, body)
			}
			// Login with such a name is just a wrong login.
			if status, body := e.do(anon, "POST", "/token", `{"username":"a\u0000","password":"x"}`); status != 401 {
				t.Errorf("login as a name with NUL: %d %s, want 401", status, body)
			}

			// Nothing changed.
			ctx := context.Background()
			dt, err := e.App.GetDeviceType(ctx, "qemu")
			must(t, err)
			if dt.HealthFrequency != 24 || dt.Description != "" || dt.HealthCheck != "" {
				t.Errorf("device type after refused changes: %+v", dt)
			}
			w, err := e.App.GetWorker(ctx, "w1")
			must(t, err)
			if w.JobLimit != 0 || w.Description != "" {
				t.Errorf("worker after refused changes: %+v", w)
			}
			_, total, err := e.App.ListJobs(ctx, e.Principal(admin), store.JobFilter{})
			must(t, err)
			if total != 3 {
				t.Errorf("%d jobs after refused submissions, want the 3 of the fixture", total)
			}
			// The largest values are accepted.
			for _, c := range []struct{ method, path, body string }{
				{"PATCH", "/device-types/qemu", `{"health_frequency":2147483647}`},
				{"PATCH", "/workers/w1", `{"job_limit":2147483647}`},
				{"POST", "/workers/w1/join-token", `{"ttl_seconds":31536000}`},
			} {
				if status, body := e.do(admin, c.method, c.path, c.body); status/100 != 2 {
					t.Errorf("%s %s %s: %d %s", c.method, c.path, c.body, status, body)
				}
			}
		})
	}
}
