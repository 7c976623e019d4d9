package main_test

import (
	"bufio"
	"compress/gzip"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/cpio"
	"github.com/basalt-lab/basalt/internal/dut"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// labProc is a running `basalt lab`.
type labProc struct {
	cmd    *exec.Cmd
	lines  chan string
	seen   []string
	stderr *syncbuf.Buffer
	done   chan struct{}
}

// startLabProc runs `basalt lab --data-dir dir --listen <free port>` with
// more arguments.
func startLabProc(t *testing.T, dir string, args ...string) *labProc {
	t.Helper()
	l := &labProc{lines: make(chan string, 1000), stderr: &syncbuf.Buffer{}, done: make(chan struct{})}
	l.cmd = exec.Command(binary, append([]string{"lab", "--data-dir", dir, "--listen", freePort(t)}, args...)...)
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.cmd.Stderr = l.stderr
	if err := l.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			l.lines <- s.Text()
		}
		close(l.lines)
		l.cmd.Wait()
		close(l.done)
	}()
	t.Cleanup(func() {
		if l.cmd.ProcessState == nil {
			l.cmd.Process.Kill()
			<-l.done
		}
		killUnder(dir)
	})
	return l
}

// waitLine reads the output until a line contains want (true), or the
// lab exits (false). bound is a safety bound.
func (l *labProc) waitLine(t *testing.T, want string, bound time.Duration) bool {
	t.Helper()
	timeout := time.After(bound)
	for {
		select {
		case line, ok := <-l.lines:
			if !ok {
				return false
			}
			l.seen = append(l.seen, line)
			if strings.Contains(line, want) {
				return true
			}
		case <-timeout:
			t.Fatalf("no line with %q in %s:\n%s\nstderr:\n%s", want, bound, l.output(), l.stderr.String())
		}
	}
}

// exit waits (bounded) for the lab to end and returns its exit code, with
// all its output read.
func (l *labProc) exit(t *testing.T, bound time.Duration) int {
	t.Helper()
	for l.waitLine(t, "\x00never", bound) {
	}
	select {
	case <-l.done:
	case <-time.After(bound):
		t.Fatalf("basalt lab did not exit:\n%s", l.output())
	}
	return l.cmd.ProcessState.ExitCode()
}

func (l *labProc) output() string { return strings.Join(l.seen, "\n") }

// has reports whether a line seen contains s.
func (l *labProc) has(s string) bool {
	return slices.ContainsFunc(l.seen, func(line string) bool { return strings.Contains(line, s) })
}

// TestLabMissingPackages: without QEMU in the path, `basalt lab` stops
// before starting anything (no data directory), exit status 1, with one
// message naming the package and the commands that install it.
func TestLabMissingPackages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "lab")
	cmd := exec.Command(binary, "lab", "--data-dir", dir, "--listen", freePort(t))
	cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("basalt lab without QEMU: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{
		"basalt: this host lacks what the lab needs:\n",
		"qemu-system-x86_64: not found in the path",
		"\n    apt-get install qemu-system-x86\n",
		"make run",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the lab created %s before failing: %v", dir, err)
	}
}

