package main_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "basalt-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "basalt")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build basalt: %v\n%s", err, out)
		os.Exit(1)
	}
	code := 0
	func() {
		defer os.RemoveAll(dir)
		defer func() {
			if err := pgtest.Stop(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				code = 1
			}
		}()
		code = m.Run()
	}()
	os.Exit(code)
}

// server is a running `basalt server` process.
type server struct {
	url     string
	dataDir string
	cmd     *exec.Cmd
	token   string
	config  string
	stderr  *syncbuf.Buffer // the server's log
	caFile  string          // the CA a client needs for it (TLS), "" if none
}

var listenLine = regexp.MustCompile(`listening on\s+(https?://\S+)`)

// startServer runs the real binary and waits until it answers /healthz.
func startServer(t testing.TB, args ...string) *server {
	return startServerClient(t, http.DefaultClient, args...)
}

// startServerTLS is startServer for a server whose certificate pool trusts.
func startServerTLS(t testing.TB, pool *x509.CertPool, args ...string) *server {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return startServerClient(t, &http.Client{Transport: tr}, args...)
}

func startServerClient(t testing.TB, client *http.Client, args ...string) *server {
	return startServerIn(t, client, t.TempDir(), args...)
}

// restartServer starts a new server process on old's data directory,
// listening on addr (the same address, so that workers find it again).
func restartServer(t testing.TB, old *server, addr string) *server {
	s := startServerIn(t, http.DefaultClient, old.dataDir, "--listen", addr, "--heartbeat-interval", "500ms", "--sweep-interval", "500ms")
	s.config = old.config
	return s
}

func startServerIn(t testing.TB, client *http.Client, dataDir string, args ...string) *server {
	t.Helper()
	s := &server{dataDir: dataDir, stderr: &syncbuf.Buffer{}}
	s.cmd = exec.Command(binary, append([]string{"server", "--listen", "127.0.0.1:0", "--data-dir", s.dataDir}, args...)...)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := s.stderr
	s.cmd.Stderr = stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- s.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			s.cmd.Process.Kill()
			t.Errorf("server did not stop on SIGINT; stderr:\n%s", stderr.String())
		}
	})
	lines := bufio.NewScanner(stdout)
	var out strings.Builder
	for lines.Scan() {
		out.WriteString(lines.Text() + "\n")
		if m := listenLine.FindStringSubmatch(lines.Text()); m != nil {
			s.url = m[1]
		}
		if strings.Contains(lines.Text(), "client ") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if s.url == "" {
		t.Fatalf("server printed no address:\n%s\nstderr:\n%s", out.String(), stderr.String())
	}
	creds, err := os.ReadFile(filepath.Join(s.dataDir, "admin-credentials"))
	if err != nil {
		t.Fatalf("admin credentials: %v\nstdout:\n%s", err, out.String())
	}
	if fi, _ := os.Stat(filepath.Join(s.dataDir, "admin-credentials")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin-credentials mode %v, want 0600", fi.Mode().Perm())
	}
	for _, l := range strings.Split(string(creds), "\n") {
		if v, ok := strings.CutPrefix(l, "token: "); ok {
			s.token = v
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(s.url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not healthy: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.config = filepath.Join(t.TempDir(), "basalt.yaml")
	return s
}

// run executes a client command of the binary against s and returns its
// stdout and exit code.
func (s *server) run(t testing.TB, args ...string) (string, int) {
	t.Helper()
	stdout, stderr, code := runBinary(t, append([]string{"--config", s.config}, args...)...)
	if code != 0 {
		t.Logf("basalt %s: exit %d\n%s", strings.Join(args, " "), code, stderr)
	}
	return stdout, code
}

// runBinary runs the binary with args and returns its stdout, stderr and
// exit code.
func runBinary(t testing.TB, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func (s *server) mustRun(t testing.TB, args ...string) string {
	t.Helper()
	out, code := s.run(t, args...)
	if code != 0 {
		t.Fatalf("basalt %s: exit %d", strings.Join(args, " "), code)
	}
	return out
}

var smokeJob = labtest.SmokeJob

// TestServerEndToEnd drives the real binaries: server on SQLite and on
// PostgreSQL, the CLI for set-up and submission, a worker heartbeat over
// HTTP, and the scheduler placing the job the moment the worker is Online.
func TestServerEndToEnd(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			var args []string
			if db == "postgres" {
				args = []string{"--database", pgtest.DSN(t)}
			}
			s := startServer(t, args...)
			s.mustRun(t, "identities", "add", "local", "--uri", s.url, "--username", "admin", "--token", s.token, "--default")
			s.mustRun(t, "device-types", "add", "qemu")
			out := s.mustRun(t, "workers", "add", "w1", "--json")
			var nw struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal([]byte(out), &nw); err != nil || nw.Token == "" {
				t.Fatalf("workers add --json: %v: %s", err, out)
			}
			s.mustRun(t, "devices", "add", "qemu-01", "--type", "qemu", "--worker", "w1", "--health", "GOOD")
			jobFile := filepath.Join(t.TempDir(), "job.yaml")
			if err := os.WriteFile(jobFile, []byte(smokeJob), 0o644); err != nil {
				t.Fatal(err)
			}
			out = s.mustRun(t, "jobs", "submit", jobFile)
			id, err := strconv.Atoi(strings.TrimSpace(regexp.MustCompile(`\d+`).FindString(out)))
			if err != nil {
				t.Fatalf("jobs submit printed %q", out)
			}
			show := func() map[string]any {
				out := s.mustRun(t, "jobs", "show", strconv.Itoa(id), "--json")
				var j map[string]any
				if err := json.Unmarshal([]byte(out), &j); err != nil {
					t.Fatalf("jobs show --json: %v: %s", err, out)
				}
				return j
			}
			if st := show()["state"]; st != "Submitted" {
				t.Fatalf("job state %v before the worker is online", st)
			}
			// the worker says it is alive; the scheduler reacts to the event
			req, _ := http.NewRequestWithContext(context.Background(), "POST", s.url+"/api/v1/workers/w1/heartbeat", strings.NewReader(`{"version":"e2e"}`))
			req.Header.Set("Authorization", "Token "+nw.Token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("heartbeat: %d", resp.StatusCode)
			}
			deadline := time.Now().Add(5 * time.Second) // the sweep is 10 s: only the event can beat this
			for {
				j := show()
				if j["state"] == "Scheduled" && j["actual_device"] == "qemu-01" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("job not scheduled after the worker came online: %v", j)
				}
				time.Sleep(20 * time.Millisecond)
			}
			// a bad definition: exit code and a line:column message
			bad := filepath.Join(t.TempDir(), "bad.yaml")
			os.WriteFile(bad, []byte(strings.Replace(smokeJob, "method: qemu", "method: fastboot", 1)), 0o644)
			if _, code := s.run(t, "jobs", "submit", bad); code != 2 {
				t.Errorf("invalid job: exit %d, want 2", code)
			}
		})
	}
}

