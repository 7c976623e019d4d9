package workerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/version"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// maxLogChunk bounds one log upload.
const maxLogChunk = 8 << 20

// Server serves the worker protocol (internal/workerproto) under
// workerproto.Prefix and pushes assignments and cancellations to connected
// workers the moment the app commits them.
type Server struct {
	app      *app.App
	log      *slog.Logger
	interval time.Duration
	mux      *http.ServeMux

	mu    sync.Mutex
	conns map[string]*stream // worker name → its current stream

	evMu    sync.Mutex
	pending []app.Event
	evWake  chan struct{}

	pushMu sync.Mutex
	pushed map[int64]time.Time // Scheduled job → when its assignment was last pushed

	// jobsRead, when set (tests), is called by connect once it has read
	// the worker's jobs for its hello.
	jobsRead func(worker string)
}

// stream is one connected worker's open server → worker stream.
type stream struct {
	// frames queues the frames to send, by pointer: a buffer of 256
	// frames costs 2 KiB per connected worker, not 16 KiB.
	frames chan *wp.Frame
	gone   chan struct{} // closed when replaced by a newer stream
	once   sync.Once
}

func (s *stream) close() { s.once.Do(func() { close(s.gone) }) }

// New returns the worker protocol server. interval is the heartbeat
// interval announced to workers (pings go out at that rate too). Call Run
// to start pushing events.
func New(a *app.App, log *slog.Logger, interval time.Duration) *Server {
	if log == nil {
		log = slog.Default()
	}
	if interval <= 0 {
		interval = 10 * time.Second
	}
	s := &Server{app: a, log: log, interval: interval, mux: http.NewServeMux(),
		conns: map[string]*stream{}, evWake: make(chan struct{}, 1), pushed: map[int64]time.Time{}}
	s.mux.HandleFunc("POST "+wp.Prefix+wp.PathJoin, s.wrap(false, s.join))
	s.mux.HandleFunc("GET "+wp.Prefix+wp.PathConnect, s.wrap(true, s.connect))
	s.mux.HandleFunc("POST "+wp.Prefix+wp.PathHeartbeat, s.wrap(true, s.heartbeat))
	s.mux.HandleFunc("POST "+wp.Prefix+"/jobs/{id}/start", s.wrap(true, s.start))
	s.mux.HandleFunc("PUT "+wp.Prefix+"/jobs/{id}/log", s.wrap(true, s.appendLog))
	s.mux.HandleFunc("POST "+wp.Prefix+"/jobs/{id}/finish", s.wrap(true, s.finish))
	s.mux.HandleFunc("POST "+wp.Prefix+"/jobs/{id}/multinode", s.wrap(true, s.multinode))
	s.mux.HandleFunc("GET "+wp.Prefix+"/jobs/{id}/console", s.wrap(true, s.console))
	s.mux.HandleFunc(wp.Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, fmt.Errorf("no worker endpoint %s %s: %w", r.Method, r.URL.Path, lab.ErrNotFound))
	})
	a.Subscribe(s.onEvent)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// CloseStreams ends every open stream (for a graceful shutdown: workers
// reconnect to the next server process at once instead of waiting).
func (s *Server) CloseStreams() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.conns {
		st.close()
	}
}

// Connected reports how many workers have an open stream.
func (s *Server) Connected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// onEvent queues an app event for Run; it never blocks the app.
func (s *Server) onEvent(e app.Event) {
	resync := e.Kind == app.KindResync
	if !resync && (e.Kind != "job" || (e.State != lab.JobScheduled.String() && e.State != lab.JobCanceling.String())) {
		return
	}
	s.evMu.Lock()
	s.pending = append(s.pending, e)
	s.evMu.Unlock()
	select {
	case s.evWake <- struct{}{}:
	default:
	}
}

