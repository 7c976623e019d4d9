package worker

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Worker is the worker daemon. Create it with New and run it with Run.
type Worker struct {
	cfg  Config
	log  *slog.Logger
	link *link
	boot *bootServer // nil without Config.BootFiles

	interval atomic.Int64  // heartbeat interval in ns: the server's, once it said
	newBeat  chan struct{} // the interval changed: heartbeat now, then at the new pace
	draining atomic.Bool   // shutting down: no new jobs, jobs stop once flushed

	mu        sync.Mutex
	accepting bool
	jobs      map[int64]*job
	devices   map[string]int64              // device hostname → the job on it
	queued    map[string]workerproto.Assign // device hostname → the assignment waiting for it
	// unknown holds the jobs the stream's hello placed on this worker that
	// it did not have: the assignments and cancels that follow the hello
	// account for most; those left at the stream's first ping are lost.
	unknown map[int64]bool
	jobsCtx context.Context
	jobsWG  sync.WaitGroup

	mismatchMu     sync.Mutex
	mismatchLogged time.Time

	// pauseHook, when set (tests), sees every wait of the worker's loops.
	pauseHook func(what string, d time.Duration)
	// sleepHook, when set (tests), replaces the waits of the worker's loops
	// (a virtual clock): it returns false when ctx ended.
	sleepHook func(ctx context.Context, what string, d time.Duration, kick <-chan struct{}) bool
	// connected counts streams that got their hello (tests, benchmarks).
	connected atomic.Int64
	// helloChecked counts streams whose hello was checked against the
	// local jobs (at their first ping; tests).
	helloChecked atomic.Int64
}

// New checks cfg and returns a Worker; nothing is contacted yet.
func New(cfg Config) (*Worker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l, err := newLink(cfg)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	w := &Worker{cfg: cfg, log: cfg.Logger.With("worker", cfg.Name), link: l,
		jobs: map[int64]*job{}, devices: map[string]int64{}, queued: map[string]workerproto.Assign{}, newBeat: make(chan struct{}, 1)}
	l.log = w.log
	w.interval.Store(int64(cfg.Heartbeat))
	return w, nil
}

// Name is the worker's name on the server.
func (w *Worker) Name() string { return w.cfg.Name }

