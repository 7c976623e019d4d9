package worker

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// job is one job on this worker: its process, and the reports about it.
// One goroutine (run) reports it: start, log uploads, finish.
type job struct {
	w      *Worker
	id     int64
	dir    string
	device string
	log    *slog.Logger
	// multinode: the job is part of a multinode group, and its process
	// calls the coordinator through this worker (serveMultinode).
	multinode bool
	// console: the job is a reservation's console session, and this
	// worker brings it its input from the server (serveConsole).
	console bool

	kick      chan struct{} // wakes run early
	exited    chan struct{} // closed once the job process is gone
	exitOnce  sync.Once
	notListed atomic.Bool // the server's last hello did not list it

	mu        sync.Mutex
	st        JobState
	pid       int
	watch     bool   // reattached: not our child, watched through /proc
	exitDesc  string // how the process ended ("exit status 1", "signal: killed")
	startErr  error  // the process could not be started
	killTimer *time.Timer
	recancel  bool // a cancel was in progress when the previous run stopped
	lost      bool // found gone without a result when the worker started
	orphan    bool // the server refuses the job: stop it and forget it
	gone      bool // forgotten: its directory is (being) removed, write nothing

	ackedDirty bool      // st.Acked moved since state.json was written
	ackedSaved time.Time // when state.json was last written

	// owned by run
	journal  *os.File
	buf      []byte
	chunk    int
	hash     hash.Hash
	hashed   int64
	bo       backoff
	failing  bool // the last report failed: an episode is being retried
	failures int  // failed attempts in the current episode
}

func (w *Worker) newJob(id int64, device, dir string) *job {
	return &job{w: w, id: id, dir: dir, device: device,
		log:  w.log.With("job", id, "device", device),
		kick: make(chan struct{}, 1), exited: make(chan struct{}),
		st:    JobState{JobID: id, Device: device, Phase: PhaseStarting},
		chunk: w.cfg.MaxUpload, hash: sha256.New(), bo: w.newBackoff()}
}

func (j *job) path(name string) string { return filepath.Join(j.dir, name) }

// poke wakes the job's loop.
func (j *job) poke() {
	select {
	case j.kick <- struct{}{}:
	default:
	}
}

func (j *job) markExited() { j.exitOnce.Do(func() { close(j.exited) }) }

func (j *job) hasExited() bool {
	select {
	case <-j.exited:
		return true
	default:
		return false
	}
}

func (j *job) setListed(listed bool) {
	j.notListed.Store(!listed)
	j.poke()
}

// persistLocked writes state.json; j.mu is held.
func (j *job) persistLocked(durable bool) {
	if j.gone {
		return
	}
	if err := writeJSONFile(j.path(FileState), j.st, durable); err != nil {
		j.log.Error("cannot record the job state", "err", err)
		return
	}
	j.ackedDirty, j.ackedSaved = false, time.Now()
}

func (j *job) acked() int64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st.Acked
}

// ackedPersistEvery bounds how often a moving acked offset alone is
// written to state.json.
const ackedPersistEvery = 250 * time.Millisecond

// setAcked records what the server holds. state.json follows at most every
// ackedPersistEvery and is not synced: a lagging value only makes the next
// upload start earlier, and the server's answer corrects it.
func (j *job) setAcked(n int64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.Acked == n {
		return
	}
	j.st.Acked = n
	j.ackedDirty = true
	if time.Since(j.ackedSaved) >= ackedPersistEvery {
		j.persistLocked(false)
	}
}

// saveAcked writes a pending acked offset.
func (j *job) saveAcked() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.ackedDirty {
		j.persistLocked(false)
	}
}

// create makes the job directory with the assignment and the first state.
func (j *job) create(a workerproto.Assign) error {
	if err := os.Mkdir(j.dir, 0o700); err != nil {
		return fmt.Errorf("job directory: %w", err)
	}
	if err := writeJSONFile(j.path(FileJob), a, true); err != nil {
		return err
	}
	settings, err := j.w.jobSettings(j.id)
	if err != nil {
		return err
	}
	if err := writeJSONFile(j.path(dispatcher.SettingsFile), settings, true); err != nil {
		return err
	}
	return writeJSONFile(j.path(FileState), j.st, true)
}

