package worker

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/testutil/faultnet"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// waitFinished waits until the server accepted the job's finish.
func waitFinished(t testing.TB, fs *fakeServer, id int64) fakeJob {
	t.Helper()
	eventually(t, fmt.Sprintf("job %d finished on the server", id), func() bool { return fs.finished(id) })
	return fs.job(id)
}

// checkLog asserts that the server's copy of a job's log is the local
// journal, byte for byte, and that the finish's checksum describes it.
func checkLog(t testing.TB, fs *fakeServer, dataDir string, id int64) []string {
	t.Helper()
	j := fs.job(id)
	local, err := os.ReadFile(filepath.Join(dataDir, "jobs", strconv.FormatInt(id, 10), FileJournal))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if !bytes.Equal(local, j.log) {
		t.Fatalf("server log (%d bytes) differs from the journal (%d bytes)", len(j.log), len(local))
	}
	sum := sha256.Sum256(local)
	if j.finish == nil || j.finish.LogSize != int64(len(local)) || j.finish.LogSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("finish %+v does not describe the journal (%d bytes)", j.finish, len(local))
	}
	return journalLines(t, j.log)
}

func numbered(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, "line "+strconv.Itoa(i))
	}
	return out
}

func readState(t testing.TB, dataDir string, id int64) JobState {
	t.Helper()
	var st JobState
	if err := readJSONFile(filepath.Join(dataDir, "jobs", strconv.FormatInt(id, 10), FileState), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestJobLifecycle: an assignment starts the job process, its journal
// reaches the server byte for byte, and the finish carries the result and
// the journal's checksum; a process that ends without a result is reported
// as an Infrastructure failure with a final record saying why.
func TestJobLifecycle(t *testing.T) {
	tests := []struct {
		name      string
		script    string
		command   []string
		want      workerproto.Finish // Result, ErrorType (ErrorMsg: prefix)
		wantLines []string           // nil: not checked
	}{
		{name: "pass", script: "log 50\nresult pass",
			want: workerproto.Finish{Result: "pass"}, wantLines: numbered(0, 50)},
		{name: "fail with an error type", script: "log 3\nresult fail Test a test failed",
			want: workerproto.Finish{Result: "fail", ErrorType: "Test", ErrorMsg: "a test failed"}, wantLines: numbered(0, 3)},
		{name: "empty journal", script: "result pass", want: workerproto.Finish{Result: "pass"}, wantLines: nil},
		{name: "exit without a result", script: "log 2\nexit 3",
			want:      workerproto.Finish{Result: "fail", ErrorType: "Infrastructure", ErrorMsg: "job process died (exit status 3) without writing a result"},
			wantLines: append(numbered(0, 2), "job process died (exit status 3) without writing a result")},
		{name: "setup error on stderr", script: "stderr first line\nstderr cannot open the journal: disk full\nexit 2",
			want: workerproto.Finish{Result: "fail", ErrorType: "Infrastructure",
				ErrorMsg: "job process died (exit status 2) without writing a result; its stderr ends with: cannot open the journal: disk full"}},
		{name: "incomplete last line", script: "log 2\npartial\nexit 1",
			want:      workerproto.Finish{Result: "fail", ErrorType: "Infrastructure", ErrorMsg: "job process died (exit status 1) without writing a result"},
			wantLines: append(numbered(0, 2), "job process died (exit status 1) without writing a result")},
		{name: "process cannot start", script: "result pass", command: []string{"/nonexistent/basalt"},
			want: workerproto.Finish{Result: "fail", ErrorType: "Infrastructure", ErrorMsg: "cannot start the job process: fork/exec /nonexistent/basalt: no such file or directory"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			cfg := testConfig(fs.URL, t.TempDir())
			if tt.command != nil {
				cfg.Command = tt.command
			}
			startWorker(t, cfg)
			id := int64(100 + i)
			fs.assign(id, "dev1", tt.script)
			j := waitFinished(t, fs, id)
			lines := checkLog(t, fs, cfg.DataDir, id)
			got := *j.finish
			got.LogSize, got.LogSHA256 = 0, ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("finish (-want +got):\n%s", diff)
			}
			if tt.wantLines != nil {
				if diff := cmp.Diff(tt.wantLines, lines); diff != "" {
					t.Errorf("log lines (-want +got):\n%s", diff)
				}
			}
			if j.starts != 1 {
				t.Errorf("start reported %d times, want 1", j.starts)
			}
			eventually(t, "phase reported", func() bool { return readState(t, cfg.DataDir, id).Phase == PhaseReported })
		})
	}
}

// TestJobDirectoryRemoved: without KeepJobs the job directory goes once the
// server accepted the finish, and the heartbeats stop listing the job.
func TestJobDirectoryRemoved(t *testing.T) {
	fs := newFakeServer(t)
	cfg := testConfig(fs.URL, t.TempDir())
	cfg.KeepJobs = false
	startWorker(t, cfg)
	fs.assign(7, "dev1", "log 5\nwait go\nresult pass")
	dir := filepath.Join(cfg.DataDir, "jobs", "7")
	eventually(t, "a heartbeat listing the job", func() bool {
		hbs := fs.heartbeats()
		return len(hbs) > 0 && slices.Equal(hbs[len(hbs)-1].Jobs, []int64{7})
	})
	os.WriteFile(filepath.Join(dir, "go"), nil, 0o600)
	waitFinished(t, fs, 7)
	eventually(t, "job directory removed", func() bool { return !fileExists(dir) })
	n := len(fs.heartbeats())
	eventually(t, "a heartbeat without the job", func() bool {
		hbs := fs.heartbeats()
		return len(hbs) > n && len(hbs[len(hbs)-1].Jobs) == 0
	})
	if got := journalLines(t, fs.job(7).log); !slices.Equal(got, numbered(0, 5)) {
		t.Errorf("log lines %q", got)
	}
}

// TestCancel: a cancel sends SIGTERM to the job's process group; a process
// that handles it reports Canceled itself; one that ignores it is killed
// (with its children) after the grace period and the worker reports the
// cancel, with a final journal record.
func TestCancel(t *testing.T) {
	killedMsg := "job canceled: the job process ended (signal: killed) without writing a result"
	tests := []struct {
		name       string
		script     string
		byHB       bool
		wantMsg    string
		wantLines  []string
		grandchild bool
	}{
		{name: "process stops on SIGTERM", script: "log 2\nhang", wantMsg: "canceled by SIGTERM",
			wantLines: append(numbered(0, 2), "got SIGTERM")},
		{name: "cancel through the heartbeat answer", script: "log 2\nhang", byHB: true, wantMsg: "canceled by SIGTERM",
			wantLines: append(numbered(0, 2), "got SIGTERM")},
		{name: "SIGKILL after the grace period", script: "ignore-term\ngrandchild\nlog 2\nhang", wantMsg: killedMsg,
			wantLines: append(numbered(0, 2), "got SIGTERM, ignoring it", killedMsg), grandchild: true},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			fs.cancelByHB = tt.byHB
			cfg := testConfig(fs.URL, t.TempDir())
			cfg.CancelGrace = 300 * time.Millisecond
			r := startWorker(t, cfg)
			id := int64(200 + i)
			fs.assign(id, "dev1", tt.script)
			eventually(t, "two lines uploaded", func() bool { return len(journalLines(t, fs.job(id).log)) >= 2 })
			fs.cancel(id)
			j := waitFinished(t, fs, id)
			lines := checkLog(t, fs, cfg.DataDir, id)
			if j.finish.Result != "fail" || j.finish.ErrorType != "Canceled" || j.finish.ErrorMsg != tt.wantMsg {
				t.Errorf("finish %+v, want fail/Canceled/%q", j.finish, tt.wantMsg)
			}
			if diff := cmp.Diff(tt.wantLines, lines); diff != "" {
				t.Errorf("log lines (-want +got):\n%s", diff)
			}
			if tt.grandchild {
				b, err := os.ReadFile(filepath.Join(cfg.DataDir, "jobs", strconv.FormatInt(id, 10), "grandchild.pid"))
				if err != nil {
					t.Fatal(err)
				}
				pid, _ := strconv.Atoi(string(b))
				eventually(t, "the job's child process killed with its group", func() bool { return !processRunning(pid) })
				if !strings.Contains(r.logs.String(), "SIGKILL") {
					t.Error("no log of the SIGKILL")
				}
			}
		})
	}
}

