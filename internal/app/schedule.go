package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
	"github.com/basalt-lab/basalt/internal/store"
)

// Run drives scheduling until ctx ends: a pass right away, a pass whenever
// Kick is called (submit, finish, device or worker change), and, on the
// scheduler leader only, the sweep every SweepInterval (sweep: silent
// workers marked Offline, lost jobs finished, idle multinode groups swept,
// a full pass). Leadership is the lease "scheduler" in the store, taken or
// renewed every LeaseTTL/3. When ctx ends Run releases the lease, so that
// another replica takes over at its next renewal. Errors of one pass are logged and the loop
// goes on (the server's conditions, a full disk or an unavailable
// database, once per episode). It also runs the health probe (Health)
// every HealthInterval.
func (a *App) Run(ctx context.Context) {
	var probe sync.WaitGroup
	defer probe.Wait()
	probe.Go(func() { a.runHealth(ctx) })
	probe.Go(func() { a.RunReplicaEvents(ctx) })
	defer func() {
		a.lead.mu.Lock()
		crash := a.lead.crash
		a.lead.mu.Unlock()
		if !crash {
			a.releaseLeadership(ctx)
		}
	}()
	t := time.NewTicker(a.cfg.SweepInterval)
	defer t.Stop()
	// exp fires when the next reservation this process knows of ends
	// (reservations.go); the sweep finds the others.
	exp := time.NewTimer(time.Hour)
	exp.Stop()
	defer exp.Stop()
	resetExp := func() {
		exp.Stop()
		if d, ok := a.nextExpiry(); ok {
			exp.Reset(d)
		}
	}
	lt := time.NewTicker(max(a.cfg.LeaseTTL/3, time.Millisecond))
	defer lt.Stop()
	// No sweep right away, as before there was a leader: after a restart
	// the workers get a sweep interval to beat again before the stored
	// heartbeats are judged.
	a.renewLeadership(ctx)
	a.Kick()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.wake:
			if _, err := a.schedulePass(ctx, false); err != nil && ctx.Err() == nil {
				a.logError(slog.LevelError, "scheduling pass", err)
			}
			resetExp() // the clock moved: the next end may be due
		case <-lt.C:
			a.renewLeadership(ctx)
		case <-t.C:
			a.sweep(ctx)
			resetExp()
		case <-a.expiry.wake:
			resetExp()
		case <-exp.C:
			a.expireDue(ctx)
			resetExp()
		}
	}
}

// PassResult says what one scheduling pass committed.
type PassResult struct {
	Assigned     []scheduler.Assignment
	HealthChecks map[string]int64 // device → new health-check job
	Expired      []int64
	Conflicts    int // decisions another server (or a racing change) made moot
}

// SchedulePass takes a snapshot, asks the scheduler for a plan and commits
// each decision in its own transaction. A decision whose preconditions no
// longer hold (another server assigned the job or device first) is skipped
// and counted as a conflict: the store's conditional updates guarantee that
// no job is assigned twice and no device holds two jobs.
func (a *App) SchedulePass(ctx context.Context) (PassResult, error) { return a.schedulePass(ctx, true) }

