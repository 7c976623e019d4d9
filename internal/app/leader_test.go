package app_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// replicas is a fixture with a second App (a second server replica) on
// the same database and the fixture's clock, each logging to its buffer.
type replicas struct {
	*fixture
	second     *app.App
	logA, logB *syncbuf.Buffer
}

func newReplicas(t *testing.T, b labtest.Backend) *replicas {
	t.Helper()
	dsn := b.DSN(t)
	r := &replicas{logA: &syncbuf.Buffer{}, logB: &syncbuf.Buffer{}}
	r.fixture = newFixtureConfig(t, labtest.OpenDSN(t, dsn), app.Config{Logger: slog.New(slog.NewTextHandler(r.logA, nil))})
	r.second = app.New(labtest.OpenDSN(t, dsn), app.Config{Now: r.clk.Now, Logger: slog.New(slog.NewTextHandler(r.logB, nil))})
	return r
}

// worker returns a worker as stored.
func (f *fixture) worker(name string) lab.Worker {
	f.t.Helper()
	w, err := f.app.Store().GetWorker(f.ctx, name)
	must(f.t, err)
	return w
}

// runAndStop runs a's Run and stops it (ctx canceled), returning once Run
// has returned.
func runAndStop(a *app.App) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	cancel()
	<-done
}

// TestLeaderOnlyOneSweeps: of two Apps on one database exactly one takes
// the scheduler lease, and only it sweeps: the other's sweep does nothing
// (a silent worker stays Online) until the leader's marks it Offline.
func TestLeaderOnlyOneSweeps(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := newReplicas(t, b)
			r.lab("qemu", "w1", "d1")
			r.online("w1")
			if !app.RenewLeadership(r.app, r.ctx) {
				t.Fatal("the first App did not take the free lease")
			}
			if app.RenewLeadership(r.second, r.ctx) {
				t.Fatal("the second App took the lease the first holds")
			}
			if !r.app.Leader() || r.second.Leader() {
				t.Fatalf("Leader() = %v, %v; want true, false", r.app.Leader(), r.second.Leader())
			}
			l, err := r.app.Store().GetLease(r.ctx, app.LeaseScheduler)
			must(t, err)
			if l.Holder != r.app.LeaseHolder() || !l.Expires.Equal(r.clk.Now().Add(app.DefaultLeaseTTL)) {
				t.Errorf("stored lease %+v, want %s's until now+%v", l, r.app.LeaseHolder(), app.DefaultLeaseTTL)
			}

			// The worker falls silent past the heartbeat timeout; the
			// leader renews in time, as Run does every LeaseTTL/3.
			for range 13 {
				r.clk.Add(5 * time.Second)
				if !app.RenewLeadership(r.app, r.ctx) || app.RenewLeadership(r.second, r.ctx) {
					t.Fatalf("at %s: leadership moved while the leader renewed", r.clk.Now())
				}
			}
			if app.Sweep(r.second, r.ctx) {
				t.Error("the App that does not lead swept")
			}
			if w := r.worker("w1"); w.State != lab.WorkerOnline {
				t.Fatalf("after the follower's sweep, w1 is %s", w.State)
			}
			if !app.Sweep(r.app, r.ctx) {
				t.Error("the leader did not sweep")
			}
			if w := r.worker("w1"); w.State != lab.WorkerOffline {
				t.Fatalf("after the leader's sweep, w1 is %s", w.State)
			}
			if !strings.Contains(r.logA.String(), "became scheduler leader") {
				t.Errorf("leader's log lacks \"became scheduler leader\":\n%s", r.logA)
			}
			if strings.Contains(r.logB.String(), "became scheduler leader") {
				t.Errorf("follower's log says it became leader:\n%s", r.logB)
			}
		})
	}
}

// TestLeaderCrashFailover: a leader that dies (Run stops without
// releasing) keeps the lease until it lapses: the other App takes over at
// the lease's expiry, not an instant before, and sweeps then.
func TestLeaderCrashFailover(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := newReplicas(t, b)
			r.lab("qemu", "w1", "d1")
			r.online("w1")
			if !app.RenewLeadership(r.app, r.ctx) {
				t.Fatal("the first App did not take the free lease")
			}
			app.SimulateCrash(r.app)
			runAndStop(r.app)

			if app.RenewLeadership(r.second, r.ctx) {
				t.Fatal("the second App took the lease at once after a crash")
			}
			r.clk.Add(app.DefaultLeaseTTL - time.Microsecond)
			if app.RenewLeadership(r.second, r.ctx) {
				t.Fatal("the second App took the lease before it lapsed")
			}
			r.clk.Add(time.Microsecond)
			if r.app.Leader() {
				t.Error("the crashed App still believes it leads past its lease")
			}
			if !app.RenewLeadership(r.second, r.ctx) || !r.second.Leader() {
				t.Fatal("the second App did not take the lapsed lease")
			}
			r.clk.Add(time.Minute)
			must(t, errorIfFalse(app.RenewLeadership(r.second, r.ctx), "renewal by the new leader"))
			if !app.Sweep(r.second, r.ctx) {
				t.Fatal("the new leader did not sweep")
			}
			if w := r.worker("w1"); w.State != lab.WorkerOffline {
				t.Errorf("after the new leader's sweep, w1 is %s", w.State)
			}
			// The old leader, back, follows.
			if app.RenewLeadership(r.app, r.ctx) || app.Sweep(r.app, r.ctx) {
				t.Error("the old leader took the lease back or swept")
			}
		})
	}
}

