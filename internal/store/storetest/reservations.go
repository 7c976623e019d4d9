package storetest

import (
	"errors"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Reservations: jobs that hold one device for a person.

// reservation is a queued reservation of device by alice.
func reservation(device string, d time.Duration, reason string) lab.Job {
	return lab.Job{Description: "reservation of " + device, Submitter: "alice", RequestedType: "qemu", RequestedDevice: device,
		Definition: "job_name: r\n", OriginalDefinition: "job_name: r\n",
		Reservation: &lab.Reservation{Duration: d, Reason: reason}}
}

func testReservationRoundTrip(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	f.device("qemu-02", "qemu")
	r := reservation("qemu-01", 2*time.Hour+time.Nanosecond, "bisect ünïcode")
	id := f.job(r)
	got := f.getJob(id)
	want := lab.Reservation{Duration: 2*time.Hour + time.Nanosecond, Reason: "bisect ünïcode"}
	if got.Reservation == nil {
		f.t.Fatalf("job %d read back without its reservation", id)
	}
	f.eq(want, *got.Reservation, "reservation round trip")
	f.eq("qemu-01", got.RequestedDevice, "requested device")

	// An ordinary job has none.
	plain := f.job(lab.Job{RequestedType: "qemu"})
	if j := f.getJob(plain); j.Reservation != nil {
		f.t.Errorf("ordinary job %d has reservation %+v", plain, *j.Reservation)
	}

	// Listings carry it too, with and without definitions, and select
	// reservations only, ordinary jobs only, or a requested device.
	other := f.job(reservation("qemu-02", time.Hour, ""))
	yes, no := true, false
	for _, c := range []struct {
		name string
		f    store.JobFilter
		want []int64
	}{
		{"reservations", store.JobFilter{Reservation: &yes, Order: store.OrderID}, []int64{id, other}},
		{"ordinary jobs", store.JobFilter{Reservation: &no, Order: store.OrderID}, []int64{plain}},
		{"by requested device", store.JobFilter{Reservation: &yes, RequestedDevice: "qemu-02"}, []int64{other}},
		{"with definitions", store.JobFilter{Reservation: &yes, Order: store.OrderID, WithDefinition: true}, []int64{id, other}},
	} {
		jobs, total, err := f.s.ListJobs(f.ctx, c.f)
		f.ok(err, "list "+c.name)
		f.eq(c.want, ids(jobs), "list "+c.name)
		f.eq(len(c.want), total, "count "+c.name)
		for _, j := range jobs {
			if j.Reservation == nil && j.ID != plain {
				f.t.Errorf("list %s: job %d without its reservation", c.name, j.ID)
			}
		}
	}
	jobs, _, err := f.s.ListJobs(f.ctx, store.JobFilter{IDs: []int64{id}})
	f.ok(err, "list by id")
	if len(jobs) != 1 || jobs[0].Reservation == nil || *jobs[0].Reservation != want {
		f.t.Errorf("list by id: %+v", jobs)
	}

	// It lives and dies with its job's transitions like any job.
	f.assign(id, "qemu-01")
	start := base.Add(time.Minute)
	f.move(store.JobTransition{ID: id, From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: start})
	f.wantDevice("qemu-01", lab.DeviceRunning, id)
	if j := f.getJob(id); j.Reservation == nil || j.Reservation.Duration != want.Duration {
		f.t.Errorf("running reservation: %+v", j.Reservation)
	}
}

func testReservationUpdate(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	id := f.job(reservation("qemu-01", time.Hour, "why"))
	orig := lab.Reservation{Duration: time.Hour, Reason: "why"}

	until := base.Add(3*time.Hour + 7*time.Nanosecond)
	upd := lab.Reservation{Duration: time.Hour, Until: until, Reason: "why"}
	f.ok(f.s.UpdateReservation(f.ctx, id, orig, upd), "move until")
	got := f.getJob(id).Reservation
	f.eq(lab.Reservation{Duration: time.Hour, Until: stored(until), Reason: "why"}, *got, "until moved")

	// From what was read: the stored time, not the nanoseconds given.
	ended := lab.Reservation{Duration: 90 * time.Minute, Until: until, Reason: "why", EndedBy: "admin"}
	f.ok(f.s.UpdateReservation(f.ctx, id, *got, ended), "ended by")
	got = f.getJob(id).Reservation
	f.eq(lab.Reservation{Duration: 90 * time.Minute, Until: stored(until), Reason: "why", EndedBy: "admin"}, *got, "ended by set")

	// A stale read changes nothing.
	for _, stale := range []lab.Reservation{orig, upd, {Duration: 90 * time.Minute, Until: until, Reason: "why"}} {
		f.is(f.s.UpdateReservation(f.ctx, id, stale, lab.Reservation{Duration: time.Minute}), lab.ErrConflict, "update from a stale read")
	}
	f.eq(*got, *f.getJob(id).Reservation, "unchanged after stale updates")

	// In a transaction with the job's move.
	f.ok(f.s.InTx(f.ctx, func(q store.Queries) error {
		if err := q.UpdateReservation(f.ctx, id, *got, lab.Reservation{Duration: time.Minute, Reason: "why"}); err != nil {
			return err
		}
		_, err := q.TransitionJob(f.ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted},
			To: lab.JobFinished, Health: lab.JobHealthCanceled})
		return err
	}), "update in a transaction")
	j := f.getJob(id)
	f.eq(lab.Reservation{Duration: time.Minute, Reason: "why"}, *j.Reservation, "updated in a transaction")
	f.eq(lab.JobFinished, j.State, "finished in the same transaction")

	cur := *j.Reservation
	plain := f.job(lab.Job{RequestedType: "qemu"})
	f.is(f.s.UpdateReservation(f.ctx, plain, cur, upd), lab.ErrNotFound, "update an ordinary job")
	f.is(f.s.UpdateReservation(f.ctx, id+1000, cur, upd), lab.ErrNotFound, "update a missing job")
	f.is(f.s.UpdateReservation(f.ctx, id, cur, lab.Reservation{}), lab.ErrInvalid, "zero duration")
	f.is(f.s.UpdateReservation(f.ctx, id, cur, lab.Reservation{Duration: time.Hour, Reason: "a\x00b"}), lab.ErrInvalid, "NUL in reason")
}