// schedulePass is SchedulePass; when full is false (a pass triggered by an
// event) and no device could take anything, it skips reading the queue:
// then only queue timeouts could be decided, and the periodic full sweep
// handles those. This keeps a long queue in a busy lab from being re-read
// on every submission.
func (a *App) schedulePass(ctx context.Context, full bool) (PassResult, error) {
	res := PassResult{HealthChecks: map[string]int64{}}
	snap, types, err := a.snapshot(ctx, full)
	if err != nil {
		return res, err
	}
	plan := scheduler.Plan(snap)
	now := a.now()

	for _, id := range plan.Expired {
		var j lab.Job
		var queued int
		err := a.st.InTx(ctx, func(q store.Queries) error {
			var err error
			j, queued, err = a.moveJob(ctx, q, store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted},
				To: lab.JobFinished, At: now, Health: lab.JobHealthCanceled, ErrorType: lab.ErrorCanceled,
				FailureComment: "queue timeout: no device took the job in time"})
			return err
		})
		if queued > 0 {
			a.kickNotify()
		}
		if errors.Is(err, lab.ErrConflict) {
			res.Conflicts++
			continue
		} else if err != nil {
			return res, fmt.Errorf("expire job %d: %w", id, err)
		}
		res.Expired = append(res.Expired, id)
		a.emit(Event{Kind: "job", JobID: id, State: lab.JobFinished.String(), Health: lab.JobHealthCanceled.String(), Job: &j})
	}

	for _, hc := range plan.HealthChecks {
		j, err := a.startHealthCheck(ctx, hc, types[hc.Type], now)
		if errors.Is(err, lab.ErrConflict) {
			res.Conflicts++
			continue
		} else if err != nil {
			return res, fmt.Errorf("health check on %s: %w", hc.Device, err)
		}
		if j.ID != 0 {
			res.HealthChecks[hc.Device] = j.ID
			a.emitTakes(j)
		}
	}

	for i := 0; i < len(plan.Assignments); {
		// A multinode group's assignments are consecutive: commit them
		// together, all or none.
		n := 1
		if g := plan.Assignments[i].Group; g != "" {
			for i+n < len(plan.Assignments) && plan.Assignments[i+n].Group == g {
				n++
			}
		}
		batch := plan.Assignments[i : i+n]
		i += n
		var taken []lab.Job
		err := a.st.InTx(ctx, func(q store.Queries) error {
			taken = taken[:0] // InTx may run this more than once
			for _, as := range batch {
				j, err := q.TransitionJob(ctx, store.JobTransition{ID: as.Job, From: []lab.JobState{lab.JobSubmitted},
					To: lab.JobScheduled, Device: as.Device, At: now})
				if err != nil {
					return fmt.Errorf("assign job %d to %s: %w", as.Job, as.Device, err)
				}
				taken = append(taken, j)
			}
			return nil
		})
		if errors.Is(err, lab.ErrConflict) {
			res.Conflicts++
			continue
		} else if err != nil {
			return res, err
		}
		res.Assigned = append(res.Assigned, batch...)
		for _, j := range taken {
			a.emitTakes(j)
		}
	}
	return res, nil
}

