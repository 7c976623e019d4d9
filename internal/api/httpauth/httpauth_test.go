package httpauth

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// fakeAuth accepts the secret "good", for user "" or "alice" only.
type fakeAuth struct{ gotUser string }

func (f *fakeAuth) Authenticate(_ context.Context, user, secret string) (auth.Principal, error) {
	f.gotUser = user
	if secret != "good" || (user != "" && user != "alice") {
		return auth.Principal{}, lab.ErrUnauthenticated
	}
	return auth.Principal{Kind: auth.KindUser, Username: "alice"}, nil
}

func TestPrincipal(t *testing.T) {
	cases := []struct {
		name, header string
		basic        [2]string
		want         auth.Kind
		user         string
		err          bool
	}{
		{name: "none", want: auth.KindAnonymous},
		{name: "token", header: "Token good", want: auth.KindUser},
		{name: "bearer", header: "Bearer good", want: auth.KindUser},
		{name: "bad token", header: "Token bad", err: true},
		{name: "basic", basic: [2]string{"alice", "good"}, want: auth.KindUser, user: "alice"},
		{name: "basic other user", basic: [2]string{"bob", "good"}, err: true, user: "bob"},
		{name: "malformed basic", header: "Basic !!!", err: true},
		{name: "unknown scheme", header: "Digest x", err: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if c.header != "" {
				r.Header.Set("Authorization", c.header)
			}
			if c.basic[0] != "" {
				r.SetBasicAuth(c.basic[0], c.basic[1])
			}
			f := &fakeAuth{}
			p, err := Principal(r, f)
			if c.err {
				if !errors.Is(err, lab.ErrUnauthenticated) {
					t.Fatalf("err = %v, want ErrUnauthenticated", err)
				}
			} else if err != nil || p.Kind != c.want {
				t.Fatalf("principal %+v, %v; want kind %v", p, err, c.want)
			}
			if f.gotUser != c.user {
				t.Errorf("user passed on %q, want %q", f.gotUser, c.user)
			}
		})
	}
}
