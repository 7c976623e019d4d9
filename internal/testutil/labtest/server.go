package labtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/store"
)

// APIServer serves the real REST API over st on a loopback httptest server
// (closed at cleanup), with superuser "admin"; it returns the app, the
// server and an API token of admin's.
func APIServer(t testing.TB, st store.Store) (*app.App, *httptest.Server, string) {
	t.Helper()
	ctx := context.Background()
	a := app.New(st, app.Config{})
	if err := a.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	u, err := a.CreateSuperuser(ctx, "admin", "admin@example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	p, err := auth.UserPrincipal(u)
	if err != nil {
		t.Fatal(err)
	}
	_, secret, err := a.CreateToken(ctx, p, "admin", "test", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rest.New(a, nil))
	t.Cleanup(srv.Close)
	return a, srv, secret
}

// ServeFuzzed serves h one request made of a fuzz target's parts: method,
// path (below prefix), body and headers (name, value pairs; a pair with
// an empty value is left out). ok is false, and nothing is served, when
// the parts make no request a client can send: a path that does not
// start with "/" or holds white space or a fragment, or a bad method. An
// answer with a status of 500 or more fails the test: whatever comes in,
// an API answers it without an internal error.
func ServeFuzzed(t *testing.T, h http.Handler, method, prefix, path, body string, header ...string) (rec *httptest.ResponseRecorder, ok bool) {
	t.Helper()
	if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, " \r\n\t#") {
		return nil, false
	}
	req, err := http.NewRequest(method, "http://basalt"+prefix+path, strings.NewReader(body))
	if err != nil {
		return nil, false
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s %s %q: status %d: %s", method, path, body, rec.Code, rec.Body.String())
	}
	return rec, true
}
