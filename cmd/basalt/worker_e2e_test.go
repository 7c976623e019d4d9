package main_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// simDictionary is a simulated device that boots in bootTime.
func simDictionary(bootTime string, bootLines int) string {
	return fmt.Sprintf("simulated:\n  boot_time: %s\n  boot_lines: %d\n  line_length: 60\n", bootTime, bootLines)
}

// simJob is a short job for a simulated device with five known results.
func simJob(name string, timeout string) string {
	return fmt.Sprintf(`job_name: %s
device_type: sim
visibility: public
timeouts:
  job: {%s}
actions:
- deploy:
    to: tmpfs
    images:
      kernel: {url: "http://127.0.0.1/vmlinuz"}
- boot:
    method: minimal
    prompts: ["/ # "]
- test:
    definitions:
    - name: smoke
      from: inline
      path: inline/smoke.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: smoke}
        run:
          steps:
          - lava-test-case uname --shell uname -a
          - lava-test-case always-fails --result fail
          - lava-test-set start network
          - lava-test-case ping --result skip
          - lava-test-case throughput --result pass --measurement 93.5 --units Mbit/s
          - lava-test-set stop
`, name, timeout)
}

// wantResults are the smoke suite's results as "set/case=result".
var wantResults = []string{"/always-fails=fail", "/uname=pass", "network/ping=skip", "network/throughput=pass"}

// lab is a server with a simulated lab set up through the API.
type lab struct {
	*server
	api     *client.Client
	workers map[string]string // name → token
}

func newLab(t testing.TB, serverArgs ...string) *lab {
	t.Helper()
	s := startServer(t, append([]string{"--heartbeat-interval", "500ms", "--sweep-interval", "500ms"}, serverArgs...)...)
	return attachLab(t, s)
}

func attachLab(t testing.TB, s *server) *lab {
	t.Helper()
	api, err := client.New(s.url, "", s.token, client.Options{Timeout: 30 * time.Second, CAFile: s.caFile})
	if err != nil {
		t.Fatal(err)
	}
	return &lab{server: s, api: api, workers: map[string]string{}}
}

// addDevices creates device type sim (once), worker w (once) and n
// simulated devices on it named w-NN.
func (l *lab) addDevices(t testing.TB, w string, n int, dict string) {
	t.Helper()
	ctx := context.Background()
	if _, err := l.api.GetDeviceType(ctx, "sim"); err != nil {
		if _, err := l.api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: "sim"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := l.workers[w]; !ok {
		nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: w})
		if err != nil {
			t.Fatal(err)
		}
		l.workers[w] = nw.Token
	}
	for i := range n {
		typ, worker, health := "sim", w, "GOOD"
		if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: fmt.Sprintf("%s-%02d", w, i), DeviceType: &typ,
			Worker: &worker, Health: &health, Dictionary: &dict}); err != nil {
			t.Fatal(err)
		}
	}
}

// workerProc is a running `basalt worker`.
type workerProc struct {
	cmd     *exec.Cmd
	dataDir string
	stderr  *syncbuf.Buffer
}

// startWorker runs the real worker binary against url.
func startWorker(t testing.TB, url, name, token, dataDir string, extra ...string) *workerProc {
	t.Helper()
	w := &workerProc{dataDir: dataDir, stderr: &syncbuf.Buffer{}}
	w.cmd = exec.Command(binary, append([]string{"worker", "--server", url, "--name", name, "--data-dir", dataDir, "--keep-jobs"}, extra...)...)
	w.cmd.Env = append(os.Environ(), "BASALT_WORKER_TOKEN="+token)
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.stop(t) })
	return w
}

func (w *workerProc) stop(t testing.TB) {
	if w.cmd.ProcessState != nil {
		return
	}
	w.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		w.cmd.Process.Kill()
		<-done
	}
	killJobProcesses(w.dataDir)
}

// kill9 kills the worker process (not its job processes) with SIGKILL.
func (w *workerProc) kill9() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}

