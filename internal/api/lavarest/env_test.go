package lavarest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

func TestMain(m *testing.M) {
	auth.Argon2 = auth.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	pgtest.Main(m)
}

// The identities every endpoint is tried with.
const (
	anon = iota
	alice
	bob
	admin
	worker
	nIdent
)

var identNames = [nIdent]string{"anonymous", "alice", "bob", "admin", "worker"}

// env is a server of the v0.2 API over a small lab:
//
//   - device types qemu (alias kvm), board, and secret (hidden, alias
//     hid); tags fast and slow;
//   - worker w1 (Offline) with devices d1 (qemu, Good, tag fast), d2
//     (qemu, Retired) and b1 (board, Maintenance);
//   - users alice (in group team), bob, admin (superuser), a token each
//     and the worker's;
//   - jobs by alice on qemu: public (metadata branch=main), personal and
//     group-visible (team); a public job by bob on board.
type env struct {
	t       testing.TB
	srv     *httptest.Server
	app     *app.App
	logs    *logstore.Store
	tokens  [nIdent]string
	pubJob  int64
	privJob int64
	grpJob  int64
	bobJob  int64
}

func newEnv(t testing.TB, b labtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	logs, err := logstore.Open(t.TempDir())
	must(t, err)
	t.Cleanup(func() { logs.Close() })
	a := app.New(b.Open(t), app.Config{Logs: logs})
	must(t, a.Bootstrap(ctx))
	e := &env{t: t, app: a, logs: logs, srv: httptest.NewServer(lavarest.New(a, nil))}
	t.Cleanup(e.srv.Close)

	adm, err := a.CreateSuperuser(ctx, "admin", "admin@example.org", "admin-password")
	must(t, err)
	ap := principal(t, adm)
	for _, name := range []string{"alice", "bob"} {
		_, err := a.CreateUser(ctx, ap, app.NewUser{Username: name, Password: name + "-password"})
		must(t, err)
	}
	must(t, a.CreateGroup(ctx, ap, "team"))
	must(t, a.SetGroupMember(ctx, ap, "team", "alice", true))
	for i, name := range []string{"alice", "bob", "admin"} {
		_, secret, err := a.CreateToken(ctx, e.principal(name), name, "test", zero)
		must(t, err)
		e.tokens[alice+i] = secret
	}
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu", Description: "QEMU"}))
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "board", HealthDenominator: lab.PerJobs, HealthFrequency: 10}))
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "secret", Hidden: true}))
	must(t, a.CreateAlias(ctx, ap, lab.Alias{Name: "kvm", DeviceType: "qemu"}))
	must(t, a.CreateAlias(ctx, ap, lab.Alias{Name: "hid", DeviceType: "secret"}))
	must(t, a.CreateTag(ctx, ap, lab.Tag{Name: "fast", Description: "quick boards"}))
	must(t, a.CreateTag(ctx, ap, lab.Tag{Name: "slow"}))
	wtok, err := a.CreateWorker(ctx, ap, lab.Worker{Name: "w1", Description: "the lab's worker"})
	must(t, err)
	e.tokens[worker] = wtok
	for _, d := range []lab.Device{
		{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Tags: []string{"fast"}, Health: lab.DeviceGood},
		{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceRetired},
		{Hostname: "b1", DeviceType: "board", Worker: "w1", Health: lab.DeviceMaintenance, Description: "a board"},
	} {
		must(t, a.CreateDevice(ctx, ap, d, "test"))
	}
	e.pubJob = e.submit("alice", job("public-job", "qemu", "public", "metadata: {branch: main, arch: arm64}"))
	e.privJob = e.submit("alice", job("personal-job", "qemu", "personal", ""))
	e.grpJob = e.submit("alice", job("group-job", "qemu", "{group: [team]}", ""))
	e.bobJob = e.submit("bob", job("bob-job", "board", "public", "metadata: {branch: release/1.0}"))
	return e
}

var zero = lab.Token{}.Expires

// job is a valid definition for type typ with visibility and extra
// top-level lines.
func job(name, typ, visibility, extra string) string {
	x := "visibility: " + visibility + "\npriority: medium"
	if extra != "" {
		x += "\n" + extra
	}
	return labtest.Job(name, typ, x)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func principal(t testing.TB, u lab.User) auth.Principal {
	t.Helper()
	p, err := auth.UserPrincipal(u)
	must(t, err)
	return p
}

// principal is the principal of user name.
func (e *env) principal(name string) auth.Principal {
	e.t.Helper()
	u, err := e.app.Store().GetUser(context.Background(), name)
	must(e.t, err)
	return principal(e.t, u)
}

// submit submits def as user and returns the job's id.
func (e *env) submit(user, def string) int64 {
	e.t.Helper()
	ids, _, err := e.app.SubmitJob(context.Background(), e.principal(user), def)
	must(e.t, err)
	return ids[0]
}

// request sends a request as identity who, with a JSON body unless the
// body is empty, without following redirects.
func (e *env) request(who int, method, path, body string, header ...string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	must(e.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if who != anon {
		req.Header.Set("Authorization", "Token "+e.tokens[who])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	must(e.t, err)
	return resp
}

// do sends a request below the API's prefix and returns status and body.
func (e *env) do(who int, method, path, body string) (int, []byte) {
	e.t.Helper()
	resp := e.request(who, method, lavarest.Prefix+path, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.t, err)
	return resp.StatusCode, b
}

// get GETs path as who, wants status 200 and decodes the JSON answer.
func (e *env) get(who int, path string, out any) {
	e.t.Helper()
	st, body := e.do(who, "GET", path, "")
	if st != http.StatusOK {
		e.t.Fatalf("GET %s as %s: status %d: %s", path, identNames[who], st, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		e.t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func jsonDef(def string) string {
	b, _ := json.Marshal(map[string]string{"definition": def})
	return string(b)
}

// jobPath is the path of job id below the prefix, with suffix.
func jobPath(id int64, suffix string) string { return fmt.Sprintf("/jobs/%d/%s", id, suffix) }