// snapshot reads what the scheduler needs in a handful of queries.
func (a *App) snapshot(ctx context.Context, withIdleQueue bool) (scheduler.Snapshot, map[string]lab.DeviceType, error) {
	var s scheduler.Snapshot
	s.Now = a.now()
	s.GroupHoldAfter = a.cfg.GroupHoldAfter
	dts, err := a.st.ListDeviceTypes(ctx)
	if err != nil {
		return s, nil, fmt.Errorf("snapshot device types: %w", err)
	}
	types := make(map[string]lab.DeviceType, len(dts))
	for _, dt := range dts {
		types[dt.Name] = dt
		s.DeviceTypes = append(s.DeviceTypes, scheduler.DeviceType{Name: dt.Name, HealthFrequency: dt.HealthFrequency,
			HealthDenominator: dt.HealthDenominator, DisableHealthCheck: dt.DisableHealthCheck, HasHealthCheck: dt.HealthCheck != ""})
	}
	devs, err := a.st.ListDevices(ctx, store.DeviceFilter{})
	if err != nil {
		return s, nil, fmt.Errorf("snapshot devices: %w", err)
	}
	hi, err := a.st.HealthCheckInfo(ctx)
	if err != nil {
		return s, nil, fmt.Errorf("snapshot health checks: %w", err)
	}
	busy := map[string]int{}
	for _, d := range devs {
		if d.State != lab.DeviceIdle && d.Worker != "" {
			busy[d.Worker]++
		}
		info := hi[d.Hostname]
		s.Devices = append(s.Devices, scheduler.Device{Hostname: d.Hostname, Type: d.DeviceType, Worker: d.Worker,
			Tags: d.Tags, State: d.State, Health: d.Health, LastHealthCheck: info.LastCheck, JobsSinceHealthCheck: info.JobsSinceLast,
			Job: d.CurrentJob})
	}
	ws, err := a.st.ListWorkers(ctx)
	if err != nil {
		return s, nil, fmt.Errorf("snapshot workers: %w", err)
	}
	for _, w := range ws {
		s.Workers = append(s.Workers, scheduler.Worker{Name: w.Name, State: w.State, Health: w.Health, JobLimit: w.JobLimit, Busy: busy[w.Name],
			LastSeen: w.LastHeartbeat})
	}
	if !withIdleQueue && !anyDeviceFree(s) {
		return s, types, nil
	}
	q, err := a.st.Queue(ctx)
	if err != nil {
		return s, nil, fmt.Errorf("snapshot queue: %w", err)
	}
	s.Queue = make([]scheduler.Job, 0, len(q))
	for _, j := range q {
		if j.HealthCheck {
			continue // health checks are created straight into Scheduled, never queued
		}
		s.Queue = append(s.Queue, scheduler.Job{ID: j.ID, Priority: j.Priority, SubmitTime: j.SubmitTime, Type: j.RequestedType,
			Device: j.RequestedDevice, Worker: j.RequestedWorker, Tags: j.Tags, QueueTimeout: j.QueueTimeout,
			Group: j.Group, GroupSize: j.GroupSize, Role: j.Role})
	}
	return s, types, nil
}

// startHealthCheck creates the health-check job for a due device straight
// into Scheduled on that device, as LAVA does (no queueing). A check that
// does not parse marks the device Bad ("Invalid health check") and returns a
// job with ID 0.
func (a *App) startHealthCheck(ctx context.Context, hc scheduler.HealthCheck, dt lab.DeviceType, now time.Time) (lab.Job, error) {
	def, perr := jobdef.Parse([]byte(dt.HealthCheck))
	var out lab.Job
	var tr lab.DeviceTransition
	err := a.st.InTx(ctx, func(q store.Queries) error {
		out, tr = lab.Job{}, lab.DeviceTransition{} // InTx may run this more than once
		if perr != nil {
			var err error
			tr, err = q.SetDeviceHealth(ctx, hc.Device, lab.DeviceBad, lab.ActorScheduler, "Invalid health check: "+perr.Error(), 0)
			return err
		}
		id, err := q.CreateJob(ctx, lab.Job{
			Description: def.Name, Submitter: lab.HealthCheckUser, Visibility: lab.VisibilityPublic,
			State: lab.JobSubmitted, Priority: lab.PriorityHigh, RequestedType: dt.Name, RequestedDevice: hc.Device,
			HealthCheck: true, SubmitTime: now, Metadata: def.Metadata,
			Definition: dt.HealthCheck, OriginalDefinition: dt.HealthCheck,
		})
		if err != nil {
			return err
		}
		out, err = q.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted},
			To: lab.JobScheduled, Device: hc.Device, At: now})
		return err
	})
	if perr != nil && err == nil {
		if tr.ID != 0 {
			a.emit(Event{Kind: "device", Device: hc.Device, State: tr.NewState.String(), Health: tr.NewHealth.String()})
		}
		return lab.Job{}, nil
	}
	return out, err
}

// emitTakes emits the events of job j taking its device: the job is
// Scheduled, the device Reserved.
func (a *App) emitTakes(j lab.Job) {
	a.emit(Event{Kind: "job", JobID: j.ID, Device: j.ActualDevice, State: j.State.String(), Health: j.Health.String(), Job: &j})
	a.emit(Event{Kind: "device", Device: j.ActualDevice, JobID: j.ID, State: lab.DeviceReserved.String(), Job: &j})
}

