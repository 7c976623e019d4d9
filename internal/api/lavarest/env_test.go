package lavarest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// The identities every endpoint is tried with.
const (
	anon   = labtest.Anon
	alice  = labtest.Alice
	bob    = labtest.Bob
	admin  = labtest.Admin
	worker = labtest.Worker
	nIdent = labtest.NIdent
)

var identNames = labtest.Names

var must = labtest.Must

// env is a server of the v0.2 API over the standard lab (labtest.Lab)
// with:
//
//   - device types qemu (alias kvm), board, and secret (hidden, alias
//     hid); tags fast and slow;
//   - worker w1 (Offline) with devices d1 (qemu, Good, tag fast), d2
//     (qemu, Retired) and b1 (board, Maintenance);
//   - alice in group team;
//   - jobs by alice on qemu: public (metadata branch=main), personal and
//     group-visible (team); a public job by bob on board.
type env struct {
	*labtest.Lab
	srv     *httptest.Server
	pubJob  int64
	privJob int64
	grpJob  int64
	bobJob  int64
}

func newEnv(t testing.TB, b labtest.Backend) *env {
	t.Helper()
	ctx := context.Background()
	l := labtest.NewLab(t, b, labtest.Config{Team: true,
		DeviceType: lab.DeviceType{Name: "qemu", Description: "QEMU"},
		Worker:     lab.Worker{Name: "w1", Description: "the lab's worker"},
		Tags:       []lab.Tag{{Name: "fast", Description: "quick boards"}, {Name: "slow"}},
		Device:     lab.Device{Hostname: "d1", Tags: []string{"fast"}, Health: lab.DeviceGood}})
	e := &env{Lab: l, srv: l.Serve(lavarest.New(l.App, nil))}
	ap := e.Principal(admin)
	must(t, l.App.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "board", HealthDenominator: lab.PerJobs, HealthFrequency: 10}))
	must(t, l.App.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "secret", Hidden: true}))
	must(t, l.App.CreateAlias(ctx, ap, lab.Alias{Name: "kvm", DeviceType: "qemu"}))
	must(t, l.App.CreateAlias(ctx, ap, lab.Alias{Name: "hid", DeviceType: "secret"}))
	for _, d := range []lab.Device{
		{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceRetired},
		{Hostname: "b1", DeviceType: "board", Worker: "w1", Health: lab.DeviceMaintenance, Description: "a board"},
	} {
		must(t, l.App.CreateDevice(ctx, ap, d, "test"))
	}
	e.pubJob = e.Submit(alice, job("public-job", "qemu", "public", "metadata: {branch: main, arch: arm64}"))
	e.privJob = e.Submit(alice, job("personal-job", "qemu", "personal", ""))
	e.grpJob = e.Submit(alice, job("group-job", "qemu", "{group: [team]}", ""))
	e.bobJob = e.Submit(bob, job("bob-job", "board", "public", "metadata: {branch: release/1.0}"))
	return e
}

// job is a valid definition for type typ with visibility and extra
// top-level lines.
func job(name, typ, visibility, extra string) string {
	x := "visibility: " + visibility + "\npriority: medium"
	if extra != "" {
		x += "\n" + extra
	}
	return labtest.Job(name, typ, x)
}

// request sends a request as identity who, with a JSON body unless the
// body is empty, without following redirects.
func (e *env) request(who int, method, path, body string, header ...string) *http.Response {
	e.T.Helper()
	req := e.Request(who, method, e.srv.URL+path, body)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	must(e.T, err)
	return resp
}

// do sends a request below the API's prefix and returns status and body.
func (e *env) do(who int, method, path, body string) (int, []byte) {
	e.T.Helper()
	resp := e.request(who, method, lavarest.Prefix+path, body)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.T, err)
	return resp.StatusCode, b
}

// get GETs path as who, wants status 200 and decodes the JSON answer.
func (e *env) get(who int, path string, out any) {
	e.T.Helper()
	st, body := e.do(who, "GET", path, "")
	if st != http.StatusOK {
		e.T.Fatalf("GET %s as %s: status %d: %s", path, identNames[who], st, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		e.T.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

func jsonDef(def string) string {
	b, _ := json.Marshal(map[string]string{"definition": def})
	return string(b)
}

// jobPath is the path of job id below the prefix, with suffix.
func jobPath(id int64, suffix string) string { return fmt.Sprintf("/jobs/%d/%s", id, suffix) }
