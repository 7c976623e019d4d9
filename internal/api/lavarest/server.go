package lavarest

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpserve"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Prefix is where the API is mounted (lavawire.Prefix).
const Prefix = lavawire.Prefix

// maxBody bounds request bodies (job definitions are the largest).
const maxBody = 4 << 20

// Route is one endpoint of the API. The table of routes is what the mux,
// the documentation test and the permission tests read.
type Route struct {
	Method  string
	Pattern string // below Prefix, ServeMux syntax, with LAVA's trailing slash
	handler func(*API, http.ResponseWriter, *http.Request, auth.Principal) error
	Summary string
	// Write says the endpoint changes something: it needs an
	// authenticated caller (LAVA's IsAuthenticatedOrReadOnly); reads are
	// open to anonymous callers, who see public objects only.
	Write bool
	// Bare endpoints read neither the database nor the credentials and
	// are never shed: system/version/ is a liveness probe.
	Bare bool
}

// API serves LAVA's REST API v0.2 over an app.App.
type API struct {
	app   *app.App
	mux   *http.ServeMux
	guard httpserve.Guard // runs every route's requests
}

// SetAdmission makes the API shed load beyond l's limit (package admit).
func (api *API) SetAdmission(l *admit.Limiter) { api.guard.Admit = l }

// New returns the API handler; mount it at Prefix+"/".
func New(a *app.App, log *slog.Logger) *API {
	if log == nil {
		log = slog.Default()
	}
	api := &API{app: a, mux: http.NewServeMux(),
		guard: httpserve.Guard{App: a, Log: log, MaxBody: maxBody, WriteError: writeError}}
	byPattern := map[string][]Route{}
	var patterns []string
	for _, r := range Routes() {
		if _, ok := byPattern[r.Pattern]; !ok {
			patterns = append(patterns, r.Pattern)
		}
		byPattern[r.Pattern] = append(byPattern[r.Pattern], r)
	}
	for _, p := range patterns {
		full := Prefix + p
		if strings.HasSuffix(p, "/") {
			full += "{$}"
		}
		if p == "/token/" { // LAVA matches any path under token/
			full = Prefix + p
		}
		api.mux.HandleFunc(full, api.dispatch(byPattern[p]))
	}
	api.mux.HandleFunc(Prefix+"/", api.notFound)
	return api
}

// ServeHTTP implements http.Handler. A path without its final slash is
// redirected to the path with it when that names an endpoint, as LAVA's
// Django does (APPEND_SLASH): 301 for GET and HEAD (clients such as
// KernelCI's poll jobs/<id> and follow), 308 for the other methods, which
// keeps their method and body.
func (api *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; !strings.HasSuffix(p, "/") && strings.HasPrefix(p, Prefix+"/") {
		r2 := r.Clone(r.Context())
		r2.URL.Path = p + "/"
		r2.URL.RawPath = ""
		if _, pattern := api.mux.Handler(r2); pattern != "" && pattern != Prefix+"/" {
			target := (&url.URL{Path: p + "/", RawQuery: r.URL.RawQuery}).String()
			w.Header().Set("Location", target)
			code := http.StatusPermanentRedirect
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				code = http.StatusMovedPermanently
			}
			w.WriteHeader(code)
			return
		}
	}
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusMovedPermanently)
		return
	}
	api.mux.ServeHTTP(w, r)
}

// notFound answers a path that names no endpoint.
func (api *API) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, fmt.Errorf("no endpoint %s: %w", r.URL.Path, lab.ErrNotFound))
}

// dispatch serves the routes of one path: the route of the request's
// method (HEAD is GET), 405 with Allow for any other method, and the
// allowed methods for OPTIONS.
func (api *API) dispatch(routes []Route) http.HandlerFunc {
	allow := []string{}
	for _, r := range routes {
		allow = append(allow, r.Method)
		if r.Method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	allow = append(allow, http.MethodOptions)
	allowed := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		method := r.Method
		if method == http.MethodHead {
			method = http.MethodGet
		}
		for _, rt := range routes {
			if rt.Method == method {
				api.serve(rt, w, r)
				return
			}
		}
		w.Header().Set("Allow", allowed)
		if r.Method == http.MethodOptions {
			writeJSON(w, http.StatusOK, struct{}{})
			return
		}
		writeJSON(w, http.StatusMethodNotAllowed, lavawire.Error{Detail: fmt.Sprintf("Method %q not allowed.", r.Method)})
	}
}