// processRunning reports whether pid exists and is not a zombie.
func processRunning(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// TestHeartbeats: heartbeats carry the name, version and local jobs, at
// the interval the server's hello announces (not the configured one).
func TestHeartbeats(t *testing.T) {
	fs := newFakeServer(t)
	fs.interval = 20 * time.Millisecond
	cfg := testConfig(fs.URL, t.TempDir())
	cfg.Heartbeat = time.Hour // the hello must replace it, or only one heartbeat comes
	startWorker(t, cfg)
	fs.assign(1, "dev1", "wait go\nresult pass")
	eventually(t, "heartbeats listing the job", func() bool {
		n := 0
		for _, hb := range fs.heartbeats() {
			if slices.Equal(hb.Jobs, []int64{1}) {
				n++
			}
		}
		return n >= 3
	})
	for _, hb := range fs.heartbeats() {
		if hb.Name != "w1" || hb.Version == "" {
			t.Fatalf("heartbeat %+v", hb)
		}
	}
	os.WriteFile(filepath.Join(cfg.DataDir, "jobs", "1", "go"), nil, 0o600)
	waitFinished(t, fs, 1)
}

// TestReconnect: the worker reconnects when the server ends the stream and
// when the stream goes silent, and jobs assigned on the new stream run.
func TestReconnect(t *testing.T) {
	t.Run("server ends the stream", func(t *testing.T) {
		fs := newFakeServer(t)
		cfg := testConfig(fs.URL, t.TempDir())
		startWorker(t, cfg)
		eventually(t, "connected", func() bool {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			return fs.connects == 1 && len(fs.streams) == 1
		})
		fs.dropStreams()
		eventually(t, "reconnected", func() bool {
			fs.mu.Lock()
			defer fs.mu.Unlock()
			return fs.connects == 2 && len(fs.streams) == 1
		})
		fs.assign(1, "dev1", "log 3\nresult pass")
		waitFinished(t, fs, 1)
		checkLog(t, fs, cfg.DataDir, 1)
	})
	t.Run("silent stream", func(t *testing.T) {
		fs := newFakeServer(t)
		fs.interval = 30 * time.Millisecond
		fs.noPings = true
		cfg := testConfig(fs.URL, t.TempDir())
		r := startWorker(t, cfg)
		eventually(t, "reconnected twice", func() bool { return fs.connectCount() >= 3 })
		if !strings.Contains(r.logs.String(), "stream silent for 90ms") {
			t.Errorf("no log of the silent stream:\n%s", r.logs.String())
		}
	})
}

// TestAssignments: repeated assignments of a job are ignored, a second job
// for a busy device waits until the device is free (the server assigns a
// device again as soon as the previous finish is committed), and jobs on
// different devices run side by side.
func TestAssignments(t *testing.T) {
	fs := newFakeServer(t)
	cfg := testConfig(fs.URL, t.TempDir())
	r := startWorker(t, cfg)
	fs.assign(1, "dev1", "log 2\nwait go\nlog 2\nresult pass")
	eventually(t, "job 1 running", func() bool { return len(journalLines(t, fs.job(1).log)) == 2 })
	fs.resend(1)
	fs.dropStreams() // the reconnect's hello and assignments must not restart it either
	fs.assign(2, "dev1", "result pass")
	fs.assign(3, "dev2", "log 4\nresult pass")
	waitFinished(t, fs, 3)
	eventually(t, "busy device logged", func() bool { return strings.Contains(r.logs.String(), "device still busy: assignment queued") })
	if j := fs.job(2); j.starts != 0 || fileExists(filepath.Join(cfg.DataDir, "jobs", "2")) {
		t.Fatalf("job 2 started while its device was busy")
	}
	if fs.job(1).finish != nil {
		t.Fatal("job 1 finished before it was let go")
	}
	os.WriteFile(filepath.Join(cfg.DataDir, "jobs", "1", "go"), nil, 0o600)
	waitFinished(t, fs, 1)
	if got := checkLog(t, fs, cfg.DataDir, 1); !slices.Equal(got, numbered(0, 4)) {
		t.Errorf("job 1 lines %q", got)
	}
	if j := fs.job(1); j.starts != 1 {
		t.Errorf("job 1 started %d times", j.starts)
	}
	waitFinished(t, fs, 2) // started once job 1 let its device go
	if j := fs.job(2); j.starts != 1 {
		t.Errorf("job 2 started %d times, want once after job 1", j.starts)
	}
}

// TestUploadSurvivesCuts: connections cut or reset mid-upload, answers
// lost after the server stored the bytes, and a link down while the job
// finishes lose nothing and duplicate nothing.
func TestUploadSurvivesCuts(t *testing.T) {
	fs := newFakeServer(t)
	proxy := faultnet.Start(t, strings.TrimPrefix(fs.URL, "http://"))
	dataDir := t.TempDir()
	cfg := testConfig("http://"+proxy.Addr(), dataDir)
	cfg.MaxUpload = 32 << 10
	var mu sync.Mutex
	uploads := 0
	fs.logHook = func(id int64, stored int) {
		mu.Lock()
		uploads++
		n := uploads
		mu.Unlock()
		switch n {
		case 3: // the bytes are stored, the answer never arrives
			proxy.Cut()
		case 10:
			proxy.Reset()
		case 6:
			panic(http.ErrAbortHandler)
		case 15: // link down until the job process has finished
			if err := proxy.Refuse(true); err != nil {
				t.Error(err)
			}
			proxy.Cut()
			go func() {
				for !fileExists(filepath.Join(dataDir, "jobs", "1", FileResult)) {
					time.Sleep(5 * time.Millisecond)
				}
				proxy.Refuse(false)
			}()
		}
	}
	r := startWorker(t, cfg)
	fs.assign(1, "dev1", "bulk 300000\nsleep 50ms\nbulk 300000\nresult pass")
	waitFinished(t, fs, 1)
	checkSequence(t, checkLog(t, fs, dataDir, 1))
	if st := proxy.Stats(); st.Accepted < 4 || st.Faults() != 4 {
		t.Errorf("proxy stats %+v: the faults did not happen", st)
	}
	if !strings.Contains(r.logs.String(), "job reports resumed") {
		t.Error("no log of the uploads resuming")
	}
}

// checkSequence asserts that log lines are "line 0 …", "line 1 …", … with
// none lost or repeated.
func checkSequence(t testing.TB, lines []string) {
	t.Helper()
	for i, l := range lines {
		if !strings.HasPrefix(l, "line "+strconv.Itoa(i)+" ") {
			t.Fatalf("line %d is %q: lost or duplicated records", i, l)
		}
	}
}

// TestChaos: random cuts, resets, stalls (longer than three heartbeat
// intervals, so the stream is declared dead), refusals and delays on the
// link while jobs run: every job's log arrives whole and the finishes are
// accepted.
func TestChaos(t *testing.T) {
	fs := newFakeServer(t)
	fs.interval = 50 * time.Millisecond
	proxy := faultnet.Start(t, strings.TrimPrefix(fs.URL, "http://"))
	cfg := testConfig("http://"+proxy.Addr(), t.TempDir())
	cfg.MaxUpload = 16 << 10
	cfg.RequestTimeout = 2 * time.Second
	startWorker(t, cfg)
	seed := time.Now().UnixNano()
	t.Logf("chaos seed %d", seed)
	ctx, stop := context.WithCancel(context.Background())
	chaosDone := make(chan int)
	go func() {
		chaosDone <- proxy.Chaos(ctx, rand.New(rand.NewPCG(uint64(seed), 1)), 100*time.Millisecond,
			faultnet.CutFault(), faultnet.ResetFault(), faultnet.StallFault(300*time.Millisecond),
			faultnet.RefuseFault(100*time.Millisecond), faultnet.DelayFault(5*time.Millisecond, 200*time.Millisecond))
	}()
	script := strings.Repeat("bulk 40000\nsleep 40ms\n", 30) + "result pass"
	for id := int64(1); id <= 3; id++ {
		fs.assign(id, "dev"+strconv.FormatInt(id, 10), script)
	}
	for id := int64(1); id <= 3; id++ {
		waitFinished(t, fs, id)
	}
	stop()
	n := <-chaosDone
	for id := int64(1); id <= 3; id++ {
		checkSequence(t, checkLog(t, fs, cfg.DataDir, id))
	}
	if n < 3 {
		t.Errorf("only %d faults applied", n)
	}
	t.Logf("%d faults, %d stream connections, proxy %+v", n, fs.connectCount(), proxy.Stats())
}

// TestRestart: a worker stopped (or killed) mid-job leaves the job process
// running; the next worker on the same data directory reattaches it and
// completes the report, or reports a process that died meanwhile as lost.
func TestRestart(t *testing.T) {
	t.Run("reattach", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		a := startWorker(t, testConfig(fs.URL, dataDir))
		fs.assign(1, "dev1", "log 5\nwait go\nlog 5\nresult pass")
		eventually(t, "5 lines uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 5 })
		if err := a.stop(); err != nil {
			t.Fatalf("Run returned %v on shutdown", err)
		}
		st := readState(t, dataDir, 1)
		if !isJobProcess(st.PID, filepath.Join(dataDir, "jobs", "1")) {
			t.Fatal("the job process did not survive the worker")
		}
		if st.Acked != int64(len(fs.job(1).log)) {
			t.Errorf("state acked %d, server holds %d", st.Acked, len(fs.job(1).log))
		}
		// the state file lags behind the server (a crash before it was written)
		st.Acked = 0
		writeJSONFile(filepath.Join(dataDir, "jobs", "1", FileState), st, true)
		b := startWorker(t, testConfig(fs.URL, dataDir))
		eventually(t, "reattached", func() bool { return strings.Contains(b.logs.String(), "reattached to a running job process") })
		os.WriteFile(filepath.Join(dataDir, "jobs", "1", "go"), nil, 0o600)
		j := waitFinished(t, fs, 1)
		if got := checkLog(t, fs, dataDir, 1); !slices.Equal(got, numbered(0, 10)) {
			t.Errorf("lines %q", got)
		}
		if j.finish.Result != "pass" || j.starts != 1 {
			t.Errorf("finish %+v after %d starts", j.finish, j.starts)
		}
	})
	t.Run("process lost while the worker was down", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		a := startWorker(t, testConfig(fs.URL, dataDir))
		fs.assign(1, "dev1", "log 3\nhang")
		eventually(t, "3 lines uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 3 })
		a.stop()
		pid := readState(t, dataDir, 1).PID
		syscall.Kill(pid, syscall.SIGKILL)
		eventually(t, "job process gone", func() bool { return !isJobProcess(pid, filepath.Join(dataDir, "jobs", "1")) })
		startWorker(t, testConfig(fs.URL, dataDir))
		j := waitFinished(t, fs, 1)
		lost := "job process lost (worker restarted or crashed)"
		if j.finish.Result != "fail" || j.finish.ErrorType != "Infrastructure" || j.finish.ErrorMsg != lost {
			t.Errorf("finish %+v", j.finish)
		}
		if diff := cmp.Diff(append(numbered(0, 3), lost), checkLog(t, fs, dataDir, 1)); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	})
	t.Run("finished while the worker was down", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		a := startWorker(t, testConfig(fs.URL, dataDir))
		fs.assign(1, "dev1", "log 1\nwait go\nlog 3\nresult fail Job boom")
		eventually(t, "a line uploaded", func() bool { return len(fs.job(1).log) > 0 })
		a.stop()
		os.WriteFile(filepath.Join(dataDir, "jobs", "1", "go"), nil, 0o600)
		eventually(t, "result written", func() bool { return fileExists(filepath.Join(dataDir, "jobs", "1", FileResult)) })
		startWorker(t, testConfig(fs.URL, dataDir))
		j := waitFinished(t, fs, 1)
		if j.finish.ErrorType != "Job" || j.finish.ErrorMsg != "boom" {
			t.Errorf("finish %+v", j.finish)
		}
		if got := checkLog(t, fs, dataDir, 1); !slices.Equal(got, numbered(0, 4)) {
			t.Errorf("lines %q", got)
		}
	})
	t.Run("cancel in progress", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		cfg := testConfig(fs.URL, dataDir)
		cfg.CancelGrace = time.Hour
		a := startWorker(t, cfg)
		fs.assign(1, "dev1", "ignore-term\nlog 2\nhang")
		eventually(t, "2 lines uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 2 })
		fs.cancel(1)
		eventually(t, "SIGTERM ignored", func() bool { return len(journalLines(t, fs.job(1).log)) == 3 })
		a.stop() // before the SIGKILL: the next worker must finish the cancel
		cfg.CancelGrace = 50 * time.Millisecond
		startWorker(t, cfg)
		j := waitFinished(t, fs, 1)
		if j.finish.ErrorType != "Canceled" {
			t.Errorf("finish %+v", j.finish)
		}
		want := append(numbered(0, 2), "got SIGTERM, ignoring it", "got SIGTERM, ignoring it",
			"job canceled: the job process ended (exit status unknown: it was not this worker's child) without writing a result")
		if diff := cmp.Diff(want, checkLog(t, fs, dataDir, 1)); diff != "" {
			t.Errorf("lines (-want +got):\n%s", diff)
		}
	})
	t.Run("data directory in use", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		startWorker(t, testConfig(fs.URL, dataDir))
		eventually(t, "connected", func() bool { return fs.connectCount() == 1 })
		cfg := testConfig(fs.URL, dataDir)
		cfg.Logger = slog.New(slog.DiscardHandler)
		w, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "another worker") {
			t.Errorf("second worker on one data directory: %v", err)
		}
	})
}

