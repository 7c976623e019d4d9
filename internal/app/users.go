package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// tokenTouchEvery bounds how often a token's last-used time is written, so
// that authentication does not turn every read into a database write.
const tokenTouchEvery = time.Minute

// Authenticate resolves an API token secret to the principal it acts for.
// When username is not empty (HTTP Basic user:token) it must name the
// token's owner. Unknown, expired or disowned tokens are ErrUnauthenticated.
func (a *App) Authenticate(ctx context.Context, username, secret string) (auth.Principal, error) {
	if secret == "" {
		return auth.Principal{}, fmt.Errorf("empty token: %w", lab.ErrUnauthenticated)
	}
	hash := auth.HashSecret(secret)
	tok, err := a.st.TokenByHash(ctx, hash)
	if errors.Is(err, lab.ErrNotFound) {
		return auth.Principal{}, fmt.Errorf("invalid token: %w", lab.ErrUnauthenticated)
	} else if err != nil {
		return auth.Principal{}, fmt.Errorf("look up token: %w", err)
	}
	now := a.now()
	if !bytes.Equal(tok.Hash, hash) {
		return auth.Principal{}, fmt.Errorf("invalid token: %w", lab.ErrUnauthenticated)
	}
	if username != "" && username != tok.Owner {
		return auth.Principal{}, fmt.Errorf("token does not belong to %q: %w", username, lab.ErrUnauthenticated)
	}
	var owner lab.User
	if tok.Kind == lab.TokenUser {
		if owner, err = a.st.GetUser(ctx, tok.Owner); errors.Is(err, lab.ErrNotFound) {
			return auth.Principal{}, fmt.Errorf("token owner %q: %w", tok.Owner, lab.ErrUnauthenticated)
		} else if err != nil { // the database failing is not the caller's fault
			return auth.Principal{}, fmt.Errorf("token owner %q: %w", tok.Owner, err)
		}
	}
	p, err := auth.TokenPrincipal(tok, owner, now)
	if err != nil {
		return auth.Principal{}, err
	}
	if now.Sub(tok.LastUsed) > tokenTouchEvery {
		if err := a.st.TouchToken(ctx, tok.ID, now); err != nil {
			a.logError(slog.LevelWarn, "touch token", err, "id", tok.ID)
		}
	}
	return p, nil
}

// Login checks a username and password, for a caller at client (its
// network address, "" when unknown) and returns the user's principal.
// Every password check of the server goes through it: the REST token
// endpoint and the web login alike.
//
// Failed logins are throttled per username and per client address
// (auth.LoginThrottle): past the budget, attempts are refused without
// checking the password with a lab.RetryAfterError wrapping
// lab.ErrThrottled, the same way whether or not the user exists. A
// password stored in an older scheme (Django's PBKDF2, imported from LAVA)
// is rehashed with argon2id on success.
func (a *App) Login(ctx context.Context, username, password, client string) (auth.Principal, error) {
	att, refused := a.throttle.Begin(username, client)
	if refused != nil {
		if refused.First {
			a.log.Warn("login throttled: too many failed logins", "user", logName(username), "client", client,
				"by", refused.By, "failures", refused.Failures, "retry_after", refused.RetryAfter.Round(time.Second))
		}
		return auth.Principal{}, &lab.RetryAfterError{
			Err:   fmt.Errorf("login %q: too many failed logins, try again in %s: %w", username, retryText(refused.RetryAfter), lab.ErrThrottled),
			After: refused.RetryAfter,
		}
	}
	p, err := a.login(ctx, username, password)
	switch {
	case err == nil:
		att.Succeeded()
	case errors.Is(err, lab.ErrUnauthenticated):
		if locked := att.Failed(); locked > 0 {
			a.log.Info("login failed", "user", logName(username), "client", client, "locked_for", locked)
		} else {
			a.log.Info("login failed", "user", logName(username), "client", client)
		}
	default:
		att.Aborted()
	}
	return p, err
}

// logName bounds a username given at login for the log: the field may
// hold anything up to the form's limit.
func logName(s string) string {
	const limit = 64
	if len(s) <= limit {
		return s
	}
	return strings.ToValidUTF8(s[:limit], "") + "…"
}

// retryText rounds d up to the second for messages.
func retryText(d time.Duration) string {
	return ((d + time.Second - 1) / time.Second * time.Second).String()
}

