package auth

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Kind says what sort of caller a Principal is. The zero Kind is
// KindAnonymous, so a zero Principal is an anonymous caller.
type Kind int

// Principal kinds.
const (
	// KindAnonymous: no credentials. May read public objects only.
	KindAnonymous Kind = iota
	// KindUser: an authenticated, active user (by password, session or a
	// user token).
	KindUser
	// KindWorker: a worker token; may act only as its one worker.
	KindWorker
	// KindJob: a job token; may act only for its one job.
	KindJob
)

// String returns "anonymous", "user", "worker" or "job".
func (k Kind) String() string {
	switch k {
	case KindAnonymous:
		return "anonymous"
	case KindUser:
		return "user"
	case KindWorker:
		return "worker"
	case KindJob:
		return "job"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Principal is the caller a request is authorized for. Build it with
// Anonymous, UserPrincipal, WorkerPrincipal, JobPrincipal or
// TokenPrincipal. Only the fields of its Kind carry meaning (Username,
// Superuser and Groups for KindUser; Worker for KindWorker; JobID for
// KindJob) and policy reads no others: a worker principal with Superuser
// set is still just a worker. A principal lacking its kind's identity (an
// empty Username or Worker, a JobID ≤ 0) or of an unknown kind is denied
// everything, including what anonymous callers may do.
type Principal struct {
	Kind      Kind
	Username  string   // KindUser: the user's name
	Superuser bool     // KindUser: the user is a superuser
	Groups    []string // KindUser: names of the user's groups
	Worker    string   // KindWorker: the worker's name
	JobID     int64    // KindJob: the job's id
}

// Anonymous returns the principal of a caller without credentials.
func Anonymous() Principal { return Principal{Kind: KindAnonymous} }

// UserPrincipal returns the principal for an authenticated user, with a
// copy of its groups. Inactive users and records without a username are
// refused with an error wrapping lab.ErrUnauthenticated: a KindUser
// principal built here always stands for an active user.
func UserPrincipal(u lab.User) (Principal, error) {
	if u.Username == "" {
		return Principal{}, fmt.Errorf("user principal: empty username: %w", lab.ErrUnauthenticated)
	}
	if !u.IsActive {
		return Principal{}, fmt.Errorf("user %q is inactive: %w", u.Username, lab.ErrUnauthenticated)
	}
	return Principal{
		Kind:      KindUser,
		Username:  u.Username,
		Superuser: u.IsSuperuser,
		Groups:    slices.Clone(u.Groups),
	}, nil
}

// WorkerPrincipal returns the principal of the worker named name.
func WorkerPrincipal(name string) Principal { return Principal{Kind: KindWorker, Worker: name} }

// JobPrincipal returns the principal of the job with the given id.
func JobPrincipal(id int64) Principal { return Principal{Kind: KindJob, JobID: id} }

// valid reports whether p is of a known kind and carries that kind's
// identity. Policy denies invalid principals everything.
func (p Principal) valid() bool {
	switch p.Kind {
	case KindAnonymous:
		return true
	case KindUser:
		return p.Username != ""
	case KindWorker:
		return p.Worker != ""
	case KindJob:
		return p.JobID > 0
	}
	return false
}

// isUser reports whether p is a valid user principal.
func (p Principal) isUser() bool { return p.Kind == KindUser && p.valid() }

// isSuperuser reports whether p is a valid superuser principal.
func (p Principal) isSuperuser() bool { return p.isUser() && p.Superuser }

// inAllGroups reports whether p is a user belonging to every one of groups;
// it is false for an empty list, so that a group-visible job whose groups
// are all gone is visible to nobody but its submitter and superusers.
func (p Principal) inAllGroups(groups []string) bool {
	if !p.isUser() || len(groups) == 0 {
		return false
	}
	for _, g := range groups {
		if !slices.Contains(p.Groups, g) {
			return false
		}
	}
	return true
}

// String names p for logs and transition actors: "anonymous", the
// username, "worker:<name>" or "job:<id>".
func (p Principal) String() string {
	switch p.Kind {
	case KindAnonymous:
		return "anonymous"
	case KindUser:
		return p.Username
	case KindWorker:
		return "worker:" + p.Worker
	case KindJob:
		return "job:" + strconv.FormatInt(p.JobID, 10)
	}
	return p.Kind.String()
}

// Viewer is the identity a job listing is filtered for. It has the shape
// of store.Viewer (which this package may not import); the application
// layer converts it field by field. Its filter must agree with CanViewJob:
// public jobs, the viewer's own, group jobs for members of every listed
// group, and everything for superusers.
type Viewer struct {
	Username  string // empty: anonymous
	Superuser bool
	Groups    []string
}

// Viewer returns the listing filter for p. ok is false for principals that
// may not list jobs through the visibility filter at all (workers, job
// tokens, invalid principals): callers must then refuse the listing rather
// than fall back to an anonymous view. Groups is a copy.
func (p Principal) Viewer() (v Viewer, ok bool) {
	switch {
	case p.Kind == KindAnonymous:
		return Viewer{}, true
	case p.isUser():
		return Viewer{Username: p.Username, Superuser: p.Superuser, Groups: slices.Clone(p.Groups)}, true
	}
	return Viewer{}, false
}
