package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/basalt-lab/basalt/internal/store"
)

// Events between server replicas (issue 14). Every event an App emits is
// also published, in a few hundred bytes naming what changed, on the
// Notifier's channel EventsChannel (PostgreSQL's NOTIFY when the replicas
// share one PostgreSQL). Each App re-emits to its own listeners the events
// the others published, so that a job scheduled by one replica reaches the
// worker whose stream is on another, a log line appended on one wakes the
// live followers on all, and the live pages and the event stream of every
// replica see every change. Received events are never published again (no
// loops), and an App ignores its own (the payload carries its replica id).
// A remote event has no Job: listeners read what they need.

// EventsChannel is the Notifier channel of the app's events.
const EventsChannel = "basalt_events"

// KindResync is the Kind of the event an App emits when it may have missed
// other replicas' events (its notifier reconnected to the database):
// listeners re-read the state they follow. The scheduler runs a pass.
const KindResync = "resync"

// kindCoordinator is the Kind of the event published, to the other
// replicas only, when a multinode coordinator group changed (its name in
// Message): their coordinators wake the waits on it.
const kindCoordinator = "coordinator"

// publishQueue bounds the events waiting to be published; when it is full
// further events are dropped (logged) and the other replicas catch up by
// their periodic reads.
const publishQueue = 4096

// wireBatch is what is published: the events one replica queued since
// its last notification, as many as fit in one.
type wireBatch struct {
	Replica string            `json:"r"`
	Events  []json.RawMessage `json:"e"`
}

// wireEvent is an Event as published: short keys, no Job.
type wireEvent struct {
	Kind    string `json:"k"`
	JobID   int64  `json:"j,omitempty"`
	Device  string `json:"d,omitempty"`
	Worker  string `json:"w,omitempty"`
	State   string `json:"s,omitempty"`
	Health  string `json:"h,omitempty"`
	Message string `json:"m,omitempty"`
}

// maxBatch bounds the events taken from the queue for one round of
// notifications.
const maxBatch = 512

// replicaBus is an App's side of the events between replicas.
type replicaBus struct {
	out      chan wireEvent // events to publish (nil without a notifier)
	dropping atomic.Bool    // the queue was full: a drop was logged
	// in receives the replicas' events: subscribed in New, so that nothing
	// published after New is missed, read by RunReplicaEvents
	in <-chan store.Notification

	mu   sync.Mutex
	logs map[int64]*logWaiters // woken when a remote replica appends to the job's log
	// waiting, when set (tests), is called once a log wait can be woken
	// by another replica
	waiting func(jobID int64)
}

func (a *App) initReplicaBus() {
	if a.cfg.Notifier != nil {
		a.bus.out = make(chan wireEvent, publishQueue)
		a.bus.in, _ = a.cfg.Notifier.Subscribe(EventsChannel) // ends when the notifier closes
	}
}

// publish queues e for the other replicas; it never blocks.
func (a *App) publish(e Event) {
	if a.bus.out == nil {
		return
	}
	w := wireEvent{Kind: e.Kind, JobID: e.JobID, Device: e.Device, Worker: e.Worker,
		State: e.State, Health: e.Health, Message: e.Message}
	select {
	case a.bus.out <- w:
		a.bus.dropping.Store(false)
	default:
		if !a.bus.dropping.Swap(true) { // once per episode
			a.log.Warn("replica events queue full: events not published until it drains", "kind", e.Kind, "job", e.JobID)
		}
	}
}

// RunReplicaEvents publishes this App's events to the other replicas and
// re-emits theirs, until ctx ends or the notifier closes. Run starts it;
// without Config.Notifier it returns at once. Events received between New
// and this call wait in the subscription (store.NotifyBuffer of them; a
// resync when more).
func (a *App) RunReplicaEvents(ctx context.Context) {
	if a.cfg.Notifier == nil {
		return
	}
	notes := a.bus.in
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { a.publishLoop(ctx) })
	for {
		select {
		case <-ctx.Done():
			return
		case n, ok := <-notes:
			if !ok {
				return
			}
			a.receive(n)
		}
	}
}

func (a *App) publishLoop(ctx context.Context) {
	for {
		var batch []wireEvent
		select {
		case <-ctx.Done():
			return
		case w := <-a.bus.out:
			batch = append(batch, w)
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case w := <-a.bus.out:
				batch = append(batch, w)
			default:
				break drain
			}
		}
		for _, b := range a.encodeBatch(batch) {
			pctx, cancel := context.WithTimeout(ctx, a.cfg.HealthTimeout)
			err := a.cfg.Notifier.Publish(pctx, EventsChannel, b)
			cancel()
			if err != nil && ctx.Err() == nil {
				a.logError(slog.LevelWarn, "publish events to other replicas", err, "events", len(batch))
			}
		}
	}
}

