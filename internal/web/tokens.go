package web

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// maxTokenDays bounds the lifetime a token created on the page may have.
const maxTokenDays = 3650

// tokensData is the token page: the caller's own user tokens, and once,
// right after creating one, its secret.
type tokensData struct {
	Tokens []lab.Token
	// Session is the id of the token behind this browser's session (0 when
	// the caller did not log in with the form).
	Session int64
	// NewSecret is the secret of the token just created; it is never
	// stored and never shown again.
	NewSecret string
	NewID     int64
	Error     string
	Admin     bool // link the user admin page
}

// sessionTokenID returns the id of the token behind r's session cookie.
func sessionTokenID(r *http.Request) int64 {
	if !fromSession(r) {
		return 0
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return 0
	}
	id, _, _ := parseSession(c.Value)
	return id
}

// showTokens renders the token page for p with status code.
func (u *UI) showTokens(w http.ResponseWriter, r *http.Request, p auth.Principal, code int, d tokensData) error {
	toks, err := u.app.ListTokens(r.Context(), p, p.Username)
	if err != nil {
		return err
	}
	d.Tokens, d.Session, d.Admin = toks, sessionTokenID(r), auth.IsAdmin(p)
	u.render(w, code, "tokens", page{Title: "API tokens", Nav: "tokens", User: p.Username, Admin: auth.IsAdmin(p), Session: fromSession(r), Data: d})
	return nil
}

func (u *UI) tokens(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Kind == auth.KindAnonymous {
		loginFirst(w, r)
		return nil
	}
	return u.showTokens(w, r, p, http.StatusOK, tokensData{})
}

// createToken creates a user token for the caller and shows its secret
// once. The form gives a description and an optional lifetime in days.
func (u *UI) createToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Kind != auth.KindUser {
		return fmt.Errorf("create token: %w", lab.ErrForbidden)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: token form: %v", lab.ErrInvalid, err)
	}
	desc := strings.TrimSpace(r.PostForm.Get("description"))
	var expires time.Time
	if s := strings.TrimSpace(r.PostForm.Get("days")); s != "" {
		days, err := strconv.Atoi(s)
		if err != nil || days < 1 || days > maxTokenDays {
			return u.showTokens(w, r, p, http.StatusBadRequest, tokensData{Error: fmt.Sprintf("Days must be a whole number from 1 to %d, or empty for a token that does not expire.", maxTokenDays)})
		}
		expires = u.now().Add(time.Duration(days) * 24 * time.Hour)
	}
	tok, secret, err := u.app.CreateToken(r.Context(), p, p.Username, desc, expires)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	return u.showTokens(w, r, p, http.StatusOK, tokensData{NewSecret: secret, NewID: tok.ID})
}

// revokeToken deletes one of the caller's tokens (any user token for a
// superuser). Another user's token is not found. Revoking the token of
// this browser's session logs it out.
func (u *UI) revokeToken(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if p.Kind != auth.KindUser {
		return fmt.Errorf("revoke token: %w", lab.ErrForbidden)
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("token %q: %w", r.PathValue("id"), lab.ErrNotFound)
	}
	if err := u.app.DeleteToken(r.Context(), p, id); err != nil {
		return err
	}
	if id == sessionTokenID(r) {
		clearSession(w, r)
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	http.Redirect(w, r, "/tokens", http.StatusSeeOther)
	return nil
}

// usersData is the superusers' user page.
type usersData struct {
	Users []lab.User
	Error string
	Form  app.NewUser // what was typed, after an error (never the password)
}

func (u *UI) showUsers(w http.ResponseWriter, r *http.Request, p auth.Principal, code int, d usersData) error {
	users, err := u.app.ListUsers(r.Context(), p)
	if err != nil {
		return err
	}
	d.Users = users
	u.render(w, code, "users", page{Title: "Users", Nav: "users", User: p.Username, Admin: auth.IsAdmin(p), Session: fromSession(r), Data: d})
	return nil
}

// users lists the accounts: superusers only; everyone else is forbidden.
func (u *UI) users(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !auth.IsAdmin(p) {
		return fmt.Errorf("users: %w", lab.ErrForbidden)
	}
	return u.showUsers(w, r, p, http.StatusOK, usersData{})
}

// createUser adds an account (superusers only). An invalid or taken name
// is shown on the form again.
func (u *UI) createUser(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	if !auth.IsAdmin(p) {
		return fmt.Errorf("create user: %w", lab.ErrForbidden)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		return fmt.Errorf("%w: user form: %v", lab.ErrInvalid, err)
	}
	f := r.PostForm
	nu := app.NewUser{Username: strings.TrimSpace(f.Get("username")), Email: strings.TrimSpace(f.Get("email")),
		FirstName: strings.TrimSpace(f.Get("first_name")), LastName: strings.TrimSpace(f.Get("last_name")),
		Password: f.Get("password"), IsSuperuser: f.Get("superuser") == "on"}
	_, err := u.app.CreateUser(r.Context(), p, nu)
	if errors.Is(err, lab.ErrInvalid) || errors.Is(err, lab.ErrConflict) {
		nu.Password = ""
		return u.showUsers(w, r, p, status(err), usersData{Error: err.Error(), Form: nu})
	}
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/users", http.StatusSeeOther)
	return nil
}
