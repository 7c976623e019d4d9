package app

import (
	"context"
	"fmt"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
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
// are invisible to others everywhere else (hiddenJobs, one query).
func (a *App) hideJobs(ctx context.Context, p auth.Principal, e *scheduler.Explanation) error {
	ids := make([]int64, len(e.Devices))
	for i, r := range e.Devices {
		ids[i] = r.Job
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
	for id := range hidden {
		e.Summary = hideJob(e.Summary, id)
		for i := range e.Reasons {
			e.Reasons[i].Detail = hideJob(e.Reasons[i].Detail, id)
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
