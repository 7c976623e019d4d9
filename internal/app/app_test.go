package app_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

func TestMain(m *testing.M) {
	auth.Argon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	pgtest.Main(m)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	t     *testing.T
	ctx   context.Context
	app   *app.App
	clk   *clock
	admin auth.Principal
	user  auth.Principal
}

func newFixture(t *testing.T, st store.Store) *fixture {
	t.Helper()
	return newFixtureConfig(t, st, app.Config{})
}

// newFixtureConfig is newFixture with the app configured by cfg (its
// clock is the fixture's).
func newFixtureConfig(t *testing.T, st store.Store, cfg app.Config) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}
	cfg.Now = clk.Now
	a := app.New(st, cfg)
	ctx := context.Background()
	must(t, a.Bootstrap(ctx))
	adm, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	f := &fixture{t: t, ctx: ctx, app: a, clk: clk, admin: principalOf(t, adm)}
	u, err := a.CreateUser(ctx, f.admin, app.NewUser{Username: "alice"})
	must(t, err)
	f.user = principalOf(t, u)
	return f
}

func principalOf(t *testing.T, u lab.User) auth.Principal {
	p, err := auth.UserPrincipal(u)
	must(t, err)
	return p
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// lab builds device type typ with devices on an Online worker.
func (f *fixture) lab(typ, worker string, devices ...string) {
	f.t.Helper()
	if _, err := f.app.GetDeviceType(f.ctx, typ); err != nil {
		must(f.t, f.app.CreateDeviceType(f.ctx, f.admin, lab.DeviceType{Name: typ}))
	}
	if _, err := f.app.GetWorker(f.ctx, worker); err != nil {
		_, err := f.app.CreateWorker(f.ctx, f.admin, lab.Worker{Name: worker})
		must(f.t, err)
	}
	for _, d := range devices {
		must(f.t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: d, DeviceType: typ, Worker: worker, Health: lab.DeviceGood}, "test"))
	}
}

func (f *fixture) online(worker string) {
	f.t.Helper()
	_, err := f.app.Heartbeat(f.ctx, auth.WorkerPrincipal(worker), worker, "test")
	must(f.t, err)
}

func definition(name, typ, extra string) string { return labtest.Job(name, typ, extra) }

func (f *fixture) submit(def string) int64 {
	f.t.Helper()
	ids, _, err := f.app.SubmitJob(f.ctx, f.user, def)
	must(f.t, err)
	return ids[0]
}

func (f *fixture) job(id int64) lab.Job {
	f.t.Helper()
	j, err := f.app.Store().GetJob(f.ctx, id)
	must(f.t, err)
	return j
}

func (f *fixture) device(h string) lab.Device {
	f.t.Helper()
	d, err := f.app.GetDevice(f.ctx, f.admin, h)
	must(f.t, err)
	return d
}

func (f *fixture) pass() app.PassResult {
	f.t.Helper()
	r, err := f.app.SchedulePass(f.ctx)
	must(f.t, err)
	return r
}

func eachBackend(t *testing.T, fn func(t *testing.T, f *fixture)) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) { fn(t, newFixture(t, b.Open(t))) })
	}
}

