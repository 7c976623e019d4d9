package app_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// reserveFixture is a lab of one qemu device d1 on Online worker w1, with
// users alice (f.user) and bob, and the type's health check set.
func reserveFixture(t *testing.T, f *fixture) (bob auth.Principal) {
	t.Helper()
	f.lab("qemu", "w1", "d1")
	must(t, f.app.SetHealthCheck(f.ctx, f.admin, "qemu", definition("hc", "qemu", "")))
	f.online("w1")
	u, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob"})
	must(t, err)
	// A fresh health check first, so that the device is Good and checked.
	r := f.pass()
	if r.HealthChecks["d1"] == 0 {
		t.Fatalf("no first health check: %+v", r)
	}
	f.run(r.HealthChecks["d1"], app.JobOutcome{})
	if d := f.device("d1"); d.Health != lab.DeviceGood {
		t.Fatalf("d1 is %s after its check", d.Health)
	}
	return principalOf(t, u)
}

// run starts and finishes job id as its worker w1.
func (f *fixture) run(id int64, o app.JobOutcome) lab.Job {
	f.t.Helper()
	wp := auth.WorkerPrincipal("w1")
	_, err := f.app.StartJob(f.ctx, wp, id)
	must(f.t, err)
	j, err := f.app.FinishJob(f.ctx, wp, id, o)
	must(f.t, err)
	return j
}

// TestReserveChecks: what Reserve refuses, and the job it queues.
func TestReserveChecks(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1", "d2")
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "old", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceRetired}, "t"))
		for _, c := range []struct {
			name     string
			p        auth.Principal
			device   string
			d        time.Duration
			reason   string
			priority int
			want     error
		}{
			{"anonymous", auth.Anonymous(), "d1", time.Hour, "", 50, lab.ErrUnauthenticated},
			{"worker", auth.WorkerPrincipal("w1"), "d1", time.Hour, "", 50, lab.ErrForbidden},
			{"unknown device", f.user, "nope", time.Hour, "", 50, lab.ErrNotFound},
			{"retired device", f.user, "old", time.Hour, "", 50, lab.ErrUnavailable},
			{"too short", f.user, "d1", 59 * time.Second, "", 50, lab.ErrInvalid},
			{"too long", f.user, "d1", 24*time.Hour + time.Second, "", 50, lab.ErrInvalid},
			{"priority", f.user, "d1", time.Hour, "", 101, lab.ErrInvalid},
			{"reason too long", f.user, "d1", time.Hour, strings.Repeat("é", 201), 50, lab.ErrInvalid},
			{"reason not text", f.user, "d1", time.Hour, "a\x00b", 50, lab.ErrInvalid},
		} {
			if _, err := f.app.Reserve(f.ctx, c.p, c.device, c.d, c.reason, c.priority); !errors.Is(err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, err, c.want)
			}
		}

		j, err := f.app.Reserve(f.ctx, f.user, "d2", 2*time.Hour, `u-boot "bisect": 1/2`, 60)
		must(t, err)
		got := f.job(j.ID)
		if got.Reservation == nil || got.Reservation.Duration != 2*time.Hour || got.Reservation.Reason != `u-boot "bisect": 1/2` {
			t.Fatalf("stored reservation %+v", got.Reservation)
		}
		if got.RequestedDevice != "d2" || got.RequestedType != "qemu" || got.Submitter != "alice" || got.Priority != 60 ||
			got.Visibility != lab.VisibilityPublic || got.State != lab.JobSubmitted {
			t.Errorf("stored job %+v", got)
		}
		if want := `reservation of d2 by alice: u-boot "bisect": 1/2`; got.Description != want {
			t.Errorf("description %q, want %q", got.Description, want)
		}
		// Its definition is a valid job naming the device: LAVA's
		// validation (and every reader of definitions) accepts it.
		if _, err := f.app.ValidateJob(f.ctx, f.user, got.Definition, false); err != nil {
			t.Errorf("the definition does not validate: %v\n%s", err, got.Definition)
		}
		if _, err := f.app.ResubmitJob(f.ctx, f.user, j.ID); !errors.Is(err, lab.ErrConflict) {
			t.Errorf("resubmit a reservation: %v", err)
		}
		if _, err := f.app.GetReservation(f.ctx, f.user, j.ID); err != nil {
			t.Errorf("get: %v", err)
		}
		plain := f.submit(definition("plain", "qemu", ""))
		if _, err := f.app.GetReservation(f.ctx, f.user, plain); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("get an ordinary job as a reservation: %v", err)
		}
	})
}