// TestLeaderCleanStopReleases: a leader whose Run stops cleanly releases
// the lease: the other App takes it at the same instant.
func TestLeaderCleanStopReleases(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := newReplicas(t, b)
			if !app.RenewLeadership(r.app, r.ctx) {
				t.Fatal("the first App did not take the free lease")
			}
			runAndStop(r.app)
			if r.app.Leader() {
				t.Error("a stopped App believes it leads")
			}
			_, err := r.app.Store().GetLease(r.ctx, app.LeaseScheduler)
			if err == nil {
				t.Error("the lease is still stored after a clean stop")
			}
			if !app.RenewLeadership(r.second, r.ctx) {
				t.Fatal("the second App did not take the released lease at once")
			}
			if !strings.Contains(r.logA.String(), "released scheduler leadership") {
				t.Errorf("stopped leader's log:\n%s", r.logA)
			}
		})
	}
}

// TestLeaderLost: a leader that failed to renew in time loses the lease
// to the other App; it stops sweeping and logs "lost leadership".
func TestLeaderLost(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			r := newReplicas(t, b)
			if !app.RenewLeadership(r.app, r.ctx) {
				t.Fatal("the first App did not take the free lease")
			}
			r.clk.Add(app.DefaultLeaseTTL)
			if !app.RenewLeadership(r.second, r.ctx) {
				t.Fatal("the second App did not take the lapsed lease")
			}
			if app.RenewLeadership(r.app, r.ctx) || r.app.Leader() || app.Sweep(r.app, r.ctx) {
				t.Error("the old leader still leads")
			}
			if !strings.Contains(r.logA.String(), "lost leadership") || !strings.Contains(r.logA.String(), r.second.LeaseHolder()) {
				t.Errorf("old leader's log lacks \"lost leadership\" to %s:\n%s", r.second.LeaseHolder(), r.logA)
			}
		})
	}
}

// TestLeaderTwoBelieveTheyLead: two Apps whose clocks disagree by a lease
// both believe they lead (the first has not yet seen its lease lapse, the
// second took it over) and sweep at once: the store's conditional updates
// keep scheduling correct: no job is assigned twice, no device holds two
// jobs.
func TestLeaderTwoBelieveTheyLead(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			f := newFixture(t, labtest.OpenDSN(t, dsn))
			ahead := &clock{t: f.clk.Now().Add(app.DefaultLeaseTTL)}
			second := app.New(labtest.OpenDSN(t, dsn), app.Config{Now: ahead.Now})
			var devices []string
			for w := range 2 {
				worker := fmt.Sprintf("w%d", w)
				for d := range 3 {
					devices = append(devices, fmt.Sprintf("%s-d%d", worker, d))
				}
				f.lab("qemu", worker, devices[len(devices)-3:]...)
				f.online(worker)
			}
			var jobs []int64
			for i := range 20 {
				jobs = append(jobs, f.submit(definition(fmt.Sprintf("j%d", i), "qemu", "")))
			}
			if !app.RenewLeadership(f.app, f.ctx) || !app.RenewLeadership(second, f.ctx) {
				t.Fatal("both Apps should take the lease on their own clocks")
			}
			if !f.app.Leader() || !second.Leader() {
				t.Fatal("both Apps should believe they lead")
			}
			var wg sync.WaitGroup
			for _, a := range []*app.App{f.app, second} {
				wg.Go(func() {
					if !app.Sweep(a, f.ctx) {
						t.Error("an App that believes it leads did not sweep")
					}
				})
			}
			wg.Wait()
			held := map[string]int64{}
			for _, id := range jobs {
				j := f.job(id)
				if j.State == lab.JobSubmitted {
					continue
				}
				if j.State != lab.JobScheduled {
					t.Fatalf("job %d is %s", id, j.State)
				}
				if other, ok := held[j.ActualDevice]; ok {
					t.Fatalf("jobs %d and %d both on %s", other, id, j.ActualDevice)
				}
				held[j.ActualDevice] = id
			}
			if len(held) != len(devices) {
				t.Errorf("%d of %d devices took a job", len(held), len(devices))
			}
			for _, h := range devices {
				if d := f.device(h); d.CurrentJob != held[h] {
					t.Errorf("device %s holds job %d, want %d", h, d.CurrentJob, held[h])
				}
			}
		})
	}
}

// errorIfFalse is an error saying what did not hold, nil when ok.
func errorIfFalse(ok bool, what string) error {
	if ok {
		return nil
	}
	return fmt.Errorf("%s failed", what)
}
