package labtest

import (
	"context"
	"net/http/httptest"
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