// TestJobLifecycle: jobs wait for an Online worker, go by priority, run,
// finish, and free their device for the next job.
func TestJobLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2")
		low := f.submit(definition("low", "qemu", "priority: low"))
		high := f.submit(definition("high", "qemu", "priority: high"))
		mid := f.submit(definition("mid", "qemu", "priority: 60"))
		if r := f.pass(); len(r.Assigned) != 0 {
			t.Fatalf("assigned %v while the worker is Offline", r.Assigned)
		}
		f.online("w1")
		r := f.pass()
		if len(r.Assigned) != 2 {
			t.Fatalf("assigned %v, want the two highest", r.Assigned)
		}
		for _, id := range []int64{high, mid} {
			j := f.job(id)
			if j.State != lab.JobScheduled || j.ActualDevice == "" {
				t.Errorf("job %d: %s on %q", id, j.State, j.ActualDevice)
			}
			if d := f.device(j.ActualDevice); d.State != lab.DeviceReserved || d.CurrentJob != id {
				t.Errorf("device %s: %s holding %d", d.Hostname, d.State, d.CurrentJob)
			}
		}
		if j := f.job(low); j.State != lab.JobSubmitted {
			t.Fatalf("low job %s", j.State)
		}
		wp := auth.WorkerPrincipal("w1")
		if _, err := f.app.StartJob(f.ctx, auth.WorkerPrincipal("other"), high); !errors.Is(err, lab.ErrForbidden) {
			t.Errorf("another worker started the job: %v", err)
		}
		j, err := f.app.StartJob(f.ctx, wp, high)
		must(t, err)
		if j.State != lab.JobRunning || j.StartTime.IsZero() || f.device(j.ActualDevice).State != lab.DeviceRunning {
			t.Errorf("after start: %+v", j)
		}
		dev := j.ActualDevice
		j, err = f.app.FinishJob(f.ctx, wp, high, app.JobOutcome{})
		must(t, err)
		if j.State != lab.JobFinished || j.Health != lab.JobHealthComplete || j.EndTime.IsZero() {
			t.Errorf("after finish: %s %s", j.State, j.Health)
		}
		if d := f.device(dev); d.State != lab.DeviceIdle || d.CurrentJob != 0 || d.Health != lab.DeviceGood {
			t.Errorf("device after finish: %s %s job %d", d.State, d.Health, d.CurrentJob)
		}
		r = f.pass()
		if len(r.Assigned) != 1 || r.Assigned[0].Job != low || r.Assigned[0].Device != dev {
			t.Errorf("after finish: assigned %v, want low on %s", r.Assigned, dev)
		}
		if _, err := f.app.FinishJob(f.ctx, wp, high, app.JobOutcome{}); !errors.Is(err, lab.ErrConflict) {
			t.Errorf("finishing twice: %v", err)
		}
	})
}

// TestDeviceHealthRules: LAVA's device-health consequences of job ends.
func TestDeviceHealthRules(t *testing.T) {
	check := func(name string) string {
		return definition(name, "qemu", "")
	}
	cases := []struct {
		name        string
		start       lab.DeviceHealth
		healthCheck bool
		outcome     app.JobOutcome
		cancel      bool
		wantJob     lab.JobHealth
		wantDevice  lab.DeviceHealth
	}{
		{"check passes", lab.DeviceUnknown, true, app.JobOutcome{}, false, lab.JobHealthComplete, lab.DeviceGood},
		{"check fails", lab.DeviceUnknown, true, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest}, false, lab.JobHealthIncomplete, lab.DeviceBad},
		{"check canceled", lab.DeviceUnknown, true, app.JobOutcome{}, true, lab.JobHealthCanceled, lab.DeviceBad},
		{"looping stays looping", lab.DeviceLooping, true, app.JobOutcome{Failed: true}, false, lab.JobHealthIncomplete, lab.DeviceLooping},
		{"infrastructure error", lab.DeviceGood, false, app.JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure}, false, lab.JobHealthIncomplete, lab.DeviceUnknown},
		{"test error keeps Good", lab.DeviceGood, false, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest}, false, lab.JobHealthIncomplete, lab.DeviceGood},
	}
	for _, b := range labtest.Backends() {
		for _, c := range cases {
			t.Run(b.Name+"/"+c.name, func(t *testing.T) {
				f := newFixture(t, b.Open(t))
				f.lab("qemu", "w1", "d1")
				if c.healthCheck {
					must(t, f.app.SetHealthCheck(f.ctx, f.admin, "qemu", check("health")))
				}
				if _, err := f.app.SetDeviceHealth(f.ctx, f.admin, "d1", c.start, "set up"); err != nil {
					t.Fatal(err)
				}
				f.online("w1")
				var id int64
				if c.healthCheck {
					r := f.pass()
					id = r.HealthChecks["d1"]
					if id == 0 {
						t.Fatalf("no health check started: %+v", r)
					}
					j := f.job(id)
					if !j.HealthCheck || j.Submitter != lab.HealthCheckUser || j.State != lab.JobScheduled {
						t.Fatalf("health check job %+v", j)
					}
				} else {
					id = f.submit(definition("job", "qemu", ""))
					if r := f.pass(); len(r.Assigned) != 1 {
						t.Fatalf("not assigned: %+v", r)
					}
				}
				wp := auth.WorkerPrincipal("w1")
				_, err := f.app.StartJob(f.ctx, wp, id)
				must(t, err)
				if c.cancel {
					_, err := f.app.CancelJob(f.ctx, f.admin, id)
					must(t, err)
				}
				j, err := f.app.FinishJob(f.ctx, wp, id, c.outcome)
				must(t, err)
				if j.Health != c.wantJob {
					t.Errorf("job health %s, want %s", j.Health, c.wantJob)
				}
				d := f.device("d1")
				if d.Health != c.wantDevice {
					t.Errorf("device health %s, want %s", d.Health, c.wantDevice)
				}
				if c.healthCheck && d.LastHealthReportJob != id {
					t.Errorf("last health report job %d, want %d", d.LastHealthReportJob, id)
				}
				if c.start != c.wantDevice {
					hist, err := f.app.DeviceHistory(f.ctx, f.admin, "d1", 1)
					must(t, err)
					if len(hist) != 1 || hist[0].NewHealth != c.wantDevice || hist[0].Job != id || hist[0].Actor != lab.ActorScheduler {
						t.Errorf("history %+v", hist)
					}
				}
			})
		}
	}
}

