package httpserve_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpserve"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// fakeApp knows one token, "good" (alice's); "down" fails as the database
// would. It records the faults it hears of.
type fakeApp struct{ faults []error }

func (a *fakeApp) Authenticate(_ context.Context, _, secret string) (auth.Principal, error) {
	switch secret {
	case "good":
		return auth.Principal{Kind: auth.KindUser, Username: "alice"}, nil
	case "down":
		return auth.Principal{}, fmt.Errorf("look up token: %w", lab.ErrDatabaseUnavailable)
	}
	return auth.Principal{}, fmt.Errorf("invalid token: %w", lab.ErrUnauthenticated)
}

func (a *fakeApp) NoteFault(err error) bool {
	a.faults = append(a.faults, err)
	return true
}

// writeError is an API's error format: the status, and the message as the
// body.
func writeError(w http.ResponseWriter, err error) {
	m := apierr.Map(err)
	m.SetHeaders(w.Header())
	w.WriteHeader(m.Status)
	_, _ = io.WriteString(w, m.Message)
}

// guard is a Guard over a fake app, logging to log, with a body limit of
// 16 bytes; requests with ?wait are not admitted.
func guard(log io.Writer) (*httpserve.Guard, *fakeApp) {
	a := &fakeApp{}
	return &httpserve.Guard{
		App: a, Log: slog.New(slog.NewTextHandler(log, nil)), MaxBody: 16, WriteError: writeError,
		Challenge:  `Token realm="test"`,
		Unadmitted: func(r *http.Request) bool { return r.URL.Query().Has("wait") },
	}, a
}

// TestServe: each step of a request, and what the caller and the log see
// of its failure.
func TestServe(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s %s %s", p.Kind, p.Username, b)
		return nil
	}
	fail := func(err error) httpserve.Handler {
		return func(http.ResponseWriter, *http.Request, auth.Principal) error { return err }
	}
	cases := []struct {
		name       string
		token      string
		path, body string
		challenge  string // the Guard's (default: a Token realm)
		h          httpserve.Handler
		status     int
		answer     string // in the body
		wwwAuth    string
		logged     string // in the log ("": nothing)
		faults     int
	}{
		{name: "anonymous", h: echo, body: "hello", status: 200, answer: "anonymous  hello"},
		{name: "token", token: "good", h: echo, status: 200, answer: "user alice"},
		{name: "bad token", token: "bad", h: echo, status: 401, answer: "invalid token", wwwAuth: `Token realm="test"`},
		{name: "bad token, no challenge", token: "bad", challenge: "-", h: echo, status: 401, answer: "invalid token"},
		{name: "database down", token: "down", h: echo, status: 503, faults: 1},
		{name: "body too large", h: echo, body: strings.Repeat("x", 17), status: 413},
		{name: "long poll: body bounded", path: "/?wait=1", h: echo, body: strings.Repeat("x", 17), status: 413},
		{name: "not found", h: fail(fmt.Errorf("job 3: %w", lab.ErrNotFound)), status: 404},
		{name: "bug", h: fail(errors.New("nil map")), status: 500, answer: "internal error", logged: `msg="request failed" route="GET /x" err="nil map"`},
		{name: "disk full", h: fail(fmt.Errorf("append: %w", lab.ErrStorageFull)), status: 507, faults: 1},
		{name: "panic", h: func(http.ResponseWriter, *http.Request, auth.Principal) error { panic("boom") },
			status: 500, answer: "internal error", logged: `msg="panic in handler" route="GET /x" panic=boom`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var log syncbuf.Buffer
			g, a := guard(&log)
			if c.challenge == "-" {
				g.Challenge = ""
			}
			path := c.path
			if path == "" {
				path = "/"
			}
			r := httptest.NewRequest("GET", path, strings.NewReader(c.body))
			if c.token != "" {
				r.Header.Set("Authorization", "Token "+c.token)
			}
			w := httptest.NewRecorder()
			g.Serve(w, r, "GET /x", c.h)
			if w.Code != c.status || !strings.Contains(w.Body.String(), c.answer) {
				t.Errorf("status %d, body %q; want %d with %q", w.Code, w.Body.String(), c.status, c.answer)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != c.wwwAuth {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.wwwAuth)
			}
			if c.logged == "" && log.String() != "" || !strings.Contains(log.String(), c.logged) {
				t.Errorf("log %q, want %q", log.String(), c.logged)
			}
			if len(a.faults) != c.faults {
				t.Errorf("faults noted %v, want %d", a.faults, c.faults)
			}
		})
	}
}

// TestServeAdmission: a request that finds no free slot is refused with
// 503 and Retry-After, without its handler; one that admission does not
// count (Unadmitted) runs all the same.
func TestServeAdmission(t *testing.T) {
	g, _ := guard(io.Discard)
	g.Admit = admit.New(1, time.Millisecond)
	release, err := g.Admit.Admit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	ran := 0
	h := func(http.ResponseWriter, *http.Request, auth.Principal) error { ran++; return nil }
	w := httptest.NewRecorder()
	g.Serve(w, httptest.NewRequest("GET", "/", nil), "GET /x", h)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || ran != 0 {
		t.Errorf("with no free slot: status %d, Retry-After %q, handler ran %d times; want 503 with Retry-After, not run",
			w.Code, w.Header().Get("Retry-After"), ran)
	}
	w = httptest.NewRecorder()
	g.Serve(w, httptest.NewRequest("GET", "/?wait=30s", nil), "GET /x", h)
	if w.Code != http.StatusOK || ran != 1 {
		t.Errorf("a long poll with no free slot: status %d, handler ran %d times; want 200, run", w.Code, ran)
	}
	if g.Admit.InFlight() != 1 {
		t.Errorf("%d requests in flight after the requests ended, want the one held", g.Admit.InFlight())
	}
}

// TestAbort: a response aborted on purpose goes through Serve and Recover
// to the server as http.ErrAbortHandler, with nothing appended; the
// failure is logged unless the client has gone.
func TestAbort(t *testing.T) {
	for _, gone := range []bool{false, true} {
		var log syncbuf.Buffer
		g, _ := guard(&log)
		ctx, cancel := context.WithCancel(context.Background())
		if gone {
			cancel()
		} else {
			defer cancel()
		}
		r := httptest.NewRequestWithContext(ctx, "GET", "/", nil)
		w := httptest.NewRecorder()
		func() {
			defer func() {
				if v := recover(); v != http.ErrAbortHandler {
					t.Errorf("client gone %v: recovered %v, want http.ErrAbortHandler", gone, v)
				}
			}()
			g.Serve(w, r, "GET /x", func(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
				_, _ = io.WriteString(w, `{"count": 3`)
				g.Abort(r, errors.New("the store failed halfway"))
				return nil
			})
		}()
		if w.Body.String() != `{"count": 3` {
			t.Errorf("client gone %v: body %q, want the first bytes only", gone, w.Body.String())
		}
		if logged := strings.Contains(log.String(), "the store failed halfway"); logged == gone {
			t.Errorf("client gone %v: log %q", gone, log.String())
		}
	}
}

// TestRecover: Recover alone (for endpoints that need nothing else)
// answers a panic as an internal error and logs it.
func TestRecover(t *testing.T) {
	var log bytes.Buffer
	g, _ := guard(&log)
	w := httptest.NewRecorder()
	func() {
		defer g.Recover(w, "GET /version/")
		panic("boom")
	}()
	if w.Code != 500 || !strings.Contains(log.String(), `msg="panic in handler" route="GET /version/" panic=boom`) {
		t.Errorf("status %d, log %q; want 500 and the panic logged with its route", w.Code, log.String())
	}
}