// TestReservationLifecycle: a reservation waits for its device, holds it
// (nothing else is placed there, and a waiting job says who holds it until
// when), is extended, expires by itself, finishes Complete, and the device
// runs its health check before the next job.
func TestReservationLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		reserveFixture(t, f)
		wp := auth.WorkerPrincipal("w1")
		res, err := f.app.Reserve(f.ctx, f.user, "d1", 2*time.Hour, "bisect", lab.PriorityMedium)
		must(t, err)
		if r := f.pass(); len(r.Assigned) != 1 || r.Assigned[0].Job != res.ID {
			t.Fatalf("reservation not placed: %+v", r)
		}
		as, err := f.app.Assign(f.ctx, res.ID)
		must(t, err)
		if as.Reservation == nil || as.Holder != "alice" || as.Reservation.Reason != "bisect" ||
			as.Timeout != 2*time.Hour+app.DefaultMaxReservation || as.Device.Hostname != "d1" {
			t.Errorf("assignment %+v", as)
		}
		f.clk.Add(time.Minute)
		start := f.clk.Now()
		_, err = f.app.StartJob(f.ctx, wp, res.ID)
		must(t, err)
		if r := f.job(res.ID).Reservation; !r.Until.Equal(start.Add(2 * time.Hour)) {
			t.Fatalf("until %s, want start + 2h", r.Until)
		}

		// A job for the type waits, and says why.
		waiting := f.submit(definition("waits", "qemu", ""))
		if r := f.pass(); len(r.Assigned) != 0 || len(r.HealthChecks) != 0 {
			t.Fatalf("placed on a reserved device: %+v", r)
		}
		_, e, err := f.app.ExplainJob(f.ctx, f.admin, waiting)
		must(t, err)
		if want := "d1 is reserved by alice until 14:01 UTC"; e.Verdict != scheduler.VerdictWaiting || !strings.Contains(e.Summary, want) {
			t.Errorf("explanation %s %q, want it to say %q", e.Verdict, e.Summary, want)
		}

		// Extended while running: its end moves, within the maximum.
		j, err := f.app.ExtendReservation(f.ctx, f.user, res.ID, time.Hour)
		must(t, err)
		if !j.Reservation.Until.Equal(start.Add(3*time.Hour)) || j.Reservation.Duration != 2*time.Hour {
			t.Errorf("extended: %+v", *j.Reservation)
		}
		if _, err := f.app.ExtendReservation(f.ctx, f.user, res.ID, 22*time.Hour); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("extend past the maximum from now: %v", err)
		}

		// Not yet: nothing expires.
		f.clk.Add(3*time.Hour - time.Second)
		next, err := f.app.ExpireReservations(f.ctx)
		must(t, err)
		if !next.Equal(start.Add(3*time.Hour)) || f.job(res.ID).State != lab.JobRunning {
			t.Fatalf("before its end: next %s, state %s", next, f.job(res.ID).State)
		}
		f.clk.Add(time.Second)
		next, err = f.app.ExpireReservations(f.ctx)
		must(t, err)
		j = f.job(res.ID)
		if !next.IsZero() || j.State != lab.JobCanceling || j.Reservation.EndedBy != "" {
			t.Fatalf("at its end: next %s, job %s ended by %q", next, j.State, j.Reservation.EndedBy)
		}
		// The worker ends the session and reports it.
		j, err = f.app.FinishJob(f.ctx, wp, res.ID, app.JobOutcome{})
		must(t, err)
		if j.Health != lab.JobHealthComplete || !strings.Contains(j.FailureComment, "expired") {
			t.Errorf("expired reservation finished %s (%q)", j.Health, j.FailureComment)
		}
		// Back to service: Unknown, with why, and the health check goes
		// before the waiting job.
		if d := f.device("d1"); d.Health != lab.DeviceUnknown {
			t.Errorf("device after the reservation: %s", d.Health)
		}
		hist, err := f.app.DeviceHistory(f.ctx, f.admin, "d1", 1)
		must(t, err)
		if len(hist) != 1 || !strings.Contains(hist[0].Reason, "reservation ended") || hist[0].Job != res.ID {
			t.Errorf("history %+v", hist)
		}
		r := f.pass()
		if r.HealthChecks["d1"] == 0 || len(r.Assigned) != 0 {
			t.Fatalf("after the reservation: %+v, want the health check and no job", r)
		}
		f.run(r.HealthChecks["d1"], app.JobOutcome{})
		if r := f.pass(); len(r.Assigned) != 1 || r.Assigned[0].Job != waiting {
			t.Fatalf("the waiting job after the check: %+v", r)
		}
	})
}