// TestKill9: a worker process killed with SIGKILL mid-job; its job process
// survives, and the next worker reattaches it.
func TestKill9(t *testing.T) {
	fs := newFakeServer(t)
	dataDir := t.TempDir()
	daemon := exec.Command(testBinary(t), daemonArg, fs.URL, dataDir)
	var stderr syncbuf.Buffer
	daemon.Stderr = &stderr
	out, err := daemon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("daemon said %q, %v\n%s", line, err, stderr.String())
	}
	fs.assign(1, "dev1", "log 3\nwait go\nlog 3\nresult pass")
	eventually(t, "3 lines uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 3 })
	daemon.Process.Signal(syscall.SIGKILL)
	daemon.Wait()
	pid := readState(t, dataDir, 1).PID
	if !isJobProcess(pid, filepath.Join(dataDir, "jobs", "1")) {
		t.Fatal("the job process died with the worker")
	}
	b := startWorker(t, testConfig(fs.URL, dataDir))
	eventually(t, "reattached", func() bool { return strings.Contains(b.logs.String(), "reattached to a running job process") })
	os.WriteFile(filepath.Join(dataDir, "jobs", "1", "go"), nil, 0o600)
	waitFinished(t, fs, 1)
	if got := checkLog(t, fs, dataDir, 1); !slices.Equal(got, numbered(0, 6)) {
		t.Errorf("lines %q", got)
	}
}