// TestLabInterruptAndRestart: Ctrl-C while the sample job's QEMU runs
// cancels the job (QEMU gone when the lab has exited, the job Finished
// Canceled, no failure report) and stops the lab with status 0; the next
// start says where the credentials are (the file of the first start, and
// the token argument it prints reads it), and stops at once when nothing
// runs.
func TestLabInterruptAndRestart(t *testing.T) {
	requireLabHost(t)
	dir := t.TempDir()
	l := startLabProc(t, dir)
	if !l.waitLine(t, "Running: boot (boot-qemu-image)", 5*time.Minute) {
		t.Fatalf("the lab exited:\n%s\nstderr:\n%s", l.output(), l.stderr.String())
	}
	deadline := time.Now().Add(2 * time.Minute)
	for len(qemuProcesses(dir)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no QEMU process for the sample job:\n%s", l.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	l.cmd.Process.Signal(os.Interrupt)
	if code := l.exit(t, 2*time.Minute); code != 0 {
		t.Errorf("basalt lab exit status %d after Ctrl-C, want 0\n%s\nstderr:\n%s", code, l.output(), l.stderr.String())
	}
	if left := qemuProcesses(dir); len(left) > 0 {
		t.Errorf("QEMU still runs after the lab stopped: %v", left)
	}
	for _, want := range []string{
		"log in        created user 'admin'; password and API token are in " + filepath.Join(dir, "server", "admin-credentials"),
		"stopping      canceling job 1 on qemu01: its QEMU is powered off",
		"job 1         Finished Canceled",
		"stopped       the server and the worker",
	} {
		if !l.has(want) {
			t.Errorf("no line with %q in:\n%s", want, l.output())
		}
	}
	if l.has("failure") {
		t.Errorf("a failure report for the job the lab canceled itself:\n%s", l.output())
	}

	// The restart.
	l = startLabProc(t, dir, "--no-job")
	if !l.waitLine(t, "Press Ctrl-C to stop.", 2*time.Minute) {
		t.Fatalf("the lab exited:\n%s\nstderr:\n%s", l.output(), l.stderr.String())
	}
	creds := filepath.Join(dir, "server", "admin-credentials")
	if want := "log in        as 'admin': password and API token are in " + creds + " (written on the first start)"; !l.has(want) {
		t.Errorf("no line with %q in:\n%s", want, l.output())
	}
	if l.has("basalt admin token") || l.has("sample job") || l.has("building") {
		t.Errorf("restart output:\n%s", l.output())
	}
	l.cmd.Process.Signal(os.Interrupt)
	if code := l.exit(t, time.Minute); code != 0 {
		t.Errorf("exit status %d, want 0\n%s", code, l.output())
	}
	if !l.has("stopping      no job is running on the board") || !l.has("stopped       the server and the worker") {
		t.Errorf("restart's stop:\n%s", l.output())
	}
}

// TestLabFailureReport: a board whose ramdisk has no /init panics at
// boot; the lab prints the actions up to the boot, the job Incomplete with
// its error type and comment, the log lines before the error with their
// numbers and the kernel's panic after it, and the job's page.
func TestLabFailureReport(t *testing.T) {
	requireLabHost(t)
	dir := t.TempDir()
	dutDir := filepath.Join(dir, "dut")
	if err := os.MkdirAll(dutDir, 0o755); err != nil {
		t.Fatal(err)
	}
	kernel, err := dut.NewestKernel("/boot")
	if err != nil {
		t.Fatal(err)
	}
	k, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dutDir, "vmlinuz"), k, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dutDir, "initramfs.cpio.gz"))
	if err != nil {
		t.Fatal(err)
	}
	gz := gzip.NewWriter(f)
	c := cpio.NewWriter(gz)
	c.AddFile("README", 0o644, []byte("a ramdisk without /init\n"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	l := startLabProc(t, dir)
	if !l.waitLine(t, "  job page      ", 5*time.Minute) {
		t.Fatalf("the lab exited:\n%s\nstderr:\n%s", l.output(), l.stderr.String())
	}
	for _, want := range []string{
		"job 1         Running: deploy (tmpfs-deploy)",
		"job 1         Running: boot (boot-qemu-image)",
		"job 1         Finished Incomplete",
		`failure       Infrastructure error: kernel panic: the kernel printed "Kernel panic - not syncing" while booting`,
		", up to the error:",
		"target    [", // the console, with line numbers, the panic before the error
		"Kernel panic - not syncing: VFS",
		`error     boot-qemu-image failed: kernel panic`,
		"target    [", // the console, with line numbers
		"Kernel panic - not syncing",
		"/jobs/1 (the whole log: http://127.0.0.1:",
	} {
		if !l.has(want) {
			t.Errorf("no line with %q in:\n%s", want, l.output())
		}
	}
	if l.has("Running: test") {
		t.Errorf("the test action ran after a failed boot:\n%s", l.output())
	}
	l.cmd.Process.Signal(os.Interrupt)
	if code := l.exit(t, time.Minute); code != 0 {
		t.Errorf("exit status %d, want 0\n%s", code, l.output())
	}
}
