package storetest

import (
	"crypto/sha256"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Users, groups and tokens.

func testUsers(f *fx) {
	alice := lab.User{Username: "alice", Email: "alice@example.org", FirstName: "Alice", LastName: "Liddell",
		IsSuperuser: true, IsActive: true, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", DateJoined: base,
		Groups: []string{"ignored"}}
	id, err := f.s.CreateUser(f.ctx, alice)
	f.ok(err, "create alice")
	bobID, err := f.s.CreateUser(f.ctx, lab.User{Username: "bob"})
	f.ok(err, "create bob")
	if id <= 0 || bobID <= 0 || id == bobID {
		f.t.Errorf("user IDs %d and %d", id, bobID)
	}
	_, err = f.s.CreateUser(f.ctx, lab.User{Username: "alice"})
	f.is(err, lab.ErrConflict, "duplicate")
	_, err = f.s.CreateUser(f.ctx, lab.User{})
	f.is(err, lab.ErrInvalid, "empty username")

	f.group("g2")
	f.group("g1")
	f.ok(f.s.AddGroupMember(f.ctx, "g2", "alice"), "add to g2")
	f.ok(f.s.AddGroupMember(f.ctx, "g1", "alice"), "add to g1")

	want := alice
	want.ID, want.DateJoined, want.Groups = id, stored(base), []string{"g1", "g2"}
	got, err := f.s.GetUser(f.ctx, "alice")
	f.ok(err, "get alice")
	f.eq(want, got, "alice round trip")
	_, err = f.s.GetUser(f.ctx, "nope")
	f.is(err, lab.ErrNotFound, "get missing")

	bob := lab.User{ID: bobID, Username: "bob"}
	list, err := f.s.ListUsers(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.User{want, bob}, list, "users by name")

	// UpdateUser changes everything but username, ID, join date and groups.
	upd := lab.User{Username: "alice", Email: "a@x", FirstName: "A", LastName: "L", IsSuperuser: false, IsActive: false,
		PasswordHash: "", DateJoined: base.Add(time.Hour), Groups: nil, ID: 999}
	f.ok(f.s.UpdateUser(f.ctx, upd), "update")
	want.Email, want.FirstName, want.LastName, want.IsSuperuser, want.IsActive, want.PasswordHash = "a@x", "A", "L", false, false, ""
	got, err = f.s.GetUser(f.ctx, "alice")
	f.ok(err, "get after update")
	f.eq(want, got, "alice after update")
	f.is(f.s.UpdateUser(f.ctx, lab.User{Username: "nope"}), lab.ErrNotFound, "update missing")

	f.ok(f.s.DeleteUser(f.ctx, "alice"), "delete")
	_, err = f.s.GetUser(f.ctx, "alice")
	f.is(err, lab.ErrNotFound, "get deleted")
	f.is(f.s.DeleteUser(f.ctx, "alice"), lab.ErrNotFound, "delete twice")
	g, err := f.s.GetGroup(f.ctx, "g1")
	f.ok(err, "get g1")
	if len(g.Members) != 0 {
		f.t.Errorf("deleted user still a member: %v", g.Members)
	}
}

func testGroups(f *fx) {
	for _, u := range []string{"carol", "alice", "bob"} {
		_, err := f.s.CreateUser(f.ctx, lab.User{Username: u, IsActive: true})
		f.ok(err, "create "+u)
	}
	f.group("devs")
	f.group("admins")
	f.is(f.s.CreateGroup(f.ctx, "devs"), lab.ErrConflict, "duplicate")
	f.is(f.s.CreateGroup(f.ctx, ""), lab.ErrInvalid, "empty name")

	f.ok(f.s.AddGroupMember(f.ctx, "devs", "carol"), "add carol")
	f.ok(f.s.AddGroupMember(f.ctx, "devs", "alice"), "add alice")
	f.ok(f.s.AddGroupMember(f.ctx, "admins", "bob"), "add bob")
	f.is(f.s.AddGroupMember(f.ctx, "devs", "alice"), lab.ErrConflict, "add twice")
	f.is(f.s.AddGroupMember(f.ctx, "nope", "alice"), lab.ErrNotFound, "add to missing group")
	f.is(f.s.AddGroupMember(f.ctx, "devs", "nope"), lab.ErrInvalid, "add missing user")

	g, err := f.s.GetGroup(f.ctx, "devs")
	f.ok(err, "get devs")
	f.eq(lab.Group{Name: "devs", Members: []string{"alice", "carol"}}, g, "devs")
	_, err = f.s.GetGroup(f.ctx, "nope")
	f.is(err, lab.ErrNotFound, "get missing")

	list, err := f.s.ListGroups(f.ctx)
	f.ok(err, "list")
	f.eq([]lab.Group{{Name: "admins", Members: []string{"bob"}}, {Name: "devs", Members: []string{"alice", "carol"}}}, list, "groups by name")

	f.ok(f.s.RemoveGroupMember(f.ctx, "devs", "carol"), "remove carol")
	f.is(f.s.RemoveGroupMember(f.ctx, "devs", "carol"), lab.ErrNotFound, "remove twice")
	f.is(f.s.RemoveGroupMember(f.ctx, "nope", "alice"), lab.ErrNotFound, "remove from missing group")
	u, err := f.s.GetUser(f.ctx, "carol")
	f.ok(err, "get carol")
	if len(u.Groups) != 0 {
		f.t.Errorf("carol still in %v", u.Groups)
	}

	f.ok(f.s.DeleteGroup(f.ctx, "devs"), "delete devs")
	f.is(f.s.DeleteGroup(f.ctx, "devs"), lab.ErrNotFound, "delete twice")
	u, err = f.s.GetUser(f.ctx, "alice")
	f.ok(err, "get alice")
	if len(u.Groups) != 0 {
		f.t.Errorf("alice still in %v after the group was deleted", u.Groups)
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testTokens(f *fx) {
	_, err := f.s.CreateUser(f.ctx, lab.User{Username: "alice"})
	f.ok(err, "create alice")
	f.worker("w1")
	job := f.job(lab.Job{})

	user := lab.Token{Kind: lab.TokenUser, Owner: "alice", Description: "laptop", Hash: hash("u1"),
		Created: base, Expires: base.Add(24 * time.Hour)}
	user2 := lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash("u2"), Created: base}
	worker := lab.Token{Kind: lab.TokenWorker, Owner: "w1", Hash: hash("w1"), Created: base}
	jobTok := lab.Token{Kind: lab.TokenJob, Owner: "alice", JobID: job, Hash: hash("j1"), Created: base}
	for _, tok := range []*lab.Token{&user, &user2, &worker, &jobTok} {
		id, err := f.s.CreateToken(f.ctx, *tok)
		f.ok(err, "create "+string(tok.Kind)+" token")
		tok.ID = id
		tok.Created, tok.Expires = stored(tok.Created), stored(tok.Expires)
	}

	got, err := f.s.TokenByHash(f.ctx, hash("u1"))
	f.ok(err, "by hash")
	f.eq(user, got, "user token round trip")
	got, err = f.s.TokenByHash(f.ctx, hash("j1"))
	f.ok(err, "job token by hash")
	f.eq(jobTok, got, "job token round trip")
	_, err = f.s.TokenByHash(f.ctx, hash("nope"))
	f.is(err, lab.ErrNotFound, "unknown hash")

	list, err := f.s.ListTokens(f.ctx, lab.TokenUser, "alice")
	f.ok(err, "list alice's user tokens")
	f.eq([]lab.Token{user, user2}, list, "alice's user tokens")
	list, err = f.s.ListTokens(f.ctx, lab.TokenWorker, "w1")
	f.ok(err, "list worker tokens")
	f.eq([]lab.Token{worker}, list, "w1's tokens")
	list, err = f.s.ListTokens(f.ctx, "", "")
	f.ok(err, "list all")
	f.eq([]lab.Token{user, user2, worker, jobTok}, list, "all tokens by ID")

	used := base.Add(time.Hour + time.Nanosecond)
	f.ok(f.s.TouchToken(f.ctx, user.ID, used), "touch")
	got, err = f.s.TokenByHash(f.ctx, hash("u1"))
	f.ok(err, "by hash after touch")
	f.eq(stored(used), got.LastUsed, "last used")
	f.is(f.s.TouchToken(f.ctx, 9999, used), lab.ErrNotFound, "touch missing")

	f.ok(f.s.DeleteToken(f.ctx, user2.ID), "delete")
	f.is(f.s.DeleteToken(f.ctx, user2.ID), lab.ErrNotFound, "delete twice")
	_, err = f.s.TokenByHash(f.ctx, hash("u2"))
	f.is(err, lab.ErrNotFound, "deleted token by hash")

	// Deleting a user deletes its user tokens, not others it owns.
	f.ok(f.s.DeleteUser(f.ctx, "alice"), "delete alice")
	list, err = f.s.ListTokens(f.ctx, "", "")
	f.ok(err, "list after user deletion")
	f.eq([]lab.Token{worker, jobTok}, list, "tokens after deleting alice")
}

func testTokenErrors(f *fx) {
	job := f.job(lab.Job{})
	_, err := f.s.CreateToken(f.ctx, lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash("x")})
	f.ok(err, "first token")
	cases := []struct {
		name string
		tok  lab.Token
		want error
	}{
		{"duplicate hash", lab.Token{Kind: lab.TokenWorker, Owner: "w", Hash: hash("x")}, lab.ErrConflict},
		{"bad kind", lab.Token{Kind: "admin", Owner: "alice", Hash: hash("a")}, lab.ErrInvalid},
		{"short hash", lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: []byte("short")}, lab.ErrInvalid},
		{"no hash", lab.Token{Kind: lab.TokenUser, Owner: "alice"}, lab.ErrInvalid},
		{"user token without owner", lab.Token{Kind: lab.TokenUser, Hash: hash("b")}, lab.ErrInvalid},
		{"job token without job", lab.Token{Kind: lab.TokenJob, Hash: hash("c")}, lab.ErrInvalid},
		{"job token for missing job", lab.Token{Kind: lab.TokenJob, JobID: job + 1, Hash: hash("d")}, lab.ErrInvalid},
		{"user token naming a job", lab.Token{Kind: lab.TokenUser, Owner: "alice", JobID: job, Hash: hash("e")}, lab.ErrInvalid},
	}
	for _, c := range cases {
		_, err := f.s.CreateToken(f.ctx, c.tok)
		f.is(err, c.want, c.name)
	}
}