// serve runs one route: bound the body, shed load, authenticate, call,
// map errors, and answer 500 rather than die on a bug (package
// httpserve). A bare route only has the last.
func (api *API) serve(rt Route, w http.ResponseWriter, r *http.Request) {
	route := rt.Method + " " + rt.Pattern
	if rt.Bare {
		defer api.guard.Recover(w, route)
		_ = rt.handler(api, w, r, auth.Anonymous())
		return
	}
	api.guard.Serve(w, r, route, func(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
		if rt.Write && p.Kind == auth.KindAnonymous {
			return errNoCredentials
		}
		return rt.handler(api, w, r, p)
	})
}

// errNoCredentials: an anonymous caller of an endpoint that changes
// something (DRF's message).
var errNoCredentials error = noCredentials{}

type noCredentials struct{}

func (noCredentials) Error() string { return "Authentication credentials were not provided." }
func (noCredentials) Unwrap() error { return lab.ErrUnauthenticated }

// fieldError is a problem with one field of a request (a filter, a body
// field). It answers 400 with DRF's shape: {"<field>": ["<message>"]}.
type fieldError struct {
	field, msg string
	plain      bool // the message alone, not in a list (LAVA's validate/)
}

func (e *fieldError) Error() string { return fmt.Sprintf("%s: %s", e.field, e.msg) }
func (e *fieldError) Unwrap() error { return lab.ErrInvalid }

// fieldErr is a fieldError for field.
func fieldErr(field, format string, args ...any) error {
	return &fieldError{field: field, msg: fmt.Sprintf(format, args...)}
}

// writeError answers err with the status apierr.Map gives it (the one
// mapping of every transport) and DRF's error body: {"detail": message},
// LAVA's {"message": …} for a refused submission (submitError),
// "Not found." for anything not found (a private job included: nothing
// tells it from a missing one), {"<field>": [message]} for a bad field. A
// caller whose credentials do not check out, or who has none on a write,
// is asked for a token.
func writeError(w http.ResponseWriter, err error) {
	m := apierr.Map(err)
	m.SetHeaders(w.Header())
	var fe *fieldError
	var se *submitError
	switch {
	case errors.As(err, &fe) && fe.plain:
		writeJSON(w, m.Status, map[string]string{fe.field: fe.msg})
		return
	case errors.As(err, &fe):
		writeJSON(w, m.Status, map[string][]string{fe.field: {fe.msg}})
		return
	case errors.As(err, &se):
		writeJSON(w, m.Status, submitMessage(m))
		return
	case m.Code == apierr.CodeNotFound:
		m.Message = "Not found."
	case m.Code == apierr.CodeUnauthenticated:
		w.Header().Set("WWW-Authenticate", `Token realm="api"`)
	}
	writeJSON(w, m.Status, lavawire.Error{Detail: m.Message})
}

// writeJSON answers v as DRF's JSON renderer does: compact, UTF-8.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// absURL is the absolute URL of path (below the server's root) with query
// q, on the scheme and host the request came to.
func absURL(r *http.Request, path string, q url.Values) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: r.Host, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// Page sizes: LAVA's default page, and the most one page may hold.
const (
	defaultLimit = 50
	maxLimit     = 500
)

// paging is a page of a list: ?limit= and ?offset=, read as DRF does (a
// limit that is not a positive integer is the default, an offset that is
// not a non-negative integer is 0), the limit at most maxLimit.
type paging struct{ limit, offset int }

func readPaging(r *http.Request) paging {
	q := r.URL.Query()
	pg := paging{limit: defaultLimit}
	if n, ok := positive(q.Get("limit")); ok && n > 0 {
		pg.limit = min(n, maxLimit)
	}
	if n, ok := positive(q.Get("offset")); ok {
		pg.offset = n
	}
	return pg
}

// positive reads a non-negative decimal integer of at most 9 digits.
func positive(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// page wraps one page of results in DRF's envelope, with the absolute
// URLs of the next and previous pages: the request's URL with limit and
// offset replaced (offset dropped on the first page).
func page[T any](r *http.Request, pg paging, count int, results []T) lavawire.Page[T] {
	if results == nil {
		results = []T{}
	}
	out := lavawire.Page[T]{Count: count, Results: results}
	link := func(offset int) *string {
		q := r.URL.Query()
		q.Set("limit", fmt.Sprint(pg.limit))
		if offset > 0 {
			q.Set("offset", fmt.Sprint(offset))
		} else {
			q.Del("offset")
		}
		s := absURL(r, r.URL.Path, q)
		return &s
	}
	if pg.offset+pg.limit < count {
		out.Next = link(pg.offset + pg.limit)
	}
	if pg.offset > 0 {
		out.Previous = link(max(pg.offset-pg.limit, 0))
	}
	return out
}

// window returns the page pg of items (already filtered and ordered).
func window[T any](items []T, pg paging) []T {
	lo := min(pg.offset, len(items))
	hi := min(lo+pg.limit, len(items))
	return slices.Clone(items[lo:hi])
}
