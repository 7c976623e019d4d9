package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// The test binary doubles as the fake job process and as a worker daemon
// (for kill -9 tests): TestMain dispatches on its first argument.
const (
	fakeJobArg = "basalt-fake-job"
	daemonArg  = "basalt-test-daemon"
	idleArg    = "basalt-idle-workers"
)

func TestMain(m *testing.M) {
	if len(os.Args) >= 3 {
		switch os.Args[1] {
		case fakeJobArg:
			os.Exit(runFakeJob(os.Args[len(os.Args)-1]))
		case daemonArg:
			os.Exit(runDaemon(os.Args[2:]))
		case idleArg:
			os.Exit(runIdleWorkers(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// testBinary is this test executable.
func testBinary(t testing.TB) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return exe
}

// runFakeJob is the job process of the tests: it runs the script in the
// assignment's definition, one command per line:
//
//	log N              N info records "line I" (I counts from 0)
//	bulk BYTES         records totalling about BYTES, written in batches
//	blob BYTES         the same 64 KiB batch of records repeated (fast)
//	sleep D            pause
//	wait FILE          wait until DIR/FILE exists
//	ignore-term        on SIGTERM, log it and carry on
//	grandchild         start `sleep 3600` in the job's process group (PID in DIR/grandchild.pid)
//	partial            write an incomplete line (no newline)
//	result pass|fail [TYPE [MSG…]]   write result.json and exit 0/1
//	stderr TEXT…       print TEXT on stderr
//	exit N             exit with N, without a result
//	hang               wait for a signal forever
//	multinode REQ ID   call the coordinator through DIR/multinode.sock
//	                   (retrying until it answers) and log "multinode REQ: ANSWER-JSON"
//	console N          listen on DIR/console.sock (the job process's real
//	                   side, dispatcher.ListenConsole) until N inputs are
//	                   applied, logging each "console SEQ USER WHAT" and
//	                   announcing each record on the socket
//
// By default SIGTERM logs "got SIGTERM", writes result fail/Canceled and
// exits 1, as the real job process does.
func runFakeJob(dir string) int {
	var a workerproto.Assign
	if err := readJSONFile(filepath.Join(dir, FileJob), &a); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	f, err := os.OpenFile(filepath.Join(dir, FileJournal), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var mu sync.Mutex
	n := 0
	record := func(msg string) {
		line, _ := workerproto.EncodeRecord(workerproto.Record{Time: time.Now().UTC(), Level: workerproto.LevelInfo, Msg: workerproto.TextMsg(msg)})
		mu.Lock()
		defer mu.Unlock()
		if _, err := f.Write(line); err != nil {
			panic(err)
		}
	}
	result := func(r Result) int {
		mu.Lock()
		f.Sync()
		mu.Unlock()
		if err := writeJSONFile(filepath.Join(dir, FileResult), r, true); err != nil {
			panic(err)
		}
		if r.Result == "pass" {
			return 0
		}
		return 1
	}
	ignoreTerm := strings.Contains(a.Definition, "ignore-term")
	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGTERM)
	go func() {
		for range sig {
			if ignoreTerm {
				record("got SIGTERM, ignoring it")
				continue
			}
			record("got SIGTERM")
			os.Exit(result(Result{Result: "fail", ErrorType: "Canceled", ErrorMsg: "canceled by SIGTERM"}))
		}
	}()
	for _, line := range strings.Split(a.Definition, "\n") {
		w := strings.Fields(line)
		if len(w) == 0 {
			continue
		}
		arg := func(i int) string {
			if i < len(w) {
				return w[i]
			}
			return ""
		}
		switch w[0] {
		case "log":
			k, _ := strconv.Atoi(arg(1))
			for range k {
				record("line " + strconv.Itoa(n))
				n++
			}
		case "bulk":
			total, _ := strconv.Atoi(arg(1))
			var batch bytes.Buffer
			pad := strings.Repeat("x", 60)
			for written := 0; written < total; {
				rec, _ := workerproto.EncodeRecord(workerproto.Record{Time: time.Now().UTC(), Level: workerproto.LevelTarget,
					Msg: workerproto.TextMsg(fmt.Sprintf("line %d %s", n, pad))})
				n++
				batch.Write(rec)
				written += len(rec)
				if batch.Len() >= 64<<10 || written >= total {
					mu.Lock()
					f.Write(batch.Bytes())
					mu.Unlock()
					batch.Reset()
				}
			}
		case "blob": // like bulk, but one pre-encoded batch repeated: as fast as the disk
			total, _ := strconv.Atoi(arg(1))
			var batch bytes.Buffer
			for batch.Len() < 64<<10 {
				rec, _ := workerproto.EncodeRecord(workerproto.Record{Time: time.Now().UTC(), Level: workerproto.LevelTarget,
					Msg: workerproto.TextMsg("blob " + strings.Repeat("x", 60))})
				batch.Write(rec)
			}
			for written := 0; written < total; written += batch.Len() {
				mu.Lock()
				f.Write(batch.Bytes())
				mu.Unlock()
			}
		case "sleep":
			d, _ := time.ParseDuration(arg(1))
			time.Sleep(d)
		case "wait":
			for !fileExists(filepath.Join(dir, arg(1))) {
				time.Sleep(5 * time.Millisecond)
			}
		case "ignore-term":
		case "grandchild":
			c := exec.Command("sleep", "3600")
			if err := c.Start(); err != nil {
				panic(err)
			}
			os.WriteFile(filepath.Join(dir, "grandchild.pid"), []byte(strconv.Itoa(c.Process.Pid)), 0o600)
		case "partial":
			mu.Lock()
			f.Write([]byte(`{"dt":"2026-01-01T00:00:00Z","lvl":"info","msg":"cut he`))
			mu.Unlock()
		case "result":
			r := Result{Result: arg(1), ErrorType: arg(2), ErrorMsg: strings.Join(w[min(3, len(w)):], " ")}
			return result(r)
		case "stderr":
			fmt.Fprintln(os.Stderr, strings.Join(w[1:], " "))
		case "exit":
			k, _ := strconv.Atoi(arg(1))
			return k
		case "hang":
			select {}
		case "multinode":
			record("multinode " + arg(1) + ": " + callMultinode(dir, workerproto.MultinodeRequest{Request: arg(1), MessageID: arg(2),
				Hold: time.Second}))
		case "console":
			k, _ := strconv.ParseInt(arg(1), 10, 64)
			var srvp atomic.Pointer[dispatcher.ConsoleServer]
			srv, err := dispatcher.ListenConsole(dir, func(in workerproto.ConsoleInput) {
				what := fmt.Sprintf("data %q", in.Data)
				switch {
				case in.Expired:
					what = "expired"
				case in.Power != "":
					what = "power " + in.Power
				}
				record(fmt.Sprintf("console %d %s %s", in.Seq, in.User, what))
				if p := srvp.Load(); p != nil {
					p.Appended()
				}
			}, func(format string, args ...any) { record("warning " + fmt.Sprintf(format, args...)) })
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			srvp.Store(srv)
			for srv.Applied() < k {
				time.Sleep(5 * time.Millisecond)
			}
			srv.Close()
		default:
			fmt.Fprintln(os.Stderr, "unknown script command", w[0])
			return 2
		}
	}
	return result(Result{Result: "pass"})
}

// runDaemon runs a Worker in this process: args are server URL, data dir.
// It prints "ready" once connected.
func runDaemon(args []string) int {
	cfg := testConfig(args[0], args[1])
	cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		for w.connected.Load() == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		fmt.Println("ready")
	}()
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// testConfig is a Worker configuration for the fake server with short
// intervals.
func testConfig(server, dataDir string) Config {
	exe, _ := os.Executable()
	return Config{
		Server: server, Token: "wtok", Name: "w1", DataDir: dataDir,
		Command:      []string{exe, fakeJobArg},
		Heartbeat:    200 * time.Millisecond,
		CancelGrace:  10 * time.Second,
		PollInterval: 10 * time.Millisecond,
		BackoffMin:   5 * time.Millisecond,
		BackoffMax:   100 * time.Millisecond,
		FlushTimeout: 2 * time.Second,
		KeepJobs:     true,
	}
}

// running is a Worker running in a goroutine.
type running struct {
	w    *Worker
	logs *syncbuf.Buffer
	stop func() error // stops it and returns what Run returned
}

// startWorker runs a Worker with cfg until stop or the end of the test.
func startWorker(t testing.TB, cfg Config, hooks ...func(*Worker)) *running {
	t.Helper()
	logs := &syncbuf.Buffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.MultiWriter(logs, testWriter{t}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hooks {
		h(w)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var res error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case res = <-done:
			case <-time.After(30 * time.Second):
				t.Errorf("worker did not stop")
			}
		})
		return res
	}
	t.Cleanup(func() { stop() })
	return &running{w: w, logs: logs, stop: stop}
}

// testWriter sends logs to t.Log while the test runs.
type testWriter struct{ t testing.TB }

func (tw testWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		tw.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

// eventually waits until cond holds (polling), failing after a generous
// deadline: it bounds hangs, it does not measure anything.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// journalLines decodes a journal and returns the messages of its records.
func journalLines(t testing.TB, b []byte) []string {
	t.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		r, err := workerproto.DecodeRecord(sc.Bytes())
		if err != nil {
			t.Fatalf("journal line %q: %v", sc.Text(), err)
		}
		var s string
		_ = json.Unmarshal(r.Msg, &s)
		out = append(out, s)
	}
	return out
}

// callMultinode makes one coordinator call as a job process does: one
// JSON line to DIR/multinode.sock, one line back; it retries while the
// socket is missing or closes without an answer.
func callMultinode(dir string, req workerproto.MultinodeRequest) string {
	b, _ := json.Marshal(req)
	for {
		c, err := net.Dial("unix", filepath.Join(dir, workerproto.MultinodeSocket))
		if err == nil {
			c.Write(append(b, '\n'))
			line, err := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if err == nil {
				return strings.TrimSpace(line)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}