// run reports the job until its end is accepted, the server refuses it, or
// the worker stops.
func (j *job) run(ctx context.Context, spawn bool) {
	defer func() {
		j.saveAcked()
		if j.journal != nil {
			j.journal.Close()
		}
	}()
	if j.multinode {
		go j.serveMultinode(ctx)
	}
	if j.console {
		cctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			j.serveConsole(cctx)
		}()
		defer func() {
			stop()
			<-done
		}()
	}
	if spawn {
		j.spawn()
	}
	if j.recancel {
		j.cancel("it was being canceled when the worker stopped")
	}
	for ctx.Err() == nil {
		d, done := j.step(ctx)
		if done {
			return
		}
		if d > 0 && !j.w.pause(ctx, "job", d, j.kick) {
			return
		}
	}
}

// spawn starts the job process: `<Command…> DIR`, in its own session, with
// stdout and stderr to files in DIR.
func (j *job) spawn() {
	j.mu.Lock()
	canceled := j.st.Canceled
	j.mu.Unlock()
	if canceled {
		j.mu.Lock()
		j.exitDesc = "never started"
		j.mu.Unlock()
		j.markExited()
		return
	}
	cmd, err := j.command()
	if err == nil {
		err = cmd.Start()
		closeFiles(cmd)
	}
	if err != nil {
		j.log.Error("cannot start the job process", "err", err)
		j.mu.Lock()
		j.startErr = err
		j.mu.Unlock()
		j.markExited()
		return
	}
	j.mu.Lock()
	j.pid = cmd.Process.Pid
	j.st.PID, j.st.Phase, j.st.Started = j.pid, PhaseRunning, time.Now().UTC()
	j.persistLocked(true)
	canceled = j.st.Canceled
	j.mu.Unlock()
	j.log.Info("job process started", "pid", cmd.Process.Pid)
	// reaps the child; it may outlive Run, as the process does
	go func() {
		_ = cmd.Wait()
		j.mu.Lock()
		j.exitDesc = cmd.ProcessState.String()
		j.mu.Unlock()
		j.markExited()
		j.poke()
	}()
	if canceled { // a cancel came while the process was being started
		j.cancel("canceled while starting")
	}
}

func (j *job) command() (*exec.Cmd, error) {
	argv := append(slices.Clone(j.w.cfg.Command), j.dir)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = j.dir
	cmd.SysProcAttr = detached()
	out, err := os.OpenFile(j.path(FileStdout), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("job stdout: %w", err)
	}
	errf, err := os.OpenFile(j.path(FileStderr), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("job stderr: %w", err)
	}
	cmd.Stdout, cmd.Stderr = out, errf
	return cmd, nil
}

func closeFiles(cmd *exec.Cmd) {
	for _, f := range []io.Writer{cmd.Stdout, cmd.Stderr} {
		if c, ok := f.(io.Closer); ok {
			c.Close()
		}
	}
}

// cancel stops the job: SIGTERM to its process group now, SIGKILL after
// the grace period. A job whose process has not started yet never starts.
func (j *job) cancel(why string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.st.Canceled {
		j.st.Canceled = true
		j.persistLocked(true)
	}
	if j.gone || j.killTimer != nil || j.pid == 0 || j.hasExited() || (j.watch && !isJobProcess(j.pid, j.dir)) {
		return
	}
	grace := j.w.cfg.CancelGrace
	j.log.Info("canceling the job: SIGTERM to its process group", "why", why, "kill_after", grace)
	if err := signalGroup(j.pid, sigTerm); err != nil {
		j.log.Error("cannot signal the job process", "err", err)
	}
	pid := j.pid
	j.killTimer = time.AfterFunc(grace, func() { j.kill(pid) })
}

func (j *job) kill(pid int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.hasExited() || (j.watch && !isJobProcess(pid, j.dir)) {
		return
	}
	j.log.Warn("job process still running after the cancel grace period: SIGKILL to its process group")
	if err := signalGroup(pid, sigKill); err != nil {
		j.log.Error("cannot kill the job process", "err", err)
	}
}