// StartJob records that the worker started job id (Scheduled → Running).
// Only the worker that owns the job's device may do it; repeating it for a
// job already Running is harmless.
func (a *App) StartJob(ctx context.Context, p auth.Principal, id int64) (lab.Job, error) {
	if p.Kind == auth.KindWorker {
		ctx = store.Urgent(ctx) // the worker link goes first
	}
	var out lab.Job
	var started bool
	var queued int
	err := a.st.InTx(ctx, func(q store.Queries) error {
		started, queued = false, 0 // InTx may run this more than once
		j, err := a.checkJobWorker(ctx, q, p, id)
		if err != nil {
			return err
		}
		if j.State == lab.JobRunning || j.State == lab.JobCanceling {
			out = j // a repeated report (the reply to the first was lost)
			return nil
		}
		at := a.now()
		out, queued, err = a.moveJob(ctx, q, store.JobTransition{ID: id, From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: at})
		if err != nil {
			return err
		}
		if out.Reservation != nil { // its time runs from now
			if out, err = startReservation(ctx, q, out, at); err != nil {
				return err
			}
		}
		started = true
		return nil
	})
	if err != nil {
		return lab.Job{}, fmt.Errorf("start job %d: %w", id, err)
	}
	if queued > 0 {
		a.kickNotify()
	}
	if started { // a repeated report changed nothing: no event
		j := out
		if j.Reservation != nil {
			a.noteUntil(j.Reservation.Until)
		}
		a.emit(Event{Kind: "job", JobID: id, Device: j.ActualDevice, State: j.State.String(), Health: j.Health.String(), Job: &j})
		a.emit(Event{Kind: "device", Device: j.ActualDevice, JobID: id, State: lab.DeviceRunning.String(), Job: &j})
	}
	return out, nil
}

// JobOutcome is what a worker reports when a job ends.
type JobOutcome struct {
	Failed    bool
	ErrorType lab.ErrorType
	Comment   string
}

// FinishJob records the end of job id and applies LAVA's device health rules
// (health checks set Good/Bad; infrastructure errors set Unknown) in the same
// transaction. A job that was Canceling finishes Canceled. An essential
// role of a multinode group that does not finish Complete cancels the rest
// of its group, in the same transaction.
func (a *App) FinishJob(ctx context.Context, p auth.Principal, id int64, o JobOutcome) (lab.Job, error) {
	var out lab.Job
	var devHealth *lab.DeviceHealth // the device's health after the job
	var siblings []lab.Job
	var queued int
	err := a.st.InTx(ctx, func(q store.Queries) error {
		devHealth, queued, siblings = nil, 0, nil // InTx may run this more than once
		j, err := a.checkJobWorker(ctx, q, p, id)
		if err != nil {
			return err
		}
		health := lab.JobHealthComplete
		switch {
		case j.State == lab.JobCanceling && j.Reservation != nil:
			health = reservationHealth(j)
		case j.State == lab.JobCanceling:
			health = lab.JobHealthCanceled
		case o.Failed || o.ErrorType != lab.ErrorNone:
			health = lab.JobHealthIncomplete
		}
		comment := o.Comment
		if j.State == lab.JobCanceling && j.FailureComment != "" && j.FailureComment != comment {
			// Why it was canceled (its multinode group ended) comes first.
			comment = strings.TrimSuffix(j.FailureComment+"; "+comment, "; ")
		}
		out, queued, err = a.moveJob(ctx, q, store.JobTransition{ID: id,
			From: []lab.JobState{lab.JobScheduled, lab.JobRunning, lab.JobCanceling}, To: lab.JobFinished,
			At: a.now(), Health: health, ErrorType: o.ErrorType, FailureComment: comment})
		if err != nil {
			return err
		}
		if err := revokeJobTokens(ctx, q, id); err != nil {
			return err
		}
		if endsGroup(out) {
			var n int
			siblings, n, err = a.cancelSiblings(ctx, q, out,
				fmt.Sprintf("essential role %s of the multinode group ended %s (job %d)", out.Multinode.Role, out.Health, id))
			if err != nil {
				return err
			}
			queued += n
		}
		if j.ActualDevice == "" {
			return nil
		}
		d, err := q.GetDevice(ctx, j.ActualDevice)
		if err != nil {
			return err
		}
		nh, reason := lab.DeviceHealthAfterJob(d.Health, j.HealthCheck, health, o.ErrorType)
		if j.Reservation != nil {
			dt, err := q.GetDeviceType(ctx, d.DeviceType)
			if err != nil {
				return err
			}
			if h, why := afterReservation(nh, dt, id); h != nh {
				nh, reason = h, why
			}
		}
		if nh != d.Health {
			if _, err := q.SetDeviceHealth(ctx, d.Hostname, nh, lab.ActorScheduler, fmt.Sprintf("%s (job %d)", reason, id), id); err != nil {
				return err
			}
		}
		devHealth = &nh
		return nil
	})
	if err != nil {
		return lab.Job{}, fmt.Errorf("finish job %d: %w", id, err)
	}
	if queued > 0 {
		a.kickNotify()
	}
	j := out
	a.emit(Event{Kind: "job", JobID: id, Device: j.ActualDevice, State: j.State.String(), Health: j.Health.String(), Job: &j})
	a.emitMoved(siblings)
	a.endGroup(ctx, out)
	a.endConsole(ctx, out)
	if devHealth != nil { // the device is free again
		a.emit(Event{Kind: "device", Device: j.ActualDevice, Health: devHealth.String(), State: lab.DeviceIdle.String()})
	}
	a.Kick()
	return out, nil
}