// TestHealthCheckFrequency: a Good device gets a new check when its hours
// or jobs run out, before any queued job; an unparsable check marks it Bad.
func TestHealthCheckFrequency(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		must(t, f.app.SetHealthCheck(f.ctx, f.admin, "qemu", definition("hc", "qemu", "")))
		f.online("w1")
		wp := auth.WorkerPrincipal("w1")
		run := func(id int64) {
			_, err := f.app.StartJob(f.ctx, wp, id)
			must(t, err)
			_, err = f.app.FinishJob(f.ctx, wp, id, app.JobOutcome{})
			must(t, err)
		}
		r := f.pass() // Good device, never checked: due
		if r.HealthChecks["d1"] == 0 {
			t.Fatalf("first check not started: %+v", r)
		}
		run(r.HealthChecks["d1"])
		user := f.submit(definition("u", "qemu", ""))
		r = f.pass()
		if len(r.HealthChecks) != 0 || len(r.Assigned) != 1 {
			t.Fatalf("fresh device: %+v", r)
		}
		run(user)
		f.clk.Add(25 * time.Hour) // default frequency: 24 hours
		f.submit(definition("u2", "qemu", ""))
		r = f.pass()
		if r.HealthChecks["d1"] == 0 || len(r.Assigned) != 0 {
			t.Fatalf("after 25 h: %+v, want a check and no job", r)
		}
		run(r.HealthChecks["d1"])
		if r = f.pass(); len(r.Assigned) != 1 {
			t.Fatalf("queued job after check: %+v", r)
		}
	})
}

// TestQueueTimeout: a job nobody takes in time is canceled by the sweep.
func TestQueueTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1") // worker stays Offline
		id := f.submit(strings.Replace(definition("q", "qemu", ""), "  job: {minutes: 10}", "  job: {minutes: 10}\n  queue: {minutes: 5}", 1))
		if j := f.job(id); j.QueueTimeout != 5*time.Minute {
			t.Fatalf("queue timeout %s", j.QueueTimeout)
		}
		f.clk.Add(4 * time.Minute)
		if r := f.pass(); len(r.Expired) != 0 {
			t.Fatalf("expired early: %v", r.Expired)
		}
		f.clk.Add(2 * time.Minute)
		if r := f.pass(); len(r.Expired) != 1 || r.Expired[0] != id {
			t.Fatalf("expired %v", r.Expired)
		}
		j := f.job(id)
		if j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled || !strings.Contains(j.FailureComment, "queue timeout") {
			t.Errorf("job %s %s %q", j.State, j.Health, j.FailureComment)
		}
	})
}

