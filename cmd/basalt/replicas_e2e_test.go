package main_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// haproxyBinary is Debian's haproxy (package haproxy, installed by
// scripts/ensure-deps.sh test).
const haproxyBinary = "/usr/sbin/haproxy"

// replicaArgs are the flags of every replica: job logs in PostgreSQL, so
// that any replica appends to and serves any job's log; short periods, so
// that a dead leader is replaced within a few seconds.
var replicaArgs = []string{
	"--log-store", "database",
	"--leader-lease", "2s",
	"--heartbeat-interval", "500ms",
	"--sweep-interval", "500ms",
	"--health-interval", "300ms",
}

// replicaLab is a lab of three `basalt server` replicas on one private
// PostgreSQL, behind haproxy, with five workers: three reach the lab
// through haproxy, two are given the three replicas' URLs.
type replicaLab struct {
	*lab // the lab as seen through haproxy
	cl   *pgtest.Cluster
	dsn  string
	// addrs, dirs and servers are the replicas: their listening address
	// and data directory, kept across restarts, and the running process.
	addrs, dirs []string
	servers     []*server
	all         []*server // every replica process started, killed ones too
	proxy       *haproxy
	// certFile is the replicas' certificate (for 127.0.0.1), keyFile its
	// key, hc a client trusting it.
	certFile, keyFile string
	hc                *http.Client
	wdirs             []string // the workers' data directories
	wprocs            []*workerProc
}

// newReplicaLab starts the database, the replicas, haproxy and the
// workers (each with devices simulated devices), ready for jobs.
func newReplicaLab(t *testing.T, devices int, dict string) *replicaLab {
	t.Helper()
	if _, err := os.Stat(haproxyBinary); err != nil {
		t.Fatalf("haproxy is not installed (%v): apt-get install haproxy, or run scripts/ensure-deps.sh test as root", err)
	}
	r := &replicaLab{cl: pgtest.NewCluster(t)}
	r.dsn = r.cl.DSN(t)
	var pool *x509.CertPool
	r.certFile, r.keyFile, pool = selfSigned(t)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	r.hc = &http.Client{Transport: tr, Timeout: 2 * time.Second}
	for i := range 3 {
		r.addrs = append(r.addrs, freePort(t))
		r.dirs = append(r.dirs, t.TempDir())
		if i > 0 { // the first replica made the administrator: log in as it
			copyAdminCredentials(t, r.dirs[0], r.dirs[i])
		}
		r.servers = append(r.servers, r.startReplica(t, i))
	}
	r.proxy = startHAProxy(t, r.hc, r.addrs)
	front := *r.servers[0]
	front.url, front.caFile = r.proxy.url, r.certFile
	r.lab = attachLab(t, &front)
	var urls []string
	for _, s := range r.servers {
		urls = append(urls, "--server", s.url)
	}
	for i := range 5 {
		name := fmt.Sprintf("w%d", i+1)
		r.addDevices(t, name, devices, dict)
		dir := t.TempDir()
		var w *workerProc
		if i < 3 {
			w = startWorker(t, r.proxy.url, name, r.workers[name], dir, "--ca-file", r.certFile)
		} else { // the first URL is given as the worker's --server
			w = startWorker(t, r.servers[0].url, name, r.workers[name], dir, append(urls[2:], "--ca-file", r.certFile)...)
		}
		r.wdirs, r.wprocs = append(r.wdirs, dir), append(r.wprocs, w)
	}
	return r
}

// startReplica starts replica i on its address and data directory.
func (r *replicaLab) startReplica(t *testing.T, i int) *server {
	t.Helper()
	args := append([]string{"--listen", r.addrs[i], "--database", r.dsn, "--tls-cert", r.certFile, "--tls-key", r.keyFile}, replicaArgs...)
	s := startServerIn(t, r.hc, r.dirs[i], args...)
	s.caFile = r.certFile
	r.all = append(r.all, s)
	return s
}

// kill9 kills replica i with SIGKILL.
func (r *replicaLab) kill9(i int) {
	r.servers[i].cmd.Process.Kill()
	r.servers[i].cmd.Wait()
}

