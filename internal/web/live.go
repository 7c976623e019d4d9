package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Live update tuning. Variables so tests can shorten them.
var (
	// keepAlive is how long a stream stays silent before it sends an SSE
	// comment (which also finds clients that went away).
	keepAlive = 15 * time.Second
	// overviewRefresh is how often an overview stream re-checks the lab
	// without an event (heartbeats change "last heartbeat" without one).
	overviewRefresh = 10 * time.Second
	// overviewSettle batches bursts of events (a scheduler pass emits many)
	// into one re-render.
	overviewSettle = 250 * time.Millisecond
)

// streamBatch is the most log lines one SSE "lines" event carries.
const streamBatch = 500

// hub fans the app's events out to the open streams. Subscribers get a
// coalescing wake-up (a channel of capacity one), never the event itself:
// streams re-read the state they show, so a missed duplicate is harmless.
type hub struct {
	once   sync.Once
	mu     sync.Mutex
	subs   map[*subscriber]struct{}
	closed bool
}

// subscriber is one open stream: job > 0 wants that job's events, job == 0
// wants every job, device and worker event (the overview).
type subscriber struct {
	job  int64
	wake chan struct{}
	// ctx ends with the request or when the UI closes its streams.
	ctx    context.Context
	cancel context.CancelFunc
}

// start subscribes the hub to a's events, once per UI.
func (h *hub) start(a *app.App) {
	h.once.Do(func() { a.Subscribe(h.publish) })
}

// publish wakes the subscribers e concerns. It never blocks (app.Subscribe's
// contract).
func (h *hub) publish(e app.Event) {
	if e.Kind == "log" || e.Kind == "event" { // log growth wakes JobLog's own wait; test events change no page
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		// a resync (events of other replicas may be lost) refreshes every page
		if s.job == 0 || (e.Kind == "job" && e.JobID == s.job) || e.Kind == app.KindResync {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

func (h *hub) subscribe(ctx context.Context, job int64) *subscriber {
	s := &subscriber{job: job, wake: make(chan struct{}, 1)}
	s.ctx, s.cancel = context.WithCancel(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.cancel()
	}
	if h.subs == nil {
		h.subs = map[*subscriber]struct{}{}
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *hub) unsubscribe(s *subscriber) {
	s.cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, s)
}

// CloseStreams ends every open SSE stream and makes new ones end at once,
// so a graceful shutdown need not wait for open pages (register it with
// http.Server.RegisterOnShutdown). Browsers reconnect to the next server.
func (u *UI) CloseStreams() {
	u.live.mu.Lock()
	defer u.live.mu.Unlock()
	u.live.closed = true
	for s := range u.live.subs {
		s.cancel()
	}
}

// sse writes Server-Sent Events, flushing each one.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// startSSE sends the stream's headers. It lifts the server's write deadline,
// since a stream lives as long as the page.
func startSSE(w http.ResponseWriter) (*sse, error) {
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // not every writer supports it
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell reverse proxies not to buffer
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	s := &sse{w: w, rc: rc}
	if _, err := fmt.Fprint(w, "retry: 3000\n\n"); err != nil {
		return nil, fmt.Errorf("start event stream: %w", err)
	}
	return s, s.flush()
}

func (s *sse) flush() error {
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("flush event stream: %w", err)
	}
	return nil
}

// event writes one event. data may span lines; each becomes a data: field,
// which the browser joins back with newlines. An empty id leaves the
// client's last event ID as it was.
func (s *sse) event(name, id string, data []byte) error {
	var b bytes.Buffer
	if name != "" {
		fmt.Fprintf(&b, "event: %s\n", name)
	}
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	for _, l := range bytes.Split(bytes.ReplaceAll(data, []byte("\r"), nil), []byte("\n")) {
		b.WriteString("data: ")
		b.Write(l)
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("write event %s: %w", name, err)
	}
	return s.flush()
}

// comment writes an SSE comment, which clients ignore: a keep-alive.
func (s *sse) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return fmt.Errorf("write keep-alive: %w", err)
	}
	return s.flush()
}

// streamLine is one log line as the "lines" event carries it (the fields
// of logLine). The script shows Text with textContent, or HTML (rendered
// and escaped here) when the line has terminal colours, and folds the
// lines into actions by their marks.
type streamLine struct {
	N      int         `json:"n"`
	Time   string      `json:"t,omitempty"`
	Level  string      `json:"l"`
	Text   string      `json:"m"`
	HTML   string      `json:"h,omitempty"`
	Result string      `json:"r,omitempty"`
	Mark   *actionMark `json:"s,omitempty"`
}

// jobState is the "state" and "end" events' data.
type jobState struct {
	State  string `json:"state"`
	Health string `json:"health"`
}

// resumeAt is where a job stream starts: after the Last-Event-ID the
// browser sends when it reconnects (the number of lines it has), else at
// ?from=, else at line 0.
func resumeAt(r *http.Request) (int, error) {
	if s := r.Header.Get("Last-Event-ID"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: Last-Event-ID %q is not a line count", lab.ErrInvalid, s)
		}
		return n, nil
	}
	return httpparam.QueryInt(r, "from", 0)
}