// TestWorkerLiveness: heartbeats bring a worker Online; silence past the
// timeout takes it Offline, recorded with a reason.
func TestWorkerLiveness(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.online("w1")
		f.clk.Add(30 * time.Second)
		f.online("w1")
		f.clk.Add(59 * time.Second)
		must(t, app.SweepWorkers(f.app, f.ctx))
		if w, _ := f.app.GetWorker(f.ctx, "w1"); w.State != lab.WorkerOnline {
			t.Fatalf("offline after 59 s: %s", w.State)
		}
		f.clk.Add(2 * time.Second)
		must(t, app.SweepWorkers(f.app, f.ctx))
		w, _ := f.app.GetWorker(f.ctx, "w1")
		if w.State != lab.WorkerOffline {
			t.Fatalf("still %s after 61 s of silence", w.State)
		}
		hist, err := f.app.WorkerHistory(f.ctx, "w1", 10)
		must(t, err)
		if len(hist) < 2 || hist[0].NewState != lab.WorkerOffline || !strings.Contains(hist[0].Reason, "no heartbeat") {
			t.Errorf("history %+v", hist)
		}
		if _, err := f.app.Heartbeat(f.ctx, auth.WorkerPrincipal("w2"), "w1", "x"); !errors.Is(err, lab.ErrForbidden) {
			t.Errorf("other worker's heartbeat: %v", err)
		}
		if _, err := f.app.Heartbeat(f.ctx, f.admin, "w1", "x"); !errors.Is(err, lab.ErrForbidden) {
			t.Errorf("admin heartbeat: %v", err)
		}
	})
}

// TestWorkerHealthCascade: LAVA's cascade from worker health to devices.
// TestHeartbeatsOffTheWritePath: a live worker's heartbeats reach the
// database only every third of the heartbeat timeout (and on any change),
// yet the worker shows its latest heartbeat and is never taken for silent;
// another App on the same database (a restart, a second server) sees a
// stored heartbeat at most that old.
func TestHeartbeatsOffTheWritePath(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		start := f.clk.Now()
		f.online("w1") // Offline → Online: written
		stored := func() time.Time {
			w, err := f.app.Store().GetWorker(f.ctx, "w1")
			must(t, err)
			return w.LastHeartbeat
		}
		skipped := 0              // beats that did not reach the database
		for i := 1; i <= 6; i++ { // a beat every 10 s for a minute
			f.clk.Add(10 * time.Second)
			f.online("w1")
			if !stored().Equal(f.clk.Now()) {
				skipped++
			}
			if age := f.clk.Now().Sub(stored()); age >= 20*time.Second {
				t.Fatalf("after %d beats the stored heartbeat is %s old, want under a third of the 60 s timeout", i, age)
			}
			if w, _ := f.app.GetWorker(f.ctx, "w1"); !w.LastHeartbeat.Equal(f.clk.Now()) {
				t.Errorf("beat %d: GetWorker shows %s, want the latest %s", i, w.LastHeartbeat, f.clk.Now())
			}
		}
		// Every other beat stays in memory (at 10, 30 and 50 s: the stored
		// one is then 10 s old).
		if skipped != 3 || !stored().After(start) {
			t.Errorf("%d of 6 beats not written (stored %s), want 3", skipped, stored())
		}
		// 55 s after the last beat: the database's heartbeat may be up to
		// 20 s older, but the sweep takes the newest and keeps it Online.
		f.clk.Add(55 * time.Second)
		must(t, app.SweepWorkers(f.app, f.ctx))
		if w, _ := f.app.GetWorker(f.ctx, "w1"); w.State != lab.WorkerOnline {
			t.Fatalf("a worker that beat 55 s ago is %s", w.State)
		}
		f.clk.Add(6 * time.Second)
		must(t, app.SweepWorkers(f.app, f.ctx))
		if w, _ := f.app.GetWorker(f.ctx, "w1"); w.State != lab.WorkerOffline {
			t.Fatalf("61 s of silence: %s", w.State)
		}
		// A heartbeat with a new version is written at once.
		f.clk.Add(time.Second)
		_, err := f.app.Heartbeat(f.ctx, auth.WorkerPrincipal("w1"), "w1", "v2")
		must(t, err)
		if w, _ := f.app.Store().GetWorker(f.ctx, "w1"); w.Version != "v2" || w.State != lab.WorkerOnline || !w.LastHeartbeat.Equal(f.clk.Now()) {
			t.Errorf("stored after a new version: %+v", w)
		}
	})
}

