package labtest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// Main runs the tests of a package that builds Labs: password hashing as
// cheap as argon2id allows (the tests create and check many passwords;
// internal/auth tests the real parameters), and the private PostgreSQL
// cluster of pgtest.Main. Call it from the package's TestMain.
func Main(m *testing.M) {
	auth.Argon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	pgtest.Main(m)
}

// The identities of a Lab: the index of Lab.Tokens and the argument of
// Principal and Submit.
const (
	Anon   = iota // no credentials
	Alice         // a user, in group "team" when Config.Team
	Bob           // another user
	Admin         // a superuser
	Worker        // the worker's own token
	NIdent        // the number of identities
)

// Names are the identities' names, as tests print them; those of the
// users are their usernames.
var Names = [NIdent]string{"anonymous", "alice", "bob", "admin", "worker"}

// Config says what a Lab holds beside its users. The zero Config is the
// standard lab: device type qemu, worker w1, device d1 (qemu, on w1,
// Good).
type Config struct {
	// Store wraps the backend's store before the app runs on it (nil: the
	// store as it is), for tests that inject faults.
	Store func(store.Store) store.Store
	// Team puts alice in a group "team" (for group-visible jobs).
	Team bool
	// DeviceType and Worker are the lab's; an empty name is qemu's and w1's.
	DeviceType lab.DeviceType
	Worker     lab.Worker
	// Tags are created before the device, which may carry them.
	Tags []lab.Tag
	// Device is the lab's device; an empty hostname is d1's, an empty type
	// or worker the lab's.
	Device lab.Device
	// GroupHoldAfter is the app's app.Config.GroupHoldAfter (0: multinode
	// groups are never held for).
	GroupHoldAfter time.Duration
}

// Lab is a small lab on a real app, the fixture of the tests of every
// HTTP surface (the REST APIs, XML-RPC, the event stream, the web UI):
//
//   - the app on a fresh store of the backend, with a log store in a
//     temporary directory;
//   - superuser admin, users alice and bob (passwords "<name>-password"),
//     each with an API token described "test";
//   - a device type, a worker (its token in Tokens[Worker]), the tags of
//     Config and a device (Config).
//
// Each package adds its own jobs (Submit) and objects to it.
type Lab struct {
	T      testing.TB
	App    *app.App
	Logs   *logstore.Store
	Tokens [NIdent]string // the identities' API tokens; Anon's is empty
	// DeviceType, Worker and Device name the lab's objects.
	DeviceType, Worker, Device string
}

// NewLab builds the lab of cfg on backend b; everything it opens is
// closed when the test ends.
func NewLab(t testing.TB, b Backend, cfg Config) *Lab {
	t.Helper()
	ctx := context.Background()
	logs, err := logstore.Open(t.TempDir())
	Must(t, err)
	t.Cleanup(func() { logs.Close() })
	st := b.Open(t)
	if cfg.Store != nil {
		st = cfg.Store(st)
	}
	a := app.New(st, app.Config{Logs: logs, GroupHoldAfter: cfg.GroupHoldAfter})
	Must(t, a.Bootstrap(ctx))
	l := &Lab{T: t, App: a, Logs: logs}

	_, err = a.CreateSuperuser(ctx, Names[Admin], "admin@example.org", "admin-password")
	Must(t, err)
	ap := l.Principal(Admin)
	for _, who := range []int{Alice, Bob} {
		_, err := a.CreateUser(ctx, ap, app.NewUser{Username: Names[who], Password: Names[who] + "-password"})
		Must(t, err)
	}
	if cfg.Team {
		Must(t, a.CreateGroup(ctx, ap, "team"))
		Must(t, a.SetGroupMember(ctx, ap, "team", Names[Alice], true))
	}
	for _, who := range []int{Alice, Bob, Admin} {
		_, secret, err := a.CreateToken(ctx, l.Principal(who), Names[who], "test", time.Time{})
		Must(t, err)
		l.Tokens[who] = secret
	}

	dt := cfg.DeviceType
	if dt.Name == "" {
		dt.Name = "qemu"
	}
	Must(t, a.CreateDeviceType(ctx, ap, dt))
	for _, tag := range cfg.Tags {
		Must(t, a.CreateTag(ctx, ap, tag))
	}
	w := cfg.Worker
	if w.Name == "" {
		w.Name = "w1"
	}
	l.Tokens[Worker], err = a.CreateWorker(ctx, ap, w)
	Must(t, err)
	d := cfg.Device
	if d.Hostname == "" {
		d.Hostname = "d1"
	}
	if d.DeviceType == "" {
		d.DeviceType = dt.Name
	}
	if d.Worker == "" {
		d.Worker = w.Name
	}
	Must(t, a.CreateDevice(ctx, ap, d, "test"))
	l.DeviceType, l.Worker, l.Device = dt.Name, w.Name, d.Hostname
	return l
}

// Must fails the test at once on an error.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Principal is identity who's principal, as its token authenticates it.
func (l *Lab) Principal(who int) auth.Principal {
	l.T.Helper()
	switch who {
	case Anon:
		return auth.Anonymous()
	case Worker:
		return auth.WorkerPrincipal(l.Worker)
	}
	u, err := l.App.Store().GetUser(context.Background(), Names[who])
	Must(l.T, err)
	p, err := auth.UserPrincipal(u)
	Must(l.T, err)
	return p
}

// Submit submits def as who and returns the (first) job's id.
func (l *Lab) Submit(who int, def string) int64 {
	l.T.Helper()
	ids, _, err := l.App.SubmitJob(context.Background(), l.Principal(who), def)
	Must(l.T, err)
	return ids[0]
}

// Job is job id as stored, whoever may see it.
func (l *Lab) Job(id int64) lab.Job {
	l.T.Helper()
	j, err := l.App.Store().GetJob(context.Background(), id)
	Must(l.T, err)
	return j
}

// Serve serves h on a loopback test server, closed when the test ends.
func (l *Lab) Serve(h http.Handler) *httptest.Server {
	srv := httptest.NewServer(h)
	l.T.Cleanup(srv.Close)
	return srv
}

// Request is a request to url with body (none when empty) as who: its API
// token in an "Authorization: Token" header, none for Anon.
func (l *Lab) Request(who int, method, url, body string) *http.Request {
	l.T.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	Must(l.T, err)
	if who != Anon {
		req.Header.Set("Authorization", "Token "+l.Tokens[who])
	}
	return req
}
