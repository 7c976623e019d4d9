package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
)

// Logs is the store of job logs the app appends to and reads:
// logstore.Store (files on one machine) or the SQL store's LogStore
// (chunks in the database, shared by replicas).
type Logs = logstore.Logs

// Assignment is everything a worker needs to run one job.
type Assignment struct {
	JobID      int64
	Worker     string
	Definition string
	Device     lab.Device
	JobToken   string // a fresh secret for the job's own token
	Timeout    time.Duration
	// Config is the device's configuration rendered with its device-type
	// template and the job's context, for devices whose dictionary goes
	// through one (boards); ConfigError says why it could not be
	// rendered (the job then fails with a Configuration error).
	Config, ConfigError string
	// Multinode places a multinode sub-job in its group (nil for other
	// jobs); Roles then maps the id (decimal) of every job of the group to
	// its role.
	Multinode *lab.MultinodeJob
	Roles     map[string]string
	// Reservation makes the job a reservation's console session (nil for
	// other jobs): Holder may type, until Reservation.Until (the expected
	// end when the session has not started yet).
	Reservation *lab.Reservation
	Holder      string
}

// unfinished lists the states in which a job holds its device.
var unfinished = []lab.JobState{lab.JobScheduling, lab.JobScheduled, lab.JobRunning, lab.JobCanceling}

// MaxJoinTokenTTL is the longest a join token may live: a worker joins
// once, soon after an administrator makes its token.
const MaxJoinTokenTTL = 365 * 24 * time.Hour