func TestWorkerHealthCascade(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "good", "bad")
		_, err := f.app.SetDeviceHealth(f.ctx, f.admin, "bad", lab.DeviceBad, "broken")
		must(t, err)
		set := func(h lab.WorkerHealth) {
			_, err := f.app.UpdateWorker(f.ctx, f.admin, "w1", app.WorkerUpdate{Health: &h, Reason: "test"})
			must(t, err)
		}
		set(lab.WorkerMaintenance)
		if d := f.device("good"); d.Health != lab.DeviceGood {
			t.Fatalf("maintenance changed device to %s", d.Health)
		}
		set(lab.WorkerActive)
		if d := f.device("good"); d.Health != lab.DeviceUnknown {
			t.Errorf("back to Active: device %s, want Unknown", d.Health)
		}
		set(lab.WorkerRetired)
		if d := f.device("good"); d.Health != lab.DeviceRetired {
			t.Errorf("retired worker: device %s", d.Health)
		}
		if d := f.device("bad"); d.Health != lab.DeviceBad {
			t.Errorf("retired worker: bad device became %s", d.Health)
		}
	})
}

// TestSubmissionChecks: submissions no device could ever run are refused
// at once, with the reason.
func TestSubmissionChecks(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.lab("bbb", "w1", "b1")
		ap := f.admin
		must(t, f.app.CreateTag(f.ctx, ap, lab.Tag{Name: "usb"}))
		must(t, f.app.CreateAlias(f.ctx, ap, lab.Alias{Name: "kvm", DeviceType: "qemu"}))
		_, err := f.app.SetDeviceHealth(f.ctx, ap, "b1", lab.DeviceRetired, "gone")
		must(t, err)
		cases := []struct {
			name string
			def  string
			want error
			msg  string
		}{
			{"alias resolves", definition("a", "kvm", ""), nil, ""},
			{"unknown type", definition("a", "nope", ""), lab.ErrInvalid, `device type "nope" does not exist`},
			{"unknown tag", definition("a", "qemu", "tags: [wifi]"), lab.ErrInvalid, `tag "wifi" does not exist`},
			{"no device with tag", definition("a", "qemu", "tags: [usb]"), lab.ErrUnavailable, "no usable device"},
			{"only retired", definition("a", "bbb", ""), lab.ErrUnavailable, "no usable device"},
			{"device of other type", definition("a", "qemu", "device: b1"), lab.ErrInvalid, `is of type "bbb"`},
			{"missing worker", definition("a", "qemu", "worker: w9"), lab.ErrInvalid, `worker "w9" does not exist`},
			{"notify accepted", definition("a", "qemu", "notify:\n  criteria: {status: finished}\n  recipients:\n  - to: {method: email, email: qa@example.org}\n  - to: {method: email, user: alice}\n  callback: {url: 'https://ci.example.org/cb/{ID}'}"), nil, ""},
			{"notify callback to a private address", definition("a", "qemu", "notify:\n  criteria: {status: finished}\n  callbacks:\n  - url: https://ci.example.org/\n  - url: http://10.1.2.3:8080/cb"), lab.ErrInvalid, "7:10: $.notify.callbacks[1].url: callback address 10.1.2.3 is not public"},
			{"notify callback to this server", definition("a", "qemu", "notify:\n  criteria: {status: finished}\n  callback:\n    url: http://localhost:8000/cb"), lab.ErrInvalid, `$.notify.callback.url: callback host "localhost" is the server itself`},
			{"notify unknown user", definition("a", "qemu", "notify:\n  criteria: {status: finished}\n  recipients:\n  - to: {method: email, user: nobody}"), lab.ErrInvalid, `$.notify.recipients[0].to.user: user "nobody" does not exist`},
			{"notify dependency query", definition("a", "qemu", "notify:\n  criteria: {status: finished, dependency_query: q}"), lab.ErrInvalid, "$.notify.criteria.dependency_query: dependency_query is not supported"},
			{"unknown group", strings.Replace(definition("a", "qemu", ""), "visibility: public", "visibility: {group: [nobody]}", 1), lab.ErrInvalid, `group "nobody"`},
		}
		for _, c := range cases {
			_, _, err := f.app.SubmitJob(f.ctx, f.user, c.def)
			switch {
			case c.want == nil && err != nil:
				t.Errorf("%s: %v", c.name, err)
			case c.want != nil && (!errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg)):
				t.Errorf("%s: %v, want %v containing %q", c.name, err, c.want, c.msg)
			}
			var de *jobdef.Errors
			if c.want == lab.ErrInvalid && !errors.As(err, &de) {
				t.Errorf("%s: %T is not a *jobdef.Errors with a position", c.name, err)
			}
		}
		if _, _, err := f.app.SubmitJob(f.ctx, auth.Anonymous(), definition("a", "qemu", "")); !errors.Is(err, lab.ErrUnauthenticated) {
			t.Errorf("anonymous submit: %v", err)
		}
	})
}