// replicaHealth is what a replica's /healthz says; ok is false when the
// replica does not answer.
type replicaHealth struct {
	ok       bool
	code     int
	Status   string
	Leader   bool `json:"scheduler_leader"`
	Database struct{ Status string }
}

// health asks replica i for its /healthz directly (not through haproxy).
func (r *replicaLab) health(i int) replicaHealth {
	resp, err := r.hc.Get(r.servers[i].url + "/healthz")
	if err != nil {
		return replicaHealth{}
	}
	defer resp.Body.Close()
	var h replicaHealth
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return replicaHealth{}
	}
	h.ok, h.code = true, resp.StatusCode
	return h
}

// leader waits until exactly one replica says it is the scheduler leader
// and returns its index and pid.
func (r *replicaLab) leader(t *testing.T) (idx, pid int) {
	t.Helper()
	waitFor(t, "one scheduler leader", 30*time.Second, func() bool {
		n := 0
		for i := range r.servers {
			if r.health(i).Leader {
				idx, n = i, n+1
			}
		}
		return n == 1
	})
	return idx, r.servers[idx].cmd.Process.Pid
}

// checkAll asserts every job with checkJob (Complete, its exact results,
// its stored log, read through haproxy, the journal byte for byte) and
// that it ran once: one worker has its job directory, logged starting its
// process once, and its journal holds one run of the pipeline.
func (r *replicaLab) checkAll(t *testing.T, ids []int64, within time.Duration) {
	t.Helper()
	jobs := r.waitFinished(t, ids, within)
	for _, id := range ids {
		var holders []int
		for i, d := range r.wdirs {
			if _, err := os.Stat(filepath.Join(d, "jobs", strconv.FormatInt(id, 10))); err == nil {
				holders = append(holders, i)
			}
		}
		if len(holders) != 1 {
			t.Errorf("job %d: job directories on workers %v, want one", id, holders)
			continue
		}
		w := holders[0]
		r.checkJob(t, jobs[id], r.wdirs[w])
		if jobs[id].Health != "Complete" {
			r.logJob(t, id, w)
		}
		started := regexp.MustCompile(`(?m)msg="job process started".* job=` + strconv.FormatInt(id, 10) + `( |$)`)
		if n := len(started.FindAllString(r.wprocs[w].stderr.String(), -1)); n != 1 {
			t.Errorf("job %d: worker w%d started its process %d times, want once", id, w+1, n)
		}
		journal, err := os.ReadFile(filepath.Join(r.wdirs[w], "jobs", strconv.FormatInt(id, 10), "log.ndjson"))
		if err != nil {
			continue // checkJob said so
		}
		if n := strings.Count(string(journal), pipelineStart); n != 1 {
			t.Errorf("job %d: %d pipeline starts (%q) in the journal, want one", id, n, pipelineStart)
		}
	}
	for _, s := range r.all {
		log := s.stderr.String()
		if strings.Contains(log, "panic") || strings.Contains(log, "request failed") {
			t.Errorf("replica (pid %d) logged a panic or a failed request (bugs):\n%s", s.cmd.Process.Pid, log)
		}
	}
	for i, w := range r.wprocs {
		log := w.stderr.String()
		t.Logf("worker w%d: %d moves between servers, %d streams ended", i+1, strings.Count(log, "moved to server"),
			strings.Count(log, "stream to the server ended"))
	}
	if t.Failed() {
		t.Logf("haproxy:\n%s", r.proxy.output.String())
	}
}

// pipelineStart is the journal's record of the pipeline's first action
// starting: one per run of a job.
const pipelineStart = `start: 0 validate`

// haproxy is a running haproxy in front of the replicas.
type haproxy struct {
	url    string
	cmd    *exec.Cmd
	output *syncbuf.Buffer
}

