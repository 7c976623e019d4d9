package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	"github.com/basalt-lab/basalt/internal/testutil/tinyfs"
)

// Log lines the server writes once per episode of a condition, and the
// worker's line when a job's reports start failing.
const (
	diskFullLog    = "the server's disk is full"
	diskBackLog    = "storage recovered"
	dbDownLog      = "the database is unavailable"
	dbBackLog      = "the database answers again"
	reportsFailLog = "job report failed;"
	reportsBackLog = "job reports resumed"
)

// apiAnswer is an HTTP answer of the server: status, Retry-After, and the
// error's code and message when it is one.
type apiAnswer struct {
	status     int
	retryAfter string
	code, msg  string
	body       string
}

// request sends method path with token and a JSON body (may be empty).
func (s *server) request(t testing.TB, method, path, token, body string) apiAnswer {
	t.Helper()
	req, err := http.NewRequest(method, s.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := apiAnswer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(b, &e) == nil {
		a.code, a.msg = e.Error.Code, e.Error.Message
	}
	return a
}

// healthz is the status code and the status and storage fields of /healthz.
func (s *server) healthz(t testing.TB) (code int, status, storage, database string) {
	t.Helper()
	a := s.request(t, "GET", "/healthz", "", "")
	var h struct {
		Status   string
		Storage  string
		Database struct{ Status string }
	}
	if err := json.Unmarshal([]byte(a.body), &h); err != nil {
		t.Fatalf("/healthz: %v: %s", err, a.body)
	}
	return a.status, h.Status, h.Storage, h.Database.Status
}

// waitFor polls cond until it holds, failing after within (a safety bound
// on hangs, not a measure).
func waitFor(t testing.TB, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", within, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jobEnded reports whether the job process of job id wrote its result in
// the worker's data directory: its whole journal is there.
func jobEnded(workerDir string, id int64) bool {
	_, err := os.Stat(filepath.Join(workerDir, "jobs", strconv.FormatInt(id, 10), "result.json"))
	return err == nil
}

// TestDiskFullE2E runs the real server on a data directory (SQLite and
// the job logs) that fills up while a job of the real worker uploads its
// log: the uploads and a submission are answered 507 with the message
// saying so, /healthz says degraded with storage full, the server logs the
// condition once and the worker its failing reports once (retrying with
// back-off). Once space is freed everything recovers by itself: the job
// finishes Complete and its stored log is the worker's journal, byte for
// byte.
func TestDiskFullE2E(t *testing.T) {
	dir := tinyfs.Mount(t, 24<<20)
	s := startServerIn(t, http.DefaultClient, dir, "--heartbeat-interval", "500ms", "--sweep-interval", "500ms", "--health-interval", "200ms")
	l := attachLab(t, s)
	l.addDevices(t, "w1", 1, simDictionary("6s", 3000))
	wdir := t.TempDir()
	w := startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("disk-full", "minutes: 5"))
	l.waitState(t, id, "Running", 30*time.Second)
	waitFor(t, "some of the log stored", 30*time.Second, func() bool {
		_, total, err := l.api.JobLogs(t.Context(), id, 0, 1)
		return err == nil && total > 10
	})

	filler := tinyfs.Fill(t, dir)
	waitFor(t, "the worker's uploads refused", time.Minute, func() bool { return strings.Contains(w.stderr.String(), reportsFailLog) })
	a := s.request(t, "POST", "/api/v1/jobs", s.token, `{"definition": `+strconv.Quote(simJob("refused", "minutes: 5"))+`}`)
	for i := 0; i < 20 && a.status == http.StatusCreated; i++ { // a write may fit in a page the WAL has
		a = s.request(t, "POST", "/api/v1/jobs", s.token, `{"definition": `+strconv.Quote(simJob(fmt.Sprintf("refused-%d", i), "minutes: 5"))+`}`)
	}
	if a.status != http.StatusInsufficientStorage || a.code != "storage_full" || !strings.HasPrefix(a.msg, "the server's disk is full: ") || a.retryAfter == "" {
		t.Errorf("submission on a full disk: %d %s %q (Retry-After %q)", a.status, a.code, a.msg, a.retryAfter)
	}
	waitFor(t, "/healthz degraded", 30*time.Second, func() bool {
		code, status, storage, _ := s.healthz(t)
		return code == http.StatusServiceUnavailable && status == "degraded" && storage == "full"
	})
	// the job ends while the disk is full: the rest of its log waits in the
	// worker's journal
	waitFor(t, "the job process ended", time.Minute, func() bool { return jobEnded(wdir, id) })

	tinyfs.Free(t, filler)
	jobs := l.waitFinished(t, []int64{id}, 2*time.Minute)
	l.checkJob(t, jobs[id], wdir)
	waitFor(t, "/healthz ok", 30*time.Second, func() bool {
		code, status, storage, _ := s.healthz(t)
		return code == http.StatusOK && status == "ok" && storage == "ok"
	})
	checkEpisodeLogs(t, s, w, diskFullLog, diskBackLog)
}

// TestDatabaseOutageE2E stops the real server's PostgreSQL while a job of
// the real worker uploads its log, and starts it again: meanwhile requests
// with a token are answered 503 with a Retry-After, /healthz says down,
// the server logs the outage once and the worker its failing reports once;
// after the restart the server recovers by itself (logged once), the job
// finishes Complete and its stored log is the worker's journal, byte for
// byte.
func TestDatabaseOutageE2E(t *testing.T) {
	cl := pgtest.NewCluster(t)
	s := startServer(t, "--database", cl.DSN(t), "--heartbeat-interval", "500ms", "--sweep-interval", "500ms", "--health-interval", "200ms")
	l := attachLab(t, s)
	l.addDevices(t, "w1", 1, simDictionary("6s", 3000))
	wdir := t.TempDir()
	w := startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("db-outage", "minutes: 5"))
	l.waitState(t, id, "Running", 30*time.Second)
	waitFor(t, "some of the log stored", 30*time.Second, func() bool {
		_, total, err := l.api.JobLogs(t.Context(), id, 0, 1)
		return err == nil && total > 10
	})

	cl.Stop(t)
	waitFor(t, "the worker's reports refused", time.Minute, func() bool { return strings.Contains(w.stderr.String(), reportsFailLog) })
	for _, path := range []string{"/api/v1/jobs", fmt.Sprintf("/api/v1/jobs/%d", id), "/api/v1/system/whoami"} {
		a := s.request(t, "GET", path, s.token, "")
		if a.status != http.StatusServiceUnavailable || a.code != "database_unavailable" || !strings.HasPrefix(a.msg, "the database is unavailable: ") || a.retryAfter == "" {
			t.Errorf("GET %s with a token, PostgreSQL stopped: %d %s %q (Retry-After %q)", path, a.status, a.code, a.msg, a.retryAfter)
		}
	}
	waitFor(t, "/healthz down", 30*time.Second, func() bool {
		code, status, _, db := s.healthz(t)
		return code == http.StatusServiceUnavailable && status == "down" && db == "unavailable"
	})
	// the job ends during the outage: the rest of its log waits in the
	// worker's journal
	waitFor(t, "the job process ended", time.Minute, func() bool { return jobEnded(wdir, id) })

	cl.Start(t)
	jobs := l.waitFinished(t, []int64{id}, 2*time.Minute)
	l.checkJob(t, jobs[id], wdir)
	waitFor(t, "/healthz ok", 30*time.Second, func() bool {
		code, status, _, db := s.healthz(t)
		return code == http.StatusOK && status == "ok" && db == "ok"
	})
	checkEpisodeLogs(t, s, w, dbDownLog, dbBackLog)
}

