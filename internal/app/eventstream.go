package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// The live event stream (internal/api/events) publishes the app's events
// with the objects they concern, as LAVA's publisher does, to listeners
// who each see only what they may. The objects are read once per event,
// whatever the number of listeners (EventResolver), and each listener is
// checked in memory (StreamEvent.VisibleTo).

// StreamEvent is an event with what its listeners need to know of the
// objects it concerns. Its pointers are shared: read-only.
type StreamEvent struct {
	Event
	// Job is the job of a job or test event, or the job holding the device
	// of a device event; nil when there is none (an Idle device).
	Job *lab.Job
	// Device is the device of a device event, or the device of a job
	// event's job; nil when there is none (a queued job).
	Device *lab.Device
}

// VisibleTo reports whether p may see the event, and whether p may see its
// job (the job of a device event is shown only to those who may see the
// job, as everywhere else). Job and test events are visible to whoever may
// see the job; devices and workers to everyone, as the API lists them.
func (se StreamEvent) VisibleTo(p auth.Principal) (event, job bool) {
	switch se.Kind {
	case "job", "event":
		ok := se.Job != nil && auth.CanViewJob(p, *se.Job)
		return ok, ok
	case "device":
		return true, se.Job != nil && auth.CanViewJob(p, *se.Job)
	case "worker":
		return true, false
	}
	return false, false
}

// maxResolverJobs bounds the jobs an EventResolver remembers; it forgets
// them all at once when full.
const maxResolverJobs = 4096

// EventResolver reads the objects of events for the event stream. It
// remembers the unfinished jobs it has seen in job events, so that the test
// events and device events of a running job cost no read; it reads a
// device for each device event and each job event on a device (one
// primary-key read). Not safe for concurrent use: one goroutine resolves
// every event, in order.
type EventResolver struct {
	a    *App
	jobs map[int64]*lab.Job
}

// NewEventResolver returns a resolver of a's events.
func (a *App) NewEventResolver() *EventResolver {
	return &EventResolver{a: a, jobs: map[int64]*lab.Job{}}
}

// ErrNotStreamed is returned by Resolve for events the stream does not
// publish ("log" events) and for events whose objects are gone (a device
// deleted since).
var ErrNotStreamed = errors.New("event not streamed")

// Resolve returns e with its objects. The state and health of the event
// are the ones it carries (they are what was committed); what it lacks is
// read from the store.
func (r *EventResolver) Resolve(ctx context.Context, e Event) (StreamEvent, error) {
	se := StreamEvent{Event: e}
	switch e.Kind {
	case "job":
		j := e.Job
		if j == nil {
			// another replica's event: what this resolver remembers of
			// the job is older than the event
			got, err := r.read(ctx, e.JobID)
			if err != nil {
				return se, err
			}
			j = got
		}
		se.Job = r.remember(j)
		if j.ActualDevice != "" {
			d, err := r.device(ctx, j.ActualDevice)
			if err != nil && !errors.Is(err, ErrNotStreamed) {
				return se, err
			}
			se.Device = d
		}
	case "device":
		d, err := r.device(ctx, e.Device)
		if err != nil {
			return se, err
		}
		se.Device = d
		if se.State == "" {
			se.State = d.State.String()
		}
		if se.Health == "" {
			se.Health = d.Health.String()
		}
		switch {
		case e.Job != nil:
			se.Job = e.Job
		case e.JobID != 0:
			se.Job, err = r.job(ctx, e.JobID)
		case se.State != lab.DeviceIdle.String() && d.CurrentJob != 0:
			se.Job, err = r.job(ctx, d.CurrentJob)
		}
		if err != nil && !errors.Is(err, ErrNotStreamed) {
			return se, err
		}
	case "worker":
	case KindResync:
		clear(r.jobs) // other replicas' changes may have been missed
		return se, ErrNotStreamed
	case "event":
		j, err := r.job(ctx, e.JobID)
		if err != nil {
			return se, err
		}
		se.Job = j
	default:
		return se, ErrNotStreamed
	}
	return se, nil
}

// remember keeps an unfinished job for the events that follow, and returns
// it as kept; a finished one is forgotten (its test events have all been
// uploaded by then, but for the few a late upload brings, which read it
// again).
func (r *EventResolver) remember(j *lab.Job) *lab.Job {
	c := *j // without what the stream never shows, which may be large
	c.Definition, c.OriginalDefinition, c.Metadata = "", "", nil
	if j.State == lab.JobFinished {
		delete(r.jobs, j.ID)
		return &c
	}
	if len(r.jobs) >= maxResolverJobs {
		clear(r.jobs)
	}
	r.jobs[j.ID] = &c
	return &c
}

// job returns job id, remembered or read.
func (r *EventResolver) job(ctx context.Context, id int64) (*lab.Job, error) {
	if j, ok := r.jobs[id]; ok {
		return j, nil
	}
	return r.read(ctx, id)
}

// read reads job id and remembers it.
func (r *EventResolver) read(ctx context.Context, id int64) (*lab.Job, error) {
	j, err := r.a.st.GetJob(ctx, id)
	if errors.Is(err, lab.ErrNotFound) {
		return nil, fmt.Errorf("job %d: %w", id, ErrNotStreamed)
	} else if err != nil {
		return nil, fmt.Errorf("read job %d for the event stream: %w", id, err)
	}
	return r.remember(&j), nil
}

// device reads device hostname.
func (r *EventResolver) device(ctx context.Context, hostname string) (*lab.Device, error) {
	d, err := r.a.st.GetDevice(ctx, hostname)
	if errors.Is(err, lab.ErrNotFound) {
		return nil, fmt.Errorf("device %q: %w", hostname, ErrNotStreamed)
	} else if err != nil {
		return nil, fmt.Errorf("read device %q for the event stream: %w", hostname, err)
	}
	d.Dictionary = "" // not published
	return &d, nil
}