// Run delivers queued job events to connected workers until ctx ends.
func (s *Server) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.evWake:
		}
		s.evMu.Lock()
		evs := s.pending
		s.pending = nil
		s.evMu.Unlock()
		for _, e := range evs {
			s.deliver(ctx, e)
		}
	}
}

func (s *Server) deliver(ctx context.Context, e app.Event) {
	if e.Kind == app.KindResync {
		s.resync(ctx)
		return
	}
	switch e.State {
	case lab.JobScheduled.String():
		as, err := s.app.Assign(ctx, e.JobID)
		if err != nil {
			// moved on meanwhile (canceled…): nothing to push; a condition
			// of the server is logged once per episode by the app, and the
			// assignment is pushed again when the worker reconnects or
			// heartbeats
			if !errors.Is(err, lab.ErrConflict) && !s.app.NoteFault(err) {
				s.log.Error("build assignment", "job", e.JobID, "err", err)
			}
			return
		}
		s.pushAssign(as)
	case lab.JobCanceling.String():
		// Only the device's worker is read: no principal needs to see the job.
		d, err := s.app.GetDevice(ctx, auth.Anonymous(), e.Device)
		if err != nil {
			return
		}
		s.send(d.Worker, wp.Frame{Type: wp.FrameCancel, Cancel: &wp.Cancel{JobID: e.JobID}, Time: time.Now().UTC()})
	}
}

// send queues a frame for a connected worker; if it is not connected the
// frame is dropped — it will get the same information when it reconnects.
func (s *Server) send(worker string, f wp.Frame) {
	s.mu.Lock()
	st := s.conns[worker]
	s.mu.Unlock()
	if st == nil {
		return
	}
	select {
	case st.frames <- &f:
	case <-st.gone:
	default:
		// a worker this far behind is stalled: drop its stream; it reconnects
		// and is told everything again in its hello.
		s.log.Warn("worker stream full, closing it", "worker", worker)
		st.close()
	}
}

// pushAssign sends an assignment to its worker and remembers when.
func (s *Server) pushAssign(as app.Assignment) {
	s.send(as.Worker, wp.Frame{Type: wp.FrameAssign, Assign: assignFrame(as), Time: time.Now().UTC()})
	s.pushMu.Lock()
	s.pushed[as.JobID] = time.Now()
	s.pushMu.Unlock()
}

// resync pushes to every connected worker the assignments of its
// Scheduled jobs that this server has not pushed lately: events of
// another replica may have been lost (its notifier reconnected), and
// with them jobs scheduled there for workers whose stream is here.
// Workers ignore an assignment they already have.
func (s *Server) resync(ctx context.Context) {
	s.mu.Lock()
	workers := make([]string, 0, len(s.conns))
	for w := range s.conns {
		workers = append(workers, w)
	}
	s.mu.Unlock()
	for _, w := range workers {
		if err := s.repushStale(ctx, auth.WorkerPrincipal(w), w, nil); err != nil {
			if !s.app.NoteFault(err) && ctx.Err() == nil {
				s.log.Error("resync assignments", "worker", w, "err", err)
			}
			return
		}
	}
}

// repushStale sends again the assignments of worker's Scheduled jobs that
// it does not report having, when the last push is older than three
// heartbeat intervals: a frame lost on a dying connection must not leave a
// job Scheduled forever.
func (s *Server) repushStale(ctx context.Context, p auth.Principal, worker string, local []int64) error {
	jobs, err := s.app.WorkerJobs(ctx, p, worker)
	if err != nil {
		return err
	}
	s.pushMu.Lock()
	var stale []int64
	for _, j := range jobs {
		if j.State != lab.JobScheduled || slices.Contains(local, j.ID) {
			continue
		}
		if last, ok := s.pushed[j.ID]; !ok || time.Since(last) > 3*s.interval {
			stale = append(stale, j.ID)
		}
	}
	for id, at := range s.pushed { // forget old entries
		if time.Since(at) > time.Hour {
			delete(s.pushed, id)
		}
	}
	s.pushMu.Unlock()
	for _, id := range stale {
		as, err := s.app.Assign(ctx, id)
		if err != nil {
			continue // moved on meanwhile
		}
		s.log.Info("pushing a stale assignment again", "job", id, "worker", worker)
		s.pushAssign(as)
	}
	return nil
}

