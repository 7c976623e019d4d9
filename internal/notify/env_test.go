package notify_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/lavarpc"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

func TestMain(m *testing.M) {
	auth.Argon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	pgtest.Main(m)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// env is one server's use-case layer on a real store, with a lab of one
// QEMU device on an Online worker, and its log store.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	a     *app.App
	logs  *logstore.Store
	admin auth.Principal
}

// policy lets callbacks reach the test's receivers on 127.0.0.1.
var loopback = app.CallbackPolicy{Hosts: []string{"127.0.0.1"}}

// newEnv opens an app on st with the callback policy p, a fresh lab and
// the log store in dir (shared by the apps of one test).
func newEnv(t *testing.T, st store.Store, p app.CallbackPolicy, logDir string) *env {
	t.Helper()
	ctx := context.Background()
	logs, err := logstore.Open(logDir)
	must(t, err)
	t.Cleanup(func() { logs.Close() })
	a := app.New(st, app.Config{Callbacks: p, Logs: logs})
	must(t, a.Bootstrap(ctx))
	e := &env{t: t, ctx: ctx, st: st, a: a, logs: logs}
	u, err := st.GetUser(ctx, "admin")
	if err != nil {
		u, err = a.CreateSuperuser(ctx, "admin", "admin@example.org", "")
		must(t, err)
		_, err = a.CreateUser(ctx, principal(t, u), app.NewUser{Username: "alice", Email: "alice@example.org"})
		must(t, err)
	}
	e.admin = principal(t, u)
	if _, err := a.GetDeviceType(ctx, "qemu"); err != nil {
		must(t, a.CreateDeviceType(ctx, e.admin, lab.DeviceType{Name: "qemu"}))
		_, err := a.CreateWorker(ctx, e.admin, lab.Worker{Name: "w1"})
		must(t, err)
		must(t, a.CreateDevice(ctx, e.admin, lab.Device{Hostname: "qemu01", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
	}
	_, err = a.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "test")
	must(t, err)
	return e
}

func principal(t testing.TB, u lab.User) auth.Principal {
	p, err := auth.UserPrincipal(u)
	must(t, err)
	return p
}

// sender returns a sender of e's queue with quick retries.
func (e *env) sender(cfg notify.Config) *notify.Sender {
	e.t.Helper()
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.RetryBase == 0 {
		cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 40*time.Millisecond
	}
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	cfg.ExportResults = lavarpc.ExportYAML
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s, err := notify.New(e.a, cfg)
	must(e.t, err)
	return s
}

// run runs s until the test ends (or stop is called) and returns stop,
// which waits for Run to return.
func run(t *testing.T, s *notify.Sender) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// job is a job definition with notify block (indented under notify:)
// and metadata (a YAML flow mapping; "" for none).
func job(name, block, meta string) string {
	extra := "priority: 40\nnotify:\n" + block
	if meta != "" {
		extra += "\nmetadata: " + meta
	}
	return labtest.Job(name, "qemu", extra)
}

// submit submits a job as alice, through the app's checks.
func (e *env) submit(def string) int64 {
	e.t.Helper()
	u, err := e.st.GetUser(e.ctx, "alice")
	must(e.t, err)
	ids, _, err := e.a.SubmitJob(e.ctx, principal(e.t, u), def)
	must(e.t, err)
	return ids[0]
}

// submitUnchecked queues a job as alice straight into the store, past the
// submission's checks: a job accepted before the server's callback policy
// changed.
func (e *env) submitUnchecked(def string) int64 {
	e.t.Helper()
	d, err := jobdef.Parse([]byte(def))
	must(e.t, err)
	id, err := e.st.CreateJob(e.ctx, lab.Job{Description: d.Name, Submitter: "alice", Visibility: lab.VisibilityPublic,
		State: lab.JobSubmitted, Priority: d.Priority, RequestedType: "qemu", SubmitTime: e.a.Now(),
		Metadata: d.Metadata, Definition: def, OriginalDefinition: def})
	must(e.t, err)
	return id
}

// runJob runs job id on qemu01 to its end, with log as its log.
func (e *env) runJob(id int64, log string, o app.JobOutcome) lab.Job {
	e.t.Helper()
	r, err := e.a.SchedulePass(e.ctx)
	must(e.t, err)
	if len(r.Assigned) != 1 || r.Assigned[0].Job != id {
		e.t.Fatalf("job %d not assigned: %+v", id, r)
	}
	wp := auth.WorkerPrincipal("w1")
	_, err = e.a.StartJob(e.ctx, wp, id)
	must(e.t, err)
	if log != "" {
		_, err := e.logs.Append(context.Background(), id, 0, []byte(log))
		must(e.t, err)
	}
	j, err := e.a.FinishJob(e.ctx, wp, id, o)
	must(e.t, err)
	return j
}

func (e *env) deliveries(id int64) []lab.Delivery {
	e.t.Helper()
	ds, err := e.st.ListDeliveries(e.ctx, id)
	must(e.t, err)
	return ds
}

// waitFor polls cond until it holds; a test fails after a minute without
// (a bound on a hang, not a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// done reports whether every delivery of the jobs left pending.
func (e *env) done(ids ...int64) bool {
	for _, id := range ids {
		for _, d := range e.deliveries(id) {
			if d.Status == lab.DeliveryPending {
				return false
			}
		}
	}
	return true
}

// request is a request a receiver got.
type request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	Status int // what the receiver answered
}

// receiver is an HTTP server on 127.0.0.1 that records every request and
// answers with the status answer gives (200 when nil).
type receiver struct {
	mu     sync.Mutex
	reqs   []request
	answer func(r *http.Request, n int) int // n: requests before this one
	srv    *http.Server
	ln     net.Listener
	done   chan struct{}
}

// listen starts a receiver on addr ("127.0.0.1:0" for any port); it is
// closed when the test ends.
func listen(t *testing.T, addr string, answer func(r *http.Request, n int) int) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	must(t, err)
	rc := &receiver{answer: answer, ln: ln, done: make(chan struct{})}
	rc.srv = &http.Server{Handler: http.HandlerFunc(rc.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { defer close(rc.done); _ = rc.srv.Serve(ln) }()
	t.Cleanup(rc.stop)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	n := len(rc.reqs)
	status := http.StatusOK
	if rc.answer != nil {
		status = rc.answer(r, n)
	}
	rc.reqs = append(rc.reqs, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body, Status: status})
	rc.mu.Unlock()
	w.WriteHeader(status)
	fmt.Fprintf(w, "status %d\n", status)
}

// stop closes the receiver: its port is free again.
func (rc *receiver) stop() {
	_ = rc.srv.Close()
	<-rc.done
}

func (rc *receiver) addr() string { return rc.ln.Addr().String() }

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.reqs...)
}

func (rc *receiver) url(path string) string { return "http://" + rc.addr() + path }

// callbackBlock is a notify block calling url on finished with the given
// extra callback keys (YAML flow mapping entries).
func callbackBlock(status, url, extra string) string {
	b := fmt.Sprintf("  criteria: {status: %s}\n  callback: {url: '%s'", status, url)
	if extra != "" {
		b += ", " + extra
	}
	return b + "}"
}