// startHAProxy runs haproxy on a free loopback port with a private
// configuration, the one docs/operations.md (*Load balancer*) gives, read from the doc: TCP
// mode, passing the replicas' TLS through untouched; a connection to
// the replica with the fewest, each replica checked with GET /healthz over
// TLS; a connection a dead replica refuses goes to another (redispatch,
// retries); long timeouts for the workers' streams. hc trusts the
// replicas' certificate.
func startHAProxy(t *testing.T, hc *http.Client, backends []string) *haproxy {
	t.Helper()
	listen := freePort(t)
	cfg, err := haproxyConfig(listen, backends)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h := &haproxy{url: "https://" + listen, output: &syncbuf.Buffer{}}
	h.cmd = exec.Command(haproxyBinary, "-f", path, "-db")
	h.cmd.Stdout, h.cmd.Stderr = h.output, h.output
	if err := h.cmd.Start(); err != nil {
		t.Fatalf("haproxy: %v", err)
	}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	waitFor(t, "haproxy serving /healthz", 30*time.Second, func() bool {
		if h.cmd.ProcessState != nil {
			t.Fatalf("haproxy exited:\n%s", h.output.String())
		}
		resp, err := hc.Get(h.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return h
}

// TestReplicasHAProxy runs 100 jobs on a lab of three replicas behind
// haproxy (CONTRIBUTING.md, docs/operations.md), killing a replica with SIGKILL five times
// during the run, the scheduler leader first, and restarting each after a
// pause. Every job ends Complete, once, with its exact results and its
// whole log, and another replica took the lead.
func TestReplicasHAProxy(t *testing.T) {
	r := newReplicaLab(t, 2, simDictionary("3s", 300))
	var ids []int64
	for i := range 100 {
		ids = append(ids, r.submit(t, simJob(fmt.Sprintf("replicas-%03d", i), "minutes: 5")))
	}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 14))
	t.Logf("kills chosen with seed %d", seed)
	leaders := map[int]bool{}
	for k := range 5 {
		idx, pid := r.leader(t)
		leaders[pid] = true
		victim := idx
		if k > 0 {
			victim = rng.IntN(len(r.servers))
		}
		r.kill9(victim)
		t.Logf("%s: killed", time.Now().UTC().Format("15:04:05.000"))
		t.Logf("kill %d: replica r%d (pid %d, leader: %v)", k+1, victim+1, r.servers[victim].cmd.Process.Pid, victim == idx)
		if k == 4 {
			if n := r.countFinished(ids); n == len(ids) {
				t.Errorf("every job had finished before the last kill: it hit no run")
			} else {
				t.Logf("%d of %d jobs had finished at the last kill", n, len(ids))
			}
		}
		time.Sleep(time.Second)
		r.servers[victim] = r.startReplica(t, victim)
		time.Sleep(time.Second)
	}
	r.checkAll(t, ids, 4*time.Minute)
	_, pid := r.leader(t)
	leaders[pid] = true
	if len(leaders) < 2 {
		t.Errorf("the scheduler leader never moved (leaders %v)", leaders)
	}
}

// countFinished is the number of jobs Finished now (as far as a request
// through haproxy tells).
func (r *replicaLab) countFinished(ids []int64) int {
	n := 0
	for _, id := range ids {
		if j, err := r.api.GetJob(context.Background(), id); err == nil && j.State == "Finished" {
			n++
		}
	}
	return n
}

// TestReplicasPostgresRestart runs 30 jobs on the lab of
// TestReplicasHAProxy and stops PostgreSQL in the middle of the run: every
// replica says so on /healthz (503, database unavailable) and stays up;
// once PostgreSQL is started again the same processes answer 200 and
// every job ends Complete, once, with its exact results and its whole log.
func TestReplicasPostgresRestart(t *testing.T) {
	r := newReplicaLab(t, 2, simDictionary("1500ms", 150))
	var ids []int64
	for i := range 30 {
		ids = append(ids, r.submit(t, simJob(fmt.Sprintf("pg-restart-%02d", i), "minutes: 5")))
	}
	r.waitFinished(t, ids[:1], time.Minute)
	pids := make([]int, len(r.servers))
	for i, s := range r.servers {
		pids[i] = s.cmd.Process.Pid
	}
	n := r.countFinished(ids)
	r.cl.Stop(t)
	t.Logf("PostgreSQL stopped with %d of %d jobs finished", n, len(ids))
	if n == len(ids) {
		t.Errorf("every job had finished before PostgreSQL stopped: the outage hit no run")
	}
	for i := range r.servers {
		waitFor(t, fmt.Sprintf("replica r%d reporting the database unavailable", i+1), 30*time.Second, func() bool {
			h := r.health(i)
			return h.ok && h.code == http.StatusServiceUnavailable && h.Status == "down" && h.Database.Status == "unavailable"
		})
	}
	time.Sleep(3 * time.Second) // longer than the lease: nobody can renew it
	for i, s := range r.servers {
		if !alive(s.cmd.Process.Pid) {
			t.Fatalf("replica r%d exited while PostgreSQL was down:\n%s", i+1, s.stderr.String())
		}
	}
	r.cl.Start(t)
	for i := range r.servers {
		waitFor(t, fmt.Sprintf("replica r%d healthy again", i+1), time.Minute, func() bool {
			h := r.health(i)
			return h.ok && h.code == http.StatusOK && h.Status == "ok"
		})
		if r.servers[i].cmd.Process.Pid != pids[i] {
			t.Errorf("replica r%d was restarted", i+1)
		}
	}
	r.checkAll(t, ids, 3*time.Minute)
	r.leader(t)
}

// alive reports whether process pid runs (and is not a zombie waiting to
// be reaped).
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// logJob logs what worker w and every replica logged of job id.
func (r *replicaLab) logJob(t *testing.T, id int64, w int) {
	t.Helper()
	mention := regexp.MustCompile(`(?m)^.*(job=|jobs/|job )` + strconv.FormatInt(id, 10) + `\b.*$`)
	t.Logf("worker w%d on job %d:\n%s", w+1, id, strings.Join(mention.FindAllString(r.wprocs[w].stderr.String(), -1), "\n"))
	links := regexp.MustCompile(`(?m)^.*(moved to server|heartbeat|stream to the server).*$`)
	t.Logf("worker w%d's link:\n%s", w+1, strings.Join(links.FindAllString(r.wprocs[w].stderr.String(), -1), "\n"))
	for _, s := range r.all {
		if m := mention.FindAllString(s.stderr.String(), -1); len(m) > 0 {
			t.Logf("replica pid %d on job %d:\n%s", s.cmd.Process.Pid, id, strings.Join(m, "\n"))
		}
	}
}

// haproxyConfig is the HAProxy configuration docs/operations.md gives
// (*Load balancer*), taken from the doc so that the doc is what runs: its
// frontend bound to listen, its servers replaced by backends, health
// checks every 300 ms instead of 1 s (a faster test), and a global section
// and a log line for the test.
func haproxyConfig(listen string, backends []string) (string, error) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "operations.md"))
	if err != nil {
		return "", err
	}
	_, rest, ok := strings.Cut(string(doc), "### Load balancer")
	if !ok {
		return "", errors.New("docs/operations.md has no Load balancer section")
	}
	_, rest, ok = strings.Cut(rest, "```\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 || !strings.HasPrefix(block, "defaults") {
		return "", fmt.Errorf("docs/operations.md: no HAProxy configuration in the Load balancer section")
	}
	var out strings.Builder
	out.WriteString("global\n    maxconn 2000\n")
	servers := 0
	for _, line := range strings.Split(block, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "bind":
			line = "    bind " + listen
		case len(f) > 0 && f[0] == "server":
			if servers == 0 {
				for i, b := range backends {
					fmt.Fprintf(&out, "    server r%d %s\n", i+1, b)
				}
			}
			servers++
			continue
		case line == "defaults":
			line += "\n    log stderr format raw local0 warning"
		}
		out.WriteString(strings.Replace(line, " inter 1s ", " inter 300ms ", 1) + "\n")
	}
	if servers == 0 || !strings.Contains(out.String(), "inter 300ms") {
		return "", fmt.Errorf("docs/operations.md: the HAProxy configuration changed shape (servers %d):\n%s", servers, block)
	}
	return out.String(), nil
}