// stopTimers stops a pending SIGKILL (the worker is stopping; the next one
// starts the cancel again).
func (j *job) stopTimers() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.killTimer != nil {
		j.killTimer.Stop()
	}
}

// orphaned stops a job the server refuses, and forgets it once its process
// is gone.
func (j *job) orphaned(err error) {
	j.mu.Lock()
	first := !j.orphan
	j.orphan = true
	j.mu.Unlock()
	if first {
		j.log.Warn("the server refuses this job (unknown, or not on this worker any more): stopping and dropping it", "err", err)
		j.cancel("the server refuses it")
	}
}

// step does one round of the job's reports and says how long to wait
// before the next (0: at once), or that the job is over for this run.
func (j *job) step(ctx context.Context) (time.Duration, bool) {
	w := j.w
	j.mu.Lock()
	watch, pid, orphan, started := j.watch, j.pid, j.orphan, j.st.StartReported
	j.mu.Unlock()
	if watch && !j.hasExited() && !isJobProcess(pid, j.dir) {
		j.markExited()
	}
	exited := j.hasExited()
	if orphan {
		if exited {
			j.forget("the server refused it")
			return 0, true
		}
		return w.cfg.PollInterval, w.draining.Load()
	}
	if !started {
		if err := j.reportStart(ctx); err != nil {
			return j.failed(err)
		}
		j.succeeded()
	}
	if exited {
		if _, ok, bad := readResult(j.dir); !ok || bad != nil {
			if err := j.finalize(bad); err != nil {
				j.log.Error("cannot write the job's result", "err", err)
				return j.failed(err)
			}
		}
	}
	sent, err := j.upload(ctx, exited)
	if err != nil {
		return j.failed(err)
	}
	// Only an exchange the server answered ends a failing episode: an
	// upload with nothing to send is no proof that the server recovered,
	// and resetting the back-off there would retry a refused finish at
	// once, forever.
	if sent {
		j.succeeded()
		return 0, false
	}
	if exited {
		if j.notListed.Load() {
			j.forget("the server no longer lists it and holds its whole log")
			return 0, true
		}
		again, err := j.finish(ctx)
		if err != nil {
			return j.failed(err)
		}
		j.succeeded()
		return 0, !again
	}
	if w.draining.Load() {
		return 0, true
	}
	return w.cfg.PollInterval, false
}

// failed decides what a failed report means and how long to wait.
func (j *job) failed(err error) (time.Duration, bool) {
	if j.w.draining.Load() {
		return 0, true
	}
	if e := asAPIError(err); e != nil {
		switch {
		case e.mismatch():
			return j.w.protocolMismatch(e), false
		case e.gone():
			j.orphaned(err)
			return 0, false
		}
	}
	d := j.bo.next()
	j.failures++
	if !j.failing {
		j.log.Warn("job report failed; retrying with back-off (the job process keeps running, its journal keeps everything)", "err", err, "retry_in", d.Round(time.Millisecond))
	} else {
		j.log.Debug("job report failed again", "err", err, "retry_in", d)
	}
	j.failing = true
	return d, false
}

// succeeded ends a failing episode (logged once, with how many attempts
// failed) and starts the back-off again from its shortest delay.
func (j *job) succeeded() {
	if j.failing {
		j.log.Info("job reports resumed", "failed_attempts", j.failures)
	}
	j.failing = false
	j.failures = 0
	j.bo.reset()
}

func (j *job) reportStart(ctx context.Context) error {
	err := j.w.link.call(ctx, http.MethodPost, fmt.Sprintf(workerproto.PathStart, j.id), nil, nil, nil, true)
	if e := asAPIError(err); e != nil && e.Status == http.StatusConflict && e.Code == "conflict" {
		j.log.Warn("the server did not record the start (the job moved on meanwhile); reporting the rest", "err", err)
		err = nil
	}
	if err != nil {
		return err
	}
	j.mu.Lock()
	j.st.StartReported = true
	j.persistLocked(true)
	j.mu.Unlock()
	j.log.Debug("start reported")
	return nil
}