// CreateJoinToken issues a one-time join token for an existing worker
// (admin only): the worker exchanges it for its own token on first contact
// (JoinWorker). It expires after ttl (0: a day; at most MaxJoinTokenTTL).
func (a *App) CreateJoinToken(ctx context.Context, p auth.Principal, worker string, ttl time.Duration) (string, error) {
	if err := requireAdmin(p, "create join token"); err != nil {
		return "", err
	}
	if ttl < 0 || ttl > MaxJoinTokenTTL {
		return "", fmt.Errorf("%w: a join token lives from 1 second to %d seconds (365 days), not %s", lab.ErrInvalid,
			int64(MaxJoinTokenTTL/time.Second), ttl)
	}
	if ttl == 0 {
		ttl = 24 * time.Hour
	}
	var secret string
	err := a.st.InTx(ctx, func(q store.Queries) error {
		if _, err := q.GetWorker(ctx, worker); err != nil {
			return err
		}
		var err error
		secret, err = a.newToken(ctx, q, lab.Token{Kind: lab.TokenJoin, Owner: worker,
			Description: "join token for worker " + worker, Expires: a.now().Add(ttl)})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("join token for %q: %w", worker, err)
	}
	return secret, nil
}

// JoinWorker exchanges a join token for worker name's own token. The join
// token is spent whatever happens next; a wrong, expired or reused one is
// ErrUnauthenticated.
func (a *App) JoinWorker(ctx context.Context, name, joinSecret string) (string, error) {
	var secret string
	err := a.st.InTx(ctx, func(q store.Queries) error {
		tok, err := q.TokenByHash(ctx, auth.HashSecret(joinSecret))
		if err != nil && !errors.Is(err, lab.ErrNotFound) { // the database failing: the worker retries
			return err
		}
		if err != nil || tok.Kind != lab.TokenJoin || tok.Owner != name {
			return fmt.Errorf("invalid join token for worker %q: %w", name, lab.ErrUnauthenticated)
		}
		if err := q.DeleteToken(ctx, tok.ID); err != nil {
			return err
		}
		if !tok.Expires.IsZero() && !a.now().Before(tok.Expires) {
			return fmt.Errorf("join token for worker %q expired: %w", name, lab.ErrUnauthenticated)
		}
		secret, err = a.newToken(ctx, q, lab.Token{Kind: lab.TokenWorker, Owner: name, Description: "worker " + name + " (joined)"})
		return err
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// WorkerJobs returns the unfinished jobs on worker's devices, by id. Only
// that worker may ask.
func (a *App) WorkerJobs(ctx context.Context, p auth.Principal, worker string) ([]lab.Job, error) {
	if !auth.CanActAsWorker(p, worker) {
		return nil, denied(p, "list worker jobs")
	}
	return a.workerJobs(ctx, worker)
}

func (a *App) workerJobs(ctx context.Context, worker string) ([]lab.Job, error) {
	devs, err := a.st.ListDevices(ctx, store.DeviceFilter{Worker: worker})
	if err != nil {
		return nil, err
	}
	var ids []int64
	for _, d := range devs {
		if d.CurrentJob != 0 {
			ids = append(ids, d.CurrentJob)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	// One query for all of them: a heartbeat runs this.
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{IDs: ids, States: unfinished, Limit: len(ids), WithDefinition: true})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(jobs, func(x, y lab.Job) int { return int(x.ID - y.ID) })
	return jobs, nil
}

// Assign builds the assignment of a Scheduled job for its worker, minting a
// fresh job token (earlier ones for the job are revoked). It is called
// after the scheduler's decision is committed, and again when a worker
// reconnects while the job is still Scheduled.
func (a *App) Assign(ctx context.Context, jobID int64) (Assignment, error) {
	var out Assignment
	err := a.st.InTx(ctx, func(q store.Queries) error {
		j, err := q.GetJob(ctx, jobID)
		if err != nil {
			return err
		}
		if j.State != lab.JobScheduled || j.ActualDevice == "" {
			return fmt.Errorf("%w: job %d is %s, not Scheduled on a device", lab.ErrConflict, jobID, j.State)
		}
		d, err := q.GetDevice(ctx, j.ActualDevice)
		if err != nil {
			return err
		}
		if err := revokeJobTokens(ctx, q, jobID); err != nil {
			return err
		}
		secret, err := auth.NewSecret()
		if err != nil {
			return err
		}
		if _, err := q.CreateToken(ctx, lab.Token{Kind: lab.TokenJob, JobID: jobID, Hash: auth.HashSecret(secret),
			Description: fmt.Sprintf("job %d", jobID), Created: a.now()}); err != nil {
			return err
		}
		out = Assignment{JobID: jobID, Worker: d.Worker, Definition: j.Definition, Device: d, JobToken: secret}
		if r := j.Reservation; r != nil {
			rc := *r
			if rc.Until.IsZero() { // not started yet: it will run its duration from its start
				rc.Until = a.now().Add(rc.Duration)
			}
			out.Reservation, out.Holder = &rc, j.Submitter
		}
		if j.Multinode != nil {
			out.Multinode = j.Multinode
			if out.Roles, err = groupRoles(ctx, q, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Assignment{}, fmt.Errorf("assign job %d: %w", jobID, err)
	}
	// A stored definition is valid by construction; one that no longer
	// parses gets no timeout and no context (the job process says why).
	var jobCtx map[string]any
	if def, err := parseStored(out.Definition); err == nil {
		out.Timeout, jobCtx = def.Timeouts.Job.Duration, def.Context
	}
	if r := out.Reservation; r != nil {
		// The server ends the session (ExpireReservations); the timeout is
		// only a safety net: longer than any extension allows.
		out.Timeout = r.Duration + a.cfg.MaxReservation
	}
	out.Config, out.ConfigError = a.renderAssigned(ctx, out.Device, jobCtx)
	return out, nil
}

// AppendLog stores a chunk of a job's journal uploaded by its worker and
// returns the durable size, then stores the test cases of the results
// records on the lines the chunk completed. Appends stay allowed after the
// job finished (a worker back from a long outage still delivers its log).
func (a *App) AppendLog(ctx context.Context, p auth.Principal, jobID, offset int64, data []byte) (int64, error) {
	ctx = store.Urgent(ctx) // the worker link goes first
	if a.cfg.Logs == nil {
		return 0, fmt.Errorf("append log: no log store configured")
	}
	// A running job sends many chunks: its worker is checked once, then
	// remembered (placements).
	if p.Kind != auth.KindWorker || !a.placed.has(jobID, p.Worker) {
		gen := a.placed.generation()
		if _, err := a.checkJobWorker(ctx, a.st, p, jobID); err != nil {
			return 0, fmt.Errorf("append log of job %d: %w", jobID, err)
		}
		if p.Kind == auth.KindWorker {
			a.placed.set(jobID, p.Worker, gen)
		}
	}
	before := int64(-1) // the log's size before this append, when it may hold test events
	if bytes.Contains(data, testEventTag) {
		if n, err := a.cfg.Logs.Size(ctx, jobID); err == nil {
			before = n
		}
	}
	stored, err := a.cfg.Logs.Append(ctx, jobID, offset, data)
	if err != nil {
		return stored, fmt.Errorf("append log of job %d: %w", jobID, err)
	}
	// The bytes are stored durably whatever happens to their results:
	// acknowledge them. A failed ingestion is resumed by the next append,
	// the finish (which fails until it succeeds) or the next read.
	if err := a.ingestAppended(ctx, jobID, offset, data, stored); err != nil {
		a.logError(slog.LevelWarn, "results ingestion failed, it resumes later", err, "job", jobID)
	}
	if len(data) > 0 {
		a.emit(Event{Kind: "log", JobID: jobID})
	}
	if before >= 0 {
		a.emitTestEvents(jobID, offset, data, before, stored)
	}
	return stored, nil
}

// testEventTag is how the journal spells the level of a test event record
// (lava-test-event in a test shell: the journal's level "event",
// workerproto.LevelEvent).
var testEventTag = []byte(`"lvl":"event"`)

// emitTestEvents emits an "event" event for each test event record on the
// lines this append stored for the first time: those that start at or
// after before (the log's size before the append) and end within data,
// which was appended at offset and left the log stored bytes long. Lines
// sent again after a link cut were stored before, so they are not emitted
// twice. (The worker uploads whole lines; a record split across two
// uploads, only possible for one longer than an upload, is not emitted.)
func (a *App) emitTestEvents(jobID, offset int64, data []byte, before, stored int64) {
	from, to := before-offset, stored-offset
	if from < 0 || to > int64(len(data)) || from >= to {
		return
	}
	if from > 0 && data[from-1] != '\n' {
		return // the append starts inside a line stored before
	}
	region := data[from:to]
	for len(region) > 0 {
		i := bytes.IndexByte(region, '\n')
		if i < 0 {
			return // an incomplete line
		}
		line := region[:i]
		region = region[i+1:]
		if !bytes.Contains(line, testEventTag) {
			continue
		}
		var rec struct {
			Level string          `json:"lvl"`
			Msg   json.RawMessage `json:"msg"`
		}
		if json.Unmarshal(line, &rec) != nil || rec.Level != "event" {
			continue
		}
		var msg string
		if json.Unmarshal(rec.Msg, &msg) != nil {
			msg = string(rec.Msg) // not a text message: its JSON
		}
		a.emit(Event{Kind: "event", JobID: jobID, Message: msg})
	}
}

// placements remembers which worker was found to run a job, so that each
// log append of the job does not read the job and its device again. A job
// never moves to another device; a device may move to another worker (an
// admin's change), which clears the whole map.
type placements struct {
	mu  sync.Mutex
	m   map[int64]string
	gen uint64 // bumped by forget
}

// generation is the map's generation, to pass to set after a check.
func (pl *placements) generation() uint64 {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	return pl.gen
}

// maxPlacements bounds the jobs remembered; beyond, the map starts afresh.
const maxPlacements = 4096

func (pl *placements) has(job int64, worker string) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	w, ok := pl.m[job]
	return ok && w == worker
}

// set remembers a placement checked while the map was at generation gen;
// it is dropped when a forget came in between (the check may be stale).
func (pl *placements) set(job int64, worker string, gen uint64) {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if gen != pl.gen {
		return
	}
	if pl.m == nil || len(pl.m) >= maxPlacements {
		pl.m = map[int64]string{}
	}
	pl.m[job] = worker
}

// forget clears every placement (a device changed worker).
func (pl *placements) forget() {
	pl.mu.Lock()
	pl.m = nil
	pl.gen++
	pl.mu.Unlock()
}

// WorkerFinish is a worker's report of a job's end, with the size and
// checksum of the whole journal it produced.
type WorkerFinish struct {
	Failed    bool
	ErrorType lab.ErrorType
	ErrorMsg  string
	LogSize   int64
	LogSHA256 string
}

// ErrLogIncomplete says the server's stored log does not yet match the
// worker's journal; the worker must upload the rest before finishing.
var ErrLogIncomplete = errors.New("stored log does not match the worker's journal")

// FinishFromWorker records the end of a job reported by its worker. It is
// accepted only when the stored log has exactly the journal's size and
// checksum (else ErrLogIncomplete with ErrConflict), and once every results
// record of the log is stored as a test case. Reporting a job that is
// already Finished is not an error: the reply to an earlier report may have
// been lost.
func (a *App) FinishFromWorker(ctx context.Context, p auth.Principal, jobID int64, f WorkerFinish) (lab.Job, error) {
	ctx = store.Urgent(ctx) // the worker link goes first
	if _, err := a.checkJobWorker(ctx, a.st, p, jobID); err != nil {
		return lab.Job{}, fmt.Errorf("finish job %d: %w", jobID, err)
	}
	if a.cfg.Logs != nil {
		size, err := a.cfg.Logs.Size(ctx, jobID)
		if err != nil {
			return lab.Job{}, err
		}
		sum := ""
		if size == f.LogSize {
			if sum, err = a.cfg.Logs.SHA256(ctx, jobID); err != nil {
				return lab.Job{}, err
			}
		}
		if size != f.LogSize || sum != f.LogSHA256 {
			return lab.Job{}, fmt.Errorf("finish job %d: %w (stored %d bytes, journal %d): %w", jobID, ErrLogIncomplete, size, f.LogSize, lab.ErrConflict)
		}
		// The log is whole: so must its results be before the job ends.
		if err := a.ingestResults(ctx, jobID, true); err != nil {
			return lab.Job{}, fmt.Errorf("finish job %d: %w", jobID, err)
		}
	}
	j, err := a.st.GetJob(ctx, jobID)
	if err != nil {
		return lab.Job{}, err
	}
	if j.State == lab.JobFinished {
		return j, nil
	}
	if j.State == lab.JobScheduled { // the start report was lost: record it now
		if _, err := a.StartJob(ctx, p, jobID); err != nil && !errors.Is(err, lab.ErrConflict) {
			return lab.Job{}, err
		}
	}
	return a.FinishJob(ctx, p, jobID, JobOutcome{Failed: f.Failed, ErrorType: f.ErrorType, Comment: f.ErrorMsg})
}

// JobsToStop returns which of the jobs a worker runs locally the server
// wants stopped: those Canceling, Finished, or not on that worker at all.
func (a *App) JobsToStop(ctx context.Context, p auth.Principal, worker string, local []int64) ([]int64, error) {
	if !auth.CanActAsWorker(p, worker) {
		return nil, denied(p, "job states")
	}
	if len(local) == 0 {
		return nil, nil
	}
	// One query for all of them: every heartbeat runs this.
	jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{IDs: local, Limit: len(local)})
	if err != nil {
		return nil, err
	}
	running := map[int64]bool{}
	for _, j := range jobs {
		running[j.ID] = j.State != lab.JobCanceling && j.State != lab.JobFinished
	}
	var stop []int64
	for _, id := range local {
		if !running[id] { // canceling, finished, or unknown to the server
			stop = append(stop, id)
		}
	}
	return stop, nil
}

// failLostJobs finishes, Incomplete with an infrastructure error, every
// job whose worker is Offline and has stayed away past the job's own
// timeout plus the grace period; its device goes Unknown (LAVA's rule for
// infrastructure errors) so a health check runs before the next job.
func (a *App) failLostJobs(ctx context.Context) error {
	ws, err := a.st.ListWorkers(ctx)
	if err != nil {
		return err
	}
	now := a.now()
	for _, w := range ws {
		if w.State != lab.WorkerOffline {
			continue
		}
		jobs, err := a.workerJobs(ctx, w.Name)
		if err != nil {
			return err
		}
		for _, j := range jobs {
			since := j.StartTime
			if since.IsZero() || since.Before(w.LastHeartbeat) {
				since = w.LastHeartbeat
			}
			if since.IsZero() {
				since = j.SubmitTime
			}
			timeout := jobTimeout(j.Definition)
			if r := j.Reservation; r != nil {
				timeout = r.Duration + a.cfg.MaxReservation // as Assign gave it
			}
			if now.Before(since.Add(timeout + a.cfg.LostJobGrace)) {
				continue
			}
			msg := fmt.Sprintf("worker %s offline since %s, past the job timeout plus %s grace", w.Name,
				w.LastHeartbeat.Format(time.RFC3339), a.cfg.LostJobGrace)
			if _, err := a.FinishJob(ctx, auth.WorkerPrincipal(w.Name), j.ID,
				JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure, Comment: msg}); err != nil && !errors.Is(err, lab.ErrConflict) {
				return err
			}
			a.log.Warn("job lost with its worker", "job", j.ID, "worker", w.Name)
		}
	}
	return nil
}

// JobLog returns lines [start, end) of a visible job's log and the total
// number of complete lines. With wait > 0 and no line at or after start
// yet, it first waits up to wait for the log to grow, unless the job is
// Finished (then nothing more will come): a live tail without polling.
// The lines are held in memory, so callers bound the range (the web UI's
// windows and scans); OpenJobLog streams a range of any size.
func (a *App) JobLog(ctx context.Context, p auth.Principal, jobID int64, start, end int, wait time.Duration) ([][]byte, int, error) {
	if err := a.readableLog(ctx, p, jobID, start, wait); err != nil {
		return nil, 0, err
	}
	if a.cfg.Logs == nil {
		return nil, 0, nil
	}
	n, err := a.cfg.Logs.Lines(ctx, jobID)
	if err != nil {
		return nil, 0, err
	}
	lines, err := a.cfg.Logs.ReadLines(ctx, jobID, start, end)
	return lines, n, err
}

// LogStream is a range of complete lines of a job's log being read
// (OpenJobLog): the NDJSON bytes of the lines exactly as stored, each line
// with its newline, Size bytes in all. Whoever opens it closes it.
type LogStream struct {
	r io.ReadCloser
	// Size is the number of bytes of the range.
	Size int64
	// Total is the number of complete lines the log had when the range was
	// taken (at the same instant).
	Total int
}

// Read reads the next bytes of the range.
func (s *LogStream) Read(p []byte) (int, error) { return s.r.Read(p) }

// WriteTo copies the rest of the range to w, with the log store's own
// WriteTo: zero-copy (sendfile) to a socket where the system can.
func (s *LogStream) WriteTo(w io.Writer) (int64, error) { return io.Copy(w, s.r) }

// Close releases the stream's file.
func (s *LogStream) Close() error { return s.r.Close() }

// OpenJobLog is JobLog for a range of any size: it checks that p may see
// the job, waits as JobLog does, and returns a stream of the lines
// [start, end) (clamped) read from the log store in bounded chunks, never
// the whole range in memory.
func (a *App) OpenJobLog(ctx context.Context, p auth.Principal, jobID int64, start, end int, wait time.Duration) (*LogStream, error) {
	if err := a.readableLog(ctx, p, jobID, start, wait); err != nil {
		return nil, err
	}
	if a.cfg.Logs == nil {
		return &LogStream{r: io.NopCloser(strings.NewReader(""))}, nil
	}
	r, size, total, err := a.cfg.Logs.OpenLines(ctx, jobID, start, end)
	if err != nil {
		return nil, err
	}
	return &LogStream{r: r, Size: size, Total: total}, nil
}

// readableLog checks that p may see the job and, with wait > 0, waits up
// to wait for a line at start unless the job is Finished.
func (a *App) readableLog(ctx context.Context, p auth.Principal, jobID int64, start int, wait time.Duration) error {
	j, err := a.GetJob(ctx, p, jobID)
	if err != nil {
		return err
	}
	if a.cfg.Logs == nil {
		return nil
	}
	if wait > 0 && j.State != lab.JobFinished {
		if n, err := a.cfg.Logs.Lines(ctx, jobID); err == nil && n <= start {
			wctx, cancel := context.WithTimeout(ctx, wait)
			a.waitLines(wctx, jobID, start)
			cancel()
		}
	}
	return nil
}

// LogFollower reads a visible job's log as it grows, for a live page. The
// caller's right to see the job is checked when it is opened and by
// Refresh, not on every read: a page following a busy log reads it many
// times a second, and a job's visibility never changes.
type LogFollower struct {
	a   *App
	p   auth.Principal
	job lab.Job
}

// FollowJobLog opens a follower of a job p may see (lab.ErrNotFound
// otherwise, as GetJob).
func (a *App) FollowJobLog(ctx context.Context, p auth.Principal, jobID int64) (*LogFollower, error) {
	j, err := a.GetJob(ctx, p, jobID)
	if err != nil {
		return nil, err
	}
	return &LogFollower{a: a, p: p, job: j}, nil
}

// Job is the job as last read (at the opening or by Refresh).
func (f *LogFollower) Job() lab.Job { return f.job }

// Refresh reads the job again, checking that p may still see it: call it
// when the job changed (an event) and now and then.
func (f *LogFollower) Refresh(ctx context.Context) (lab.Job, error) {
	j, err := f.a.GetJob(ctx, f.p, f.job.ID)
	if err != nil {
		return lab.Job{}, err
	}
	f.job = j
	return j, nil
}

// Lines returns lines [start, end) of the log and the number of complete
// lines.
func (f *LogFollower) Lines(ctx context.Context, start, end int) ([][]byte, int, error) {
	if f.a.cfg.Logs == nil {
		return nil, 0, nil
	}
	n, err := f.a.cfg.Logs.Lines(ctx, f.job.ID)
	if err != nil {
		return nil, 0, err
	}
	lines, err := f.a.cfg.Logs.ReadLines(ctx, f.job.ID, start, end)
	return lines, n, err
}

// Wait waits, at most d or until ctx ends, for the log to have more than
// start complete lines.
func (f *LogFollower) Wait(ctx context.Context, start int, d time.Duration) {
	if f.a.cfg.Logs == nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	f.a.waitLines(wctx, f.job.ID, start)
}

// LogSize is the stored size of a job's log (0 without a log store).
func (a *App) LogSize(ctx context.Context, jobID int64) (int64, error) {
	if a.cfg.Logs == nil {
		return 0, nil
	}
	return a.cfg.Logs.Size(ctx, jobID)
}

// FailJobsMissingFromWorker finishes, Incomplete with an infrastructure
// error, the jobs the server sees Running on worker's devices for longer
// than grace that two heartbeats of the worker in a row, as this process
// received them, no longer list: the worker lost them (its data directory
// was wiped, say) and will never report them.
//
// One heartbeat is not enough: its list is as old as the request, which
// a worker sends again, unchanged, to the next server when one fails, and
// which a server starting up or a busy database can hold for a while; a
// job the worker took up after it made the list would be failed while it
// runs. The worker makes its next heartbeat only once this one is
// answered (or given up), so the next list is newer than this check and
// names every job the worker still has.
func (a *App) FailJobsMissingFromWorker(ctx context.Context, p auth.Principal, worker string, local []int64, grace time.Duration) error {
	ctx = store.Urgent(ctx) // the worker link goes first
	if !auth.CanActAsWorker(p, worker) {
		return denied(p, "reconcile jobs")
	}
	jobs, err := a.workerJobs(ctx, worker)
	if err != nil {
		return err
	}
	now := a.now()
	var missing []int64
	for _, j := range jobs {
		if j.State != lab.JobRunning || slices.Contains(local, j.ID) || now.Sub(j.StartTime) < grace {
			continue
		}
		missing = append(missing, j.ID)
	}
	for _, id := range a.missed.note(worker, missing) {
		if _, err := a.FinishJob(ctx, p, id, JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure,
			Comment: "the worker no longer has this job (its data was lost)"}); err != nil && !errors.Is(err, lab.ErrConflict) {
			return err
		}
	}
	return nil
}

// missedJobs remembers, per worker, the Running jobs its last heartbeat
// (as this process received it) did not list.
type missedJobs struct {
	mu sync.Mutex
	m  map[string][]int64 // worker → job IDs
}

// note records that a heartbeat of worker did not list the jobs missing
// and returns those the previous one did not list either. What the
// previous heartbeat missed and this one lists (or no longer Running) is
// forgotten.
func (mj *missedJobs) note(worker string, missing []int64) (again []int64) {
	mj.mu.Lock()
	defer mj.mu.Unlock()
	for _, id := range missing {
		if slices.Contains(mj.m[worker], id) {
			again = append(again, id)
		}
	}
	if len(missing) == 0 {
		delete(mj.m, worker)
		return again
	}
	if mj.m == nil {
		mj.m = map[string][]int64{}
	}
	mj.m[worker] = slices.Clone(missing)
	return again
}

// jobTimeout reads timeouts.job from a stored definition (valid by
// construction); 0 when it cannot be read.
func jobTimeout(definition string) time.Duration {
	def, err := parseStored(definition)
	if err != nil {
		return 0
	}
	return def.Timeouts.Job.Duration
}
