package main_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/dut"
)

// qemuDictionary is the test devices' dictionary: LAVA's form, TCG only
// (KVM does not work on the CI machines), little memory.
const qemuDictionary = `{# a QEMU board of the end-to-end tests #}
{% extends 'qemu.jinja2' %}
{% set memory = 256 %}
{% set no_kvm = True %}
`

// dutServer serves the project's device under test (kernel and busybox
// initramfs, built once per test binary) and a git repository of test
// definitions over HTTP on loopback.
type dutServer struct {
	url                   string
	kernelSum, ramdiskSum string
}

var (
	dutOnce sync.Once
	dutSrv  *dutServer
	dutErr  error
)

// serveDUT builds the images and the repository once and serves them.
func serveDUT(t testing.TB) *dutServer {
	t.Helper()
	dutOnce.Do(func() {
		dir, err := os.MkdirTemp("", "basalt-dut-")
		if err != nil {
			dutErr = err
			return
		}
		imgs, err := dut.Build(dut.Options{OutDir: filepath.Join(dir, "images")})
		if err != nil {
			dutErr = err
			return
		}
		repos := filepath.Join(dir, "git")
		if err := makeTestRepo(filepath.Join(repos, "tests.git")); err != nil {
			dutErr = err
			return
		}
		mux := http.NewServeMux()
		mux.Handle("/images/", http.StripPrefix("/images/", http.FileServer(http.Dir(filepath.Join(dir, "images")))))
		mux.Handle("/git/", &cgi.Handler{Path: "/usr/lib/git-core/git-http-backend", Root: "/git",
			Env: []string{"GIT_PROJECT_ROOT=" + repos, "GIT_HTTP_EXPORT_ALL=1"}})
		srv := httptest.NewServer(mux) // 127.0.0.1, lives as long as the test binary
		dutSrv = &dutServer{url: srv.URL, kernelSum: imgs.KernelSHA256, ramdiskSum: imgs.RamdiskSHA256}
	})
	if dutErr != nil {
		t.Fatalf("device under test: %v", dutErr)
	}
	return dutSrv
}

// makeTestRepo creates a bare repository holding a Lava-Test test
// definition with a parameter and a script of its own.
func makeTestRepo(bare string) error {
	work, err := os.MkdirTemp("", "basalt-testrepo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	files := map[string]string{
		"smoke/greeting.yaml": `metadata:
  format: Lava-Test Test Definition 1.0
  name: from-git
  description: a definition fetched from git, with a parameter and a script of the repository
params:
  GREETING: hello
run:
  steps:
  - lava-test-case greeting --shell test "$GREETING" = bonjour
  - ./smoke/check.sh
`,
		"smoke/check.sh": "#!/bin/sh\n# Runs from the test directory: the checkout is on the device.\nlava-test-case repo-script --result pass\n",
	}
	for name, body := range files {
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			return err
		}
	}
	run := func(dir string, args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "smoke tests"}} {
		if err := run(work, args...); err != nil {
			return err
		}
	}
	if err := run(work, "clone", "-q", "--bare", work, bare); err != nil {
		return err
	}
	return run(bare, "update-server-info")
}

// qemuJob is a job for the test devices: deploy the DUT (with the LAVA
// overlay in its ramdisk), boot it with boot, then test.
func (d *dutServer) qemuJob(name, deviceType, boot, test string) string {
	return fmt.Sprintf(`job_name: %s
device_type: %s
visibility: public
context:
  arch: amd64
timeouts:
  job: {minutes: 8}
  action: {minutes: 4}
actions:
- deploy:
    to: tmpfs
    images:
      kernel:
        url: %s/images/vmlinuz
        sha256sum: %s
      ramdisk:
        url: %s/images/initramfs.cpio.gz
        sha256sum: %s
        format: cpio.newc
        overlays:
          lava: true
- boot:
    method: qemu
    media: tmpfs
%s%s`, name, deviceType, d.url, d.kernelSum, d.url, d.ramdiskSum, boot, test)
}

const qemuBoot = "    prompts: [\"/ # \"]\n"