// checkJobWorker allows p to act on job id only if p is the worker that owns
// the job's device (or the job's own token), and returns the job it read.
func (a *App) checkJobWorker(ctx context.Context, q store.Queries, p auth.Principal, id int64) (lab.Job, error) {
	j, err := q.GetJob(ctx, id)
	if err != nil {
		return lab.Job{}, err
	}
	if p.Kind == auth.KindJob && p.JobID == id {
		return j, nil
	}
	if j.ActualDevice != "" {
		d, err := q.GetDevice(ctx, j.ActualDevice)
		if err != nil {
			return lab.Job{}, err
		}
		if auth.CanActAsWorker(p, d.Worker) {
			return j, nil
		}
	}
	return lab.Job{}, denied(p, "act for job")
}

// anyDeviceFree reports whether some device could start a job or a health
// check now: Idle, not Bad/Maintenance/Retired, on an Online, Active worker
// below its job limit.
func anyDeviceFree(s scheduler.Snapshot) bool {
	workers := make(map[string]scheduler.Worker, len(s.Workers))
	for _, w := range s.Workers {
		workers[w.Name] = w
	}
	for _, d := range s.Devices {
		w, ok := workers[d.Worker]
		if !ok || d.State != lab.DeviceIdle || w.State != lab.WorkerOnline || w.Health != lab.WorkerActive {
			continue
		}
		if w.JobLimit > 0 && w.Busy >= w.JobLimit {
			continue
		}
		if d.Health == lab.DeviceGood || d.Health == lab.DeviceUnknown || d.Health == lab.DeviceLooping {
			return true
		}
	}
	return false
}

// revokeJobTokens deletes the tokens of job id: a job's credentials die
// with it. A token that another transaction deleted since the list was
// read (another replica assigning or finishing the same job at once:
// PostgreSQL's READ COMMITTED lets both see it) is revoked already, which
// is all this wants: it is no error.
func revokeJobTokens(ctx context.Context, q store.Queries, id int64) error {
	toks, err := q.ListTokens(ctx, lab.TokenJob, "")
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.JobID == id {
			if err := q.DeleteToken(ctx, t.ID); err != nil && !errors.Is(err, lab.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}
