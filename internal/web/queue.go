package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/scheduler"
)

// queueRefresh is how often a queued job's stream re-explains the wait
// without an event (queue timeouts and health checks fall due with the
// clock alone). A variable so tests can shorten it.
var queueRefresh = 10 * time.Second

// queueView is the "queue" template's data: why a queued job waits, or,
// once it left the queue, where it is.
type queueView struct {
	Job    int64
	Queued bool // false once the job has left the queue
	// Summary is the scheduler's sentence; Notes the other job-level
	// reasons not already in it (the queue timeout to come).
	Summary string
	Notes   []string
	Devices []scheduler.DeviceReason
	// Group is the job's multinode group as the scheduler sees it: what
	// each role waits for and the group's hold; nil for other jobs.
	Group  *scheduler.GroupState
	Events string // the stream that keeps the box current, while queued
}

// newQueueView shows explanation e of job j.
func newQueueView(j lab.Job, e scheduler.Explanation) *queueView {
	v := &queueView{Job: j.ID, Queued: e.Verdict != scheduler.VerdictNotQueued, Summary: e.Summary, Devices: e.Devices,
		Group: e.Group}
	if v.Queued {
		v.Events = fmt.Sprintf("/jobs/%d/queue/events", j.ID)
	} else { // said in words that stay true as the job goes on
		switch {
		case j.ActualDevice != "":
			v.Summary = "it was assigned to " + j.ActualDevice
		case j.State == lab.JobFinished:
			v.Summary = "it finished " + j.Health.String()
		default:
			v.Summary = "it is " + j.State.String()
		}
	}
	for i, r := range e.Reasons {
		// The jobs ahead and the group's hold are in the summary already.
		if i > 0 && r.Code != scheduler.CodeJobsAhead && r.Code != scheduler.CodeGroupHold {
			v.Notes = append(v.Notes, r.Detail)
		}
	}
	return v
}

// jobQueue explains why job j waits, for the job page; nil when it is not
// queued.
func (u *UI) jobQueue(ctx context.Context, p auth.Principal, j lab.Job) (*queueView, error) {
	if j.State != lab.JobSubmitted {
		return nil, nil
	}
	j, e, err := u.app.ExplainJob(ctx, p, j.ID)
	if err != nil {
		return nil, fmt.Errorf("job %d: %w", j.ID, err)
	}
	return newQueueView(j, e), nil
}

// renderQueue renders the queue box's content.
func (u *UI) renderQueue(v *queueView) ([]byte, error) {
	var buf bytes.Buffer
	if err := u.pages["job"].ExecuteTemplate(&buf, "queue", v); err != nil {
		return nil, fmt.Errorf("render queue: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// queueEvents streams a queued job's wait: event "queue" carries the
// queue box's content as rendered HTML, first at once, then whenever it
// changes, re-explained after lab events (any job, device or worker change
// may change it, batched like the overview's) and at least every
// queueRefresh. Once the job has left the queue the last "queue" event
// says where it is and "end" closes the stream.
func (u *UI) queueEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	sub := u.live.subscribe(r.Context(), 0) // before the first read, so no change is missed
	defer u.live.unsubscribe(sub)
	ctx := sub.ctx
	j, e, err := u.app.ExplainJob(ctx, p, id)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err // 404 for a job p may not see, as on the page
	}
	s, err := startSSE(w)
	if err != nil {
		return nil
	}
	tick := time.NewTicker(queueRefresh)
	defer tick.Stop()
	var last []byte
	for {
		v := newQueueView(j, e)
		html, err := u.renderQueue(v)
		if err != nil {
			u.log.Error("queue stream", "job", id, "err", err)
			return nil
		}
		if !bytes.Equal(html, last) {
			if s.event("queue", "", html) != nil {
				return nil
			}
			last = html
		} else if s.comment("unchanged") != nil {
			return nil
		}
		if !v.Queued {
			_ = s.event("end", "", []byte(j.State.String()))
			return nil
		}
		if !nextPush(ctx, tick.C, sub.wake) {
			return nil
		}
		if j, e, err = u.app.ExplainJob(ctx, p, id); err != nil {
			return nil // gone, or no longer visible
		}
	}
}
