package main_test

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// The README tests run the README's commands as printed, so that it cannot
// drift from what works. They change only this:
//
//   - `make build` is not run: bin/basalt is the binary TestMain built from
//     the same sources (with go build), and `make run` gets it through
//     make's variables (BIN, and GO=true to skip the build step);
//   - the addresses 127.0.0.1:8000 (the server) and 127.0.0.1:8080 (the
//     image server) become free loopback ports, in the commands and in the
//     copied examples/; `bin/basalt server`, which names no address, gets
//     its address from BASALT_LISTEN, and `make run` from LAB_FLAGS;
//   - the client's identity file and the lab's data go to the test's
//     temporary directory (XDG_CONFIG_HOME, LAB_FLAGS).

const readmePath = "../../README.md"

// readmeShellBlocks returns the ```sh blocks of the README section whose
// heading line is heading, up to the next "## " heading.
func readmeShellBlocks(t *testing.T, heading string) []string {
	t.Helper()
	src, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	start := strings.Index(text, "\n"+heading+"\n")
	if start < 0 {
		t.Fatalf("README.md has no section %q", heading)
	}
	section := text[start+len(heading)+2:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var blocks []string
	for {
		_, rest, ok := strings.Cut(section, "```sh\n")
		if !ok {
			return blocks
		}
		block, after, ok := strings.Cut(rest, "```")
		if !ok {
			t.Fatalf("README.md section %q: a ```sh block is not closed", heading)
		}
		blocks = append(blocks, block)
		section = after
	}
}

// requireLabHost fails (never skips) when the host lacks what a real QEMU
// boot needs; `make test` installs it.
func requireLabHost(t *testing.T) {
	t.Helper()
	for _, prog := range []string{"bash", "awk", "make", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(prog); err != nil {
			t.Fatalf("%s is needed (make test installs qemu-system-x86, busybox-static and linux-image-amd64): %v", prog, err)
		}
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		t.Fatalf("busybox-static is needed (make test installs it): %v", err)
	}
	if ks, _ := filepath.Glob("/boot/vmlinuz-*"); len(ks) == 0 {
		t.Fatal("a kernel in /boot is needed (make test installs linux-image-amd64)")
	}
}

// copyTree copies the files of src into dst, through edit.
func copyTree(t *testing.T, src, dst string, edit func(string) string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), []byte(edit(string(b))), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// processesUnder returns the PIDs of processes (other than this one) that
// run in dir or mention it on their command line: the background processes
// of a README block, the worker's job processes (in sessions of their own)
// and QEMU.
func processesUnder(dir string) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []string
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if cwd == dir || strings.HasPrefix(cwd, dir+"/") || strings.Contains(string(cmdline), dir) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// killUnder kills every process whose command line mentions dir.
func killUnder(dir string) {
	for range 3 {
		pids := processesUnder(dir)
		if len(pids) == 0 {
			return
		}
		exec.Command("kill", append([]string{"-KILL"}, pids...)...).Run()
		time.Sleep(200 * time.Millisecond)
	}
}

// waitGone waits until no process mentions dir (bounded).
func waitGone(t *testing.T, dir string, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for len(processesUnder(dir)) > 0 {
		if time.Now().After(deadline) {
			var left []string
			for _, pid := range processesUnder(dir) {
				cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
				left = append(left, pid+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
			}
			t.Errorf("processes left %s after the end:\n%s", bound, strings.Join(left, "\n"))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// readmeEnv is the environment of the README's commands: this one without
// Basalt's variables, plus extra.
func readmeEnv(extra ...string) []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "BASALT_") || strings.HasPrefix(kv, "XDG_CONFIG_HOME=") ||
			strings.HasPrefix(kv, "BIN=") || strings.HasPrefix(kv, "GO=") || strings.HasPrefix(kv, "LAB_FLAGS=")
	})
	return append(env, extra...)
}

// TestReadmeQuickStart runs the README's "Quick start" blocks with bash,
// as one session, in a directory holding bin/basalt and examples/: a
// server, the image server, a worker and a QEMU device, the README's QEMU
// job (a real boot, software emulation) and its simulated-device job, each
// waited for with `jobs submit --wait` (exit 0 only when Complete), then
// the stop. Every command must succeed (bash -e, pipefail), and no process
// may be left.
func TestReadmeQuickStart(t *testing.T) {
	requireLabHost(t)
	blocks := readmeShellBlocks(t, "## Quick start")
	if len(blocks) != 3 {
		t.Fatalf("README.md's quick start has %d shell blocks; this test runs 3 (the QEMU lab, the simulated device, the stop): update it", len(blocks))
	}
	script := strings.Join(blocks, "\n")
	first, rest, _ := strings.Cut(script, "\n")
	if !strings.HasPrefix(first, "make build ") {
		t.Fatalf("the quick start starts with %q, not make build: update this test", first)
	}
	for _, addr := range []string{"127.0.0.1:8000", "127.0.0.1:8080"} {
		if !strings.Contains(rest, addr) {
			t.Fatalf("the quick start does not use %s any more: update this test", addr)
		}
	}
	srvAddr, dutAddr := freePort(t), freePort(t)
	ports := strings.NewReplacer("127.0.0.1:8000", srvAddr, "127.0.0.1:8080", dutAddr)
	script = ": " + first + "\n" + ports.Replace(rest)

	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(binary, filepath.Join(dir, "bin", "basalt")); err != nil {
		t.Fatal(err)
	}
	copyTree(t, "../../examples", filepath.Join(dir, "examples"), ports.Replace)
	t.Cleanup(func() { killUnder(dir) })

	// bash -e: the first command that fails ends the run (and the test).
	cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = readmeEnv("BASALT_LISTEN="+srvAddr, "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	lw := &syncbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.WaitDelay = 10 * time.Second // background processes hold the output open
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the quick start failed: %v\n%s\nserver.log:\n%s\nworker.log:\n%s", err, lw.String(),
				tail(filepath.Join(dir, "server.log")), tail(filepath.Join(dir, "worker.log")))
		}
	case <-time.After(10 * time.Minute): // a safety bound: the QEMU job takes well under a minute
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("the quick start did not end in 10 minutes:\n%s", lw.String())
	}
	got := lw.String()
	for _, want := range []string{
		"serving " + filepath.Join(dir, "basalt-dut") + " on http://" + dutAddr + "/",
		"job 1: Finished (Complete)",
		"job 2: Finished (Complete)",
		"qemu smoke test",
		"0_smoke  -    kernel            pass",
		"0_smoke  -    boot-time         pass    2.0          s",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("no %q in the quick start's output:\n%s", want, got)
		}
	}
	// The QEMU job really booted a kernel (not the simulated one) and ran
	// its test case there: one of the server's job logs shows both.
	booted := false
	for _, log := range jobLogs(t, filepath.Join(dir, "basalt-data")) {
		booted = booted || strings.Contains(log, "] Linux version ") && !strings.Contains(log, "basalt-sim") &&
			strings.Contains(log, `{"definition":"0_smoke","case":"uname","result":"pass"}`)
	}
	if !booted {
		t.Errorf("no job log on the server shows the QEMU boot and the uname test case")
	}
	waitGone(t, dir, 30*time.Second)
}