// Run runs the worker until ctx ends: it obtains its token (join), picks up
// the jobs a previous run left in the data directory, connects and keeps
// the stream and heartbeats going, runs and reports jobs.
//
// When ctx ends it stops taking jobs, leaves running job processes alone
// (a restarted worker reattaches them), gives uploads FlushTimeout to
// catch up and returns nil. It returns an error only when it cannot start:
// a data directory it cannot use or lock, no token, a refused join token.
// Call it once per Worker.
func (w *Worker) Run(ctx context.Context) error {
	jobsDir := filepath.Join(w.cfg.DataDir, "jobs")
	if err := os.MkdirAll(jobsDir, 0o700); err != nil {
		return fmt.Errorf("worker: data directory: %w", err)
	}
	release, err := lockFile(filepath.Join(w.cfg.DataDir, "worker.lock"))
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer release()
	defer w.link.close()
	if err := w.ensureToken(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	w.log.Info("worker starting", "servers", w.link.bases(), "data_dir", w.cfg.DataDir, "version", version.Version, "protocol", workerproto.Version)
	if w.cfg.BootFiles != "" {
		if w.boot, err = w.startBootServer(); err != nil {
			return err
		}
		defer w.boot.close()
	}

	jobsCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	w.mu.Lock()
	w.jobsCtx = jobsCtx
	w.accepting = true
	w.mu.Unlock()
	w.recover(jobsDir)

	var loops sync.WaitGroup
	loops.Go(func() { w.streamLoop(ctx) })
	loops.Go(func() { w.heartbeatLoop(ctx) })
	<-ctx.Done()

	w.mu.Lock()
	w.accepting = false
	running := make([]*job, 0, len(w.jobs))
	for _, j := range w.jobs {
		running = append(running, j)
	}
	w.mu.Unlock()
	w.draining.Store(true)
	for _, j := range running {
		j.poke()
	}
	loops.Wait()
	flush := time.AfterFunc(w.cfg.FlushTimeout, stopJobs)
	defer flush.Stop()
	w.jobsWG.Wait()
	for _, j := range running {
		j.stopTimers()
	}
	w.log.Info("worker stopped; job processes keep running", "jobs", len(running))
	return nil
}

// ensureToken makes sure the link has a token: the configured one, the
// stored one, or one obtained with the join token (then stored).
func (w *Worker) ensureToken(ctx context.Context) error {
	if w.link.token != "" {
		return nil
	}
	path := filepath.Join(w.cfg.DataDir, "token")
	tok, err := readToken(path)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if tok != "" {
		w.link.token = tok
		return nil
	}
	if w.cfg.JoinToken == "" {
		return fmt.Errorf("worker: no token: give --token, BASALT_WORKER_TOKEN, or a --join-token (none stored in %s)", path)
	}
	bo := w.newBackoff()
	for {
		var resp workerproto.JoinResponse
		err := w.link.call(ctx, http.MethodPost, workerproto.PathJoin, nil,
			workerproto.JoinRequest{Name: w.cfg.Name, JoinToken: w.cfg.JoinToken}, &resp, false)
		if err == nil {
			if resp.Token == "" {
				return errors.New("worker: join: the server returned no token")
			}
			if err := writeFileAtomic(path, []byte(resp.Token+"\n"), true); err != nil {
				return fmt.Errorf("worker: store token: %w", err)
			}
			if err := os.Chmod(path, 0o600); err != nil {
				return fmt.Errorf("worker: store token: %w", err)
			}
			w.link.token = resp.Token
			w.log.Info("joined the server; worker token stored", "file", path)
			return nil
		}
		d := bo.next()
		if e := asAPIError(err); e != nil {
			switch {
			case e.mismatch():
				d = w.protocolMismatch(e)
			case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
				return fmt.Errorf("worker: join refused (the join token is wrong, expired, already used, or not for worker %q): %w", w.cfg.Name, err)
			case e.Status == http.StatusNotFound:
				return fmt.Errorf("worker: join: the server has no worker join endpoint (is --server the Basalt server's URL?): %w", err)
			case e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout:
				return fmt.Errorf("worker: join: %w", err)
			}
		}
		w.log.Warn("join failed; retrying", "err", err, "retry_in", d)
		if !w.pause(ctx, "join", d, nil) {
			return ctx.Err()
		}
	}
}

func (w *Worker) newBackoff() backoff {
	return backoff{min: w.cfg.BackoffMin, max: w.cfg.BackoffMax}
}

// pause waits d, or until kick fires or ctx ends; false when ctx ended.
func (w *Worker) pause(ctx context.Context, what string, d time.Duration, kick <-chan struct{}) bool {
	if w.pauseHook != nil {
		w.pauseHook(what, d)
	}
	if w.sleepHook != nil {
		return w.sleepHook(ctx, what, d, kick)
	}
	return sleep(ctx, d, kick)
}

// sleep waits d, or until kick fires or ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration, kick <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-kick:
	case <-t.C:
	}
	return true
}

// protocolMismatch logs (at most once per retry period) that the server
// refused this worker's protocol version, and returns the retry delay.
func (w *Worker) protocolMismatch(e *apiError) time.Duration {
	w.mismatchMu.Lock()
	defer w.mismatchMu.Unlock()
	if time.Since(w.mismatchLogged) >= w.cfg.MismatchRetry || w.mismatchLogged.IsZero() {
		w.mismatchLogged = time.Now()
		server := "refuses it"
		if e.ServerProtocol != "" {
			server = "speaks protocol " + e.ServerProtocol
		}
		w.log.Error(fmt.Sprintf("protocol mismatch: this worker (Basalt %s) speaks worker protocol %d, the server %s (%q); run a worker of the server's release. Retrying every %s",
			version.Version, workerproto.Version, server, e.Message, w.cfg.MismatchRetry),
			"worker_protocol", workerproto.Version, "server_protocol", e.ServerProtocol)
	}
	return w.cfg.MismatchRetry
}

// heartbeatInterval is the server's interval once it announced one.
func (w *Worker) heartbeatInterval() time.Duration { return time.Duration(w.interval.Load()) }