// TestReservationNoHealthCheckAfter: a type that says so takes jobs again
// at once, its device still Good.
func TestReservationNoHealthCheckAfter(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		reserveFixture(t, f)
		_, err := f.app.UpdateDeviceTypeWith(f.ctx, f.admin, "qemu", func(dt *lab.DeviceType) error {
			dt.NoHealthCheckAfterReservation = true
			return nil
		})
		must(t, err)
		res, err := f.app.Reserve(f.ctx, f.user, "d1", time.Hour, "", lab.PriorityMedium)
		must(t, err)
		f.pass()
		_, err = f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), res.ID)
		must(t, err)
		waiting := f.submit(definition("waits", "qemu", ""))
		if _, err := f.app.ReleaseReservation(f.ctx, f.user, res.ID); err != nil {
			t.Fatal(err)
		}
		j, err := f.app.FinishJob(f.ctx, auth.WorkerPrincipal("w1"), res.ID, app.JobOutcome{})
		must(t, err)
		if j.Health != lab.JobHealthComplete || j.Reservation.EndedBy != "alice" {
			t.Errorf("released by its holder: %s, ended by %q", j.Health, j.Reservation.EndedBy)
		}
		if d := f.device("d1"); d.Health != lab.DeviceGood {
			t.Errorf("device after the reservation: %s", d.Health)
		}
		if r := f.pass(); len(r.HealthChecks) != 0 || len(r.Assigned) != 1 || r.Assigned[0].Job != waiting {
			t.Fatalf("after the reservation: %+v, want the waiting job", r)
		}
	})
}

