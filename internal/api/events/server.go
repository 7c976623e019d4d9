package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// Paths of the event stream, LAVA's publisher's.
const (
	// Path is the WebSocket; mount the Server at Path, which serves
	// HealthPath too.
	Path = "/ws/"
	// HealthPath answers {"health": "good"}.
	HealthPath = "/ws/v1/healthz"
)

// Config tunes a Server. Zero values get the defaults in brackets.
type Config struct {
	// MaxConns caps the open event stream connections of the server; one
	// more is answered 503 with Retry-After [1000].
	MaxConns int
	// QueueLen is how many messages may wait for one listener; a listener
	// with a full queue is disconnected with close code 1008 [256].
	QueueLen int
	// Backlog is how many events may wait to be published (their objects
	// read); beyond it events are dropped, and logged, as LAVA's publisher
	// drops what it cannot take [10000].
	Backlog int
	// PingInterval is how often each connection is pinged (a connection
	// that does not answer within WriteTimeout is closed) and its
	// credentials checked again [30 s].
	PingInterval time.Duration
	// WriteTimeout bounds the sending of one message, a ping or a close
	// [10 s].
	WriteTimeout time.Duration
	// Now is the clock of the events' times; time.Now when nil.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 1000
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 256
	}
	if c.Backlog <= 0 {
		c.Backlog = 10000
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 30 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// readLimit bounds a message a listener sends (LAVA's publisher reads and
// ignores them; so does this one).
const readLimit = 4096

// Server is the event stream: an http.Handler for Path and HealthPath, fed
// by the app's events. Close it at shutdown.
type Server struct {
	app *app.App
	log *slog.Logger
	cfg Config
	res *app.EventResolver // used by run only
	// last is what run published last of each device ("device/NAME") and
	// worker ("worker/NAME"): as LAVA, the stream says when a state or a
	// health changes, not when something else of the object did (the app
	// also emits an event for a worker's new description).
	last map[string]string
	ids  *uuidGen

	conns atomic.Int64                // connections open or being opened
	ls    atomic.Pointer[[]*listener] // the listeners, copied on change
	lsMu  sync.Mutex                  // serialises changes of ls and closed
	shut  bool                        // Close was called

	evMu     sync.Mutex
	pending  []stamped
	dropping bool // events are being dropped (logged once per episode)
	wake     chan struct{}

	ctx  context.Context // ends with Close
	stop context.CancelFunc
	done chan struct{} // closed when run returns

	overflows atomic.Int64 // listeners disconnected for a full queue
	dropped   atomic.Int64 // events dropped for a full backlog
}

// stamped is an event with the time it was committed.
type stamped struct {
	e  app.Event
	at time.Time
}

// New returns the event stream of a's events and starts publishing them.
func New(a *app.App, log *slog.Logger, cfg Config) *Server {
	if log == nil {
		log = slog.Default()
	}
	cfg.defaults()
	s := &Server{app: a, log: log, cfg: cfg, res: a.NewEventResolver(), last: map[string]string{}, ids: newUUIDGen(),
		wake: make(chan struct{}, 1), done: make(chan struct{})}
	s.ls.Store(&[]*listener{})
	s.ctx, s.stop = context.WithCancel(context.Background())
	a.Subscribe(s.onEvent)
	go s.run()
	return s
}

// Listeners is the number of listeners connected.
func (s *Server) Listeners() int { return len(*s.ls.Load()) }

// Overflows is the number of listeners disconnected because they did not
// read their events fast enough.
func (s *Server) Overflows() int64 { return s.overflows.Load() }

// Dropped is the number of events dropped because more than
// Config.Backlog waited to be published.
func (s *Server) Dropped() int64 { return s.dropped.Load() }

// Close disconnects every listener (close code 1001, "Server shutdown", as
// LAVA's publisher), refuses new ones and stops publishing. Register it
// with http.Server.RegisterOnShutdown: the server's shutdown does not wait
// for WebSocket connections.
func (s *Server) Close() {
	s.lsMu.Lock()
	s.shut = true
	ls := *s.ls.Load()
	s.lsMu.Unlock()
	for _, l := range ls {
		l.end(websocket.StatusGoingAway, "Server shutdown")
	}
	s.stop()
	<-s.done
}

// ServeHTTP serves Path (the WebSocket) and HealthPath.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case Path:
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			s.fail(w, fmt.Errorf("the event stream is a WebSocket: GET %s with an Upgrade: %w", Path, lab.ErrInvalid), http.StatusMethodNotAllowed)
			return
		}
		s.serveWS(w, r)
	case HealthPath:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"health": "good"}`))
	default:
		s.fail(w, fmt.Errorf("no event stream endpoint %s (the stream is %s): %w", r.URL.Path, Path, lab.ErrNotFound), 0)
	}
}

// fail answers err as the JSON APIs do (apierr), with status instead of
// the mapped one when it is not 0.
func (s *Server) fail(w http.ResponseWriter, err error, status int) {
	m := apierr.Map(err)
	if m.Internal() {
		s.log.Error("event stream", "err", err)
	}
	if status == 0 {
		status = m.Status
	}
	m.SetHeaders(w.Header())
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(m.Body())
}

// serveWS runs one listener's connection until it ends.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if n := s.conns.Add(1); n > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		s.fail(w, fmt.Errorf("too many event stream connections (%d): %w", s.cfg.MaxConns, lab.ErrOverloaded), 0)
		return
	}
	defer s.conns.Add(-1)
	authz := r.Header.Get("Authorization")
	p, authErr := httpauth.Principal(r, s.app)
	if authErr != nil && !errors.Is(authErr, lab.ErrUnauthenticated) {
		if !s.app.NoteFault(authErr) {
			s.log.Error("event stream: authenticate", "err", authErr)
		}
		s.fail(w, authErr, 0)
		return
	}
	// The listener joins before the handshake completes, so that a client
	// gets every event committed after its connection is established.
	var l *listener
	if authErr == nil {
		l = &listener{queue: make(chan []byte, s.cfg.QueueLen), ended: make(chan struct{}), authz: authz}
		l.p.Store(&p)
		if !s.join(l) {
			s.fail(w, fmt.Errorf("the server is shutting down: %w", lab.ErrOverloaded), 0)
			return
		}
		defer s.leave(l)
	}
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the request
	}
	c.SetReadLimit(readLimit)
	if authErr != nil {
		// LAVA's publisher accepts the connection, says why in an
		// {"error": …} message, and closes it.
		why := lavaAuthError(r)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.WriteTimeout)
		defer cancel()
		var o object
		o.str("error", why)
		_ = c.Write(ctx, websocket.MessageText, o.bytes())
		_ = c.Close(websocket.StatusPolicyViolation, why)
		return
	}
	s.serveListener(c, l)
}

// lavaAuthError is LAVA's publisher's message for credentials it refuses.
func lavaAuthError(r *http.Request) string {
	scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch strings.ToLower(scheme) {
	case "basic":
		if _, _, ok := r.BasicAuth(); !ok {
			return "Invalid basic authentication"
		}
	case "token", "bearer":
	default:
		return "Only Basic authentication is supported"
	}
	return "Unknown user"
}

// serveListener sends l's messages on c, pings c and checks l's
// credentials again every PingInterval, until c or l ends.
func (s *Server) serveListener(c *websocket.Conn, l *listener) {
	// Not the server's context: Close ends each listener with a close
	// frame (l.end) rather than cutting it.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // read (and ignore) what the client sends: pongs, its close
		defer cancel()
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return
			}
		}
	}()
	ping := time.NewTicker(s.cfg.PingInterval)
	defer ping.Stop()
	for {
		select { // an ended listener gets no more messages
		case <-l.ended:
			_ = c.Close(l.code, l.reason)
			return
		default:
		}
		select {
		case msg := <-l.queue:
			wctx, wcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			err := c.Write(wctx, websocket.MessageText, msg)
			wcancel()
			if err != nil {
				_ = c.CloseNow()
				return
			}
		case <-ping.C:
			pctx, pcancel := context.WithTimeout(ctx, s.cfg.WriteTimeout)
			err := c.Ping(pctx)
			pcancel()
			if err != nil {
				_ = c.CloseNow()
				return
			}
			if why := s.recheck(ctx, l); why != "" {
				_ = c.Close(websocket.StatusPolicyViolation, why)
				return
			}
		case <-l.ended:
			_ = c.Close(l.code, l.reason)
			return
		case <-ctx.Done(): // the client went away
			_ = c.CloseNow()
			return
		}
	}
}

// recheck authenticates l's credentials again, so that a revoked token, a
// user deactivated or moved out of a group stops seeing what it no longer
// may. It returns why the connection must end, or "".
func (s *Server) recheck(ctx context.Context, l *listener) string {
	if l.authz == "" {
		return ""
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, Path, nil)
	if err != nil {
		return ""
	}
	r.Header.Set("Authorization", l.authz)
	p, err := httpauth.Principal(r, s.app)
	switch {
	case errors.Is(err, lab.ErrUnauthenticated):
		return "Unknown user"
	case err != nil: // the database failing is no reason to disconnect
		s.app.NoteFault(err)
		return ""
	}
	l.p.Store(&p)
	return ""
}

// listener is one connected client.
type listener struct {
	p     atomic.Pointer[auth.Principal] // who it is, checked at each ping
	authz string                         // its Authorization header, for the checks
	queue chan []byte
	once  sync.Once
	ended chan struct{} // closed by end
	// code and reason close the connection once ended is closed.
	code   websocket.StatusCode
	reason string
}

// end makes l's connection close with code and reason (the first call
// decides).
func (l *listener) end(code websocket.StatusCode, reason string) {
	l.once.Do(func() {
		l.code, l.reason = code, reason
		close(l.ended)
	})
}

// send queues msg for l, or ends l when its queue is full. It never
// blocks. It reports whether l overflowed now.
func (l *listener) send(msg []byte) bool {
	select {
	case <-l.ended:
		return false
	default:
	}
	select {
	case l.queue <- msg:
		return false
	default:
		l.end(websocket.StatusPolicyViolation, "events not read fast enough")
		return true
	}
}

// join adds l to the listeners, unless the server is closed.
func (s *Server) join(l *listener) bool {
	s.lsMu.Lock()
	defer s.lsMu.Unlock()
	if s.shut {
		return false
	}
	old := *s.ls.Load()
	ls := make([]*listener, len(old), len(old)+1)
	copy(ls, old)
	ls = append(ls, l)
	s.ls.Store(&ls)
	return true
}

// leave removes l from the listeners.
func (s *Server) leave(l *listener) {
	s.lsMu.Lock()
	defer s.lsMu.Unlock()
	old := *s.ls.Load()
	ls := make([]*listener, 0, len(old))
	for _, x := range old {
		if x != l {
			ls = append(ls, x)
		}
	}
	s.ls.Store(&ls)
}

// onEvent queues an app event for run. It never blocks the app; with no
// listener it does nothing at all.
func (s *Server) onEvent(e app.Event) {
	switch e.Kind {
	case "job", "device", "worker", "event":
	case app.KindResync: // not published: the resolver forgets what it remembers
	default:
		return
	}
	if s.Listeners() == 0 {
		return
	}
	at := s.cfg.Now()
	s.evMu.Lock()
	if len(s.pending) >= s.cfg.Backlog {
		first := !s.dropping
		s.dropping = true
		s.evMu.Unlock()
		s.dropped.Add(1)
		if first {
			s.log.Warn("event stream: events dropped, more than the backlog wait to be published", "backlog", s.cfg.Backlog)
		}
		return
	}
	s.pending = append(s.pending, stamped{e: e, at: at})
	s.evMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run publishes the queued events, in order, until Close.
func (s *Server) run() {
	defer close(s.done)
	var batch []stamped
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
		s.evMu.Lock()
		batch, s.pending = s.pending, batch[:0]
		s.dropping = false
		s.evMu.Unlock()
		for i, st := range batch {
			s.publish(st)
			batch[i] = stamped{} // let the event's objects go
		}
	}
}

// publish sends one event to the listeners who may see it.
func (s *Server) publish(st stamped) {
	ls := *s.ls.Load()
	if len(ls) == 0 {
		return
	}
	se, err := s.res.Resolve(s.ctx, st.e)
	if errors.Is(err, app.ErrNotStreamed) {
		return
	} else if err != nil {
		if !s.app.NoteFault(err) && s.ctx.Err() == nil {
			s.log.Error("event stream: read the event's objects", "kind", st.e.Kind, "err", err)
		}
		return
	}
	if s.unchanged(se) {
		return
	}
	id, dt := s.ids.next(st.at), pyfmt.IsoformatUTC(st.at)
	// The message, and for a device event with a job the message without
	// it, each encoded once when a listener first needs it.
	var full, bare []byte
	encode := func(withJob bool) []byte {
		switch se.Kind {
		case "job":
			return message(TopicJob, id, dt, se.Job.Submitter, jobPayload(se))
		case "device":
			return message(TopicDevice, id, dt, ServerUser, devicePayload(se, withJob))
		case "worker":
			return message(TopicWorker, id, dt, ServerUser, workerPayload(se))
		default:
			return message(TopicEvent, id, dt, ServerUser, testEventPayload(se))
		}
	}
	for _, l := range ls {
		see, seeJob := se.VisibleTo(*l.p.Load())
		if !see {
			continue
		}
		var msg []byte
		if seeJob || se.Job == nil {
			if full == nil {
				full = encode(true)
			}
			msg = full
		} else {
			if bare == nil {
				bare = encode(false)
			}
			msg = bare
		}
		if l.send(msg) {
			s.overflows.Add(1)
			s.log.Warn("event stream: a listener does not read its events fast enough; disconnected", "queue", s.cfg.QueueLen)
		}
	}
}

// unchanged reports whether a device or worker event says what the last
// one of the object said (and remembers what it says).
func (s *Server) unchanged(se app.StreamEvent) bool {
	var key, val string
	switch se.Kind {
	case "device":
		key, val = "device/"+se.Device.Hostname, se.State+"/"+se.Health
		if se.Job != nil {
			val += "/" + strconv.FormatInt(se.Job.ID, 10)
		}
	case "worker":
		key, val = "worker/"+se.Worker, se.State+"/"+se.Health
	default:
		return false
	}
	if s.last[key] == val {
		return true
	}
	s.last[key] = val
	return false
}