// streamLoop keeps the server → worker stream open, reconnecting with
// back-off.
func (w *Worker) streamLoop(ctx context.Context) {
	bo := w.newBackoff()
	// down: the stream failed since it was last connected; refused: the
	// server's answer last logged in this episode ("" for a network error)
	down, refused := false, ""
	for {
		start := time.Now()
		hellos := w.connected.Load()
		err := w.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if w.connected.Load() != hellos { // it was connected: a new episode
			down, refused = false, ""
		}
		if time.Since(start) >= w.cfg.BackoffReset {
			bo.reset()
		}
		d := bo.next()
		e := asAPIError(err)
		switch {
		case e != nil && e.mismatch():
			d = w.protocolMismatch(e)
		case !down || (e != nil && answerKey(e) != refused):
			// once per episode, and once more for each other answer of
			// the server (a 503 while its database is down, then a 401…)
			w.log.Warn("stream to the server ended; reconnecting", "err", err, "retry_in", d.Round(time.Millisecond))
		default:
			w.log.Debug("stream reconnect failed", "err", err, "retry_in", d)
		}
		down = true
		if e != nil {
			refused = answerKey(e)
		}
		if !w.pause(ctx, "stream", d, nil) {
			return
		}
	}
}

// answerKey tells answers of the server apart for logging: status and code.
func answerKey(e *apiError) string { return fmt.Sprintf("%d %s", e.Status, e.Code) }

// stream runs one stream until it ends, and says why.
func (w *Worker) stream(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"name": {w.cfg.Name}, "version": {version.Version}}
	resp, srv, err := w.link.requestOn(ctx, http.MethodGet, workerproto.PathConnect, q, nil, "", true)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return readAPIError(http.MethodGet, workerproto.PathConnect, resp)
	}
	// a stream silent for three heartbeat intervals is dead: cancel it and
	// drop the connections (with HTTP/2 the requests share them); with
	// several servers, move to the next
	var dead atomic.Bool
	watchdog := time.AfterFunc(3*w.heartbeatInterval(), func() {
		dead.Store(true)
		cancel()
		w.link.servers[srv].conns.closeAll()
		w.link.moveFrom(srv, fmt.Sprintf("stream silent for %s", 3*w.heartbeatInterval()))
	})
	defer watchdog.Stop()
	r := bufio.NewReaderSize(resp.Body, 16<<10)
	first := true
	for {
		line, err := readLine(r, maxFrame)
		if err != nil {
			if dead.Load() {
				return fmt.Errorf("stream silent for %s: dropped", 3*w.heartbeatInterval())
			}
			return fmt.Errorf("stream: %w", err)
		}
		f, err := decodeFrame(line)
		if errors.Is(err, errUnknownFrame) {
			w.log.Debug("skipping a frame of an unknown kind", "err", err)
			watchdog.Reset(3 * w.heartbeatInterval())
			continue
		}
		if err != nil {
			return err
		}
		if first != (f.Type == workerproto.FrameHello) {
			return fmt.Errorf("stream: got a %s frame, want hello first and only", f.Type)
		}
		first = false
		switch f.Type {
		case workerproto.FrameHello:
			w.hello(*f.Hello, resp.Proto)
		case workerproto.FrameAssign:
			w.assign(*f.Assign)
		case workerproto.FrameCancel:
			w.cancel(f.Cancel.JobID, "the server canceled it")
		case workerproto.FramePing:
			w.checkHello()
		}
		watchdog.Reset(3 * w.heartbeatInterval())
	}
}