// killJobProcesses kills job processes left by a worker's data dir (they
// run in their own sessions and outlive the worker on purpose).
func killJobProcesses(dataDir string) {
	out, _ := exec.Command("pgrep", "-f", "run-job "+dataDir).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func (l *lab) submit(t testing.TB, def string) int64 {
	t.Helper()
	sub, err := l.api.SubmitJob(context.Background(), def)
	if err != nil {
		t.Fatal(err)
	}
	return sub.JobIDs[0]
}

// waitFinished polls until every job is Finished or the deadline passes.
func (l *lab) waitFinished(t testing.TB, ids []int64, within time.Duration) map[int64]wire.Job {
	t.Helper()
	deadline := time.Now().Add(within)
	out := map[int64]wire.Job{}
	for {
		for _, id := range ids {
			if _, done := out[id]; done {
				continue
			}
			j, err := l.api.GetJob(context.Background(), id)
			if err != nil {
				continue // the server may be restarting
			}
			if j.State == "Finished" {
				out[id] = j
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs finished within %s", len(out), len(ids), within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkJob asserts a finished simulated job: Complete, its exact results
// once each, and a stored log byte-identical to the worker's journal.
func (l *lab) checkJob(t testing.TB, j wire.Job, workerDir string) {
	t.Helper()
	if j.Health != "Complete" {
		t.Errorf("job %d: %s/%s (%s: %s)", j.ID, j.State, j.Health, j.ErrorType, j.FailureComment)
		return
	}
	res, err := l.api.AllJobResults(context.Background(), j.ID, client.ResultsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res {
		if r.Suite == "lava" {
			continue
		}
		got = append(got, r.Set+"/"+r.Case+"="+r.Result)
	}
	sort.Strings(got)
	if !slices.Equal(got, wantResults) {
		t.Errorf("job %d results %v, want %v", j.ID, got, wantResults)
	}
	journal, err := os.ReadFile(filepath.Join(workerDir, "jobs", strconv.FormatInt(j.ID, 10), "log.ndjson"))
	if err != nil {
		t.Errorf("job %d: worker journal: %v", j.ID, err)
		return
	}
	stored := l.storedLog(t, j.ID)
	if a, b := sum(journal), sum(stored); a != b || len(journal) == 0 {
		t.Errorf("job %d: stored log (%d bytes, %s) differs from the journal (%d bytes, %s)", j.ID, len(stored), b, len(journal), a)
	}
}

func (l *lab) storedLog(t testing.TB, id int64) []byte {
	t.Helper()
	lines, _, err := l.api.JobLogs(context.Background(), id, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	for _, line := range lines {
		b.WriteString(line + "\n")
	}
	return b.Bytes()
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// TestWorkerEndToEnd: server and worker binaries, a job submitted with the
// CLI runs on a simulated device; logs and results are visible through the
// API and the stored log is the worker's journal, byte for byte.
func TestWorkerEndToEnd(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 2, simDictionary("200ms", 40))
	wdir := t.TempDir()
	startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	l.mustRun(t, "identities", "add", "local", "--uri", l.url, "--username", "admin", "--token", l.token, "--default")
	f := filepath.Join(t.TempDir(), "job.yaml")
	os.WriteFile(f, []byte(simJob("e2e", "minutes: 2")), 0o644)
	out := l.mustRun(t, "jobs", "submit", f)
	id, _ := strconv.ParseInt(strings.TrimSpace(out), 10, 64)
	if _, code := l.run(t, "jobs", "wait", strconv.FormatInt(id, 10), "--interval", "200ms", "--timeout", "2m"); code != 0 {
		t.Fatalf("jobs wait: exit %d", code)
	}
	jobs := l.waitFinished(t, []int64{id}, time.Minute)
	l.checkJob(t, jobs[id], wdir)
	if logs := l.mustRun(t, "jobs", "logs", strconv.FormatInt(id, 10)); !strings.Contains(logs, "Linux version") {
		t.Errorf("jobs logs shows no boot log:\n%s", logs)
	}
	w, err := l.api.GetWorker(context.Background(), "w1")
	if err != nil || w.State != "Online" {
		t.Errorf("worker %+v %v", w, err)
	}
}

// freePort returns a loopback port nobody listens on now.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
