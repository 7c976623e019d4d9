package auth

import (
	"fmt"
	"slices"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Operation names an action of Basalt's APIs for authorization. Every
// Operation has a Rule in one table (RuleOf, Operations); the REST layer
// checks requests with Require or AuthorizeJob and its permission-matrix
// test enumerates Operations.
type Operation string

// Operations. Admin-only ones ("….write", device health, users, any token)
// require a superuser. Per-object ones are marked; for them Allowed is only
// a gate and the named Can… function decides each object.
const (
	// OpLabRead: read device types, aliases, tags, devices and workers.
	OpLabRead Operation = "lab.read"
	// OpDeviceTypeWrite: create, update or delete device types (incl. their
	// health-check definition).
	OpDeviceTypeWrite Operation = "devicetype.write"
	// OpAliasWrite: create or delete device-type aliases.
	OpAliasWrite Operation = "alias.write"
	// OpTagWrite: create, update or delete tags.
	OpTagWrite Operation = "tag.write"
	// OpDeviceWrite: create, update or delete devices and their dictionaries.
	OpDeviceWrite Operation = "device.write"
	// OpDeviceSetHealth: set a device's health (Unknown, Maintenance, …).
	OpDeviceSetHealth Operation = "device.set_health"
	// OpWorkerWrite: create, update or delete workers and change their
	// state or health (administration, not acting as the worker).
	OpWorkerWrite Operation = "worker.write"
	// OpJobList: list jobs, filtered by Principal.Viewer.
	OpJobList Operation = "job.list"
	// OpJobView: read one job, its definition, logs and results. Per
	// object: CanViewJob.
	OpJobView Operation = "job.view"
	// OpJobSubmit: submit new jobs. CanSubmit.
	OpJobSubmit Operation = "job.submit"
	// OpJobCancel: cancel a job. Per object: CanCancelJob.
	OpJobCancel Operation = "job.cancel"
	// OpJobResubmit: submit a copy of a job. Per object: CanResubmitJob.
	OpJobResubmit Operation = "job.resubmit"
	// OpUserAdmin: create, update and delete users and groups and their
	// memberships.
	OpUserAdmin Operation = "user.admin"
	// OpAccountOwn: read one's own account and change one's own password.
	OpAccountOwn Operation = "account.own"
	// OpTokenOwn: list, create and delete one's own user tokens. Per object:
	// CanManageToken.
	OpTokenOwn Operation = "token.own"
	// OpTokenAdmin: list, create and delete any token, including worker
	// tokens and other users' tokens.
	OpTokenAdmin Operation = "token.admin"
	// OpWorkerAct: the worker protocol (heartbeat, fetch and update the
	// worker's jobs). Per object: CanActAsWorker.
	OpWorkerAct Operation = "worker.act"
	// OpJobAct: what a running job's token may do (upload its logs and
	// results). Per object: CanActForJob.
	OpJobAct Operation = "job.act"
)

// Rule is who may perform an Operation.
type Rule struct {
	// Kinds are the principal kinds that may attempt the operation; all
	// others are denied.
	Kinds []Kind
	// Superuser additionally requires a superuser (a KindUser principal
	// with Superuser set).
	Superuser bool
	// PerObject marks operations on one object: passing Allowed only means
	// the principal may act on some such objects, and the operation's Can…
	// function (named in its doc) decides each object.
	PerObject bool
}

var (
	humans    = []Kind{KindAnonymous, KindUser}
	usersOnly = []Kind{KindUser}
	adminOnly = Rule{Kinds: usersOnly, Superuser: true}
)

// rules is the permission table: the single place that says who may do
// what. An operation missing here is denied to everyone.
var rules = map[Operation]Rule{
	OpLabRead:         {Kinds: humans},
	OpDeviceTypeWrite: adminOnly,
	OpAliasWrite:      adminOnly,
	OpTagWrite:        adminOnly,
	OpDeviceWrite:     adminOnly,
	OpDeviceSetHealth: adminOnly,
	OpWorkerWrite:     adminOnly,
	OpJobList:         {Kinds: humans},
	OpJobView:         {Kinds: []Kind{KindAnonymous, KindUser, KindJob}, PerObject: true},
	OpJobSubmit:       {Kinds: usersOnly},
	OpJobCancel:       {Kinds: usersOnly, PerObject: true},
	OpJobResubmit:     {Kinds: usersOnly, PerObject: true},
	OpUserAdmin:       adminOnly,
	OpAccountOwn:      {Kinds: usersOnly},
	OpTokenOwn:        {Kinds: usersOnly, PerObject: true},
	OpTokenAdmin:      adminOnly,
	OpWorkerAct:       {Kinds: []Kind{KindWorker}, PerObject: true},
	OpJobAct:          {Kinds: []Kind{KindJob}, PerObject: true},
}

// Operations returns every operation of the permission table, sorted.
func Operations() []Operation {
	ops := make([]Operation, 0, len(rules))
	for op := range rules {
		ops = append(ops, op)
	}
	slices.Sort(ops)
	return ops
}

// RuleOf returns the rule of op (a copy) and whether op is known.
func RuleOf(op Operation) (Rule, bool) {
	r, ok := rules[op]
	r.Kinds = slices.Clone(r.Kinds)
	return r, ok
}

// Allowed reports whether p may perform op: p is valid, its kind is in the
// op's Rule, and it is a superuser if the rule says so. For PerObject
// operations this is a necessary gate, not the whole decision. Unknown
// operations are denied.
func Allowed(p Principal, op Operation) bool {
	r, ok := rules[op]
	if !ok || !p.valid() || !slices.Contains(r.Kinds, p.Kind) {
		return false
	}
	return !r.Superuser || p.isSuperuser()
}

// Require is Allowed as an error for transports: nil when allowed; an
// error wrapping lab.ErrUnauthenticated when the caller is anonymous (or
// an invalid principal), so that it is asked to log in; otherwise one
// wrapping lab.ErrForbidden.
func Require(p Principal, op Operation) error {
	if Allowed(p, op) {
		return nil
	}
	if _, known := rules[op]; !known {
		return fmt.Errorf("%s: unknown operation: %w", op, lab.ErrForbidden)
	}
	if p.Kind == KindAnonymous || !p.valid() {
		return fmt.Errorf("%s: %w", op, lab.ErrUnauthenticated)
	}
	return fmt.Errorf("%s by %s: %w", op, p, lab.ErrForbidden)
}

// AuthorizeJob decides a job operation (OpJobView, OpJobCancel,
// OpJobResubmit or OpJobAct) on job, in the order transports need:
// Require's error if p fails the operation's gate; an error wrapping
// lab.ErrNotFound if p may not view the job (invisible jobs look missing);
// one wrapping lab.ErrForbidden if p sees the job but may not do op to it
// or op is not a job operation; nil when allowed. Whether the job's state
// permits the operation (e.g. cancelling a finished job) is not
// authorization and is checked elsewhere.
func AuthorizeJob(p Principal, op Operation, job lab.Job) error {
	if err := Require(p, op); err != nil {
		return err
	}
	var allowed bool
	switch op {
	case OpJobView:
		allowed = CanViewJob(p, job)
	case OpJobCancel:
		allowed = CanCancelJob(p, job)
	case OpJobResubmit:
		allowed = CanResubmitJob(p, job)
	case OpJobAct:
		allowed = CanActForJob(p, job.ID)
	default:
		return fmt.Errorf("%s is not a job operation: %w", op, lab.ErrForbidden)
	}
	if !CanViewJob(p, job) {
		return fmt.Errorf("job %d: %w", job.ID, lab.ErrNotFound)
	}
	if !allowed {
		return fmt.Errorf("%s job %d by %s: %w", op, job.ID, p, lab.ErrForbidden)
	}
	return nil
}

// CanViewJob reports whether p may see job (LAVA's TestJob.can_view, §11):
//
//   - superusers and the job's submitter see it, whatever its visibility;
//   - public jobs: everyone, anonymous callers included;
//   - personal jobs: nobody else (LAVA also admits members of a group named
//     after the submitter; Basalt does not);
//   - group jobs: users who belong to all of job.ViewingGroups (none if
//     the list is empty);
//   - a job principal sees only its own job; worker principals see no job
//     through this path (the worker protocol has its own rights).
//
// Unknown visibility values are visible only to the submitter and
// superusers.
func CanViewJob(p Principal, job lab.Job) bool {
	if !p.valid() {
		return false
	}
	switch p.Kind {
	case KindJob:
		return job.ID == p.JobID
	case KindAnonymous:
		return job.Visibility == lab.VisibilityPublic
	case KindUser:
		if p.Superuser || job.Submitter == p.Username {
			return true
		}
		switch job.Visibility {
		case lab.VisibilityPublic:
			return true
		case lab.VisibilityGroup:
			return p.inAllGroups(job.ViewingGroups)
		}
	}
	return false
}

// CanSubmit reports whether p may submit jobs: authenticated active users
// only, never anonymous callers, workers or job tokens. Which devices a
// user may submit to is decided at submission, not here.
func CanSubmit(p Principal) bool { return Allowed(p, OpJobSubmit) }

// CanCancelJob reports whether p may cancel job: a user who can view it
// and is its submitter or a superuser.
func CanCancelJob(p Principal, job lab.Job) bool {
	return p.isUser() && CanViewJob(p, job) && (p.Superuser || job.Submitter == p.Username)
}

// CanResubmitJob reports whether p may resubmit job: the same rule as
// CanCancelJob (the copy is submitted as p, so p must also pass CanSubmit,
// which every user principal does).
func CanResubmitJob(p Principal, job lab.Job) bool {
	return CanSubmit(p) && CanCancelJob(p, job)
}

// IsAdmin reports whether p is a superuser, who may perform every
// admin-only operation (see Operations).
func IsAdmin(p Principal) bool { return p.isSuperuser() }

// CanManageToken reports whether p may see, create or delete tok: its
// owning user for user tokens, and superusers for every token. To authorize
// creating a token, pass the token about to be created.
func CanManageToken(p Principal, tok lab.Token) bool {
	if p.isSuperuser() {
		return true
	}
	return p.isUser() && tok.Kind == lab.TokenUser && tok.Owner == p.Username
}

// CanActAsWorker reports whether p may speak the worker protocol as the
// worker named name: only that worker's own token. Superusers may not:
// least privilege keeps an admin's leaked user token from impersonating
// workers, and admins have OpWorkerWrite for managing workers.
func CanActAsWorker(p Principal, name string) bool {
	return p.Kind == KindWorker && p.valid() && p.Worker == name
}

// CanActForJob reports whether p may act for the job with the given id
// (upload its logs and results): only that job's own token.
func CanActForJob(p Principal, id int64) bool {
	return p.Kind == KindJob && p.valid() && p.JobID == id
}