// jobEvents streams a job's state and its log lines from the resume point
// until the job is finished and its log sent. Events:
//
//	state  {"state":"Running","health":"Unknown"}  on connect and each change
//	lines  [{"n":1,"t":"…","l":"info","m":"…"},…]  id: lines sent so far
//	end    the final state; the stream then closes
//
// With ?console=1 (the web console, console.go) a line carries only n, l
// and m, m being the record's message exactly as written: the board's
// output with its line terminators and terminal sequences.
func (u *UI) jobEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	console := r.URL.Query().Get("console") == "1"
	next, err := resumeAt(r)
	if err != nil {
		return err
	}
	sub := u.live.subscribe(r.Context(), id) // before the first read, so no change is missed
	defer u.live.unsubscribe(sub)
	ctx := sub.ctx
	// Visibility is checked here and when the job changes (Refresh), not
	// on every read of the growing log.
	f, err := u.app.FollowJobLog(ctx, p, id)
	if err != nil {
		if ctx.Err() != nil {
			return nil // the client left, or the streams were closed
		}
		return err // 404 for a job p may not see, as on the pages
	}
	j := f.Job()
	s, err := startSSE(w)
	if err != nil {
		return nil // the client is gone
	}
	var last []byte
	for {
		st, _ := json.Marshal(jobState{State: j.State.String(), Health: j.Health.String()})
		if !bytes.Equal(st, last) {
			if s.event("state", "", st) != nil {
				return nil
			}
			last = st
		}
		// Catch up with everything logged so far.
		for {
			lines, total, err := f.Lines(ctx, next, next+streamBatch)
			if err != nil {
				return nil // the log cannot be read: end the stream
			}
			if len(lines) > 0 {
				if next, err = sendLines(s, next, lines, console); err != nil {
					return nil
				}
			}
			if len(lines) == 0 || next >= total {
				break
			}
		}
		if j.State == lab.JobFinished {
			_ = s.event("end", "", st)
			return nil
		}
		lines, changed, err := waitLines(ctx, f, next, sub)
		if ctx.Err() != nil {
			return nil
		}
		switch {
		case err != nil:
		case len(lines) > 0:
			if next, err = sendLines(s, next, lines, console); err != nil {
				return nil
			}
		default:
			if s.comment("keep-alive") != nil {
				return nil
			}
		}
		// The job changed, or a keep-alive passed: read it again (its
		// state, and whether p may still see it).
		if changed || len(lines) == 0 {
			if j, err = f.Refresh(ctx); err != nil {
				return nil
			}
		}
	}
}

// waitLines waits, without polling, until the log has lines beyond next,
// a job event arrives (changed) or keepAlive passes, and returns the new
// lines.
func waitLines(ctx context.Context, f *app.LogFollower, next int, sub *subscriber) (lines [][]byte, changed bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		select {
		case <-sub.wake:
			changed = true // read after exited closes
			cancel()
		case <-done:
		}
	}()
	f.Wait(wctx, next, keepAlive)
	close(done)
	<-exited // a wake-up taken now is not lost: changed says so
	lines, _, err = f.Lines(ctx, next, next+streamBatch)
	return lines, changed, err
}

// sendLines renders raw lines starting at 0-based index next as one
// "lines" event whose id is the new count, and returns that count; for
// the console, the records' messages as they are.
func sendLines(s *sse, next int, raw [][]byte, console bool) (int, error) {
	out := make([]streamLine, len(raw))
	for i, l := range raw {
		if console {
			out[i].N = next + i
			out[i].Level, out[i].Text = consoleText(l)
			continue
		}
		r := renderLine(next+i, l)
		out[i] = streamLine{N: r.N, Time: r.Time, Level: r.Level, Text: r.Text, HTML: string(r.HTML), Result: r.Result, Mark: r.Mark}
	}
	data, err := json.Marshal(out)
	if err != nil {
		return next, fmt.Errorf("encode log lines: %w", err)
	}
	next += len(raw)
	return next, s.event("lines", strconv.Itoa(next), data)
}

// overviewEvents streams the overview's lab section as rendered HTML (event
// "lab") whenever what it shows changed: after job, device and worker
// events (batched over overviewSettle) and at least every overviewRefresh.
// The first event is sent at once, so a reconnecting page catches up.
func (u *UI) overviewEvents(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	sub := u.live.subscribe(r.Context(), 0)
	defer u.live.unsubscribe(sub)
	ctx := sub.ctx
	s, err := startSSE(w)
	if err != nil {
		return nil
	}
	var last [sha256.Size]byte
	send := func() error {
		d, err := u.labState(ctx, p, store.DeviceFilter{})
		if err != nil {
			if ctx.Err() == nil {
				u.log.Error("overview stream", "err", err)
			}
			return err
		}
		fp := fingerprint(d)
		if fp == last {
			return s.comment("unchanged")
		}
		var buf bytes.Buffer
		if err := u.pages["overview"].ExecuteTemplate(&buf, "lab", d); err != nil {
			u.log.Error("overview stream: render", "err", err)
			return err
		}
		last = fp
		return s.event("lab", "", bytes.TrimSpace(buf.Bytes()))
	}
	tick := time.NewTicker(overviewRefresh)
	defer tick.Stop()
	for {
		if send() != nil { // logged when it was not the client going away
			return nil
		}
		if !nextPush(ctx, tick.C, sub.wake) {
			return nil
		}
	}
}

// nextPush waits until a page pushed again may have changed: the refresh
// tick, or a lab event and then overviewSettle, so that a burst of events
// makes one push. It reports false when ctx ended first.
func nextPush(ctx context.Context, tick <-chan time.Time, wake <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-tick:
		return true
	case <-wake:
		select {
		case <-ctx.Done():
			return false
		case <-time.After(overviewSettle):
			return true
		}
	}
}

// fingerprint identifies what the overview shows, leaving out the "ago"
// durations that change with the clock alone.
func fingerprint(d overviewData) [sha256.Size]byte {
	ws := make([]workerRow, len(d.Workers))
	copy(ws, d.Workers)
	for i := range ws {
		ws[i].Silence = 0
	}
	d.Workers = ws
	b, _ := json.Marshal(d)
	return sha256.Sum256(b)
}