// hello handles the first frame of a stream.
func (w *Worker) hello(h workerproto.Hello, proto string) {
	if h.HeartbeatInterval > 0 && w.interval.Swap(int64(h.HeartbeatInterval)) != int64(h.HeartbeatInterval) {
		select {
		case w.newBeat <- struct{}{}:
		default:
		}
	}
	w.connected.Add(1)
	w.log.Info("connected to the server", "server_version", h.ServerVersion, "http", proto, "heartbeat", w.heartbeatInterval(), "server_jobs", len(h.Jobs))
	listed := map[int64]bool{}
	for _, id := range h.Jobs {
		listed[id] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for id, j := range w.jobs {
		j.setListed(listed[id])
	}
	// A listed job this worker does not have is not lost yet: the hello
	// lists the Scheduled jobs too, and their assignments (and the cancels
	// of Canceling ones) follow it. Which are left is known at the first
	// ping, which the server sends after them (checkHello).
	w.unknown = map[int64]bool{}
	for _, id := range h.Jobs {
		if w.jobs[id] == nil && !w.queuedLocked(id) {
			w.unknown[id] = true
		}
	}
}

// queuedLocked reports whether an assignment of job id waits for its
// device; w.mu is held.
func (w *Worker) queuedLocked(id int64) bool {
	for _, a := range w.queued {
		if a.JobID == id {
			return true
		}
	}
	return false
}

// checkHello warns about the jobs the stream's hello placed on this worker
// that it still does not have once the frames following the hello were
// handled: the server holds them as started here, and they are not on
// this worker (its data directory was lost, say).
func (w *Worker) checkHello() {
	w.mu.Lock()
	unknown := w.unknown
	w.unknown = nil
	var lost []int64
	for id := range unknown {
		if w.jobs[id] == nil && !w.queuedLocked(id) {
			lost = append(lost, id)
		}
	}
	w.mu.Unlock()
	if unknown == nil {
		return
	}
	slices.Sort(lost)
	for _, id := range lost {
		w.log.Warn("the server places a job on this worker that it does not have (data directory lost?); it is not in the heartbeats, so the server can end it", "job", id)
	}
	w.helloChecked.Add(1)
}

// heartbeatLoop sends a heartbeat now and then every interval.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	failing := false
	for {
		d := w.heartbeatInterval()
		var ack workerproto.HeartbeatAck
		err := w.link.call(ctx, http.MethodPost, workerproto.PathHeartbeat, nil,
			workerproto.Heartbeat{Name: w.cfg.Name, Version: version.Version, Jobs: w.jobIDs()}, &ack, true)
		switch e := asAPIError(err); {
		case err == nil:
			if failing {
				w.log.Info("heartbeats accepted again")
			}
			failing = false
			for _, id := range ack.Cancel {
				w.cancel(id, "the server wants it stopped (heartbeat)")
			}
		case ctx.Err() != nil:
			return
		case e != nil && e.mismatch():
			d = w.protocolMismatch(e)
		default:
			if !failing {
				w.log.Warn("heartbeat failed", "err", err)
			}
			failing = true
		}
		if !w.pause(ctx, "heartbeat", d, w.newBeat) {
			return
		}
	}
}

// jobIDs lists the local jobs, sorted.
func (w *Worker) jobIDs() []int64 {
	w.mu.Lock()
	ids := make([]int64, 0, len(w.jobs))
	for id := range w.jobs {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// assign handles an assignment: a new job starts, a known one is ignored.
func (w *Worker) assign(a workerproto.Assign) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.unknown, a.JobID) // the hello listed it because it was coming
	log := w.log.With("job", a.JobID, "device", a.Device.Hostname)
	switch {
	case !w.accepting:
		log.Info("shutting down: assignment ignored")
		return
	case w.jobs[a.JobID] != nil:
		log.Debug("assignment of a job this worker already has: ignored")
		return
	case w.devices[a.Device.Hostname] != 0:
		// The server assigns a device again as soon as the previous job's
		// finish is committed, which can be before this worker has let go
		// of that job: keep the assignment and start it when the device is
		// free (the newest one wins).
		log.Info("device still busy: assignment queued", "busy_with", w.devices[a.Device.Hostname])
		w.queued[a.Device.Hostname] = a
		return
	}
	dir := w.jobDir(a.JobID)
	if fileExists(dir) {
		log.Warn("assignment of a job whose directory exists (already reported?): ignored", "dir", dir)
		return
	}
	j := w.newJob(a.JobID, a.Device.Hostname, dir)
	j.multinode = a.Multinode != nil
	j.console = a.Console != nil
	if err := j.create(a); err != nil {
		log.Error("cannot set up the job directory; the assignment will come again on the next connection", "err", err)
		os.RemoveAll(dir)
		return
	}
	w.addLocked(j)
	w.jobsWG.Go(func() { j.run(w.jobsCtx, true) })
	log.Info("job assigned")
}

func (w *Worker) jobDir(id int64) string {
	return filepath.Join(w.cfg.DataDir, "jobs", strconv.FormatInt(id, 10))
}

