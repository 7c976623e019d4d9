package lavarpc_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarpc"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// Identities of the test lab.
const (
	anon  = labtest.Anon
	alice = labtest.Alice
	bob   = labtest.Bob
	admin = labtest.Admin
)

var must = labtest.Must

// env is a server of /RPC2 over the standard lab (labtest.Lab) with
// device qemu-01 (Good) and two jobs of alice's: public and personal.
type env struct {
	*labtest.Lab
	srv     *httptest.Server
	pubJob  int64
	privJob int64
}

func newEnv(t testing.TB, b labtest.Backend) *env {
	t.Helper()
	l := labtest.NewLab(t, b, labtest.Config{Device: lab.Device{Hostname: "qemu-01", Health: lab.DeviceGood,
		Dictionary: "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n"}})
	srv := lavarpc.New(l.App, nil)
	mux := http.NewServeMux()
	mux.Handle(lavarpc.Path, srv)
	mux.Handle(lavarpc.Path+"/", srv)
	e := &env{Lab: l, srv: l.Serve(mux)}
	e.pubJob = e.Submit(alice, labtest.Job("public job", "qemu", ""))
	e.privJob = e.Submit(alice, labtest.Job("personal job", "qemu", "visibility: personal"))
	return e
}

// uri is the /RPC2 URL with who's credentials in it, as lavacli builds it.
func (e *env) uri(who int) string {
	u, err := url.Parse(e.srv.URL + lavarpc.Path + "/")
	must(e.T, err)
	if who != anon {
		u.User = url.UserPassword(labtest.Names[who], e.Tokens[who])
	}
	return u.String()
}

// call calls method as who through the codec; a fault is a *xmlrpc.Fault
// error.
func (e *env) call(who int, method string, params ...any) (any, error) {
	e.T.Helper()
	var body bytes.Buffer
	must(e.T, xmlrpc.WriteCall(&body, method, params...))
	req, err := http.NewRequest("POST", e.srv.URL+lavarpc.Path, &body)
	must(e.T, err)
	req.Header.Set("Content-Type", "text/xml")
	if who != anon {
		req.SetBasicAuth(labtest.Names[who], e.Tokens[who])
	}
	resp, err := http.DefaultClient.Do(req)
	must(e.T, err)
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		e.T.Fatalf("%s: HTTP %s", method, resp.Status)
	}
	return xmlrpc.ReadResponse(resp.Body, xmlrpc.DefaultLimits)
}

// lavacli runs Debian's lavacli as who with args and returns its standard
// output; a failure (exit status) is returned with its output.
func (e *env) lavacli(who int, args ...string) (string, error) {
	e.T.Helper()
	bin, err := exec.LookPath("lavacli")
	if err != nil {
		e.T.Fatalf("lavacli (Debian's package lavacli, LAVA's own client) is not installed: %v", err)
	}
	home := e.T.TempDir()
	cmd := exec.Command(bin, append([]string{"--uri", e.uri(who)}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("lavacli %v: %w\n%s%s", args, err, out.String(), stderr.String())
	}
	return out.String(), nil
}
