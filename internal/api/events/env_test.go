package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/basalt-lab/basalt/internal/api/lavarpc"
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

// Identities of the test lab.
const (
	anon = iota
	alice
	bob
	admin
	nIdent
)

var identNames = [nIdent]string{"anonymous", "alice", "bob", "admin"}

// waitFor bounds every wait of a test for something the server sends: a
// guard against a hung test, not a measure of anything.
const waitFor = 30 * time.Second

// env is a server with the event stream at /ws/ and LAVA's XML-RPC API at
// /RPC2 (for lavacli), over a small lab: device type qemu, worker w1
// (never seen yet), device qemu-01 (Good) on w1, users alice and bob and
// superuser admin, each with a token.
type env struct {
	t      testing.TB
	app    *app.App
	ev     *Server
	srv    *httptest.Server
	tokens [nIdent]string
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func newEnv(t testing.TB, b labtest.Backend, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	logs, err := logstore.Open(t.TempDir())
	must(t, err)
	t.Cleanup(func() { logs.Close() })
	a := app.New(b.Open(t), app.Config{Logs: logs})
	must(t, a.Bootstrap(ctx))
	e := &env{t: t, app: a, ev: New(a, nil, cfg)}
	mux := http.NewServeMux()
	mux.Handle(Path, e.ev)
	rpc := lavarpc.New(a, nil)
	mux.Handle(lavarpc.Path, rpc)
	mux.Handle(lavarpc.Path+"/", rpc)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		e.ev.Close() // before the test server: its Close waits for the hijacked connections' handlers
		e.srv.Close()
	})

	adm, err := a.CreateSuperuser(ctx, "admin", "admin@example.org", "admin-password")
	must(t, err)
	ap, err := auth.UserPrincipal(adm)
	must(t, err)
	for _, name := range []string{"alice", "bob"} {
		_, err := a.CreateUser(ctx, ap, app.NewUser{Username: name, Password: name + "-password"})
		must(t, err)
	}
	for i := alice; i <= admin; i++ {
		_, secret, err := a.CreateToken(ctx, e.principal(i), identNames[i], "events", time.Time{})
		must(t, err)
		e.tokens[i] = secret
	}
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(ctx, ap, lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood,
		Dictionary: "{% extends 'qemu.jinja2' %}\n"}, "test"))
	return e
}

// principal is who's principal.
func (e *env) principal(who int) auth.Principal {
	e.t.Helper()
	if who == anon {
		return auth.Anonymous()
	}
	u, err := e.app.Store().GetUser(context.Background(), identNames[who])
	must(e.t, err)
	p, err := auth.UserPrincipal(u)
	must(e.t, err)
	return p
}

// wsURL is the event stream's ws:// URL.
func (e *env) wsURL() string { return "ws" + strings.TrimPrefix(e.srv.URL, "http") + Path }

// client is a WebSocket listener of the test.
type client struct {
	t    testing.TB
	name string
	c    *websocket.Conn
}

// dial connects as who (HTTP Basic username:token, as LAVA's clients).
func (e *env) dial(who int) *client {
	e.t.Helper()
	h := http.Header{}
	if who != anon {
		h.Set("Authorization", basic(identNames[who], e.tokens[who]))
	}
	c, err := e.dialHeader(h)
	must(e.t, err)
	return &client{t: e.t, name: identNames[who], c: c}
}

func basic(user, secret string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, secret)
	return r.Header.Get("Authorization")
}

// dialHeader connects with header h.
func (e *env) dialHeader(h http.Header) (*websocket.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: HTTP %s: %w", resp.Status, err)
		}
		return nil, err
	}
	e.t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(1 << 20)
	return c, nil
}

// msg is a message of the stream, decoded.
type msg struct {
	raw                 string
	topic, id, dt, user string
	payload             string
	fields              map[string]any
	closed              bool // the connection was closed instead
	closeCode           websocket.StatusCode
	closeReason         string
}

