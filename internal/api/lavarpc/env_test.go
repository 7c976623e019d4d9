package lavarpc_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/lavarpc"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// Identities of the test lab.
const (
	anon = iota
	alice
	bob
	admin
)

// env is a server with a small lab: device type qemu, worker w1, device
// qemu-01 (Good), users alice and bob, superuser admin, and two jobs of
// alice's: public and personal.
type env struct {
	t       testing.TB
	app     *app.App
	srv     *httptest.Server
	users   [4]string
	tokens  [4]string
	pubJob  int64
	privJob int64
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newEnv(t testing.TB, b labtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	logs, err := logstore.Open(t.TempDir())
	must(t, err)
	t.Cleanup(func() { logs.Close() })
	a := app.New(b.Open(t), app.Config{Logs: logs})
	must(t, a.Bootstrap(ctx))
	srv := lavarpc.New(a, nil)
	mux := http.NewServeMux()
	mux.Handle(lavarpc.Path, srv)
	mux.Handle(lavarpc.Path+"/", srv)
	e := &env{t: t, app: a, srv: httptest.NewServer(mux), users: [4]string{"", "alice", "bob", "admin"}}
	t.Cleanup(e.srv.Close)

	adm, err := a.CreateSuperuser(ctx, "admin", "admin@example.org", "admin-password")
	must(t, err)
	ap, err := auth.UserPrincipal(adm)
	must(t, err)
	for _, name := range []string{"alice", "bob"} {
		_, err := a.CreateUser(ctx, ap, app.NewUser{Username: name, Password: name + "-password"})
		must(t, err)
	}
	for i := alice; i <= admin; i++ {
		u, err := a.Store().GetUser(ctx, e.users[i])
		must(t, err)
		p, err := auth.UserPrincipal(u)
		must(t, err)
		_, secret, err := a.CreateToken(ctx, p, e.users[i], "lavacli", time.Time{})
		must(t, err)
		e.tokens[i] = secret
	}
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(ctx, ap, lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood,
		Dictionary: "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n"}, "test"))
	e.pubJob = e.submit(alice, labtest.Job("public job", "qemu", ""))
	e.privJob = e.submit(alice, labtest.Job("personal job", "qemu", "visibility: personal"))
	return e
}

// principal is who's principal.
func (e *env) principal(who int) auth.Principal {
	e.t.Helper()
	if who == anon {
		return auth.Anonymous()
	}
	u, err := e.app.Store().GetUser(context.Background(), e.users[who])
	must(e.t, err)
	p, err := auth.UserPrincipal(u)
	must(e.t, err)
	return p
}

func (e *env) submit(who int, def string) int64 {
	e.t.Helper()
	ids, _, err := e.app.SubmitJob(context.Background(), e.principal(who), def)
	must(e.t, err)
	return ids[0]
}

// uri is the /RPC2 URL with who's credentials in it, as lavacli builds it.
func (e *env) uri(who int) string {
	u, err := url.Parse(e.srv.URL + lavarpc.Path + "/")
	must(e.t, err)
	if who != anon {
		u.User = url.UserPassword(e.users[who], e.tokens[who])
	}
	return u.String()
}

// call calls method as who through the codec; a fault is a *xmlrpc.Fault
// error.
func (e *env) call(who int, method string, params ...any) (any, error) {
	e.t.Helper()
	var body bytes.Buffer
	must(e.t, xmlrpc.WriteCall(&body, method, params...))
	req, err := http.NewRequest("POST", e.srv.URL+lavarpc.Path, &body)
	must(e.t, err)
	req.Header.Set("Content-Type", "text/xml")
	if who != anon {
		req.SetBasicAuth(e.users[who], e.tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.t, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("%s: HTTP %s", method, resp.Status)
	}
	return xmlrpc.ReadResponse(resp.Body, xmlrpc.DefaultLimits)
}

// lavacli runs Debian's lavacli as who with args and returns its standard
// output; a failure (exit status) is returned with its output.
func (e *env) lavacli(who int, args ...string) (string, error) {
	e.t.Helper()
	bin, err := exec.LookPath("lavacli")
	if err != nil {
		e.t.Fatalf("lavacli (Debian's package lavacli, LAVA's own client) is not installed: %v", err)
	}
	home := e.t.TempDir()
	cmd := exec.Command(bin, append([]string{"--uri", e.uri(who)}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("lavacli %v: %w\n%s%s", args, err, out.String(), stderr.String())
	}
	return out.String(), nil
}