// TestChildKilled: a job process killed from outside is reported as an
// Infrastructure failure, with a final record.
func TestChildKilled(t *testing.T) {
	fs := newFakeServer(t)
	cfg := testConfig(fs.URL, t.TempDir())
	startWorker(t, cfg)
	fs.assign(1, "dev1", "log 2\nhang")
	eventually(t, "2 lines uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 2 })
	syscall.Kill(readState(t, cfg.DataDir, 1).PID, syscall.SIGKILL)
	j := waitFinished(t, fs, 1)
	msg := "job process died (signal: killed) without writing a result"
	if j.finish.ErrorType != "Infrastructure" || j.finish.ErrorMsg != msg {
		t.Errorf("finish %+v", j.finish)
	}
	if diff := cmp.Diff(append(numbered(0, 2), msg), checkLog(t, fs, cfg.DataDir, 1)); diff != "" {
		t.Errorf("lines (-want +got):\n%s", diff)
	}
}

// TestServerForgetsJob: a job the server does not know any more is
// stopped and dropped; a finished job the server stopped listing is
// dropped once its log is uploaded.
func TestServerForgetsJob(t *testing.T) {
	for _, how := range []string{"unknown job", "job moved to another worker"} {
		t.Run(how, func(t *testing.T) {
			fs := newFakeServer(t)
			cfg := testConfig(fs.URL, t.TempDir())
			cfg.KeepJobs = false
			r := startWorker(t, cfg)
			fs.assign(1, "dev1", "log 2\nwait go\nlog 2\nhang")
			eventually(t, "2 lines uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 2 })
			fs.mu.Lock()
			if how == "unknown job" {
				delete(fs.jobs, 1)
			} else {
				fs.forbidden = map[int64]bool{1: true}
				fs.jobs[1].state = "Running" // the heartbeat answer does not stop it
			}
			fs.mu.Unlock()
			os.WriteFile(filepath.Join(cfg.DataDir, "jobs", "1", "go"), nil, 0o600) // the next upload is refused
			eventually(t, "job directory removed", func() bool { return !fileExists(filepath.Join(cfg.DataDir, "jobs", "1")) })
			if !strings.Contains(r.logs.String(), "the server refuses this job") {
				t.Error("no log of the refusal")
			}
			if ids := r.w.jobIDs(); len(ids) != 0 {
				t.Errorf("local jobs %v", ids)
			}
		})
	}
	t.Run("not listed in the hello", func(t *testing.T) {
		fs := newFakeServer(t)
		fs.finishFail = http.StatusServiceUnavailable
		cfg := testConfig(fs.URL, t.TempDir())
		r := startWorker(t, cfg)
		fs.assign(1, "dev1", "log 2\nresult pass")
		eventually(t, "finish attempted", func() bool { return fs.job(1).finishes > 0 })
		fs.mu.Lock()
		fs.jobs[1].state = "Finished" // e.g. ended by the server while the worker was away
		fs.mu.Unlock()
		fs.dropStreams()
		eventually(t, "job dropped", func() bool { return len(r.w.jobIDs()) == 0 })
		if st := readState(t, cfg.DataDir, 1); st.Phase != PhaseReported {
			t.Errorf("phase %s", st.Phase)
		}
	})
}

// TestProtocolMismatch: a server of another protocol version gets a clear
// error naming both versions, and slow retries, not a busy loop.
func TestProtocolMismatch(t *testing.T) {
	tests := []struct {
		name      string
		noVersion bool
		want      string
	}{
		{"server names its version", false, "speaks worker protocol 1, the server speaks protocol 2 (\"worker speaks protocol 1, this server speaks protocol 2\")"},
		{"server message only", true, "speaks worker protocol 1, the server refuses it (\"worker speaks protocol 1, this server speaks protocol 2\")"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			fs.protocol, fs.noVersion = "2", tt.noVersion
			cfg := testConfig(fs.URL, t.TempDir())
			cfg.MismatchRetry = time.Hour
			var mu sync.Mutex
			waits := map[string][]time.Duration{}
			r := startWorker(t, cfg, func(w *Worker) {
				w.pauseHook = func(what string, d time.Duration) {
					mu.Lock()
					waits[what] = append(waits[what], d)
					mu.Unlock()
				}
			})
			eventually(t, "both loops waiting", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(waits["stream"]) > 0 && len(waits["heartbeat"]) > 0
			})
			mu.Lock()
			if !slices.Equal(waits["stream"], []time.Duration{time.Hour}) || !slices.Equal(waits["heartbeat"], []time.Duration{time.Hour}) {
				t.Errorf("waits after the mismatch: %v, want one of an hour each", waits)
			}
			mu.Unlock()
			fs.mu.Lock()
			total := 0
			for _, n := range fs.protos {
				total += n
			}
			fs.mu.Unlock()
			if total != 2 {
				t.Errorf("%d requests, want 2 (one stream, one heartbeat)", total)
			}
			if logs := r.logs.String(); !strings.Contains(logs, strings.ReplaceAll(tt.want, `"`, `\"`)) || strings.Count(logs, "protocol mismatch") != 1 {
				t.Errorf("want one error saying %s:\n%s", tt.want, logs)
			}
		})
	}
}

