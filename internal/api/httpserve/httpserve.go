// Package httpserve runs one request of a JSON API the way both of the
// server's JSON APIs (/api/v1 in internal/api/rest, LAVA's /api/v0.2 in
// internal/api/lavarest) run theirs: the body bounded, load shed (package
// admit), the caller authenticated (package httpauth), the endpoint's
// handler called with the caller's principal, a failure reported (a bug
// logged, a condition of the server handed to the app, which logs it once
// per episode) and answered in the API's own error format, and a panic
// answered 500 instead of killing the server.
//
// What differs between the APIs stays theirs: the error body (the
// WriteError a Guard is given), the challenge of a refused caller and the
// requests that are not counted by admission.
package httpserve

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Handler answers a request for the caller p, or returns the error to
// answer.
type Handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// App is what a Guard needs of the app (app.App has it): checking a
// caller's credentials, and hearing of the server's conditions.
type App interface {
	httpauth.Authenticator
	NoteFault(err error) bool
}

// Guard runs the requests of one API.
type Guard struct {
	// App authenticates callers and hears of the server's conditions.
	App App
	// Log receives bugs: panics, internal errors, aborted responses.
	Log *slog.Logger
	// Admit sheds load; nil admits every request.
	Admit *admit.Limiter
	// MaxBody bounds a request's body (413 beyond).
	MaxBody int64
	// WriteError answers an error in the API's format, with the status
	// apierr.Map gives it.
	WriteError func(w http.ResponseWriter, err error)
	// Challenge, when not empty, is the WWW-Authenticate header of the
	// answer to credentials that do not check out.
	Challenge string
	// Unadmitted, when set, names the requests admission does not count
	// (they mostly wait, like long polls); their bodies are not buffered
	// either.
	Unadmitted func(r *http.Request) bool
}

// Serve runs one request of the endpoint named route (in the log, like
// "GET /jobs/{id}") with handler h: the body bounded to MaxBody, buffered
// and admitted unless Unadmitted, the caller authenticated, then h. An
// error of any step is reported and answered through WriteError; a panic
// is logged and answered as an internal error, except
// http.ErrAbortHandler (Abort), which goes on to the server.
func (g *Guard) Serve(w http.ResponseWriter, r *http.Request, route string, h Handler) {
	defer g.Recover(w, route)
	r.Body = http.MaxBytesReader(w, r.Body, g.MaxBody)
	if g.Unadmitted == nil || !g.Unadmitted(r) {
		release, err := g.Admit.Enter(w, r, g.MaxBody)
		if err != nil {
			g.WriteError(w, err)
			return
		}
		defer release()
	}
	p, err := httpauth.Principal(r, g.App)
	if err != nil {
		g.Report(route, err)
		if g.Challenge != "" && errors.Is(err, lab.ErrUnauthenticated) && !apierr.Map(err).Condition() {
			w.Header().Set("WWW-Authenticate", g.Challenge)
		}
		g.WriteError(w, err)
		return
	}
	if err := h(w, r, p); err != nil {
		g.Report(route, err)
		g.WriteError(w, err)
	}
}

// Recover, deferred, turns a panic of the endpoint named route into a
// logged bug answered as an internal error. It lets http.ErrAbortHandler
// through: a response aborted on purpose (Abort).
func (g *Guard) Recover(w http.ResponseWriter, route string) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		g.Log.Error("panic in handler", "route", route, "panic", v)
		g.WriteError(w, errors.New("internal error"))
	}
}

// Report logs a failed request that is a bug (an internal error, 500) and
// hands a condition of the server (a full disk: 507, the database
// unavailable: 503) to the app, which logs it once per episode.
func (g *Guard) Report(route string, err error) {
	switch m := apierr.Map(err); {
	case m.Internal():
		g.Log.Error("request failed", "route", route, "err", err)
	case m.Condition():
		g.App.NoteFault(err)
	}
}

// Abort ends a response whose headers are sent after a failure: the error
// is logged unless the client has gone (its request's context is done),
// and the handler panics with http.ErrAbortHandler, which the server
// answers by closing the HTTP/1.1 connection before the body is complete
// (the client sees an unexpected end of the body: a Content-Length not
// reached, or a chunked body without its last chunk) or by resetting the
// HTTP/2 stream, so that a client never takes a cut body for a whole one.
// Serve and Recover let that panic through.
func (g *Guard) Abort(r *http.Request, err error) {
	if r.Context().Err() == nil {
		g.Log.Warn("response aborted", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	panic(http.ErrAbortHandler)
}