// inlineAndGit is a test action with an inline definition (pass, fail,
// skip, a measurement with units, a failing --shell) and a git one.
func (d *dutServer) inlineAndGit() string {
	return fmt.Sprintf(`- test:
    definitions:
    - from: inline
      name: inline
      path: inline/inline.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: inline
        run:
          steps:
          - lava-test-case always-passes --result pass
          - lava-test-case always-fails --result fail
          - lava-test-case not-applicable --result skip
          - lava-test-case memory --result pass --measurement "$(awk '/MemTotal/ {print $2}' /proc/meminfo)" --units kB
          - lava-test-case shell-false --shell false
    - from: git
      name: from-git
      repository: %s/git/tests.git
      path: smoke/greeting.yaml
      params:
        GREETING: bonjour
`, d.url)
}

// inlineAndGitWant are the results of inlineAndGit's test action, and
// passes of the lava suite's cases given (the deploy and boot actions').
func inlineAndGitWant(lava ...string) map[string]string {
	want := map[string]string{
		"0_inline/always-passes":  "pass",
		"0_inline/always-fails":   "fail",
		"0_inline/not-applicable": "skip",
		"0_inline/memory":         "pass <measurement> kB",
		"0_inline/shell-false":    "fail",
		"1_from-git/greeting":     "pass",
		"1_from-git/repo-script":  "pass",
		"lava/lava-test-shell":    "pass",
		"lava/job":                "pass",
	}
	for _, k := range lava {
		want[k] = "pass"
	}
	return want
}

// checkResults compares a job's results (resultMap) with want: each one
// wanted, and none other outside the lava suite.
func checkResults(t *testing.T, id int64, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("job %d: %s = %q, want %q", id, k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "lava/") {
			t.Errorf("job %d: unexpected result %s = %q", id, k, got[k])
		}
	}
}

// qemuLab is a server and a worker with QEMU devices.
func qemuLab(t *testing.T, devices map[string][]string) (*lab, string) {
	t.Helper()
	l := newLab(t)
	ctx := context.Background()
	nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: "qemu-host"})
	if err != nil {
		t.Fatal(err)
	}
	for typ, hosts := range devices {
		if _, err := l.api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: typ}); err != nil {
			t.Fatal(err)
		}
		for _, h := range hosts {
			worker, health, dict := "qemu-host", "GOOD", qemuDictionary
			if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: h, DeviceType: &typ, Worker: &worker, Health: &health, Dictionary: &dict}); err != nil {
				t.Fatal(err)
			}
		}
	}
	wdir := t.TempDir()
	startWorker(t, l.url, "qemu-host", nw.Token, wdir)
	return l, wdir
}