// TestJoin: a join token is exchanged once for the worker's token, which
// is stored (0600, never logged) and used from then on.
func TestJoin(t *testing.T) {
	fs := newFakeServer(t)
	fs.token = "the-worker-secret"
	fs.joinTokens["join-1"] = "w1"
	dataDir := t.TempDir()
	cfg := testConfig(fs.URL, dataDir)
	cfg.Token, cfg.JoinToken = "", "join-1"
	a := startWorker(t, cfg)
	eventually(t, "connected", func() bool { return fs.connectCount() == 1 })
	a.stop()
	tokFile := filepath.Join(dataDir, "token")
	b, err := os.ReadFile(tokFile)
	if err != nil || string(b) != "the-worker-secret\n" {
		t.Fatalf("stored token %q, %v", b, err)
	}
	if fi, _ := os.Stat(tokFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	if strings.Contains(a.logs.String(), "the-worker-secret") {
		t.Error("the token was logged")
	}
	// the join token is spent; the stored token serves from now on
	startWorker(t, cfg)
	eventually(t, "connected again", func() bool { return fs.connectCount() == 2 })
	if n := fs.requestCount("join"); n != 1 {
		t.Errorf("%d joins", n)
	}

	tests := []struct {
		name, path, join, want string
	}{
		{"refused join token", "", "wrong", `join refused (the join token is wrong, expired, already used, or not for worker "w1")`},
		{"not a Basalt server", "/elsewhere", "join-2", "the server has no worker join endpoint"},
		{"no token at all", "", "", "no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(fs.URL+tt.path, t.TempDir())
			cfg.Token, cfg.JoinToken = "", tt.join
			cfg.Logger = slog.New(slog.DiscardHandler)
			w, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Run(context.Background()); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: %v, want an error with %q", err, tt.want)
			}
		})
	}
}

