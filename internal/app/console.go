package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Console sessions of reservations (issue 15). The holder's input is
// numbered and stored (store.AppendConsoleInput), the replica holding the
// worker's console call is woken (locally, or by the event kindConsole
// from another replica), and the worker fetches the inputs after the last
// one its job process applied. What the board prints, and what was
// typed, reaches everyone through the job's log: the console session is
// the reservation's job.

// MaxConsoleHold caps how long a worker's console call is held.
const MaxConsoleHold = 30 * time.Second

// ConsoleInputMaxAge is how long an input may wait on the server for its
// worker: older input (the worker's link was down) is handed over as
// expired, never typed into the board late.
const ConsoleInputMaxAge = 10 * time.Second

// consoleBatch bounds the inputs handed over in one answer.
const consoleBatch = 256

// kindConsole is the Kind of the event published, to the other replicas
// only, when a console session got input (JobID): the replica holding its
// worker's call answers it.
const kindConsole = "console"

// consoles are the held console calls of the worker link, by job.
type consoles struct {
	mu    sync.Mutex
	waits map[int64]chan struct{} // closed when the job's session gets input
}

// wait returns a channel closed at the job's next input (or a resync).
func (c *consoles) wait(jobID int64) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.waits == nil {
		c.waits = map[int64]chan struct{}{}
	}
	ch := c.waits[jobID]
	if ch == nil {
		ch = make(chan struct{})
		c.waits[jobID] = ch
	}
	return ch
}

// wake wakes the calls waiting on the job's input (0: on every job's).
func (c *consoles) wake(jobID int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, ch := range c.waits {
		if jobID == 0 || id == jobID {
			close(ch)
			delete(c.waits, id)
		}
	}
}

// ConsoleDelivery is one input handed to the worker.
type ConsoleDelivery struct {
	lab.ConsoleInput
	// Expired says the input waited longer than ConsoleInputMaxAge: the
	// job process records it as dropped instead of typing it.
	Expired bool
}

// consoleJob says why job j (id) has no console session running: it is no
// reservation (ErrInvalid) or not Running (ErrConflict); nil when it has.
func consoleJob(j lab.Job, id int64) error {
	if j.Reservation == nil {
		return fmt.Errorf("console of job %d: %w: the job is not a reservation", id, lab.ErrInvalid)
	}
	if j.State != lab.JobRunning {
		return fmt.Errorf("console of job %d: %w: the reservation is %s, its console runs only while it is Running", id, lab.ErrConflict, j.State)
	}
	return nil
}

// ConsoleInput types data (or asks for a power action) into the console
// of reservation id. Only its holder may, and only while it runs.
func (a *App) ConsoleInput(ctx context.Context, p auth.Principal, id int64, data []byte, power string) (lab.ConsoleInput, error) {
	j, err := a.GetJob(ctx, p, id)
	if err != nil {
		return lab.ConsoleInput{}, fmt.Errorf("console of job %d: %w", id, err)
	}
	if p.Kind != auth.KindUser || p.Username != j.Submitter {
		return lab.ConsoleInput{}, denied(p, fmt.Sprintf("type into the console of %s, held by %s", j.RequestedDevice, j.Submitter))
	}
	if err := consoleJob(j, id); err != nil {
		return lab.ConsoleInput{}, err
	}
	in, err := a.st.AppendConsoleInput(ctx, lab.ConsoleInput{JobID: id, User: p.Username, Data: data, Power: power, Time: a.now()})
	if err != nil {
		return lab.ConsoleInput{}, fmt.Errorf("console of job %d: %w", id, err)
	}
	a.consol.wake(id)
	a.publish(Event{Kind: kindConsole, JobID: id})
	return in, nil
}

// WorkerConsoleInput answers the console call of reservation id's worker:
// the inputs after seq (which the job process has applied), held up to
// hold (capped by MaxConsoleHold) while there are none. A job that is not
// the worker's, or whose session no longer runs, is ErrNotFound: the
// worker stops asking.
func (a *App) WorkerConsoleInput(ctx context.Context, p auth.Principal, id, seq int64, hold time.Duration) ([]ConsoleDelivery, error) {
	if p.Kind != auth.KindWorker {
		return nil, denied(p, "fetch console input")
	}
	if seq < 0 {
		return nil, fmt.Errorf("console of job %d: %w: after=%d", id, lab.ErrInvalid, seq)
	}
	hold = min(max(hold, 0), MaxConsoleHold)
	deadline := time.NewTimer(hold)
	defer deadline.Stop()
	for {
		woken := a.consol.wait(id) // before reading: input appended after the read wakes it
		j, err := a.checkJobWorker(ctx, a.st, p, id)
		if err != nil {
			return nil, fmt.Errorf("console of job %d: %w: %v", id, lab.ErrNotFound, err)
		}
		if err := consoleJob(j, id); err != nil {
			return nil, fmt.Errorf("%w: %v", lab.ErrNotFound, err)
		}
		ins, err := a.st.ConsoleInputAfter(ctx, id, seq, consoleBatch)
		if err != nil {
			return nil, fmt.Errorf("console of job %d: %w", id, err)
		}
		if len(ins) > 0 {
			now := a.now()
			out := make([]ConsoleDelivery, len(ins))
			for i, in := range ins {
				out[i] = ConsoleDelivery{ConsoleInput: in, Expired: now.Sub(in.Time) > ConsoleInputMaxAge}
			}
			return out, nil
		}
		select {
		case <-woken:
		case <-deadline.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// endConsole forgets a finished reservation's console input (its log
// holds it) and wakes its worker's call, which then ends.
func (a *App) endConsole(ctx context.Context, j lab.Job) {
	if j.Reservation == nil {
		return
	}
	if err := a.st.DeleteConsoleInput(ctx, j.ID); err != nil {
		a.log.Warn("console input of a finished reservation not removed", "job", j.ID, "err", err)
	}
	a.consol.wake(j.ID)
}