// login checks the password; errors other than ErrUnauthenticated are the
// server's (the request ended, the database failed) and do not count as a
// failed login.
func (a *App) login(ctx context.Context, username, password string) (auth.Principal, error) {
	// Each argon2id check holds ~20 MiB for ~30 ms: bound how many run at once.
	select {
	case a.logins <- struct{}{}:
		defer func() { <-a.logins }()
	case <-ctx.Done():
		return auth.Principal{}, fmt.Errorf("login %q: %w", username, ctx.Err())
	}
	// A name that is not UTF-8 or holds a NUL names no user, and PostgreSQL
	// would refuse the query: it is a wrong login, as on SQLite.
	var u lab.User
	err := fmt.Errorf("user %q: %w", username, lab.ErrNotFound)
	if utf8.ValidString(username) && !strings.ContainsRune(username, 0) {
		u, err = a.st.GetUser(ctx, username)
	}
	if err != nil && !errors.Is(err, lab.ErrNotFound) {
		return auth.Principal{}, fmt.Errorf("login %q: %w", username, err)
	}
	if err != nil || !u.IsActive || u.PasswordHash == "" {
		auth.DummyVerify(password) // same cost as a real check: do not reveal which users exist
		return auth.Principal{}, fmt.Errorf("login %q: wrong username or password: %w", username, lab.ErrUnauthenticated)
	}
	ok, rehash, err := auth.VerifyPassword(u.PasswordHash, password)
	if err != nil || !ok {
		return auth.Principal{}, fmt.Errorf("login %q: wrong username or password: %w", username, lab.ErrUnauthenticated)
	}
	if rehash {
		if h, err := auth.HashPassword(password); err == nil {
			u.PasswordHash = h
			if err := a.st.UpdateUser(ctx, u); err != nil {
				a.log.Warn("rehash password", "user", username, "err", err)
			}
		}
	}
	return auth.UserPrincipal(u)
}

// newToken creates a token with a fresh secret inside q and returns the
// secret. Only its SHA-256 is stored.
func (a *App) newToken(ctx context.Context, q store.Queries, t lab.Token) (string, error) {
	secret, err := auth.NewSecret()
	if err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	t.Hash = auth.HashSecret(secret)
	t.Created = a.now()
	if _, err := q.CreateToken(ctx, t); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return secret, nil
}

// NewUser is the input of CreateUser.
type NewUser struct {
	Username    string
	Email       string
	FirstName   string
	LastName    string
	Password    string // empty: token-only account
	IsSuperuser bool
}

// CreateUser adds a user (admin only).
func (a *App) CreateUser(ctx context.Context, p auth.Principal, nu NewUser) (lab.User, error) {
	if err := requireAdmin(p, "create user"); err != nil {
		return lab.User{}, err
	}
	return a.createUser(ctx, nu)
}

// CreateSuperuser bootstraps an administrator from the command line
// (`basalt admin`): no caller identity is needed, so it must only be
// reachable by whoever controls the server's data.
func (a *App) CreateSuperuser(ctx context.Context, username, email, password string) (lab.User, error) {
	return a.createUser(ctx, NewUser{Username: username, Email: email, Password: password, IsSuperuser: true})
}

func (a *App) createUser(ctx context.Context, nu NewUser) (lab.User, error) {
	if err := checkName("user", nu.Username); err != nil {
		return lab.User{}, err
	}
	if err := checkTexts("e-mail", nu.Email, "first name", nu.FirstName, "last name", nu.LastName); err != nil {
		return lab.User{}, err
	}
	u := lab.User{Username: nu.Username, Email: nu.Email, FirstName: nu.FirstName, LastName: nu.LastName,
		IsSuperuser: nu.IsSuperuser, IsActive: true, DateJoined: a.now()}
	if nu.Password != "" {
		if err := auth.ValidatePassword(nu.Password, nu.Username); err != nil {
			return lab.User{}, err
		}
		h, err := auth.HashPassword(nu.Password)
		if err != nil {
			return lab.User{}, fmt.Errorf("hash password: %w", err)
		}
		u.PasswordHash = h
	}
	id, err := a.st.CreateUser(ctx, u)
	if err != nil {
		return lab.User{}, err
	}
	u.ID = id
	return u, nil
}