// TestTransports: with HTTP/2 (h2c, or TLS with ALPN) the stream and every
// request share one TCP connection; through an HTTP/1.1-only reverse proxy
// the worker falls back by itself; --http1 forces HTTP/1.1.
func TestTransports(t *testing.T) {
	tests := []struct {
		name      string
		tls       bool
		proxy     bool
		http1     bool
		wantProto string
		oneConn   bool
		wantLog   string
	}{
		{name: "h2c", wantProto: "HTTP/2.0", oneConn: true, wantLog: "h2c"},
		{name: "TLS with a CA file", tls: true, wantProto: "HTTP/2.0", oneConn: true},
		{name: "HTTP/1.1 reverse proxy", proxy: true, wantProto: "HTTP/1.1", wantLog: "refuses h2c"},
		{name: "forced HTTP/1.1", http1: true, wantProto: "HTTP/1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fs *fakeServer
			if tt.tls {
				fs = newFakeServerTLS(t)
			} else {
				fs = newFakeServer(t)
			}
			cfg := testConfig(fs.URL, t.TempDir())
			cfg.HTTP1 = tt.http1
			if tt.tls {
				cfg.CAFile = fs.caFile()
			}
			if tt.proxy {
				target, _ := url.Parse(fs.URL)
				rp := httputil.NewSingleHostReverseProxy(target)
				rp.FlushInterval = -1
				px := httptest.NewServer(rp) // HTTP/1.1 only
				t.Cleanup(px.Close)
				cfg.Server = px.URL
			}
			r := startWorker(t, cfg)
			fs.assign(1, "dev1", "log 20\nresult pass")
			waitFinished(t, fs, 1)
			checkLog(t, fs, cfg.DataDir, 1)
			fs.mu.Lock()
			protos := maps.Clone(fs.protos)
			fs.mu.Unlock()
			if len(protos) != 1 || protos[tt.wantProto] == 0 {
				t.Errorf("requests by protocol %v, want all %s", protos, tt.wantProto)
			}
			if n := fs.accepts.Load(); tt.oneConn && n != 1 {
				t.Errorf("%d TCP connections, want 1", n)
			}
			if tt.wantLog != "" && !strings.Contains(r.logs.String(), tt.wantLog) {
				t.Errorf("no log mentioning %q", tt.wantLog)
			}
		})
	}
}