func assignFrame(as app.Assignment) *wp.Assign {
	f := &wp.Assign{JobID: as.JobID, Definition: as.Definition, JobToken: as.JobToken, Timeout: as.Timeout,
		Device: wp.Device{Hostname: as.Device.Hostname, DeviceType: as.Device.DeviceType, Dictionary: as.Device.Dictionary,
			Config: as.Config, ConfigError: as.ConfigError}}
	if mn := as.Multinode; mn != nil {
		f.Multinode = &wp.Multinode{Group: mn.TargetGroup, SubID: mn.SubID, Role: mn.Role, GroupSize: mn.GroupSize, Roles: as.Roles}
	}
	if r := as.Reservation; r != nil {
		f.Console = &wp.Console{Holder: as.Holder, Reason: r.Reason, Until: r.Until}
	}
	return f
}

type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// wrap checks the protocol version, authenticates (when auth is set) and
// maps errors.
func (s *Server) wrap(needAuth bool, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				s.log.Error("panic in worker handler", "path", r.URL.Path, "panic", v)
				s.fail(w, r, errors.New("panic"))
			}
		}()
		if got := r.Header.Get(wp.VersionHeader); !supported(got) {
			if got == "" {
				got = "none"
			}
			w.Header().Set(wp.VersionHeader, strconv.Itoa(wp.Version))
			writeError(w, http.StatusConflict, wp.CodeProtocolMismatch,
				fmt.Sprintf("worker speaks protocol %s, this server (Basalt %s) speaks protocols %s: run a worker of the same release or the one before", got, version.Version, protocols()))
			return
		}
		var p auth.Principal
		if needAuth {
			scheme, secret, _ := strings.Cut(r.Header.Get("Authorization"), " ")
			if !strings.EqualFold(scheme, "token") {
				s.fail(w, r, fmt.Errorf("a worker token is required (Authorization: Token …): %w", lab.ErrUnauthenticated))
				return
			}
			var err error
			if p, err = s.app.Authenticate(r.Context(), "", strings.TrimSpace(secret)); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		if err := h(w, r, p); err != nil {
			s.fail(w, r, err)
		}
	}
}

// fail answers with err's status and code (package apierr, the mapping
// every transport uses); internal errors are logged, not shown (unless the
// worker has gone: its request's context ended), and
// conditions of the server (a full disk: 507, the database unavailable:
// 503), which the worker retries with back-off, go to the app, which logs
// them once per episode.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	m := apierr.Map(err)
	switch {
	case m.Internal() && r.Context().Err() != nil:
		// the worker has gone (it moved to another replica, or cut its
		// connection): the request failed for want of a client, no bug
		s.log.Debug("worker request ended: the worker went away", "path", r.URL.Path, "err", err)
	case m.Internal():
		s.log.Error("worker request failed", "path", r.URL.Path, "err", err)
	case m.Condition():
		s.app.NoteFault(err)
	}
	m.SetHeaders(w.Header())
	writeError(w, m.Status, m.Code, m.Message)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	var b wp.ErrorBody
	b.Error.Code, b.Error.Message = code, msg
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", lab.ErrInvalid, err)
	}
	return nil
}

func jobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%w: job id %q", lab.ErrNotFound, r.PathValue("id"))
	}
	return id, nil
}

func (s *Server) join(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	var in wp.JoinRequest
	if err := readJSON(r, &in); err != nil {
		return err
	}
	tok, err := s.app.JoinWorker(r.Context(), in.Name, in.JoinToken)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wp.JoinResponse{Name: in.Name, Token: tok})
	return nil
}

