package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UI serves the HTML pages and their assets. It is safe for concurrent use;
// build it once with New.
type UI struct {
	app   *app.App
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	now   func() time.Time
	csrf  *http.CrossOriginProtection
	live  hub            // live.go: fans app events out to SSE streams
	admit *admit.Limiter // nil: every request is admitted
}

// SetAdmission makes the UI shed load beyond l's limit (package admit).
// The live streams (…/events) are not counted: they mostly wait.
func (u *UI) SetAdmission(l *admit.Limiter) { u.admit = l }

// New returns the UI over a. Mount it at "/" of the server's mux: more
// specific patterns (/api/v1/, /healthz, the worker API) keep precedence.
// It panics only if the embedded templates do not parse, which tests catch.
func New(a *app.App, log *slog.Logger) *UI {
	if log == nil {
		log = slog.Default()
	}
	u := &UI{app: a, log: log, mux: http.NewServeMux(), pages: map[string]*template.Template{}, now: time.Now,
		csrf: http.NewCrossOriginProtection()}
	base := template.Must(template.New("layout.html").Funcs(funcs).Funcs(actionFuncs).ParseFS(templateFS, "templates/layout.html", "templates/_*.html"))
	for _, name := range []string{"overview", "jobs", "job", "log", "results", "devices", "device", "workers", "worker", "login", "error"} {
		t := template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html"))
		u.pages[name] = t
	}
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	u.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	u.mux.HandleFunc("GET /static/ansi.css", serveANSICSS) // log colours (ansi.go)
	u.handle("GET /{$}", u.overview)
	u.handle("GET /jobs", u.jobs)
	u.handle("GET /jobs/{id}", u.job)
	u.handle("GET /jobs/{id}/log", u.logPage)
	u.handle("GET /jobs/{id}/events", u.jobEvents)
	u.handle("POST /jobs/{id}/console", u.consoleInput)
	u.handle("POST /devices/{hostname}/reserve", u.reserveDevice)
	u.handle("POST /jobs/{id}/extend", u.extendReservation)
	u.handle("POST /jobs/{id}/release", u.releaseReservation)
	u.handle("GET /jobs/{id}/queue/events", u.queueEvents)
	u.handle("GET /overview/events", u.overviewEvents)
	u.live.start(a)
	u.handle("GET /jobs/{id}/results", u.jobResults)
	u.handle("GET /devices", u.devices)
	u.handle("GET /devices/{hostname}", u.device)
	u.handle("GET /workers", u.workers)
	u.handle("GET /workers/{name}", u.worker)
	u.handle("GET /login", u.loginForm)
	u.handle("POST /login", u.login)
	u.handle("POST /logout", u.logout)
	u.registerActions(base) // actions.go: forms, downloads, submit, tokens, users
	u.registerGroups(base)  // groups.go: group admin
	u.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		u.fail(w, r, fmt.Errorf("no page %s: %w", r.URL.Path, lab.ErrNotFound))
	})
	return u
}

// ServeHTTP implements http.Handler.
func (u *UI) ServeHTTP(w http.ResponseWriter, r *http.Request) { u.mux.ServeHTTP(w, r) }

// page is what every template receives: the layout's fields plus the
// page's own data in Data.
type page struct {
	Title   string
	Nav     string // which top-level section is current
	User    string // empty for anonymous
	Admin   bool   // a superuser: sees the server's conditions (Faults)
	Session bool   // authenticated by the session cookie (offer log out)
	Version string
	// Faults are the server's conditions that hold (a full disk, the
	// database unavailable), shown to superusers above every page; render
	// fills it.
	Faults []app.Fault
	Data   any
}

type handler func(w http.ResponseWriter, r *http.Request, p auth.Principal) error

// handle registers h behind admission (but for the live streams),
// authentication, error pages and panic recovery.
func (u *UI) handle(pattern string, h handler) {
	stream := strings.HasSuffix(pattern, "/events")
	u.mux.Handle(pattern, u.csrf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { // a download aborted on purpose (abort)
					panic(v)
				}
				u.log.Error("panic in web handler", "path", r.URL.Path, "panic", v)
				u.fail(w, r, errors.New("internal error"))
			}
		}()
		if !stream {
			release, err := u.admit.Enter(w, r, maxDefinition+maxForm)
			if err != nil {
				u.fail(w, r, err)
				return
			}
			defer release()
		}
		p, r, err := u.principal(w, r)
		if err != nil {
			if !apierr.Map(err).Condition() {
				w.Header().Set("WWW-Authenticate", `Token realm="basalt", Basic realm="basalt"`)
			}
			u.fail(w, r, err)
			return
		}
		if err := h(w, r, p); err != nil {
			u.fail(w, r, err)
		}
	})))
}