// upload sends the next part of the journal, if there is one: complete
// lines only while the process may still write (final: it is gone). sent
// says something moved (call again at once).
func (j *job) upload(ctx context.Context, final bool) (sent bool, err error) {
	size, err := fileSize(j.path(FileJournal))
	if err != nil {
		return false, fmt.Errorf("journal: %w", err)
	}
	acked := j.acked()
	if acked >= size {
		return false, nil
	}
	if j.journal == nil {
		f, err := os.Open(j.path(FileJournal))
		if err != nil {
			return false, fmt.Errorf("journal: %w", err)
		}
		j.journal = f
	}
	n := int(min(size-acked, int64(j.chunk)))
	if cap(j.buf) < n {
		j.buf = make([]byte, n)
	}
	buf := j.buf[:n]
	got, err := j.journal.ReadAt(buf, acked)
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("journal: read: %w", err)
	}
	buf = buf[:got]
	if !final {
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			buf = buf[:i+1]
		} else if got < j.chunk {
			return false, nil // the line is not complete yet
		}
	}
	if len(buf) == 0 {
		return false, nil
	}
	var ack workerproto.LogAck
	q := url.Values{"offset": {strconv.FormatInt(acked, 10)}}
	err = j.w.link.send(ctx, http.MethodPut, fmt.Sprintf(workerproto.PathLog, j.id), q, buf, "application/x-ndjson", &ack, true)
	if e := asAPIError(err); e != nil {
		switch {
		case e.Status == http.StatusConflict && e.Stored != nil && *e.Stored != acked:
			j.log.Info("the server holds another part of the log than recorded; resending from there", "acked", acked, "stored", *e.Stored)
			j.setAcked(*e.Stored)
			return true, nil
		case e.Status == http.StatusRequestEntityTooLarge && j.chunk > 4<<10:
			j.chunk = max(j.chunk/2, 4<<10)
			j.log.Info("the server refuses uploads this large; sending smaller ones", "bytes", j.chunk)
			return true, nil
		}
	}
	if err != nil {
		return false, err
	}
	if ack.Stored <= acked {
		return false, fmt.Errorf("log upload at %d: the server stored nothing (stored %d)", acked, ack.Stored)
	}
	if acked == j.hashed {
		k := min(int64(len(buf)), ack.Stored-acked)
		j.hash.Write(buf[:k])
		j.hashed += k
	}
	j.setAcked(ack.Stored)
	return true, nil
}

// hashTo extends the journal's checksum to its first size bytes.
func (j *job) hashTo(size int64) error {
	if j.hashed > size {
		j.hash.Reset()
		j.hashed = 0
	}
	if j.hashed == size {
		return nil
	}
	f, err := os.Open(j.path(FileJournal))
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	n, err := io.Copy(j.hash, io.NewSectionReader(f, j.hashed, size-j.hashed))
	j.hashed += n
	if err != nil {
		return fmt.Errorf("journal: checksum: %w", err)
	}
	if j.hashed != size {
		return fmt.Errorf("journal: checksum: shrank to %d bytes", j.hashed)
	}
	return nil
}

// finish reports the end of the job. again says the log must be uploaded
// further first.
func (j *job) finish(ctx context.Context) (again bool, err error) {
	res, _, err := readResult(j.dir)
	if err != nil {
		return false, err
	}
	size, err := fileSize(j.path(FileJournal))
	if err != nil {
		return false, fmt.Errorf("journal: %w", err)
	}
	if acked := j.acked(); acked > size {
		return false, fmt.Errorf("the server holds %d bytes of the log, more than the journal's %d", acked, size)
	} else if acked < size {
		return true, nil
	}
	if err := j.hashTo(size); err != nil {
		return false, err
	}
	fin := workerproto.Finish{Result: res.Result, ErrorType: res.ErrorType, ErrorMsg: res.ErrorMsg,
		LogSize: size, LogSHA256: hex.EncodeToString(j.hash.Sum(nil))}
	var ack workerproto.FinishAck
	err = j.w.link.call(ctx, http.MethodPost, fmt.Sprintf(workerproto.PathFinish, j.id), nil, fin, &ack, true)
	if e := asAPIError(err); e != nil && e.Status == http.StatusConflict && e.Stored != nil {
		if *e.Stored != size {
			j.log.Info("the server's log is not complete yet; resending from what it holds", "stored", *e.Stored, "journal", size)
			j.setAcked(*e.Stored)
			return true, nil
		}
		// same size, other content: recompute the checksum from the file
		// next time, in case the cause is here
		j.hash.Reset()
		j.hashed = 0
		return false, fmt.Errorf("the server's copy of the log differs from the journal: %w", err)
	}
	if err != nil {
		return false, err
	}
	j.log.Info("job finished and reported", "result", res.Result, "error_type", res.ErrorType, "state", ack.State, "health", ack.Health, "log_bytes", size)
	j.mu.Lock()
	j.st.Phase = PhaseReported
	j.persistLocked(true)
	j.mu.Unlock()
	j.forget("")
	return false, nil
}

