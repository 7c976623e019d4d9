package server_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	"github.com/basalt-lab/basalt/internal/testutil/tinyfs"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

func TestMain(m *testing.M) {
	auth.Argon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	pgtest.Main(m)
}

// Log lines of the conditions' episodes.
const (
	diskFullLog = "the server's disk is full"
	diskBackLog = "storage recovered"
	dbDownLog   = "the database is unavailable"
	dbBackLog   = "the database answers again"
)

// testLab is a running server with admin's token, worker w1 (its token) with
// device d1, and the server's log.
type testLab struct {
	t      *testing.T
	srv    *server.Server
	url    string
	admin  string // admin's API token
	worker string // w1's token
	logged *syncbuf.Buffer
}

func startLab(t *testing.T, cfg server.Config) *testLab {
	t.Helper()
	l := &testLab{t: t, logged: &syncbuf.Buffer{}}
	cfg.Listen = "127.0.0.1:0"
	cfg.Logger = slog.New(slog.NewTextHandler(l.logged, nil))
	cfg.App.HealthInterval = 50 * time.Millisecond
	srv, err := server.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	l.srv, l.url = srv, srv.URL()
	a := srv.App()
	u, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	ap, err := auth.UserPrincipal(u)
	must(t, err)
	_, l.admin, err = a.CreateToken(ctx, ap, "admin", "test", time.Time{})
	must(t, err)
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu"}))
	l.worker, err = a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(ctx, ap, lab.Device{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
	return l
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// answer is an HTTP answer: status, Retry-After, error code and message
// (of a JSON error), and the body.
type answer struct {
	status     int
	retryAfter string
	code, msg  string
	body       string
}

func (a answer) String() string {
	return fmt.Sprintf("%d (Retry-After %q) %s", a.status, a.retryAfter, a.body)
}

// do sends a request with token (none when empty); worker requests carry
// the protocol header.
func (l *testLab) do(method, path, token, contentType, body string) answer {
	l.t.Helper()
	req, err := http.NewRequest(method, l.url+path, strings.NewReader(body))
	must(l.t, err)
	if token != "" {
		req.Header.Set("Authorization", "Token "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if strings.HasPrefix(path, wp.Prefix) {
		req.Header.Set(wp.VersionHeader, fmt.Sprint(wp.Version))
	}
	resp, err := http.DefaultClient.Do(req)
	must(l.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), body: string(b)}
	var e struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(b, &e) == nil {
		a.code, a.msg = e.Error.Code, e.Error.Message
	}
	return a
}

// health is /healthz's answer.
type health struct {
	code     int
	Status   string
	Health   string
	Database struct{ Status string }
	LogStore struct{ Status string } `json:"log_store"`
	Storage  string
	Checked  time.Time
	DiskFree *int64 `json:"disk_free"`
	Faults   []struct {
		Kind     string
		Failures int64
		Message  string
	}
}

func (l *testLab) health() health {
	l.t.Helper()
	resp, err := http.Get(l.url + "/healthz")
	must(l.t, err)
	defer resp.Body.Close()
	var h health
	must(l.t, json.NewDecoder(resp.Body).Decode(&h))
	h.code = resp.StatusCode
	return h
}

// waitHealth waits until /healthz says status (a safety bound, not a
// measure).
func (l *testLab) waitHealth(status string) health {
	l.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		h := l.health()
		if h.Status == status {
			return h
		}
		if time.Now().After(deadline) {
			l.t.Fatalf("/healthz never said %s: %+v\nserver log:\n%s", status, h, l.logged.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// count is how many times the server's log holds s.
func (l *testLab) count(s string) int { return strings.Count(l.logged.String(), s) }

// TestDiskFull runs a server whose data directory (SQLite and the log
// store) is a real filesystem that fills up: a log upload and a submission
// are answered 507 with the message saying so and a Retry-After (not 500),
// the web UI answers 507 too, /healthz says degraded, storage full, and the
// condition is logged once however many requests it fails. Once space is
// freed, /healthz says ok, the recovery is logged once, and the same
// upload, the finish and a submission succeed: nothing was lost.
func TestDiskFull(t *testing.T) {
	dir := tinyfs.Mount(t, 16<<20)
	l := startLab(t, server.Config{DataDir: dir})
	ctx := context.Background()
	a := l.srv.App()
	admin := l.admin
	if h := l.health(); h.code != 200 || h.Status != app.HealthOK || h.Health != "good" || h.LogStore.Status != "ok" || h.DiskFree == nil || *h.DiskFree <= 0 {
		t.Fatalf("/healthz of a healthy server: %+v", h)
	}
	// a job Running on w1, with half its log uploaded
	if r := l.do("POST", "/api/v1/jobs", admin, "application/json", `{"definition": `+jsonString(labtest.Job("full", "qemu", ""))+`}`); r.status != 201 {
		t.Fatalf("submit: %v", r)
	}
	if r := l.do("POST", wp.Prefix+wp.PathHeartbeat, l.worker, "application/json", `{"name":"w1","version":"test","jobs":[]}`); r.status != 200 {
		t.Fatalf("heartbeat: %v", r)
	}
	_, err := a.SchedulePass(ctx)
	must(t, err)
	if r := l.do("POST", fmt.Sprintf(wp.Prefix+wp.PathStart, 1), l.worker, "application/json", ""); r.status != 200 {
		t.Fatalf("start: %v", r)
	}
	journal := strings.Repeat(`{"dt":"2026-11-24T12:00:00Z","lvl":"target","msg":"console output of the job, long enough to need pages"}`+"\n", 500)
	half := len(journal) / 2
	upload := func(off int) answer {
		return l.do("PUT", fmt.Sprintf(wp.Prefix+wp.PathLog+"?offset=%d", 1, off), l.worker, "application/x-ndjson", journal[off:])
	}
	if r := l.do("PUT", fmt.Sprintf(wp.Prefix+wp.PathLog+"?offset=0", 1), l.worker, "application/x-ndjson", journal[:half]); r.status != 200 {
		t.Fatalf("upload: %v", r)
	}

	filler := tinyfs.Fill(t, dir)
	const diskFull = "the server's disk is full: "
	for range 5 {
		r := upload(half)
		if r.status != http.StatusInsufficientStorage || r.code != "storage_full" || !strings.HasPrefix(r.msg, diskFull) || r.retryAfter != "30" {
			t.Fatalf("log upload on a full disk: %v", r)
		}
	}
	// a submission writes the database: a write may still fit in a page
	// SQLite's WAL already has, the next ones do not
	var r answer
	for i := 0; i < 20 && r.status != http.StatusInsufficientStorage; i++ {
		r = l.do("POST", "/api/v1/jobs", admin, "application/json", `{"definition": `+jsonString(labtest.Job(fmt.Sprintf("full-%d", i), "qemu", ""))+`}`)
		if r.status != 201 && r.status != http.StatusInsufficientStorage {
			t.Fatalf("submission on a full disk: %v", r)
		}
	}
	if r.status != http.StatusInsufficientStorage || r.code != "storage_full" || !strings.HasPrefix(r.msg, diskFull) || r.retryAfter != "30" {
		t.Fatalf("submissions on a full disk: %v", r)
	}
	form := url.Values{"definition": {labtest.Job("web-full", "qemu", "")}}.Encode()
	if r := l.do("POST", "/jobs/new", admin, "application/x-www-form-urlencoded", form); r.status != http.StatusInsufficientStorage || !strings.Contains(r.body, "disk is full") {
		t.Errorf("web submission on a full disk: %d\n%s", r.status, r.body)
	}
	h := l.waitHealth(app.HealthDegraded)
	if h.code != http.StatusServiceUnavailable || h.Health != "bad" || h.Storage != "full" || h.LogStore.Status != "full" || h.Database.Status != "ok" ||
		len(h.Faults) != 1 || h.Faults[0].Kind != app.FaultStorageFull || h.Faults[0].Failures < 7 || !strings.HasPrefix(h.Faults[0].Message, diskFull) {
		t.Errorf("/healthz on a full disk: %+v", h)
	}
	if c := l.count(diskFullLog); c != 1 {
		t.Errorf("the full disk was logged %d times, want once:\n%s", c, l.logged.String())
	}
	if c := l.count("request failed"); c != 0 {
		t.Errorf("a full disk was logged as a failed request (a bug):\n%s", l.logged.String())
	}

	tinyfs.Free(t, filler)
	if r := upload(half); r.status != 200 {
		t.Fatalf("the same upload after space was freed: %v", r)
	}
	sum := sha256.Sum256([]byte(journal))
	fin := fmt.Sprintf(`{"result":"pass","log_size":%d,"log_sha256":%q}`, len(journal), hex.EncodeToString(sum[:]))
	if r := l.do("POST", fmt.Sprintf(wp.Prefix+wp.PathFinish, 1), l.worker, "application/json", fin); r.status != 200 {
		t.Fatalf("finish after space was freed: %v", r)
	}
	if r := l.do("POST", "/api/v1/jobs", admin, "application/json", `{"definition": `+jsonString(labtest.Job("after", "qemu", ""))+`}`); r.status != 201 {
		t.Fatalf("submission after space was freed: %v", r)
	}
	h = l.waitHealth(app.HealthOK)
	if h.code != 200 || h.Storage != "ok" || h.LogStore.Status != "ok" || len(h.Faults) != 0 {
		t.Errorf("/healthz after space was freed: %+v", h)
	}
	if c := l.count(diskBackLog); c != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", c, l.logged.String())
	}
	j, err := a.Store().GetJob(ctx, 1)
	if err != nil || j.State != lab.JobFinished || j.Health != lab.JobHealthComplete {
		t.Errorf("job after recovery: %s %s, %v", j.State, j.Health, err)
	}
}

// TestDatabaseOutage stops the server's PostgreSQL: requests with a token
// or without, REST, web and worker alike, are answered 503 with a clear
// message and a Retry-After (not a 500 nobody logged), /healthz says down,
// and the outage is logged once; once PostgreSQL is started again the
// server recovers by itself and logs it once.
func TestDatabaseOutage(t *testing.T) {
	cl := pgtest.NewCluster(t)
	l := startLab(t, server.Config{DataDir: t.TempDir(), Database: cl.DSN(t)})
	if r := l.do("GET", "/api/v1/jobs", l.admin, "", ""); r.status != 200 {
		t.Fatalf("jobs: %v", r)
	}
	cl.Stop(t)
	const unavailable = "the database is unavailable: "
	requests := []struct{ name, method, path, token, ct, body string }{
		{"REST with a token", "GET", "/api/v1/jobs", l.admin, "", ""},
		{"REST anonymous", "GET", "/api/v1/devices", "", "", ""},
		{"REST submission", "POST", "/api/v1/jobs", l.admin, "application/json", `{"definition": ` + jsonString(labtest.Job("down", "qemu", "")) + `}`},
		{"worker heartbeat", "POST", wp.Prefix + wp.PathHeartbeat, l.worker, "application/json", `{"name":"w1","version":"test","jobs":[]}`},
		{"worker stream", "GET", wp.Prefix + wp.PathConnect + "?name=w1&version=test", l.worker, "", ""},
	}
	for range 3 {
		for _, rq := range requests {
			r := l.do(rq.method, rq.path, rq.token, rq.ct, rq.body)
			if r.status != http.StatusServiceUnavailable || r.code != "database_unavailable" || !strings.HasPrefix(r.msg, unavailable) || r.retryAfter != "5" {
				t.Errorf("%s with the database stopped: %v", rq.name, r)
			}
		}
		if r := l.do("GET", "/jobs", l.admin, "", ""); r.status != http.StatusServiceUnavailable || r.retryAfter != "5" || !strings.Contains(r.body, "database is unavailable") {
			t.Errorf("web page with the database stopped: %d %q\n%s", r.status, r.retryAfter, r.body)
		}
	}
	h := l.waitHealth(app.HealthDown)
	if h.code != http.StatusServiceUnavailable || h.Database.Status != "unavailable" || len(h.Faults) != 1 || h.Faults[0].Kind != app.FaultDatabase || !strings.HasPrefix(h.Faults[0].Message, unavailable) {
		t.Errorf("/healthz with the database stopped: %+v", h)
	}
	if c := l.count(dbDownLog); c != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", c, l.logged.String())
	}
	if c := l.count("request failed"); c != 0 {
		t.Errorf("the outage was logged as failed requests (bugs):\n%s", l.logged.String())
	}

	cl.Start(t)
	h = l.waitHealth(app.HealthOK)
	if h.code != 200 || h.Database.Status != "ok" || len(h.Faults) != 0 {
		t.Errorf("/healthz after the restart: %+v", h)
	}
	for _, rq := range requests[:4] {
		if r := l.do(rq.method, rq.path, rq.token, rq.ct, rq.body); r.status/100 != 2 {
			t.Errorf("%s after the restart: %v", rq.name, r)
		}
	}
	if c := l.count(dbBackLog); c != 1 {
		t.Errorf("recovery logged %d times, want once:\n%s", c, l.logged.String())
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestHealthzBesideTheWriter: /healthz answers, and its probe goes on
// probing the database, while SQLite's single writer is held by a long
// transaction: it never waits behind writes.
func TestHealthzBesideTheWriter(t *testing.T) {
	l := startLab(t, server.Config{DataDir: t.TempDir()})
	first := l.health()
	err := l.srv.App().Store().InTx(context.Background(), func(q store.Queries) error {
		if err := q.CreateTag(context.Background(), lab.Tag{Name: "held"}); err != nil {
			return err
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			h := l.health()
			if h.code != 200 || h.Status != app.HealthOK || h.Database.Status != "ok" {
				return fmt.Errorf("/healthz while the writer is held: %+v", h)
			}
			if h.Checked.After(first.Checked) {
				return nil // a probe ran meanwhile
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("no probe ran while the writer was held")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	must(t, err)
}