// authenticate reads the request's credentials (package httpauth).
func (u *UI) authenticate(r *http.Request) (auth.Principal, error) {
	return httpauth.Principal(r, u.app)
}

// status maps an error to its HTTP status: the mapping every transport
// uses (package apierr).
func status(err error) int { return apierr.Map(err).Status }

// fail renders the error page. Internal errors are logged, and their text
// is not shown to the caller; conditions of the server (a full disk, the
// database unavailable) go to the app, which logs them once per episode.
func (u *UI) fail(w http.ResponseWriter, r *http.Request, err error) {
	m := apierr.Map(err)
	m.SetHeaders(w.Header())
	st, msg := m.Status, m.Message
	switch {
	case m.Internal():
		u.log.Error("web request failed", "path", r.URL.Path, "err", err)
		msg = "The server failed to build this page; the error is in its log."
	case m.Condition():
		u.app.NoteFault(err)
	}
	m.SetHeaders(w.Header())
	if st == http.StatusNotFound {
		msg = "There is nothing here, or you may not see it."
	}
	m.SetHeaders(w.Header())
	data := struct {
		Status int
		Text   string
		Msg    string
	}{st, http.StatusText(st), msg}
	u.render(w, st, "error", page{Title: http.StatusText(st), Data: data})
}

// render executes a page into a buffer first, so a template error becomes
// a clean 500 instead of half a page.
func (u *UI) render(w http.ResponseWriter, code int, name string, pg page) {
	pg.Version = version.Version
	if pg.Admin {
		pg.Faults = u.app.Faults()
	}
	var buf bytes.Buffer
	if err := u.pages[name].ExecuteTemplate(&buf, "layout.html", pg); err != nil {
		u.log.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "same-origin")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// show renders a page for principal p with status 200.
func (u *UI) show(w http.ResponseWriter, r *http.Request, p auth.Principal, name, title, nav string, data any) {
	u.render(w, http.StatusOK, name, page{Title: title, Nav: nav, User: p.Username, Admin: auth.IsAdmin(p), Session: fromSession(r), Data: data})
}

var funcs = template.FuncMap{
	"fault":   faultText,
	"when":    when,
	"dur":     dur,
	"lower":   func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
	"dec":     func(n int) int { return n - 1 },
	"levels":  func() []workerproto.Level { return workerproto.Levels },
	"logline": logLineURL, // links a 0-based log line, as results number them
}

// logLineURL links 0-based line n of job id's log (the API's and LAVA's
// numbering, docs/api.md): the default-sized window that holds it,
// scrolled to the line.
func logLineURL(id int64, n int) string {
	start := n / logWindow * logWindow
	return fmt.Sprintf("/jobs/%d/log?start=%d&end=%d#L%d", id, start, start+logWindow, n)
}

// faultText says what a condition of the server means for the lab and
// what to do, for the banner superusers see while it holds.
func faultText(f app.Fault) string {
	n := fmt.Sprintf("%d request", f.Failures)
	if f.Failures != 1 {
		n += "s"
	}
	switch f.Kind {
	case app.FaultStorageFull:
		return fmt.Sprintf("The server's disk is full since %s: %s failed (507 Insufficient Storage). Nothing can be stored — job logs, results, submissions, changes — until space is freed on the server; workers keep their journals and resend them. The server log has the error.", when(f.Since), n)
	case app.FaultDatabase:
		return fmt.Sprintf("The database is unavailable since %s: %s failed (503 Service Unavailable). The server recovers by itself when the database answers again; the server log has the error.", when(f.Since), n)
	}
	return fmt.Sprintf("%s since %s: %s failed.", f.Kind, when(f.Since), n)
}

// when formats a time for tables; the zero time is a dash.
func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " UTC"
}

// dur formats a duration to the second; zero or negative is a dash.
func dur(d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return d.Round(time.Second).String()
}
