package app

import (
	"context"
	"fmt"
	"strconv"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// groupJobs returns the jobs of multinode group name, by id.
func groupJobs(ctx context.Context, q store.Queries, name string) ([]lab.Job, error) {
	jobs, _, err := q.ListJobs(ctx, store.JobFilter{TargetGroup: name, Order: store.OrderID})
	if err != nil {
		return nil, fmt.Errorf("list group %s: %w", name, err)
	}
	return jobs, nil
}

// cancelSiblings cancels, with q, every unfinished job of j's multinode
// group other than j: queued ones finish Canceled, the others go to
// Canceling (their workers stop them), each with comment why. LAVA does it
// when any job of a group is canceled and when an essential role ends
// Incomplete. It returns the jobs it moved and how many notifications
// their moves queued.
func (a *App) cancelSiblings(ctx context.Context, q store.Queries, j lab.Job, why string) ([]lab.Job, int, error) {
	if j.Multinode == nil {
		return nil, 0, nil
	}
	jobs, err := groupJobs(ctx, q, j.Multinode.TargetGroup)
	if err != nil {
		return nil, 0, err
	}
	var moved []lab.Job
	queued := 0
	for _, s := range jobs {
		if s.ID == j.ID || !s.State.Cancelable() {
			continue
		}
		t := store.JobTransition{ID: s.ID, From: []lab.JobState{s.State}, At: a.now(), FailureComment: why}
		if s.State == lab.JobSubmitted {
			t.To, t.Health = lab.JobFinished, lab.JobHealthCanceled
		} else {
			t.To = lab.JobCanceling
		}
		m, n, err := a.moveJob(ctx, q, t)
		if err != nil {
			return nil, 0, fmt.Errorf("cancel job %d of group %s: %w", s.ID, j.Multinode.TargetGroup, err)
		}
		moved = append(moved, m)
		queued += n
	}
	return moved, queued, nil
}

// emitMoved emits the events of jobs moved as a side effect (a group's
// siblings canceled).
func (a *App) emitMoved(jobs []lab.Job) {
	for i := range jobs {
		j := jobs[i]
		a.emit(Event{Kind: "job", JobID: j.ID, State: j.State.String(), Health: j.Health.String(), Device: j.ActualDevice, Job: &j})
	}
}

// endsGroup reports whether job j, just finished with its health, ends its
// group: an essential role that did not complete cancels its siblings.
func endsGroup(j lab.Job) bool {
	return j.Multinode != nil && j.Multinode.Essential && j.State == lab.JobFinished && j.Health != lab.JobHealthComplete
}

// groupRoles maps the id (decimal) of every job of j's group to its role:
// LAVA's protocols.lava-multinode.roles.
func groupRoles(ctx context.Context, q store.Queries, j lab.Job) (map[string]string, error) {
	jobs, err := groupJobs(ctx, q, j.Multinode.TargetGroup)
	if err != nil {
		return nil, err
	}
	roles := make(map[string]string, len(jobs))
	for _, s := range jobs {
		if s.Multinode != nil {
			roles[strconv.FormatInt(s.ID, 10)] = s.Multinode.Role
		}
	}
	return roles, nil
}
