package sqlstore

import (
	"context"
	"crypto/sha256"
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// ---- users ----

const userCols = "id, username, email, first_name, last_name, is_superuser, is_active, password_hash, date_joined"

func scanUser(r scanner) (lab.User, error) {
	var u lab.User
	err := r.Scan(&u.ID, &u.Username, &u.Email, &u.FirstName, &u.LastName, &u.IsSuperuser, &u.IsActive,
		&u.PasswordHash, timeDest{&u.DateJoined})
	return u, err
}

// CreateUser adds a user (Groups is ignored) and returns its ID;
// ErrConflict when the username is taken.
func (q *queries) CreateUser(ctx context.Context, u lab.User) (int64, error) {
	op := fmt.Sprintf("create user %q", u.Username)
	if u.Username == "" {
		return 0, wrap(op, fmt.Errorf("%w: username is empty", lab.ErrInvalid))
	}
	var id int64
	err := q.write(ctx, func(c conn) error {
		return q.row(ctx, c, `INSERT INTO users (username, email, first_name, last_name, is_superuser, is_active, password_hash, date_joined)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			u.Username, u.Email, u.FirstName, u.LastName, u.IsSuperuser, u.IsActive, u.PasswordHash, q.d.ts(u.DateJoined)).Scan(&id)
	})
	if err != nil {
		return 0, wrap(op, err)
	}
	return id, nil
}

// loadMemberships fills Groups (sorted) of users, which are the users the
// subquery sub (selecting usernames, with args) selects.
func (q *queries) loadMemberships(ctx context.Context, c conn, users []lab.User, sub string, args ...any) error {
	if len(users) == 0 {
		return nil
	}
	idx := make(map[string]int, len(users))
	for i, u := range users {
		idx[u.Username] = i
	}
	rows, err := q.query(ctx, c, "SELECT username, group_name FROM group_members WHERE username IN ("+sub+") ORDER BY username, group_name", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var user, group string
		if err := rows.Scan(&user, &group); err != nil {
			return err
		}
		if i, ok := idx[user]; ok {
			users[i].Groups = append(users[i].Groups, group)
		}
	}
	return rows.Err()
}

// GetUser returns one user with the names of its groups.
func (q *queries) GetUser(ctx context.Context, username string) (lab.User, error) {
	var u lab.User
	err := q.view(ctx, func(c conn) error {
		var err error
		if u, err = scanUser(q.row(ctx, c, "SELECT "+userCols+" FROM users WHERE username = ?", username)); err != nil {
			return notFound(err)
		}
		us := []lab.User{u}
		err = q.loadMemberships(ctx, c, us, "?", username)
		u = us[0]
		return err
	})
	return u, wrap(fmt.Sprintf("get user %q", username), err)
}

// ListUsers returns every user by username, with their groups.
func (q *queries) ListUsers(ctx context.Context) ([]lab.User, error) {
	var us []lab.User
	err := q.view(ctx, func(c conn) error {
		rows, err := q.query(ctx, c, "SELECT "+userCols+" FROM users ORDER BY username")
		if us, err = collect(rows, err, scanUser); err != nil {
			return err
		}
		return q.loadMemberships(ctx, c, us, "SELECT username FROM users")
	})
	return us, wrap("list users", err)
}

// UpdateUser changes email, names, superuser and active flags and the
// password hash.
func (q *queries) UpdateUser(ctx context.Context, u lab.User) error {
	return wrap(fmt.Sprintf("update user %q", u.Username), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, `UPDATE users SET email = ?, first_name = ?, last_name = ?, is_superuser = ?, is_active = ?,
			password_hash = ? WHERE username = ?`,
			u.Email, u.FirstName, u.LastName, u.IsSuperuser, u.IsActive, u.PasswordHash, u.Username)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// DeleteUser removes a user, its group memberships and its user tokens (so
// that a later user of the same name does not inherit them). Jobs keep
// their submitter's name.
func (q *queries) DeleteUser(ctx context.Context, username string) error {
	return wrap(fmt.Sprintf("delete user %q", username), q.write(ctx, func(c conn) error {
		if _, err := q.exec(ctx, c, "DELETE FROM tokens WHERE kind = ? AND owner = ?", string(lab.TokenUser), username); err != nil {
			return err
		}
		n, err := q.execN(ctx, c, "DELETE FROM users WHERE username = ?", username)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// ---- groups ----

// CreateGroup adds an empty group; ErrConflict when the name is taken.
func (q *queries) CreateGroup(ctx context.Context, name string) error {
	op := fmt.Sprintf("create group %q", name)
	if name == "" {
		return wrap(op, fmt.Errorf("%w: group name is empty", lab.ErrInvalid))
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, "INSERT INTO user_groups (name) VALUES (?)", name)
		return err
	}))
}

// loadMembers fills Members (sorted) of groups, which are the groups the
// subquery sub selects.
func (q *queries) loadMembers(ctx context.Context, c conn, groups []lab.Group, sub string, args ...any) error {
	if len(groups) == 0 {
		return nil
	}
	idx := make(map[string]int, len(groups))
	for i, g := range groups {
		idx[g.Name] = i
	}
	rows, err := q.query(ctx, c, "SELECT group_name, username FROM group_members WHERE group_name IN ("+sub+") ORDER BY group_name, username", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var group, user string
		if err := rows.Scan(&group, &user); err != nil {
			return err
		}
		if i, ok := idx[group]; ok {
			groups[i].Members = append(groups[i].Members, user)
		}
	}
	return rows.Err()
}

// GetGroup returns a group with its members.
func (q *queries) GetGroup(ctx context.Context, name string) (lab.Group, error) {
	var g lab.Group
	err := q.view(ctx, func(c conn) error {
		if err := q.row(ctx, c, "SELECT name FROM user_groups WHERE name = ?", name).Scan(&g.Name); err != nil {
			return notFound(err)
		}
		gs := []lab.Group{g}
		err := q.loadMembers(ctx, c, gs, "?", name)
		g = gs[0]
		return err
	})
	return g, wrap(fmt.Sprintf("get group %q", name), err)
}

// ListGroups returns every group by name, with members.
func (q *queries) ListGroups(ctx context.Context) ([]lab.Group, error) {
	var gs []lab.Group
	err := q.view(ctx, func(c conn) error {
		rows, err := q.query(ctx, c, "SELECT name FROM user_groups ORDER BY name")
		if gs, err = collect(rows, err, func(r scanner) (lab.Group, error) {
			var g lab.Group
			return g, r.Scan(&g.Name)
		}); err != nil {
			return err
		}
		return q.loadMembers(ctx, c, gs, "SELECT name FROM user_groups")
	})
	return gs, wrap("list groups", err)
}

// DeleteGroup removes a group and its memberships. Jobs that name it as a
// viewing group keep the name: nobody is a member of it any more, so they
// become visible only to their submitter and superusers (never to more
// people than before).
func (q *queries) DeleteGroup(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete group %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM user_groups WHERE name = ?", name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// AddGroupMember adds a user to a group: ErrNotFound when the group does
// not exist, ErrInvalid when the user does not, ErrConflict when the user
// is a member already.
func (q *queries) AddGroupMember(ctx context.Context, group, username string) error {
	return wrap(fmt.Sprintf("add %q to group %q", username, group), q.write(ctx, func(c conn) error {
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM user_groups WHERE name = ?", group); err != nil || !ok {
			return firstErr(err, lab.ErrNotFound)
		}
		if ok, err := q.exists(ctx, c, "SELECT 1 FROM users WHERE username = ?", username); err != nil || !ok {
			return firstErr(err, fmt.Errorf("%w: user %q does not exist", lab.ErrInvalid, username))
		}
		_, err := q.exec(ctx, c, "INSERT INTO group_members (group_name, username) VALUES (?, ?)", group, username)
		return err
	}))
}

// RemoveGroupMember removes a user from a group; ErrNotFound when the user
// is not a member.
func (q *queries) RemoveGroupMember(ctx context.Context, group, username string) error {
	return wrap(fmt.Sprintf("remove %q from group %q", username, group), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM group_members WHERE group_name = ? AND username = ?", group, username)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// ---- tokens ----

const tokenCols = "id, kind, owner, job_id, description, hash, created, last_used, expires"

func scanToken(r scanner) (lab.Token, error) {
	var t lab.Token
	err := r.Scan(&t.ID, (*string)(&t.Kind), &t.Owner, asInt(&t.JobID), &t.Description, &t.Hash,
		timeDest{&t.Created}, timeDest{&t.LastUsed}, timeDest{&t.Expires})
	return t, err
}

func validToken(t lab.Token) error {
	switch t.Kind {
	case lab.TokenUser, lab.TokenWorker, lab.TokenJoin:
		if t.Owner == "" {
			return fmt.Errorf("%w: a %s token needs an owner", lab.ErrInvalid, t.Kind)
		}
		if t.JobID != 0 {
			return fmt.Errorf("%w: only job tokens name a job", lab.ErrInvalid)
		}
	case lab.TokenJob:
		if t.JobID == 0 {
			return fmt.Errorf("%w: a job token needs a job", lab.ErrInvalid)
		}
	default:
		return fmt.Errorf("%w: token kind %q", lab.ErrInvalid, t.Kind)
	}
	if len(t.Hash) != sha256.Size {
		return fmt.Errorf("%w: token hash must be a SHA-256 (%d bytes), got %d bytes", lab.ErrInvalid, sha256.Size, len(t.Hash))
	}
	return nil
}

// CreateToken stores a token and returns its ID: ErrInvalid for a bad kind,
// owner, job or hash, ErrConflict when the hash exists.
func (q *queries) CreateToken(ctx context.Context, t lab.Token) (int64, error) {
	op := fmt.Sprintf("create %s token", t.Kind)
	if err := validToken(t); err != nil {
		return 0, wrap(op, err)
	}
	var id int64
	err := q.write(ctx, func(c conn) error {
		if t.JobID != 0 {
			if ok, err := q.exists(ctx, c, "SELECT 1 FROM jobs WHERE id = ?", t.JobID); err != nil || !ok {
				return firstErr(err, fmt.Errorf("%w: job %d does not exist", lab.ErrInvalid, t.JobID))
			}
		}
		return q.row(ctx, c, `INSERT INTO tokens (kind, owner, job_id, description, hash, created, last_used, expires)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			string(t.Kind), t.Owner, nullID(t.JobID), t.Description, t.Hash,
			q.d.ts(t.Created), q.d.ts(t.LastUsed), q.d.ts(t.Expires)).Scan(&id)
	})
	if err != nil {
		return 0, wrap(op, err)
	}
	return id, nil
}

// TokenByHash finds a token by the SHA-256 of its secret. It does not look
// at expiry: that is the caller's decision.
func (q *queries) TokenByHash(ctx context.Context, hash []byte) (lab.Token, error) {
	t, err := scanToken(q.row(ctx, q.r(), "SELECT "+tokenCols+" FROM tokens WHERE hash = ?", hash))
	return t, wrap("find token by hash", notFound(err))
}

// ListTokens returns the tokens of one kind and owner, by ID; an empty kind
// or owner matches all.
func (q *queries) ListTokens(ctx context.Context, kind lab.TokenKind, owner string) ([]lab.Token, error) {
	var w where
	if kind != "" {
		w.add("kind = ?", string(kind))
	}
	if owner != "" {
		w.add("owner = ?", owner)
	}
	rows, err := q.query(ctx, q.r(), "SELECT "+tokenCols+" FROM tokens"+w.sql()+" ORDER BY id", w.args...)
	ts, err := collect(rows, err, scanToken)
	return ts, wrap(fmt.Sprintf("list %s tokens of %q", kind, owner), err)
}

// DeleteToken removes a token.
func (q *queries) DeleteToken(ctx context.Context, id int64) error {
	return wrap(fmt.Sprintf("delete token %d", id), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM tokens WHERE id = ?", id)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}

// TouchToken records that a token was used at the given time.
func (q *queries) TouchToken(ctx context.Context, id int64, at time.Time) error {
	return wrap(fmt.Sprintf("touch token %d", id), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "UPDATE tokens SET last_used = ? WHERE id = ?", q.d.ts(at), id)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}
