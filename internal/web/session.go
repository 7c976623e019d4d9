package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/apierr"
	"github.com/basalt-lab/basalt/internal/api/httpauth"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Browser sessions. Logging in with a username and password creates an
// ordinary user API token (description "web session", expiring after
// sessionTTL) through app.CreateToken; the cookie holds "<token id>.<secret>".
// Each request authenticates the secret exactly as the REST API does, so
// revoking the token (basalt tokens, or the API) ends the session, and
// logging out revokes it. The cookie is HttpOnly, SameSite=Strict and
// Secure on HTTPS; POSTs are also guarded by http.CrossOriginProtection.
const (
	sessionCookie = "basalt_session"
	sessionTTL    = 14 * 24 * time.Hour
	maxForm       = 64 << 10
)

type sessionKey struct{}

// fromSession says whether r was authenticated by the session cookie.
func fromSession(r *http.Request) bool {
	v, _ := r.Context().Value(sessionKey{}).(bool)
	return v
}

// principal authenticates r: the Authorization header when present (a bad
// one is an error, as on the REST API), else the session cookie (a stale
// one is cleared and the caller is anonymous), else anonymous.
func (u *UI) principal(w http.ResponseWriter, r *http.Request) (auth.Principal, *http.Request, error) {
	if r.Header.Get("Authorization") != "" {
		p, err := u.authenticate(r)
		return p, r, err
	}
	anon := auth.Principal{Kind: auth.KindAnonymous}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return anon, r, nil
	}
	_, secret, ok := parseSession(c.Value)
	if !ok {
		clearSession(w, r)
		return anon, r, nil
	}
	p, err := u.app.Authenticate(r.Context(), "", secret)
	if err != nil {
		if !errors.Is(err, lab.ErrUnauthenticated) {
			return anon, r, err
		}
		clearSession(w, r)
		return anon, r, nil
	}
	return p, r.WithContext(context.WithValue(r.Context(), sessionKey{}, true)), nil
}

// parseSession splits a cookie value "<id>.<secret>".
func parseSession(v string) (id int64, secret string, ok bool) {
	ids, secret, found := strings.Cut(v, ".")
	id, err := strconv.ParseInt(ids, 10, 64)
	if !found || err != nil || id <= 0 || secret == "" {
		return 0, "", false
	}
	return id, secret, true
}

func setSession(w http.ResponseWriter, r *http.Request, value string, expires time.Time) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", Expires: expires,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

func clearSession(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

type loginData struct {
	Next, Username, Error string
}

func (u *UI) loginForm(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	u.show(w, r, p, "login", "Log in", "login", loginData{Next: safeRedirect(r.URL.Query().Get("next"))})
	return nil
}

func (u *UI) login(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: login form: %v", lab.ErrInvalid, err)
	}
	d := loginData{Next: safeRedirect(r.PostForm.Get("next")), Username: r.PostForm.Get("username")}
	up, err := u.app.Login(r.Context(), d.Username, r.PostForm.Get("password"), httpauth.ClientAddr(r))
	switch {
	case errors.Is(err, lab.ErrUnauthenticated):
		d.Error = "Wrong username or password."
		u.render(w, http.StatusUnauthorized, "login", page{Title: "Log in", Nav: "login", User: p.Username, Admin: auth.IsAdmin(p), Data: d})
		return nil
	case errors.Is(err, lab.ErrThrottled):
		m := apierr.Map(err)
		m.SetHeaders(w.Header())
		d.Error = "Too many failed logins. Try again in " + waitText(m.RetryAfter) + "."
		u.render(w, m.Status, "login", page{Title: "Log in", Nav: "login", User: p.Username, Data: d})
		return nil
	}
	if err != nil {
		return err
	}
	expires := u.now().Add(sessionTTL)
	tok, secret, err := u.app.CreateToken(r.Context(), up, up.Username, "web session", expires)
	if err != nil {
		return fmt.Errorf("log in %s: %w", up.Username, err)
	}
	setSession(w, r, fmt.Sprintf("%d.%s", tok.ID, secret), expires)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
	return nil
}

// logout revokes the session's token and clears the cookie. It answers a
// redirect home whether or not there was a session.
func (u *UI) logout(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if c, err := r.Cookie(sessionCookie); err == nil && fromSession(r) {
		if id, _, ok := parseSession(c.Value); ok {
			if err := u.app.DeleteToken(r.Context(), p, id); err != nil && !errors.Is(err, lab.ErrNotFound) {
				return fmt.Errorf("log out %s: %w", p.Username, err)
			}
		}
	}
	clearSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// waitText says how long to wait, for people: "1 second", "40 seconds",
// "3 minutes" (rounded up).
func waitText(d time.Duration) string {
	switch s := int((d + time.Second - 1) / time.Second); {
	case s <= 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	case s <= 60:
		return "1 minute"
	default:
		return fmt.Sprintf("%d minutes", (s+59)/60)
	}
}