// TestReadmeRunCommand runs the README's run command (`make run`, from
// "The two commands") in the source tree: make installs what is missing
// (scripts/ensure-deps.sh run), then runs the lab, whose sample job boots
// the board; Ctrl-C (SIGINT to the process group, as a terminal sends it)
// stops everything.
func TestReadmeRunCommand(t *testing.T) {
	requireLabHost(t)
	blocks := readmeShellBlocks(t, "## The two commands")
	if len(blocks) == 0 {
		t.Fatal("README.md's two commands have no shell block")
	}
	var run string
	for _, l := range strings.Split(blocks[0], "\n") {
		if c, _, _ := strings.Cut(l, "#"); strings.HasPrefix(strings.TrimSpace(c), "make run") {
			run = strings.TrimSpace(c)
		}
	}
	if run == "" {
		t.Fatalf("README.md's two commands have no make run:\n%s", blocks[0])
	}
	dir := t.TempDir()
	addr := freePort(t)
	t.Cleanup(func() { killUnder(dir) })
	cmd := exec.Command("bash", "-e", "-c", run)
	cmd.Dir = "../.."
	cmd.Env = readmeEnv("GO=true", "BIN="+binary, "LAB_FLAGS=--data-dir "+filepath.Join(dir, "basalt-lab")+" --listen "+addr)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &syncbuf.Buffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
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
	timeout := time.After(5 * time.Minute) // a safety bound
	interrupted := false
	for open := true; open; {
		select {
		case line, ok := <-lines:
			if !ok {
				open = false
				continue
			}
			seen = append(seen, line)
			if strings.Contains(line, "Finished") && !strings.Contains(line, "Finished Complete") {
				t.Fatalf("sample job: %s\n%s", line, strings.Join(seen, "\n"))
			}
			if strings.Contains(line, "first-steps/sys-mounted") && !interrupted {
				syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // Ctrl-C
				interrupted = true
			}
		case <-timeout:
			t.Fatalf("make run: no end of the sample job in 5 minutes:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
		}
	}
	<-done
	if !interrupted {
		t.Fatalf("make run ended before the sample job's results:\n%s\nstderr:\n%s", strings.Join(seen, "\n"), stderr.String())
	}
	for _, want := range []string{
		"Basalt ", "all-in-one lab in " + filepath.Join(dir, "basalt-lab"),
		"server        http://" + addr,
		"Running: deploy (tmpfs-deploy)", "Running: boot (boot-qemu-image)", "Running: test (lava-test-shell)",
		"Finished Complete", "result        0_first-steps/kernel-version: pass",
		"stopping      no job is running on the board", "stopped       the server and the worker",
	} {
		if !slices.ContainsFunc(seen, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no line with %q in:\n%s\nstderr:\n%s", want, strings.Join(seen, "\n"), stderr.String())
		}
	}
	if !slices.Contains(seen, "scripts/ensure-deps.sh run") {
		t.Errorf("make run did not run scripts/ensure-deps.sh run:\n%s", strings.Join(seen, "\n"))
	}
	waitGone(t, dir, 30*time.Second)
}

// tail is the end of a file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return string(b[max(0, len(b)-4000):])
}

// jobLogs returns the job logs (*.ndjson) kept under dir.
func jobLogs(t *testing.T, dir string) []string {
	t.Helper()
	var logs []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".ndjson") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			logs = append(logs, string(data))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return logs
}
