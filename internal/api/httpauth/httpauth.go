// Package httpauth reads a request's credentials the one way every HTTP
// surface of the server accepts them (the REST API, the web UI):
// `Authorization: Token <secret>` (or Bearer), or HTTP Basic `user:token`
// as lavacli sends it.
package httpauth

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Authenticator checks a secret, optionally with the user name it claims
// to belong to (app.App does).
type Authenticator interface {
	Authenticate(ctx context.Context, user, secret string) (auth.Principal, error)
}

// Principal returns who the request's Authorization header says the caller
// is. No header means anonymous; a header that does not check out is an
// error wrapping lab.ErrUnauthenticated, never a silent downgrade.
func Principal(r *http.Request, a Authenticator) (auth.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return auth.Principal{Kind: auth.KindAnonymous}, nil
	}
	scheme, rest, _ := strings.Cut(h, " ")
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		return a.Authenticate(r.Context(), "", strings.TrimSpace(rest))
	case "basic":
		user, secret, ok := r.BasicAuth()
		if !ok {
			return auth.Principal{}, fmt.Errorf("malformed Basic credentials: %w", lab.ErrUnauthenticated)
		}
		return a.Authenticate(r.Context(), user, secret)
	}
	return auth.Principal{}, fmt.Errorf("unsupported authorization scheme %q (use Token or Basic): %w", scheme, lab.ErrUnauthenticated)
}

// ClientAddr is the network address of the caller, the host part of
// r.RemoteAddr, for per-client limits such as login throttling.
// Forwarding headers (X-Forwarded-For) are not trusted: behind a reverse
// proxy every caller has the proxy's address (docs/operations.md).
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