// TestTwoServersOneDatabase runs two apps (two servers) on one database,
// racing scheduling passes: no job is assigned twice and no device ever
// holds two jobs.
func TestTwoServersOneDatabase(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			f := newFixture(t, labtest.OpenDSN(t, dsn))
			second := app.New(labtest.OpenDSN(t, dsn), app.Config{Now: f.clk.Now})
			var devices []string
			for w := range 3 {
				worker := fmt.Sprintf("w%d", w)
				var ds []string
				for d := range 4 {
					ds = append(ds, fmt.Sprintf("%s-d%d", worker, d))
				}
				f.lab("qemu", worker, ds...)
				f.online(worker)
				devices = append(devices, ds...)
			}
			for i := range 40 {
				f.submit(definition(fmt.Sprintf("j%d", i), "qemu", ""))
			}
			apps := []*app.App{f.app, second}
			finished := map[int64]bool{}
			for round := range 5 {
				var wg sync.WaitGroup
				results := make([]app.PassResult, len(apps))
				for i, a := range apps {
					wg.Add(1)
					go func() {
						defer wg.Done()
						r, err := a.SchedulePass(f.ctx)
						if err != nil {
							t.Errorf("round %d app %d: %v", round, i, err)
						}
						results[i] = r
					}()
				}
				wg.Wait()
				seenJob := map[int64]bool{}
				seenDev := map[string]bool{}
				for _, r := range results {
					for _, as := range r.Assigned {
						if seenJob[as.Job] || seenDev[as.Device] || finished[as.Job] {
							t.Fatalf("round %d: double assignment %+v", round, as)
						}
						seenJob[as.Job], seenDev[as.Device] = true, true
					}
				}
				// every device holds exactly the job that names it
				for _, h := range devices {
					d := f.device(h)
					if d.State == lab.DeviceIdle {
						continue
					}
					if j := f.job(d.CurrentJob); j.ActualDevice != h || j.State != lab.JobScheduled {
						t.Fatalf("device %s holds job %d which is %s on %q", h, d.CurrentJob, j.State, j.ActualDevice)
					}
				}
				// finish everything that was scheduled, so the next round schedules more
				for _, r := range results {
					for _, as := range r.Assigned {
						wp := auth.WorkerPrincipal(strings.SplitN(as.Device, "-", 2)[0])
						_, err := f.app.StartJob(f.ctx, wp, as.Job)
						must(t, err)
						_, err = f.app.FinishJob(f.ctx, wp, as.Job, app.JobOutcome{})
						must(t, err)
						finished[as.Job] = true
					}
				}
			}
			if len(finished) != 40 {
				t.Errorf("%d of 40 jobs ran", len(finished))
			}
		})
	}
}