// TestMultinodeRelay: a multinode job's process reaches the coordinator
// through the Unix socket in its directory and the worker's link: answers
// come back, a refusal for good comes back as an error, a server out of
// reach gets no answer (the job process retries), and a worker restarted
// while the job waits serves the socket again.
func TestMultinodeRelay(t *testing.T) {
	t.Run("relayed, refused, retried", func(t *testing.T) {
		fs := newFakeServer(t)
		fs.multinodeFail = 2
		cfg := testConfig(fs.URL, t.TempDir())
		startWorker(t, cfg)
		fs.assignMultinode(1, "dev1", "multinode lava_send hello\nmultinode refuse x\nresult pass")
		waitFinished(t, fs, 1)
		lines := checkLog(t, fs, cfg.DataDir, 1)
		want := []string{
			`multinode lava_send: {"response":"ack","message":{"1":{"echo":"hello"}}}`,
			`multinode refuse: {"response":"","error":"POST /jobs/1/multinode: 400 invalid: unknown multinode request \"refuse\""}`,
		}
		if diff := cmp.Diff(want, lines); diff != "" {
			t.Errorf("job log (-want +got):\n%s", diff)
		}
		calls := fs.multinodeCalls(1)
		if len(calls) != 4 { // two 503s, then the send, then the refusal
			t.Fatalf("%d calls reached the server, want 4: %+v", len(calls), calls)
		}
		if c := calls[2]; c.Request != "lava_send" || c.MessageID != "hello" || c.Hold != time.Second {
			t.Errorf("relayed call %+v", c)
		}
	})
	t.Run("not a multinode job: no socket", func(t *testing.T) {
		fs := newFakeServer(t)
		cfg := testConfig(fs.URL, t.TempDir())
		cfg.KeepJobs = true
		startWorker(t, cfg)
		fs.assign(1, "dev1", "wait go\nresult pass")
		dir := filepath.Join(cfg.DataDir, "jobs", "1")
		eventually(t, "job started", func() bool { return fs.job(1).starts > 0 })
		if fileExists(filepath.Join(dir, workerproto.MultinodeSocket)) {
			t.Error("a single-node job has a multinode socket")
		}
		os.WriteFile(filepath.Join(dir, "go"), nil, 0o600)
		waitFinished(t, fs, 1)
	})
	t.Run("worker restarted while the job waits", func(t *testing.T) {
		fs := newFakeServer(t)
		dataDir := t.TempDir()
		a := startWorker(t, testConfig(fs.URL, dataDir))
		fs.assignMultinode(1, "dev1", "log 1\nwait go\nmultinode lava_sync barrier\nresult pass")
		eventually(t, "1 line uploaded", func() bool { return len(journalLines(t, fs.job(1).log)) == 1 })
		if err := a.stop(); err != nil {
			t.Fatalf("Run returned %v on shutdown", err)
		}
		dir := filepath.Join(dataDir, "jobs", "1")
		os.WriteFile(filepath.Join(dir, "go"), nil, 0o600) // the job calls while no worker listens
		eventually(t, "the socket is gone with the worker", func() bool {
			return !fileExists(filepath.Join(dir, workerproto.MultinodeSocket))
		})
		startWorker(t, testConfig(fs.URL, dataDir))
		waitFinished(t, fs, 1)
		lines := checkLog(t, fs, dataDir, 1)
		if want := `multinode lava_sync: {"response":"ack","message":{"1":{"echo":"barrier"}}}`; len(lines) != 2 || lines[1] != want {
			t.Errorf("job log %q, want the sync's answer last", lines)
		}
	})
}