// connect serves the long-lived server → worker stream.
func (s *Server) connect(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	name := r.URL.Query().Get("name")
	ctx := r.Context()
	if _, err := s.app.Heartbeat(ctx, p, name, r.URL.Query().Get("version")); err != nil {
		return err
	}
	// The stream is registered before the worker's jobs are read for the
	// hello: a job scheduled in between is then queued on the stream (and
	// maybe listed in the hello too: the worker ignores an assignment it
	// has), never pushed to no stream and missing from the hello.
	st := &stream{frames: make(chan *wp.Frame, 256), gone: make(chan struct{})}
	s.mu.Lock()
	if old := s.conns[name]; old != nil {
		old.close() // a worker has one stream: the newest wins
	}
	s.conns[name] = st
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.conns[name] == st {
			delete(s.conns, name)
		}
		s.mu.Unlock()
	}()
	jobs, err := s.app.WorkerJobs(ctx, p, name)
	if err != nil {
		return err
	}
	if s.jobsRead != nil {
		s.jobsRead(name)
	}

	hello := wp.Hello{ServerVersion: version.Version, Protocol: wp.Version, HeartbeatInterval: s.interval, Jobs: []int64{}}
	var first []wp.Frame
	for _, j := range jobs {
		hello.Jobs = append(hello.Jobs, j.ID)
		switch j.State {
		case lab.JobScheduled:
			as, err := s.app.Assign(ctx, j.ID)
			if err == nil {
				s.pushMu.Lock()
				s.pushed[j.ID] = time.Now()
				s.pushMu.Unlock()
				first = append(first, wp.Frame{Type: wp.FrameAssign, Assign: assignFrame(as)})
			}
		case lab.JobCanceling:
			first = append(first, wp.Frame{Type: wp.FrameCancel, Cancel: &wp.Cancel{JobID: j.ID}})
		}
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	write := func(f wp.Frame) error {
		if f.Time.IsZero() {
			f.Time = time.Now().UTC()
		}
		// a worker that stops reading must not pin this goroutine forever
		_ = rc.SetWriteDeadline(time.Now().Add(3 * s.interval))
		if err := enc.Encode(f); err != nil {
			return err
		}
		return rc.Flush()
	}
	if err := write(wp.Frame{Type: wp.FrameHello, Hello: &hello}); err != nil {
		return nil
	}
	for _, f := range first {
		if err := write(f); err != nil {
			return nil
		}
	}
	ping := time.NewTicker(s.interval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-st.gone:
			return nil
		case f := <-st.frames:
			if err := write(*f); err != nil {
				return nil
			}
		case <-ping.C:
			if err := write(wp.Frame{Type: wp.FramePing}); err != nil {
				return nil
			}
		}
	}
}

func (s *Server) heartbeat(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wp.Heartbeat
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if _, err := s.app.Heartbeat(r.Context(), p, in.Name, in.Version); err != nil {
		return err
	}
	stop, err := s.app.JobsToStop(r.Context(), p, in.Name, in.Jobs)
	if err != nil {
		return err
	}
	// a job the server sees Running that the worker no longer has (its
	// data was wiped, say) will never be reported: end it now.
	if err := s.app.FailJobsMissingFromWorker(r.Context(), p, in.Name, in.Jobs, 3*s.interval); err != nil {
		return err
	}
	if err := s.repushStale(r.Context(), p, in.Name, in.Jobs); err != nil {
		return err
	}
	if stop == nil {
		stop = []int64{}
	}
	writeJSON(w, http.StatusOK, wp.HeartbeatAck{Cancel: stop})
	return nil
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	if _, err := s.app.StartJob(r.Context(), p, id); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct{}{})
	return nil
}