// TestReservationPermissions: only the holder and admins extend or end a
// reservation; an admin's ending is Canceled, a queued release cancels.
func TestReservationPermissions(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		bob := reserveFixture(t, f)
		res, err := f.app.Reserve(f.ctx, f.user, "d1", time.Hour, "", lab.PriorityMedium)
		must(t, err)
		queued, err := f.app.Reserve(f.ctx, bob, "d1", time.Hour, "after alice", lab.PriorityMedium)
		must(t, err)

		// Queued: extended by its duration; within the maximum.
		j, err := f.app.ExtendReservation(f.ctx, bob, queued.ID, 30*time.Minute)
		must(t, err)
		if j.Reservation.Duration != 90*time.Minute || !j.Reservation.Until.IsZero() {
			t.Errorf("queued extension: %+v", *j.Reservation)
		}
		if _, err := f.app.ExtendReservation(f.ctx, bob, queued.ID, 23*time.Hour); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("queued extension past the maximum: %v", err)
		}

		f.pass()
		_, err = f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), res.ID)
		must(t, err)
		for _, c := range []struct {
			name string
			err  error
			want error
		}{
			{"bob extends alice's", func() error { _, err := f.app.ExtendReservation(f.ctx, bob, res.ID, time.Hour); return err }(), lab.ErrForbidden},
			{"bob releases alice's", func() error { _, err := f.app.ReleaseReservation(f.ctx, bob, res.ID); return err }(), lab.ErrForbidden},
			{"bob cancels alice's", func() error { _, err := f.app.CancelJob(f.ctx, bob, res.ID); return err }(), lab.ErrForbidden},
			{"anonymous releases", func() error { _, err := f.app.ReleaseReservation(f.ctx, auth.Anonymous(), res.ID); return err }(),
				lab.ErrUnauthenticated},
		} {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%s: %v, want %v", c.name, c.err, c.want)
			}
		}
		if _, err := f.app.ReleaseDevice(f.ctx, bob, "nope"); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("release a device bob holds nothing of: %v", err)
		}

		// The admin ends alice's: Canceled, with who did it.
		j, err = f.app.ReleaseReservation(f.ctx, f.admin, res.ID)
		must(t, err)
		if j.State != lab.JobCanceling || !strings.Contains(j.FailureComment, "ended by admin") {
			t.Errorf("ended by the admin: %s %q", j.State, j.FailureComment)
		}
		j, err = f.app.FinishJob(f.ctx, auth.WorkerPrincipal("w1"), res.ID, app.JobOutcome{})
		must(t, err)
		if j.Health != lab.JobHealthCanceled || j.Reservation.EndedBy != "admin" {
			t.Errorf("ended by the admin: %s, ended by %q", j.Health, j.Reservation.EndedBy)
		}
		if _, err := f.app.ReleaseReservation(f.ctx, f.user, res.ID); !errors.Is(err, lab.ErrConflict) {
			t.Errorf("release a finished reservation: %v", err)
		}

		// Bob releases his queued one by its device: canceled at once.
		j, err = f.app.ReleaseDevice(f.ctx, bob, "d1")
		must(t, err)
		if j.ID != queued.ID || j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled || j.Reservation.EndedBy != "bob" {
			t.Errorf("queued release: %d %s %s by %q", j.ID, j.State, j.Health, j.Reservation.EndedBy)
		}

		// Listings: current ones by default, finished ones on request.
		cur, n, err := f.app.ListReservations(f.ctx, bob, app.ReservationFilter{})
		must(t, err)
		if n != 0 || len(cur) != 0 {
			t.Errorf("current reservations: %d %+v", n, cur)
		}
		all, n, err := f.app.ListReservations(f.ctx, bob, app.ReservationFilter{Finished: true, Device: "d1"})
		must(t, err)
		if n != 2 || len(all) != 2 || all[0].ID != queued.ID || all[1].ID != res.ID {
			t.Errorf("all reservations of d1: %d %v", n, all)
		}
		if _, _, err := f.app.ListReservations(f.ctx, auth.WorkerPrincipal("w1"), app.ReservationFilter{}); err == nil {
			t.Errorf("a worker lists reservations")
		}
	})
}

// TestReservationExpiryTimer: the scheduler loop (Run) ends a reservation
// when its time is up, on the timer it sets for the earliest end, not at
// its next sweep (an hour away here).
func TestReservationExpiryTimer(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			f := newFixtureConfig(t, b.Open(t), app.Config{SweepInterval: time.Hour, LeaseTTL: time.Hour})
			f.lab("qemu", "w1", "d1") // no health check: the reservation takes the device at once
			f.online("w1")
			canceling := make(chan int64, 16)
			f.app.Subscribe(func(e app.Event) {
				if e.Kind == "job" && e.State == lab.JobCanceling.String() {
					canceling <- e.JobID
				}
			})
			ctx, cancel := context.WithCancel(f.ctx)
			done := make(chan struct{})
			go func() { defer close(done); f.app.Run(ctx) }()
			defer func() { cancel(); <-done }()

			res, err := f.app.Reserve(f.ctx, f.user, "d1", time.Minute, "", lab.PriorityMedium)
			must(t, err)
			for f.job(res.ID).State != lab.JobScheduled { // Run's pass places it
				select {
				case <-time.After(10 * time.Millisecond):
				case <-done:
					t.Fatal("Run returned")
				}
			}
			_, err = f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), res.ID)
			must(t, err)
			f.clk.Add(time.Minute) // its time is up
			f.app.Kick()           // a pass: Run looks at its timer again
			select {
			case id := <-canceling:
				if id != res.ID {
					t.Fatalf("job %d canceled, want reservation %d", id, res.ID)
				}
			case <-time.After(time.Minute):
				t.Fatalf("the reservation did not expire: %s", f.job(res.ID).State)
			}
			if j := f.job(res.ID); j.State != lab.JobCanceling || !strings.Contains(j.FailureComment, "expired") {
				t.Errorf("after its end: %s %q", j.State, j.FailureComment)
			}
		})
	}
}