// encodeBatch packs events into as few payloads as fit
// store.MaxNotifyPayload, keeping their order; of the "log" events of one
// job only the first is kept (they all say the log grew).
func (a *App) encodeBatch(events []wireEvent) [][]byte {
	head, err := json.Marshal(wireBatch{Replica: a.lead.holder, Events: []json.RawMessage{}})
	if err != nil {
		a.log.Error("encode replica events", "err", err)
		return nil
	}
	head = head[:len(head)-2] // without "]}"
	var out [][]byte
	cur := append([]byte(nil), head...)
	n := 0
	flush := func() {
		if n > 0 {
			out = append(out, append(cur, ']', '}'))
		}
		cur, n = append([]byte(nil), head...), 0
	}
	logs := map[int64]bool{}
	for _, w := range events {
		if w.Kind == "log" {
			if logs[w.JobID] {
				continue
			}
			logs[w.JobID] = true
		}
		b, err := json.Marshal(w)
		if err == nil && len(head)+len(b)+2 > store.MaxNotifyPayload {
			w.Message = "" // a test event's message too long: receivers lose only its text
			b, err = json.Marshal(w)
		}
		if err != nil {
			a.log.Error("encode replica event", "err", err)
			continue
		}
		if n > 0 && len(cur)+1+len(b)+2 > store.MaxNotifyPayload {
			flush()
		}
		if n > 0 {
			cur = append(cur, ',')
		}
		cur = append(cur, b...)
		n++
	}
	flush()
	return out
}

// receive re-emits another replica's event locally (never publishing it
// again), or a resync.
func (a *App) receive(n store.Notification) {
	if n.Resync {
		a.wakeLogFollowers(0)
		a.pokeCoordinator("")
		a.consol.wake(0)
		a.deliver(Event{Kind: KindResync})
		a.Kick()
		return
	}
	var batch wireBatch
	if err := json.Unmarshal(n.Payload, &batch); err != nil {
		a.log.Warn("malformed replica events ignored", "err", err)
		return
	}
	if batch.Replica == a.lead.holder {
		return
	}
	kick := false
	for _, raw := range batch.Events {
		var w wireEvent
		if err := json.Unmarshal(raw, &w); err != nil || w.Kind == "" {
			a.log.Warn("malformed replica event ignored", "err", err)
			continue
		}
		e := Event{Kind: w.Kind, JobID: w.JobID, Device: w.Device, Worker: w.Worker, State: w.State, Health: w.Health, Message: w.Message}
		if e.Kind == kindCoordinator {
			a.pokeCoordinator(e.Message)
			continue
		}
		if e.Kind == kindConsole {
			a.consol.wake(e.JobID)
			continue
		}
		if e.Kind == "log" {
			a.wakeLogFollowers(e.JobID)
		}
		a.deliver(e)
		switch e.Kind {
		case "job", "device", "worker":
			// a job submitted or finished, a device or worker freed
			// elsewhere: this replica may now schedule
			kick = true
		}
	}
	if kick {
		a.Kick()
	}
}

// logWaiters are the waits on one job's log that another replica's append
// wakes: ch is closed then.
type logWaiters struct {
	ch chan struct{}
	n  int
}

// logWake returns a channel closed when another replica appends to the
// job's log (or a resync): the log store wakes only for this process's
// appends. Call done when no longer waiting.
func (a *App) logWake(jobID int64) (woken <-chan struct{}, done func()) {
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	if a.bus.logs == nil {
		a.bus.logs = map[int64]*logWaiters{}
	}
	w := a.bus.logs[jobID]
	if w == nil {
		w = &logWaiters{ch: make(chan struct{})}
		a.bus.logs[jobID] = w
	}
	w.n++
	return w.ch, func() {
		a.bus.mu.Lock()
		defer a.bus.mu.Unlock()
		w.n--
		if w.n == 0 && a.bus.logs[jobID] == w {
			delete(a.bus.logs, jobID)
		}
	}
}

// wakeLogFollowers wakes the waiters on job's log (0: on every log).
func (a *App) wakeLogFollowers(jobID int64) {
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	for id, w := range a.bus.logs {
		if jobID == 0 || id == jobID {
			close(w.ch)
			delete(a.bus.logs, id)
		}
	}
}

// waitLines waits, until ctx ends, for the job's log to have more than
// start lines in this process's log store, or for another replica to
// append to it.
func (a *App) waitLines(ctx context.Context, jobID int64, start int) {
	if a.cfg.Notifier == nil {
		_, _ = a.cfg.Logs.WaitLines(ctx, jobID, start)
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	remote, done := a.logWake(jobID)
	defer done()
	a.bus.mu.Lock()
	hook := a.bus.waiting
	a.bus.mu.Unlock()
	if hook != nil {
		hook(jobID)
	}
	go func() {
		select {
		case <-remote:
			cancel()
		case <-wctx.Done():
		}
	}()
	_, _ = a.cfg.Logs.WaitLines(wctx, jobID, start)
}

// pokeCoordinator wakes the coordinator's waits on a group another replica
// changed ("": on every group), if this replica's coordinator is loaded.
func (a *App) pokeCoordinator(group string) {
	a.coordMu.Lock()
	co := a.coord
	a.coordMu.Unlock()
	if co == nil {
		return
	}
	if group != "" {
		co.Poke(group)
		return
	}
	for _, g := range co.Groups() {
		co.Poke(g)
	}
}