func (s *Server) appendLog(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		return fmt.Errorf("%w: offset must be a non-negative integer", lab.ErrInvalid)
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxLogChunk))
	if err != nil {
		return err
	}
	stored, err := s.app.AppendLog(r.Context(), p, id, offset, data)
	if errors.Is(err, lab.ErrConflict) {
		writeJSON(w, http.StatusConflict, struct {
			wp.ErrorBody
			wp.LogAck
		}{errBody(wp.CodeLogGap, err.Error()), wp.LogAck{Stored: stored}})
		return nil
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wp.LogAck{Stored: stored})
	return nil
}

func errBody(code, msg string) wp.ErrorBody {
	var b wp.ErrorBody
	b.Error.Code, b.Error.Message = code, msg
	return b
}

func (s *Server) finish(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	var in wp.Finish
	if err := readJSON(r, &in); err != nil {
		return err
	}
	et, err := lab.ParseErrorType(in.ErrorType)
	if err != nil {
		et = lab.ErrorBug // an error type this server does not know is still a failure
	}
	if in.Result != "pass" && in.Result != "fail" {
		return fmt.Errorf("%w: result must be pass or fail, got %q", lab.ErrInvalid, in.Result)
	}
	j, err := s.app.FinishFromWorker(r.Context(), p, id, app.WorkerFinish{Failed: in.Result != "pass", ErrorType: et,
		ErrorMsg: in.ErrorMsg, LogSize: in.LogSize, LogSHA256: in.LogSHA256})
	if errors.Is(err, app.ErrLogIncomplete) {
		stored, _ := s.app.LogSize(r.Context(), id)
		writeJSON(w, http.StatusConflict, struct {
			wp.ErrorBody
			wp.LogAck
		}{errBody(wp.CodeLogMismatch, err.Error()), wp.LogAck{Stored: stored}})
		return nil
	} else if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wp.FinishAck{State: j.State.String(), Health: j.Health.String()})
	return nil
}

// multinode relays one coordinator call of a multinode job, made for it by
// its worker; a call whose answer is "wait" may be held up to its Hold.
func (s *Server) multinode(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	var in wp.MultinodeRequest
	if err := readJSON(r, &in); err != nil {
		return err
	}
	ans, err := s.app.MultinodeCall(r.Context(), p, id, app.MultinodeCall{Request: in.Request, MessageID: in.MessageID,
		Message: in.Message, WaitRole: in.WaitRole, Hold: in.Hold})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wp.MultinodeResponse{Response: ans.Response, Roles: ans.Roles, Message: ans.Message, Reason: ans.Reason})
	return nil
}

// console answers the console call of a reservation's worker: the input
// typed after ?after=SEQ, held up to ?hold=DURATION while there is none.
func (s *Server) console(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := jobID(r)
	if err != nil {
		return err
	}
	after, err := httpparam.QueryInt(r, "after", 0)
	if err != nil {
		return err
	}
	var hold time.Duration
	if h := r.URL.Query().Get("hold"); h != "" {
		if hold, err = time.ParseDuration(h); err != nil || hold < 0 {
			return fmt.Errorf("%w: hold=%q is not a duration", lab.ErrInvalid, h)
		}
	}
	ins, err := s.app.WorkerConsoleInput(r.Context(), p, id, int64(after), hold)
	if err != nil {
		return err
	}
	out := wp.ConsoleInputs{Inputs: make([]wp.ConsoleInput, len(ins))}
	for i, in := range ins {
		out.Inputs[i] = wp.ConsoleInput{Seq: in.Seq, Time: in.Time, User: in.User, Data: in.Data, Power: in.Power, Expired: in.Expired}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// supported reports whether a request's protocol version header names a
// version this server serves.
func supported(header string) bool {
	v, err := strconv.Atoi(header)
	return err == nil && strconv.Itoa(v) == header && wp.Supported(v)
}

// protocols names the protocol versions this server serves.
func protocols() string {
	if wp.MinVersion == wp.Version {
		return strconv.Itoa(wp.Version)
	}
	return fmt.Sprintf("%d to %d", wp.MinVersion, wp.Version)
}