// checkEpisodeLogs asserts that the server logged a condition once when it
// started (startLog) and once when it ended (endLog, waited for: the probe
// ends an episode a few periods after the last failure), never as failed
// requests, and that the worker logged its failing reports once and their
// resumption once.
func checkEpisodeLogs(t testing.TB, s *server, w *workerProc, startLog, endLog string) {
	t.Helper()
	waitFor(t, "the recovery logged", 30*time.Second, func() bool { return strings.Contains(s.stderr.String(), endLog) })
	slog, wlog := s.stderr.String(), w.stderr.String()
	for _, c := range []struct {
		log, line, what string
		want            int
	}{
		{slog, startLog, "the server logged the condition", 1},
		{slog, endLog, "the server logged its end", 1},
		{slog, "request failed", "the server logged failed requests (bugs)", 0},
		{wlog, reportsFailLog, "the worker logged its failing reports", 1},
		{wlog, reportsBackLog, "the worker logged its reports resuming", 1},
	} {
		if n := strings.Count(c.log, c.line); n != c.want {
			t.Errorf("%s %d times, want %d:\n%s", c.what, n, c.want, c.log)
		}
	}
	if testing.Verbose() {
		t.Logf("server log:\n%s\nworker log:\n%s", slog, wlog)
	}
}
