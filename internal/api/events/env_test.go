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
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// Identities of the test lab.
const (
	anon   = labtest.Anon
	alice  = labtest.Alice
	bob    = labtest.Bob
	admin  = labtest.Admin
	nIdent = labtest.Worker // the users, without the worker
)

var identNames = labtest.Names[:nIdent]

var must = labtest.Must

// waitFor bounds every wait of a test for something the server sends: a
// guard against a hung test, not a measure of anything.
const waitFor = 30 * time.Second

// env is a server with the event stream at /ws/ and LAVA's XML-RPC API at
// /RPC2 (for lavacli), over the standard lab (labtest.Lab) with device
// qemu-01 (Good) on w1 (never seen yet).
type env struct {
	*labtest.Lab
	ev  *Server
	srv *httptest.Server
}

func newEnv(t testing.TB, b labtest.Backend, cfg Config) *env {
	t.Helper()
	l := labtest.NewLab(t, b, labtest.Config{Device: lab.Device{Hostname: "qemu-01", Health: lab.DeviceGood,
		Dictionary: "{% extends 'qemu.jinja2' %}\n"}})
	e := &env{Lab: l, ev: New(l.App, nil, cfg)}
	mux := http.NewServeMux()
	mux.Handle(Path, e.ev)
	rpc := lavarpc.New(l.App, nil)
	mux.Handle(lavarpc.Path, rpc)
	mux.Handle(lavarpc.Path+"/", rpc)
	e.srv = l.Serve(mux)
	// Before the test server's Close (cleanups run last first): it waits
	// for the hijacked connections' handlers.
	t.Cleanup(e.ev.Close)
	return e
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
	e.T.Helper()
	h := http.Header{}
	if who != anon {
		h.Set("Authorization", basic(identNames[who], e.Tokens[who]))
	}
	c, err := e.dialHeader(h)
	must(e.T, err)
	return &client{t: e.T, name: identNames[who], c: c}
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
	e.T.Cleanup(func() { _ = c.CloseNow() })
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
	e.T.Helper()
	ctx := context.Background()
	res, err := e.App.SchedulePass(ctx)
	must(e.T, err)
	if len(res.Assigned) != 1 || res.Assigned[0].Job != id {
		e.T.Fatalf("scheduled %+v, want job %d on qemu-01", res.Assigned, id)
	}
	_, err = e.App.StartJob(ctx, worker, id)
	must(e.T, err)
	log := `{"dt":"2026-01-02T03:04:05.000006Z","lvl":"info","msg":"start"}` + "\n" +
		`{"dt":"2026-01-02T03:04:05.000007Z","lvl":"event","msg":"ready \"now\""}` + "\n"
	_, err = e.App.AppendLog(ctx, worker, id, 0, []byte(log))
	must(e.T, err)
	// The same lines again (a retry after a lost acknowledgement): no
	// second event.
	_, err = e.App.AppendLog(ctx, worker, id, 0, []byte(log))
	must(e.T, err)
	_, err = e.App.FinishJob(ctx, worker, id, app.JobOutcome{})
	must(e.T, err)
}

// heartbeat brings w1 Online.
func (e *env) heartbeat() {
	e.T.Helper()
	_, err := e.App.Heartbeat(context.Background(), worker, "w1", "test")
	must(e.T, err)
}

// lavacliURI is the /RPC2 URI lavacli is given.
func (e *env) lavacliURI() string {
	u, err := url.Parse(e.srv.URL + lavarpc.Path)
	must(e.T, err)
	return u.String()
}