func (w *Worker) addLocked(j *job) {
	w.jobs[j.id] = j
	w.devices[j.device] = j.id
}

// remove forgets a job that is over, and starts an assignment that was
// waiting for its device.
func (w *Worker) remove(j *job) {
	w.unpublish(j.id)
	w.mu.Lock()
	if w.jobs[j.id] == j {
		delete(w.jobs, j.id)
		if w.devices[j.device] == j.id {
			delete(w.devices, j.device)
		}
	}
	next, ok := w.queued[j.device]
	if ok && w.devices[j.device] == 0 {
		delete(w.queued, j.device)
	}
	w.mu.Unlock()
	if ok {
		w.assign(next)
	}
}

// cancel stops a local job; unknown jobs are ignored.
func (w *Worker) cancel(id int64, why string) {
	w.mu.Lock()
	j := w.jobs[id]
	delete(w.unknown, id) // being ended by the server: nothing to lose
	w.mu.Unlock()
	if j == nil {
		w.log.Debug("cancel of a job this worker does not have: ignored", "job", id)
		return
	}
	j.cancel(why)
}

// recover picks up the jobs a previous run left: reattaches to job
// processes still running, ends those whose process is gone, and resumes
// their reports.
func (w *Worker) recover(jobsDir string) {
	ents, err := os.ReadDir(jobsDir)
	if err != nil {
		w.log.Error("cannot list job directories", "err", err)
		return
	}
	defer w.sweepBootFiles()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range ents {
		id, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil || id <= 0 || !e.IsDir() {
			continue
		}
		j, spawn := w.recoverJob(id, filepath.Join(jobsDir, e.Name()))
		if j == nil {
			continue
		}
		w.adopt(id, filepath.Join(jobsDir, e.Name()))
		if w.devices[j.device] != 0 {
			w.log.Error("two local jobs on one device; keeping both", "job", id, "other", w.devices[j.device], "device", j.device)
		}
		w.addLocked(j)
		w.jobsWG.Go(func() { j.run(w.jobsCtx, spawn) })
	}
}

// recoverJob rebuilds one job from its directory; nil when there is
// nothing left to do. spawn says the process must still be started.
func (w *Worker) recoverJob(id int64, dir string) (j *job, spawn bool) {
	log := w.log.With("job", id)
	var a workerproto.Assign
	if err := readJSONFile(filepath.Join(dir, FileJob), &a); err != nil {
		log.Warn("job directory without a readable assignment: removed (the server assigns it again if it still should run)", "dir", dir, "err", err)
		os.RemoveAll(dir)
		return nil, false
	}
	var st JobState
	if err := readJSONFile(filepath.Join(dir, FileState), &st); err != nil {
		log.Warn("unreadable job state; rebuilding it", "err", err)
		st = JobState{Phase: PhaseStarting}
	}
	st.JobID, st.Device = id, a.Device.Hostname
	if st.Phase == PhaseReported {
		if !w.cfg.KeepJobs {
			os.RemoveAll(dir)
		}
		return nil, false
	}
	j = w.newJob(id, a.Device.Hostname, dir)
	j.multinode = a.Multinode != nil
	j.console = a.Console != nil
	j.st = st
	pid := st.PID
	if !isJobProcess(pid, dir) {
		pid = findJobProcess(dir)
	}
	_, hasResult, _ := readResult(dir)
	switch {
	case pid != 0:
		j.pid, j.watch = pid, true
		j.st.PID = pid
		if j.st.Phase == PhaseStarting {
			j.st.Phase = PhaseRunning
		}
		log.Info("reattached to a running job process", "pid", pid, "acked", st.Acked)
		// a cancel in progress starts again: SIGTERM, SIGKILL after the grace
		j.recancel = st.Canceled
	case st.Phase == PhaseStarting && st.PID == 0 && !hasResult:
		log.Info("starting a job the previous run had not started")
		return j, true
	default:
		j.markExited()
		if !hasResult {
			j.lost = true
			log.Warn("job process lost (worker restarted or crashed)", "pid", st.PID)
		} else {
			log.Info("resuming the report of a finished job", "acked", st.Acked)
		}
	}
	return j, false
}