// finalize ends a job whose process is gone without a valid result: a final
// error record in the journal (the process cannot write it any more) and a
// failing result.
func (j *job) finalize(invalid error) error {
	j.mu.Lock()
	canceled, desc, lost, startErr, watch := j.st.Canceled, j.exitDesc, j.lost, j.startErr, j.watch
	j.mu.Unlock()
	if watch && desc == "" {
		desc = "exit status unknown: it was not this worker's child"
	}
	res := Result{Result: "fail", ErrorType: "Infrastructure"}
	switch {
	case invalid != nil:
		res.ErrorMsg = fmt.Sprintf("the job process wrote an invalid result (%v)", invalid)
	case startErr != nil:
		res.ErrorMsg = fmt.Sprintf("cannot start the job process: %v", startErr)
	case canceled:
		res.ErrorType = "Canceled"
		res.ErrorMsg = fmt.Sprintf("job canceled: the job process ended (%s) without writing a result", desc)
	case lost:
		res.ErrorMsg = "job process lost (worker restarted or crashed)"
	default:
		res.ErrorMsg = fmt.Sprintf("job process died (%s) without writing a result", desc)
		if tail := stderrTail(j.path(FileStderr)); tail != "" {
			res.ErrorMsg += "; its stderr ends with: " + tail
		}
	}
	rec := workerproto.Record{Time: time.Now().UTC(), Level: workerproto.LevelError, Msg: workerproto.TextMsg(res.ErrorMsg)}
	cut, err := appendFinalRecord(j.path(FileJournal), j.acked(), rec)
	if err != nil {
		return err
	}
	if cut > 0 {
		j.log.Warn("cut the incomplete last line the job process left in its journal", "bytes", cut)
	}
	if err := writeJSONFile(j.path(FileResult), res, true); err != nil {
		return err
	}
	j.log.Warn("job ended without a result; reporting a failure", "error_type", res.ErrorType, "error_msg", res.ErrorMsg)
	j.mu.Lock()
	j.st.Phase = PhaseFinished
	j.persistLocked(true)
	j.mu.Unlock()
	return nil
}

// forget drops the job from the worker, and its directory unless KeepJobs.
func (j *job) forget(why string) {
	if why != "" {
		j.log.Info("dropping the job", "why", why)
		j.mu.Lock()
		j.st.Phase = PhaseReported // nothing more to report: a restart skips it
		j.persistLocked(true)
		j.mu.Unlock()
	}
	j.w.remove(j)
	j.mu.Lock()
	j.gone = true
	if j.killTimer != nil {
		j.killTimer.Stop()
	}
	j.mu.Unlock()
	if j.journal != nil {
		j.journal.Close()
		j.journal = nil
	}
	if !j.w.cfg.KeepJobs {
		if err := os.RemoveAll(j.dir); err != nil {
			j.log.Error("cannot remove the job directory", "err", err)
		}
	}
}

// stderrTail returns the last line of a job process's stderr (up to 300
// bytes), for the error message of a process that died without a result.
func stderrTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	n := min(fi.Size(), 300)
	b := make([]byte, n)
	if _, err := f.ReadAt(b, fi.Size()-n); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	b = bytes.TrimRight(b, "\r\n\t ")
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return strings.ToValidUTF8(string(bytes.TrimSpace(b)), "?")
}
