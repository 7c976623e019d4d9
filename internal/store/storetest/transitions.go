package storetest

import (
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// TransitionJob and health-check bookkeeping.

func from(states ...lab.JobState) []lab.JobState { return states }

func testTransitionLifecycle(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	id := f.job(lab.Job{RequestedType: "qemu", Definition: "def"})

	j := f.assign(id, "qemu-01")
	if j.State != lab.JobScheduled || j.ActualDevice != "qemu-01" || j.ID != id || j.Definition != "def" {
		f.t.Errorf("after scheduling: %+v", j)
	}
	f.wantDevice("qemu-01", lab.DeviceReserved, id)

	start := base.Add(time.Minute + 7*time.Nanosecond)
	j = f.move(store.JobTransition{ID: id, From: from(lab.JobScheduled), To: lab.JobRunning, At: start})
	if j.State != lab.JobRunning {
		f.t.Errorf("state %s, want Running", j.State)
	}
	f.eq(stored(start), j.StartTime, "start time")
	f.wantDevice("qemu-01", lab.DeviceRunning, id)

	end := base.Add(time.Hour)
	j = f.move(store.JobTransition{ID: id, From: from(lab.JobRunning), To: lab.JobFinished, At: end,
		Health: lab.JobHealthIncomplete, ErrorType: lab.ErrorTest, FailureComment: "test failed"})
	want := f.getJob(id)
	f.eq(want, j, "returned job equals stored job")
	if j.State != lab.JobFinished || j.Health != lab.JobHealthIncomplete || j.ErrorType != lab.ErrorTest ||
		j.FailureComment != "test failed" || j.ActualDevice != "qemu-01" {
		f.t.Errorf("after finishing: %+v", j)
	}
	f.eq(stored(end), j.EndTime, "end time")
	f.eq(stored(start), j.StartTime, "start time kept")
	f.wantDevice("qemu-01", lab.DeviceIdle, 0)
	if d := f.getDevice("qemu-01"); d.LastHealthReportJob != 0 {
		f.t.Errorf("an ordinary job set LastHealthReportJob to %d", d.LastHealthReportJob)
	}

	// The device takes the next job.
	next := f.job(lab.Job{RequestedType: "qemu"})
	f.assign(next, "qemu-01")
	f.wantDevice("qemu-01", lab.DeviceReserved, next)

	// A zero At means now.
	lo := time.Now()
	j = f.move(store.JobTransition{ID: next, From: from(lab.JobScheduled), To: lab.JobRunning})
	f.between(j.StartTime, lo, time.Now(), "default start time")
}

func testTransitionHealthCheck(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	for i, health := range []lab.JobHealth{lab.JobHealthComplete, lab.JobHealthIncomplete} {
		hc := f.job(lab.Job{Submitter: lab.HealthCheckUser, RequestedType: "qemu", RequestedDevice: "qemu-01", HealthCheck: true,
			SubmitTime: base.Add(time.Duration(i) * time.Hour)})
		// Health checks go straight to Scheduled on their device.
		f.assign(hc, "qemu-01")
		f.move(store.JobTransition{ID: hc, From: from(lab.JobScheduled), To: lab.JobRunning})
		f.move(store.JobTransition{ID: hc, From: from(lab.JobRunning), To: lab.JobFinished, Health: health})
		d := f.getDevice("qemu-01")
		if d.LastHealthReportJob != hc || d.State != lab.DeviceIdle || d.CurrentJob != 0 {
			f.t.Errorf("after health check %d (%s): device %+v", hc, health, d)
		}
		if d.Health != lab.DeviceGood {
			f.t.Errorf("TransitionJob changed device health to %s: that is the caller's job", d.Health)
		}
	}
}

func testTransitionCanceling(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	f.device("qemu-02", "qemu")
	// Cancel while Scheduled, and while Running.
	for _, c := range []struct {
		device  string
		running bool
	}{{"qemu-01", false}, {"qemu-02", true}} {
		id := f.job(lab.Job{RequestedType: "qemu"})
		f.assign(id, c.device)
		wantState := lab.DeviceReserved
		if c.running {
			f.move(store.JobTransition{ID: id, From: from(lab.JobScheduled), To: lab.JobRunning})
			wantState = lab.DeviceRunning
		}
		why := ""
		if c.running {
			why = "canceled with its multinode group"
		}
		j := f.move(store.JobTransition{ID: id, From: from(lab.JobScheduling, lab.JobScheduled, lab.JobRunning), To: lab.JobCanceling,
			FailureComment: why})
		if j.State != lab.JobCanceling || j.Health != lab.JobHealthUnknown || !j.EndTime.IsZero() || j.FailureComment != why {
			f.t.Errorf("canceling job: %+v", j)
		}
		f.wantDevice(c.device, wantState, id) // the device stays busy until the worker stops
		_, err := f.s.TransitionJob(f.ctx, store.JobTransition{ID: id, From: from(lab.JobRunning), To: lab.JobFinished})
		f.is(err, lab.ErrConflict, "finish a Canceling job from Running")
		j = f.move(store.JobTransition{ID: id, From: from(lab.JobCanceling), To: lab.JobFinished, Health: lab.JobHealthCanceled,
			ErrorType: lab.ErrorCanceled})
		if j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled || j.ErrorType != lab.ErrorCanceled {
			f.t.Errorf("canceled job: %+v", j)
		}
		f.wantDevice(c.device, lab.DeviceIdle, 0)
	}
}

func testTransitionCancelQueued(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	id := f.job(lab.Job{RequestedType: "qemu", RequestedDevice: "qemu-01"})
	at := base.Add(time.Hour)
	j := f.move(store.JobTransition{ID: id, From: from(lab.JobSubmitted), To: lab.JobFinished, At: at, Health: lab.JobHealthCanceled})
	if j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled || j.ActualDevice != "" || !j.StartTime.IsZero() {
		f.t.Errorf("canceled queued job: %+v", j)
	}
	f.eq(stored(at), j.EndTime, "end time")
	f.wantDevice("qemu-01", lab.DeviceIdle, 0)
	q, err := f.s.Queue(f.ctx)
	f.ok(err, "queue")
	if len(q) != 0 {
		f.t.Errorf("canceled job still queued: %v", q)
	}
}

func testTransitionConflicts(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	f.device("qemu-02", "qemu")
	busy := f.job(lab.Job{RequestedType: "qemu"})
	f.assign(busy, "qemu-01")
	other := f.job(lab.Job{RequestedType: "qemu"})
	done := f.job(lab.Job{RequestedType: "qemu", State: lab.JobFinished, Health: lab.JobHealthComplete})

	cases := []struct {
		name string
		t    store.JobTransition
		want error
	}{
		{"busy device", store.JobTransition{ID: other, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "qemu-01"}, lab.ErrConflict},
		{"wrong From", store.JobTransition{ID: other, From: from(lab.JobScheduled), To: lab.JobRunning}, lab.ErrConflict},
		{"assigned twice", store.JobTransition{ID: busy, From: from(lab.JobSubmitted, lab.JobScheduled), To: lab.JobScheduled, Device: "qemu-02"}, lab.ErrConflict},
		{"backwards", store.JobTransition{ID: busy, From: from(lab.JobScheduled), To: lab.JobSubmitted}, lab.ErrConflict},
		{"finished is final", store.JobTransition{ID: done, From: from(lab.JobFinished), To: lab.JobRunning}, lab.ErrConflict},
		{"skip to Canceling from Submitted", store.JobTransition{ID: other, From: from(lab.JobSubmitted), To: lab.JobCanceling}, lab.ErrConflict},
		{"missing job", store.JobTransition{ID: done + 100, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "qemu-02"}, lab.ErrNotFound},
		{"missing device", store.JobTransition{ID: other, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "nope"}, lab.ErrInvalid},
		{"no From", store.JobTransition{ID: other, To: lab.JobScheduled, Device: "qemu-02"}, lab.ErrInvalid},
		{"bad health", store.JobTransition{ID: busy, From: from(lab.JobScheduled), To: lab.JobFinished, Health: 9}, lab.ErrInvalid},
		{"bad error type", store.JobTransition{ID: busy, From: from(lab.JobScheduled), To: lab.JobFinished, ErrorType: "nope"}, lab.ErrInvalid},
	}
	for _, c := range cases {
		_, err := f.s.TransitionJob(f.ctx, c.t)
		f.is(err, c.want, c.name)
	}
	// Nothing moved.
	f.wantDevice("qemu-01", lab.DeviceReserved, busy)
	f.wantDevice("qemu-02", lab.DeviceIdle, 0)
	if j := f.getJob(other); j.State != lab.JobSubmitted || j.ActualDevice != "" {
		f.t.Errorf("job %d moved by failed transitions: %+v", other, j)
	}
	if j := f.getJob(busy); j.State != lab.JobScheduled || j.ActualDevice != "qemu-01" {
		f.t.Errorf("job %d moved by failed transitions: %+v", busy, j)
	}
	// A Running device cannot be reserved either.
	f.move(store.JobTransition{ID: busy, From: from(lab.JobScheduled), To: lab.JobRunning})
	_, err := f.s.TransitionJob(f.ctx, store.JobTransition{ID: other, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: "qemu-01"})
	f.is(err, lab.ErrConflict, "running device")
}

func testTransitionMultinode(f *fx) {
	f.deviceType("qemu")
	f.device("qemu-01", "qemu")
	id := f.job(lab.Job{RequestedType: "qemu"})
	j := f.move(store.JobTransition{ID: id, From: from(lab.JobSubmitted), To: lab.JobScheduling, Device: "qemu-01"})
	if j.State != lab.JobScheduling || j.ActualDevice != "qemu-01" {
		f.t.Errorf("scheduling job: %+v", j)
	}
	f.wantDevice("qemu-01", lab.DeviceReserved, id)
	// Scheduling → Scheduled keeps the device, named again or not.
	j = f.move(store.JobTransition{ID: id, From: from(lab.JobScheduling), To: lab.JobScheduled, Device: "qemu-01"})
	if j.State != lab.JobScheduled || j.ActualDevice != "qemu-01" {
		f.t.Errorf("scheduled job: %+v", j)
	}
	f.wantDevice("qemu-01", lab.DeviceReserved, id)

	// A device-less job (dynamic connection) moves without a device.
	dyn := f.job(lab.Job{})
	j = f.move(store.JobTransition{ID: dyn, From: from(lab.JobSubmitted), To: lab.JobScheduled})
	if j.State != lab.JobScheduled || j.ActualDevice != "" {
		f.t.Errorf("device-less job: %+v", j)
	}
	f.move(store.JobTransition{ID: dyn, From: from(lab.JobScheduled), To: lab.JobRunning})
	f.move(store.JobTransition{ID: dyn, From: from(lab.JobRunning), To: lab.JobFinished, Health: lab.JobHealthComplete})
	f.wantDevice("qemu-01", lab.DeviceReserved, id)
}

func testHealthCheckInfo(f *fx) {
	f.deviceType("qemu")
	for _, d := range []string{"d1", "d2", "d3"} {
		f.device(d, "qemu")
	}
	hcTime := base.Add(10 * time.Hour)
	finished := func(device string, healthCheck bool, submit, start time.Time) {
		f.job(lab.Job{RequestedType: "qemu", ActualDevice: device, HealthCheck: healthCheck, State: lab.JobFinished,
			Health: lab.JobHealthComplete, SubmitTime: submit, StartTime: start, EndTime: start.Add(time.Minute)})
	}
	// d1: an old health check, a newer one, jobs before and after it.
	finished("d1", true, base, base.Add(time.Minute))
	finished("d1", false, base, base.Add(5*time.Hour)) // before the last check: not counted
	finished("d1", true, hcTime, hcTime.Add(time.Minute))
	finished("d1", false, base, hcTime)                // started at the check's submit time: counted
	finished("d1", false, base, hcTime.Add(time.Hour)) // counted
	running := f.job(lab.Job{RequestedType: "qemu"})
	f.assign(running, "d1")
	f.move(store.JobTransition{ID: running, From: from(lab.JobScheduled), To: lab.JobRunning, At: hcTime.Add(2 * time.Hour)}) // counted
	// A job on d1 that never started is not counted; one on d2 neither.
	f.job(lab.Job{RequestedType: "qemu", RequestedDevice: "d1", SubmitTime: hcTime.Add(3 * time.Hour)})
	// d2: no health check ever; two started jobs.
	finished("d2", false, base, base)
	finished("d2", false, base, base.Add(time.Hour))
	// d3: nothing.

	got, err := f.s.HealthCheckInfo(f.ctx)
	f.ok(err, "health-check info")
	want := map[string]store.HealthInfo{
		"d1": {LastCheck: stored(hcTime), JobsSinceLast: 3},
		"d2": {JobsSinceLast: 2},
		"d3": {},
	}
	f.eq(want, got, "health-check info")
}