// TestAdminBootstrap: `basalt admin` creates a superuser and tokens straight
// on the database, and a server started later accepts them.
func TestAdminBootstrap(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary, "admin", "create-superuser", "--data-dir", dir, "--username", "root", "--password-stdin")
	cmd.Stdin = strings.NewReader("a long enough password\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("create-superuser: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`token: (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no token printed:\n%s", out)
	}
	again := exec.Command(binary, "admin", "create-superuser", "--data-dir", dir, "--username", "root")
	if err := again.Run(); err == nil || again.ProcessState.ExitCode() != 5 {
		t.Errorf("duplicate superuser: %v (exit %d), want exit 5", err, again.ProcessState.ExitCode())
	}
	srv := exec.Command(binary, "server", "--listen", "127.0.0.1:0", "--data-dir", dir)
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { srv.Process.Signal(os.Interrupt); srv.Wait() }()
	sc := bufio.NewScanner(stdout)
	var url string
	var printed strings.Builder
	for sc.Scan() {
		printed.WriteString(sc.Text() + "\n")
		if mm := listenLine.FindStringSubmatch(sc.Text()); mm != nil {
			url = mm[1]
		}
		if strings.Contains(sc.Text(), "client ") {
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if _, err := os.Stat(filepath.Join(dir, "admin-credentials")); err == nil {
		t.Error("server created a bootstrap admin although a superuser exists")
	}
	req, _ := http.NewRequest("GET", url+"/api/v1/system/whoami", nil)
	req.SetBasicAuth("root", string(m[1]))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%v\n%s", err, printed.String())
	}
	defer resp.Body.Close()
	var who struct {
		User        string `json:"user"`
		IsSuperuser bool   `json:"is_superuser"`
	}
	json.NewDecoder(resp.Body).Decode(&who)
	if who.User != "root" || !who.IsSuperuser {
		t.Errorf("whoami %+v", who)
	}
}

// BenchmarkServerIdleRSS starts the real server on SQLite, lets it settle
// and reports its resident memory (VmRSS) in MB.
func BenchmarkServerIdleRSS(b *testing.B) {
	for b.Loop() {
		s := startServer(b)
		time.Sleep(3 * time.Second)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
		if err != nil {
			b.Fatal(err)
		}
		m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(status)
		if m == nil {
			b.Fatal("no VmRSS")
		}
		kb, _ := strconv.Atoi(string(m[1]))
		b.ReportMetric(float64(kb)/1024, "MB-RSS")
	}
}
