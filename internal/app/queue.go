package app

import (
	"context"
	"fmt"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
	"github.com/basalt-lab/basalt/internal/store"
)

// workerSinceDepth is how many of a worker's transitions are read to find
// when it entered its current state.
const workerSinceDepth = 20

// ExplainJob says why job id, which p must be able to see, is still queued:
// the scheduler's Explain over a snapshot of the lab taken now, with the
// same rules as the scheduling passes. For a job that is not Submitted the
// explanation's verdict is scheduler.VerdictNotQueued and its summary says
// where the job is. The job is returned as read before the snapshot.
func (a *App) ExplainJob(ctx context.Context, p auth.Principal, id int64) (lab.Job, scheduler.Explanation, error) {
	j, err := a.GetJob(ctx, p, id)
	if err != nil {
		return lab.Job{}, scheduler.Explanation{}, err
	}
	if j.State != lab.JobSubmitted {
		return j, notQueued(j), nil
	}
	s, _, err := a.snapshot(ctx, true)
	if err != nil {
		return j, scheduler.Explanation{}, fmt.Errorf("explain job %d: %w", id, err)
	}
	if err := a.workersSince(ctx, &s, j.RequestedType); err != nil {
		return j, scheduler.Explanation{}, fmt.Errorf("explain job %d: %w", id, err)
	}
	if err := a.reservationHolders(ctx, &s); err != nil {
		return j, scheduler.Explanation{}, fmt.Errorf("explain job %d: %w", id, err)
	}
	e := scheduler.Explain(s, id)
	if e.Verdict == scheduler.VerdictNotQueued { // it left the queue meanwhile
		if now, err := a.GetJob(ctx, p, id); err == nil {
			return now, notQueued(now), nil
		}
	}
	if err := a.hideJobs(ctx, p, &e); err != nil {
		return j, scheduler.Explanation{}, fmt.Errorf("explain job %d: %w", id, err)
	}
	return j, e, nil
}

// hideJobs keeps the jobs p may not see out of e: a device held by (or
// going to) such a job says PrivateJob, without its id, as private jobs
// are invisible to others everywhere else (hiddenJobs, one query). The
// job ids of e's multinode group are hidden the same way (0 in its lists),
// and a device held for a group of which p may see no job says
// PrivateGroup, without the group's name (one query per such group).
func (a *App) hideJobs(ctx context.Context, p auth.Principal, e *scheduler.Explanation) error {
	ids := make([]int64, len(e.Devices))
	for i, r := range e.Devices {
		ids[i] = r.Job
	}
	if g := e.Group; g != nil {
		ids = append(ids, g.Queued...)
		for _, r := range g.Roles {
			ids = append(ids, r.Jobs...)
		}
	}
	hidden, err := a.hiddenJobs(ctx, p, ids)
	if err != nil {
		return err
	}
	for i := range e.Devices {
		r := &e.Devices[i]
		if hidden[r.Job] {
			r.Detail, r.Job = hideJob(r.Detail, r.Job), 0
		}
	}
	if g := e.Group; g != nil {
		zero := func(ids []int64) {
			for i, id := range ids {
				if hidden[id] {
					ids[i] = 0
				}
			}
		}
		zero(g.Queued)
		for i := range g.Roles {
			r := &g.Roles[i]
			zero(r.Jobs)
			for id := range hidden {
				r.Detail = hideJob(r.Detail, id)
			}
		}
	}
	for id := range hidden {
		e.Summary = hideJob(e.Summary, id)
		for i := range e.Reasons {
			e.Reasons[i].Detail = hideJob(e.Reasons[i].Detail, id)
		}
	}
	return a.hideGroups(ctx, p, e)
}

// hideGroups keeps out of e the names of the multinode groups that hold
// devices of its scope (scheduler.CodeHeld) when p may see none of their
// jobs: the group is PrivateGroup. The jobs of a group come from one
// submission and share its visibility, so one of them is read per group.
func (a *App) hideGroups(ctx context.Context, p auth.Principal, e *scheduler.Explanation) error {
	if auth.IsAdmin(p) {
		return nil
	}
	seen := map[string]bool{}
	for i := range e.Devices {
		name := e.Devices[i].Group
		if name == "" || seen[name] || (e.Group != nil && name == e.Group.Name) {
			continue
		}
		seen[name] = true
		jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{TargetGroup: name, Limit: 1})
		if err != nil {
			return fmt.Errorf("group visibility: %w", err)
		}
		if len(jobs) == 1 && auth.CanViewJob(p, jobs[0]) {
			continue
		}
		for k := range e.Devices {
			if r := &e.Devices[k]; r.Group == name {
				r.Detail, r.Group = hideGroup(r.Detail, name), ""
			}
		}
		e.Summary = hideGroup(e.Summary, name)
		for k := range e.Reasons {
			e.Reasons[k].Detail = hideGroup(e.Reasons[k].Detail, name)
		}
	}
	return nil
}

// notQueued explains a job that is not Submitted.
func notQueued(j lab.Job) scheduler.Explanation {
	where := j.State.String()
	switch {
	case j.State == lab.JobFinished:
		where += " (" + j.Health.String() + ")"
	case j.ActualDevice != "":
		where += " on " + j.ActualDevice
	}
	d := fmt.Sprintf("job %d is not queued: it is %s", j.ID, where)
	return scheduler.Explanation{Job: j.ID, Verdict: scheduler.VerdictNotQueued, Summary: d,
		Reasons: []scheduler.Reason{{Code: scheduler.CodeNotQueued, Detail: d}}}
}

// workersSince fills in when each worker of s that holds a device of type
// typ and is not Online went Offline, from its history.
func (a *App) workersSince(ctx context.Context, s *scheduler.Snapshot, typ string) error {
	relevant := map[string]bool{}
	for _, d := range s.Devices {
		if d.Type == typ {
			relevant[d.Worker] = true
		}
	}
	for i := range s.Workers {
		w := &s.Workers[i]
		if w.State == lab.WorkerOnline || !relevant[w.Name] {
			continue
		}
		hist, err := a.st.WorkerHistory(ctx, w.Name, workerSinceDepth)
		if err != nil {
			return fmt.Errorf("history of worker %s: %w", w.Name, err)
		}
		for _, tr := range hist { // newest first
			if tr.NewState == w.State && tr.OldState != tr.NewState {
				w.Since = tr.Time
				break
			}
		}
	}
	return nil
}

// reservationHolders fills in who holds each device of s that a
// reservation holds, and until when (one query).
func (a *App) reservationHolders(ctx context.Context, s *scheduler.Snapshot) error {
	var ids []int64
	for _, d := range s.Devices {
		if d.Job != 0 {
			ids = append(ids, d.Job)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	yes := true
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{IDs: ids, Reservation: &yes, Limit: len(ids)})
	if err != nil {
		return fmt.Errorf("reservations holding devices: %w", err)
	}
	held := make(map[int64]lab.Job, len(jobs))
	for _, j := range jobs {
		held[j.ID] = j
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		if j, ok := held[d.Job]; ok && j.Reservation != nil {
			d.Holder, d.Until = j.Submitter, j.Reservation.Until
		}
	}
	return nil
}