// testReservationRace: concurrent read-modify-writes of one reservation
// (each in a transaction: read it, add a minute) never lose one another's
// change: each either lands or fails with ErrConflict.
func testReservationRace(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	id := f.job(reservation("qemu-01", time.Hour, ""))
	const n = 8
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			errs <- f.s.InTx(f.ctx, func(q store.Queries) error {
				j, err := q.GetJob(f.ctx, id)
				if err != nil {
					return err
				}
				to := *j.Reservation
				to.Duration += time.Minute
				return q.UpdateReservation(f.ctx, id, *j.Reservation, to)
			})
		})
	}
	wg.Wait()
	close(errs)
	landed := 0
	for err := range errs {
		switch {
		case err == nil:
			landed++
		case !errors.Is(err, lab.ErrConflict):
			f.t.Errorf("concurrent update: %v", err)
		}
	}
	if landed == 0 {
		f.t.Errorf("no update landed")
	}
	f.eq(time.Hour+time.Duration(landed)*time.Minute, f.getJob(id).Reservation.Duration, "duration after the updates that landed")
}

func testReservationErrors(f *fx) {
	f.deviceType("qemu")
	f.worker("w1")
	f.device("qemu-01", "qemu")
	for _, c := range []struct {
		name string
		edit func(*lab.Job)
	}{
		{"no device", func(j *lab.Job) { j.RequestedDevice = "" }},
		{"zero duration", func(j *lab.Job) { j.Reservation.Duration = 0 }},
		{"health check", func(j *lab.Job) { j.HealthCheck = true }},
		{"multinode", func(j *lab.Job) {
			j.Multinode = &lab.MultinodeJob{TargetGroup: "g", Role: "r", GroupSize: 1}
		}},
		{"bad reason", func(j *lab.Job) { j.Reservation.Reason = "\xff" }},
	} {
		j := reservation("qemu-01", time.Hour, "")
		j.SubmitTime, j.Priority = base, lab.PriorityMedium
		c.edit(&j)
		_, err := f.s.CreateJob(f.ctx, j)
		f.is(err, lab.ErrInvalid, c.name)
	}
	jobs, _, err := f.s.ListJobs(f.ctx, store.JobFilter{})
	f.ok(err, "list")
	f.eq(0, len(jobs), "nothing stored after refusals")
}