// ListUsers returns every user (admin only).
func (a *App) ListUsers(ctx context.Context, p auth.Principal) ([]lab.User, error) {
	if err := requireAdmin(p, "list users"); err != nil {
		return nil, err
	}
	return a.st.ListUsers(ctx)
}

// GetUser returns a user: admins see anyone, users see themselves.
func (a *App) GetUser(ctx context.Context, p auth.Principal, username string) (lab.User, error) {
	if !auth.IsAdmin(p) && !(p.Kind == auth.KindUser && p.Username == username) {
		return lab.User{}, denied(p, "get user")
	}
	u, err := a.st.GetUser(ctx, username)
	if err != nil {
		return u, err
	}
	return u, nil
}

// UserUpdate is a partial update of a user; nil fields are unchanged.
type UserUpdate struct {
	Email       *string
	FirstName   *string
	LastName    *string
	Password    *string
	IsSuperuser *bool
	IsActive    *bool
}

// UpdateUser applies u. Admins may change anything; users may change their
// own e-mail, names and password.
func (a *App) UpdateUser(ctx context.Context, p auth.Principal, username string, upd UserUpdate) (lab.User, error) {
	self := p.Kind == auth.KindUser && p.Username == username
	if !auth.IsAdmin(p) && !(self && upd.IsSuperuser == nil && upd.IsActive == nil) {
		return lab.User{}, denied(p, "update user")
	}
	var out lab.User
	err := a.st.InTx(ctx, func(q store.Queries) error {
		u, err := q.GetUser(ctx, username)
		if err != nil {
			return err
		}
		set := func(dst *string, src *string) {
			if src != nil {
				*dst = *src
			}
		}
		set(&u.Email, upd.Email)
		set(&u.FirstName, upd.FirstName)
		set(&u.LastName, upd.LastName)
		if err := checkTexts("e-mail", u.Email, "first name", u.FirstName, "last name", u.LastName); err != nil {
			return err
		}
		if upd.IsSuperuser != nil {
			u.IsSuperuser = *upd.IsSuperuser
		}
		if upd.IsActive != nil {
			u.IsActive = *upd.IsActive
		}
		if upd.Password != nil {
			if err := auth.ValidatePassword(*upd.Password, username); err != nil {
				return err
			}
			h, err := auth.HashPassword(*upd.Password)
			if err != nil {
				return err
			}
			u.PasswordHash = h
		}
		if err := q.UpdateUser(ctx, u); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return lab.User{}, fmt.Errorf("update user %q: %w", username, err)
	}
	return out, nil
}

// DeleteUser removes a user and their tokens (admin only).
func (a *App) DeleteUser(ctx context.Context, p auth.Principal, username string) error {
	if err := requireAdmin(p, "delete user"); err != nil {
		return err
	}
	if username == lab.HealthCheckUser {
		return fmt.Errorf("%w: %s is a built-in account", lab.ErrConflict, username)
	}
	return a.st.InTx(ctx, func(q store.Queries) error {
		toks, err := q.ListTokens(ctx, lab.TokenUser, username)
		if err != nil {
			return err
		}
		for _, t := range toks {
			if err := q.DeleteToken(ctx, t.ID); err != nil {
				return err
			}
		}
		if err := q.DeleteUser(ctx, username); err != nil {
			return err
		}
		return nil
	})
}

// ListGroups returns every group with its members (admin only).
func (a *App) ListGroups(ctx context.Context, p auth.Principal) ([]lab.Group, error) {
	if err := requireAdmin(p, "list groups"); err != nil {
		return nil, err
	}
	return a.st.ListGroups(ctx)
}

// GetGroup returns a group (admin only).
func (a *App) GetGroup(ctx context.Context, p auth.Principal, name string) (lab.Group, error) {
	if err := requireAdmin(p, "get group"); err != nil {
		return lab.Group{}, err
	}
	g, err := a.st.GetGroup(ctx, name)
	if err != nil {
		return g, err
	}
	return g, nil
}

// CreateGroup adds a group (admin only).
func (a *App) CreateGroup(ctx context.Context, p auth.Principal, name string) error {
	if err := requireAdmin(p, "create group"); err != nil {
		return err
	}
	if err := checkName("group", name); err != nil {
		return err
	}
	if err := a.st.CreateGroup(ctx, name); err != nil {
		return err
	}
	return nil
}

// DeleteGroup removes a group (admin only).
func (a *App) DeleteGroup(ctx context.Context, p auth.Principal, name string) error {
	if err := requireAdmin(p, "delete group"); err != nil {
		return err
	}
	if err := a.st.DeleteGroup(ctx, name); err != nil {
		return err
	}
	return nil
}

// SetGroupMember adds (member=true) or removes a user from a group (admin only).
func (a *App) SetGroupMember(ctx context.Context, p auth.Principal, group, username string, member bool) error {
	if err := requireAdmin(p, "change group members"); err != nil {
		return err
	}
	var err error
	if member {
		err = a.st.AddGroupMember(ctx, group, username)
	} else {
		err = a.st.RemoveGroupMember(ctx, group, username)
	}
	if err != nil {
		return fmt.Errorf("change membership of %q in %q: %w", username, group, err)
	}
	return nil
}

// CreateToken makes a user token for owner (p itself, or anyone for an
// admin) and returns it with its secret; the secret is not retrievable later.
func (a *App) CreateToken(ctx context.Context, p auth.Principal, owner, description string, expires time.Time) (lab.Token, string, error) {
	if owner == "" {
		owner = p.Username
	}
	if !canManageTokens(p, owner) {
		return lab.Token{}, "", denied(p, "create token")
	}
	if err := checkTexts("token description", description); err != nil {
		return lab.Token{}, "", err
	}
	if _, err := a.st.GetUser(ctx, owner); err != nil {
		return lab.Token{}, "", fmt.Errorf("create token for %q: %w", owner, err)
	}
	var secret string
	err := a.st.InTx(ctx, func(q store.Queries) error {
		var err error
		secret, err = a.newToken(ctx, q, lab.Token{Kind: lab.TokenUser, Owner: owner, Description: description, Expires: expires.UTC()})
		return err
	})
	if err != nil {
		return lab.Token{}, "", fmt.Errorf("create token for %q: %w", owner, err)
	}
	tok, err := a.st.TokenByHash(ctx, auth.HashSecret(secret))
	if err != nil {
		return lab.Token{}, "", fmt.Errorf("read back token: %w", err)
	}
	return tok, secret, nil
}

func canManageTokens(p auth.Principal, owner string) bool {
	return auth.IsAdmin(p) || (p.Kind == auth.KindUser && p.Username == owner && owner != "")
}

// ListTokens returns owner's user tokens (hashes never leave the store
// layer through the API).
func (a *App) ListTokens(ctx context.Context, p auth.Principal, owner string) ([]lab.Token, error) {
	if owner == "" {
		owner = p.Username
	}
	if !canManageTokens(p, owner) {
		return nil, denied(p, "list tokens")
	}
	return a.st.ListTokens(ctx, lab.TokenUser, owner)
}

// DeleteToken revokes a user token: one of p's own, or (for admins) any
// user's. Worker and job tokens are not reachable here: workers' tokens are
// rotated with RotateWorkerToken.
func (a *App) DeleteToken(ctx context.Context, p auth.Principal, id int64) error {
	if p.Kind != auth.KindUser {
		return denied(p, "delete token")
	}
	owner := p.Username
	if auth.IsAdmin(p) {
		owner = "" // any user's token
	}
	return a.st.InTx(ctx, func(q store.Queries) error {
		toks, err := q.ListTokens(ctx, lab.TokenUser, owner)
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(toks, func(t lab.Token) bool { return t.ID == id }) {
			return fmt.Errorf("token %d: %w", id, lab.ErrNotFound)
		}
		return q.DeleteToken(ctx, id)
	})
}

// ActAs returns the principal of another user, for the calls where an
// administrator asks on someone's behalf (LAVA's user_can_view_* with a
// username). Only administrators may; an inactive user is refused.
func (a *App) ActAs(ctx context.Context, p auth.Principal, username string) (auth.Principal, error) {
	if !auth.IsAdmin(p) {
		return auth.Principal{}, denied(p, "query on behalf of another user")
	}
	u, err := a.st.GetUser(ctx, username)
	if err != nil {
		return auth.Principal{}, fmt.Errorf("user %q: %w", username, err)
	}
	return auth.UserPrincipal(u)
}