// next reads the next message; a closed connection is a msg with closed
// set.
func (c *client) next() msg {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	typ, b, err := c.c.Read(ctx)
	if err != nil {
		var ce websocket.CloseError
		if errors.As(err, &ce) {
			return msg{closed: true, closeCode: ce.Code, closeReason: ce.Reason}
		}
		c.t.Fatalf("%s: read: %v", c.name, err)
	}
	if typ != websocket.MessageText {
		c.t.Fatalf("%s: a %v message: %q", c.name, typ, b)
	}
	m := msg{raw: string(b)}
	var parts []string
	if err := json.Unmarshal(b, &parts); err != nil || len(parts) != 5 {
		c.t.Fatalf("%s: not LAVA's [topic, uuid, datetime, username, data]: %s (%v)", c.name, b, err)
	}
	m.topic, m.id, m.dt, m.user, m.payload = parts[0], parts[1], parts[2], parts[3], parts[4]
	if err := json.Unmarshal([]byte(m.payload), &m.fields); err != nil {
		c.t.Fatalf("%s: payload %q: %v", c.name, m.payload, err)
	}
	return m
}

// until reads messages up to and including the first for which stop is
// true, and returns those before it.
func (c *client) until(stop func(msg) bool) []msg {
	c.t.Helper()
	var got []msg
	for {
		m := c.next()
		if m.closed {
			c.t.Fatalf("%s: connection closed (%d %s) after %d messages", c.name, m.closeCode, m.closeReason, len(got))
		}
		if stop(m) {
			return got
		}
		got = append(got, m)
	}
}

// short is a message as the tests compare them: topic, user and payload
// (the uuid and the datetime are checked on their own).
func (m msg) short() string { return m.topic + " " + m.user + " " + m.payload }

// worker is w1's principal.
var worker = auth.WorkerPrincipal("w1")

// runJob takes job id from the queue to Finished Complete on qemu-01, with
// a test event "ready" from its test shell on the way; w1 must be Online.
func (e *env) runJob(id int64) {
	e.t.Helper()
	ctx := context.Background()
	res, err := e.app.SchedulePass(ctx)
	must(e.t, err)
	if len(res.Assigned) != 1 || res.Assigned[0].Job != id {
		e.t.Fatalf("scheduled %+v, want job %d on qemu-01", res.Assigned, id)
	}
	_, err = e.app.StartJob(ctx, worker, id)
	must(e.t, err)
	log := `{"dt":"2026-01-02T03:04:05.000006Z","lvl":"info","msg":"start"}` + "\n" +
		`{"dt":"2026-01-02T03:04:05.000007Z","lvl":"event","msg":"ready \"now\""}` + "\n"
	_, err = e.app.AppendLog(ctx, worker, id, 0, []byte(log))
	must(e.t, err)
	// The same lines again (a retry after a lost acknowledgement): no
	// second event.
	_, err = e.app.AppendLog(ctx, worker, id, 0, []byte(log))
	must(e.t, err)
	_, err = e.app.FinishJob(ctx, worker, id, app.JobOutcome{})
	must(e.t, err)
}

// heartbeat brings w1 Online.
func (e *env) heartbeat() {
	e.t.Helper()
	_, err := e.app.Heartbeat(context.Background(), worker, "w1", "test")
	must(e.t, err)
}

// submit submits def as who.
func (e *env) submit(who int, def string) int64 {
	e.t.Helper()
	ids, _, err := e.app.SubmitJob(context.Background(), e.principal(who), def)
	must(e.t, err)
	return ids[0]
}

// job reads job id as stored.
func (e *env) job(id int64) lab.Job {
	e.t.Helper()
	j, err := e.app.Store().GetJob(context.Background(), id)
	must(e.t, err)
	return j
}

// lavacliURI is the /RPC2 URI lavacli is given.
func (e *env) lavacliURI() string {
	u, err := url.Parse(e.srv.URL + lavarpc.Path)
	must(e.t, err)
	return u.String()
}