// resultMap returns a job's results outside the lava suite as
// "suite/case" → "result[ measurement units][ set]".
func (l *lab) resultMap(t *testing.T, id int64) map[string]string {
	t.Helper()
	res, err := l.api.AllJobResults(context.Background(), id, client.ResultsFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range res {
		v := r.Result
		if r.Measurement != "" && r.Suite != "lava" { // the lava suite's measurement is the duration
			v += " <measurement> " + r.Units
			if !regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`).MatchString(r.Measurement) {
				t.Errorf("%s/%s: measurement %q is not a number", r.Suite, r.Case, r.Measurement)
			}
		}
		out[r.Suite+"/"+r.Case] = v
	}
	return out
}

// qemuProcesses returns the PIDs of QEMU processes whose command line
// contains marker.
func qemuProcesses(marker string) []string {
	out, _ := exec.Command("pgrep", "-f", "qemu-system.*"+regexp.QuoteMeta(marker)).Output()
	return strings.Fields(string(out))
}

// TestQEMUJobs runs real QEMU boots of the project's device under test
// through the server and worker binaries: a job with an inline and a git
// test definition (exact results, a failing case leaves the job
// Complete), a boot timeout (Incomplete, LAVATimeout, the device stays
// Good: not a health check), and a cancel during boot (QEMU gone within
// seconds, the device Idle).
func TestQEMUJobs(t *testing.T) {
	d := serveDUT(t)
	l, wdir := qemuLab(t, map[string][]string{"qemu": {"qemu-01", "qemu-02", "qemu-03"}})
	ctx := context.Background()

	full := l.submit(t, d.qemuJob("inline and git", "qemu", qemuBoot, d.inlineAndGit()))
	timeout := l.submit(t, d.qemuJob("boot timeout", "qemu", "    timeout: {seconds: 6}\n    prompts: [\"this prompt never comes\"]\n", ""))
	cancel := l.submit(t, d.qemuJob("cancel during boot", "qemu", "    prompts: [\"this prompt never comes either\"]\n", ""))

	// Cancel as soon as QEMU runs for the third job.
	l.waitState(t, cancel, "Running", 60*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	var cancelDevice string
	for {
		j, err := l.api.GetJob(ctx, cancel)
		if err != nil {
			t.Fatal(err)
		}
		cancelDevice = j.ActualDevice
		if cancelDevice != "" && len(qemuProcesses(filepath.Join(wdir, "jobs", fmt.Sprint(cancel)))) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no QEMU process for job %d within 60s", cancel)
		}
		time.Sleep(100 * time.Millisecond)
	}
	canceledAt := time.Now()
	if _, err := l.api.CancelJob(ctx, cancel); err != nil {
		t.Fatal(err)
	}
	for len(qemuProcesses(filepath.Join(wdir, "jobs", fmt.Sprint(cancel)))) > 0 {
		if time.Since(canceledAt) > 15*time.Second {
			t.Fatalf("QEMU of the canceled job still runs 15s after the cancel")
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("QEMU of the canceled job gone %s after the cancel request", time.Since(canceledAt).Round(time.Millisecond))

	jobs := l.waitFinished(t, []int64{full, timeout, cancel}, 6*time.Minute)

	// The full job: Complete, with exactly these results.
	if j := jobs[full]; j.Health != "Complete" {
		t.Errorf("job %d: %s (%s: %s)", full, j.Health, j.ErrorType, j.FailureComment)
		logTail(t, l, full)
	}
	checkResults(t, full, l.resultMap(t, full), inlineAndGitWant("lava/tmpfs-deploy", "lava/boot-qemu-image", "lava/0_inline", "lava/1_from-git"))

	// The boot timeout.
	if j := jobs[timeout]; j.Health != "Incomplete" || j.ErrorType != "LAVATimeout" || !strings.Contains(j.FailureComment, "boot-qemu-image") {
		t.Errorf("boot timeout job: %s %s %q", j.Health, j.ErrorType, j.FailureComment)
	}
	if dev, err := l.api.GetDevice(ctx, jobs[timeout].ActualDevice); err != nil || dev.Health != "GOOD" || dev.State != "Idle" {
		t.Errorf("device after a boot timeout of a normal job: %+v %v (LAVA: health unchanged)", dev, err)
	}

	// The cancel.
	if j := jobs[cancel]; j.Health != "Canceled" {
		t.Errorf("canceled job: %s %s %q", j.Health, j.ErrorType, j.FailureComment)
	}
	if dev, err := l.api.GetDevice(ctx, cancelDevice); err != nil || dev.State != "Idle" || dev.Health != "GOOD" {
		t.Errorf("device after cancel: %+v %v", dev, err)
	}
	if left := qemuProcesses(wdir); len(left) > 0 {
		t.Errorf("QEMU processes left: %v", left)
	}
}

// logTail prints the end of a job's log to help a failing test.
func logTail(t *testing.T, l *lab, id int64) {
	lines, _, err := l.api.JobLogs(context.Background(), id, 0, -1)
	if err != nil {
		return
	}
	t.Logf("job %d log tail:\n%s", id, strings.Join(lines[max(0, len(lines)-40):], "\n"))
}

// TestQEMUHealthCheckFails: a device of unknown health runs its type's
// health check first; the check boots the board and a test raises, so the
// job is Incomplete and the device goes Bad.
func TestQEMUHealthCheckFails(t *testing.T) {
	d := serveDUT(t)
	l, _ := qemuLab(t, map[string][]string{"qemu-hc": nil})
	ctx := context.Background()
	check := d.qemuJob("failing health check", "qemu-hc", qemuBoot, `- test:
    definitions:
    - from: inline
      name: disk
      path: inline/disk.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: disk
        run:
          steps:
          - lava-test-raise "the disk is missing"
`)
	if _, err := l.api.SetHealthCheck(ctx, "qemu-hc", check); err != nil {
		t.Fatal(err)
	}
	typ, worker, health, dict := "qemu-hc", "qemu-host", "UNKNOWN", qemuDictionary
	if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: "qemu-hc-01", DeviceType: &typ, Worker: &worker, Health: &health, Dictionary: &dict}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		dev, err := l.api.GetDevice(ctx, "qemu-hc-01")
		if err != nil {
			t.Fatal(err)
		}
		if dev.Health == "BAD" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("device still %s after 5 minutes", dev.Health)
		}
		time.Sleep(200 * time.Millisecond)
	}
	yes := true
	list, err := l.api.ListJobs(ctx, client.JobFilter{HealthCheck: &yes})
	if err != nil {
		t.Fatal(err)
	}
	var hc []wire.Job
	for _, j := range list.Results {
		if j.HealthCheck {
			hc = append(hc, j)
		}
	}
	if len(hc) != 1 || hc[0].Health != "Incomplete" || hc[0].ErrorType != "Test" || !strings.Contains(hc[0].FailureComment, "the disk is missing") {
		t.Fatalf("health check jobs: %+v", hc)
	}
	res := l.resultMap(t, hc[0].ID)
	if res["lava/boot-qemu-image"] != "pass" {
		t.Errorf("the health check did not boot the board: %v", res)
	}
}

// TestLabCommand runs the README's all-in-one command: the sample job
// boots the board and reports its results.
func TestLabCommand(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "lab", "--data-dir", dir, "--listen", freePort(t))
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
	})
	lines := make(chan string, 100)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			lines <- s.Text()
		}
		close(lines)
	}()
	var seen []string
	timeout := time.After(5 * time.Minute)
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("basalt lab exited; output:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
			}
			seen = append(seen, line)
			if strings.Contains(line, "Finished") && !strings.Contains(line, "Finished Complete") {
				t.Fatalf("sample job: %s\n%s", line, strings.Join(seen, "\n"))
			}
			if strings.Contains(line, "first-steps/sys-mounted") {
				for _, want := range []string{"server        http://127.0.0.1:", "sample job    1:", "admin-credentials", "Finished Complete",
					"result        0_first-steps/kernel-version: pass", "result        0_first-steps/uptime: pass (", "result        0_first-steps/sys-mounted: pass"} {
					if !slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, want) }) {
						t.Errorf("no line with %q in:\n%s", want, strings.Join(seen, "\n"))
					}
				}
				return
			}
		case <-timeout:
			t.Fatalf("the sample job did not finish in 5 minutes:\n%s", strings.Join(seen, "\n"))
		}
	}
}

// lockedWriter serializes writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestRunCommandKernelPanic runs one job locally with `basalt run` on a
// QEMU device whose kernel cannot find an init: the boot sees the kernel
// panic, the job fails with an Infrastructure error, the command exits 7
// and prints the journal and the results.
func TestRunCommandKernelPanic(t *testing.T) {
	d := serveDUT(t)
	dir := t.TempDir()
	job := strings.Replace(d.qemuJob("kernel panic", "qemu", qemuBoot, ""),
		"        sha256sum: "+d.kernelSum+"\n",
		"        sha256sum: "+d.kernelSum+"\n        image_arg: -kernel {kernel} -append \"console=ttyS0,115200 rdinit=/no-such-init init=/no-such-init panic=-1\"\n", 1)
	jobFile, dictFile := filepath.Join(dir, "job.yaml"), filepath.Join(dir, "qemu-run.jinja2")
	if err := os.WriteFile(jobFile, []byte(job), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dictFile, []byte(qemuDictionary), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", jobFile, "--device", dictFile, "--cache-dir", filepath.Join(dir, "cache"), "--job-dir", filepath.Join(dir, "job"))
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 7 {
		t.Fatalf("basalt run: %v, want exit status 7\n%s", err, out)
	}
	for _, want := range []string{
		"rdinit=/no-such-init",       // the kernel command line, from image_arg
		"Kernel panic - not syncing", // the console, logged
		"boot-qemu-image  fail",      // the results table
		"job fail (Infrastructure: kernel panic",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if left := qemuProcesses(dir); len(left) > 0 {
		t.Errorf("QEMU processes left: %v", left)
	}
}
