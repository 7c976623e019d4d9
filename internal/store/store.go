package store

import (
	"context"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Store is the persistence port of the server. It is implemented by
// internal/store/sqlstore on SQLite and PostgreSQL, and its behaviour is
// pinned by the conformance suite in internal/store/storetest.
//
// Errors: methods wrap lab.ErrNotFound (missing object), lab.ErrConflict
// (duplicate key, or a state precondition that does not hold) and
// lab.ErrInvalid (a reference to a missing type/worker/tag/group, bad value).
// Conditions of the database rather than of the call wrap
// lab.ErrStorageFull (its disk is full) and lab.ErrDatabaseUnavailable (it
// does not answer); the same call succeeds once they are repaired.
type Store interface {
	Queries
	// InTx runs fn inside one transaction. Every call on the Queries given to
	// fn is part of it; the transaction commits when fn returns nil and rolls
	// back otherwise. On PostgreSQL, serialization failures are retried.
	InTx(ctx context.Context, fn func(q Queries) error) error
	// Ping checks that the database answers, quickly and whatever the
	// load: on a connection of its own, never queued behind other
	// requests or writers. Its error wraps lab.ErrDatabaseUnavailable. It
	// is for health checks.
	Ping(ctx context.Context) error
	// Close releases the database.
	Close() error
}

// Queries is every read and write the server needs. Each call outside InTx is
// atomic on its own.
type Queries interface {
	// Device types and aliases.
	CreateDeviceType(ctx context.Context, dt lab.DeviceType) error
	UpdateDeviceType(ctx context.Context, dt lab.DeviceType) error
	GetDeviceType(ctx context.Context, name string) (lab.DeviceType, error)
	ListDeviceTypes(ctx context.Context) ([]lab.DeviceType, error)
	// DeleteDeviceType removes a type with its aliases and its template
	// (the one named after it); it fails with ErrConflict while devices or
	// jobs use the type.
	DeleteDeviceType(ctx context.Context, name string) error
	CreateAlias(ctx context.Context, a lab.Alias) error
	DeleteAlias(ctx context.Context, name string) error
	ListAliases(ctx context.Context) ([]lab.Alias, error)
	// ResolveDeviceType looks name up as an alias first, then as a type.
	ResolveDeviceType(ctx context.Context, name string) (lab.DeviceType, error)

	// Device-type templates (Jinja2), by name: a template's file name
	// without ".jinja2", a type's own template carrying the type's name.
	// Any name may be stored (base templates too); DeleteDeviceType deletes
	// the template named after the type in its transaction.
	//
	// SetDeviceTemplate creates or replaces a template; Updated becomes the
	// store's clock. An empty name is ErrInvalid.
	SetDeviceTemplate(ctx context.Context, name, text string) error
	// GetDeviceTemplate returns one template with its text; ErrNotFound
	// when none has that name.
	GetDeviceTemplate(ctx context.Context, name string) (lab.DeviceTemplate, error)
	// ListDeviceTemplates returns every template by name, with Name and
	// Updated only (Text empty: the texts are not read).
	ListDeviceTemplates(ctx context.Context) ([]lab.DeviceTemplate, error)
	// DeleteDeviceTemplate removes a template; ErrNotFound when none has
	// that name.
	DeleteDeviceTemplate(ctx context.Context, name string) error

	// Multinode coordinator groups (internal/coordinator): each group's
	// state, by group name, as the coordinator's bytes, which the store
	// does not read.
	//
	// SaveCoordinatorGroup creates or replaces a group's state; it is
	// durable when it returns. An empty name is ErrInvalid.
	SaveCoordinatorGroup(ctx context.Context, name string, state []byte) error
	// ListCoordinatorGroups returns every group's state by name (an empty
	// map when there is none).
	ListCoordinatorGroups(ctx context.Context) (map[string][]byte, error)
	// DeleteCoordinatorGroup removes a group's state; ErrNotFound when no
	// group has that name.
	DeleteCoordinatorGroup(ctx context.Context, name string) error
	// GetCoordinatorGroup returns a group's state and version (a positive
	// number that changes at every save); ErrNotFound when no group has
	// that name.
	GetCoordinatorGroup(ctx context.Context, name string) (state []byte, version int64, err error)
	// SaveCoordinatorGroupIf saves a group's state if its version is
	// still version (0: if no group has that name) and returns the new
	// version; ErrConflict otherwise, and nothing changes.
	SaveCoordinatorGroupIf(ctx context.Context, name string, state []byte, version int64) (int64, error)
	// DeleteCoordinatorGroupIf removes a group's state if its version is
	// still version; ErrConflict if it is another, ErrNotFound if no group
	// has that name.
	DeleteCoordinatorGroupIf(ctx context.Context, name string, version int64) error

	// Leases: named rights held by one holder at a time until they
	// expire (lab.Lease), for the server replicas on one database to elect
	// a scheduler leader. Times are the caller's clock: replicas' clocks
	// must agree to well within a lease's duration.
	//
	// AcquireLease takes the lease name for holder until now+ttl when it
	// is free (never taken, released, or expired at now) or renews it when
	// holder holds it already, with one conditional statement: two callers
	// never both hold it. Otherwise it returns the lease as held, with an
	// error wrapping ErrConflict. An empty name or holder, a zero now or a
	// ttl not above 0 is ErrInvalid.
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (lab.Lease, error)
	// ReleaseLease frees the lease when holder holds it (expired or not),
	// so another caller may take it at once. When holder does not hold
	// it (another does, or nobody) nothing changes and the result is nil:
	// a holder that lost its lease may still release it on its way out.
	ReleaseLease(ctx context.Context, name, holder string) error
	// GetLease returns the lease as stored, expired or not; ErrNotFound
	// when it was never taken or was released.
	GetLease(ctx context.Context, name string) (lab.Lease, error)

	// Console input of reservations' sessions (lab.ConsoleInput), kept
	// until the session ends so that whichever replica holds the worker's
	// call hands it over.
	//
	// AppendConsoleInput stores in as the job's next input and returns it
	// numbered (Seq: the last + 1, from 1, never reused while the job's
	// inputs are kept) with Time set to the store's clock when zero.
	// ErrNotFound when the job does not exist; ErrInvalid for no user,
	// both or neither of Data and Power, an unknown Power, or Data over
	// lab.MaxConsoleInput; ErrConflict past lab.MaxConsoleInputs.
	AppendConsoleInput(ctx context.Context, in lab.ConsoleInput) (lab.ConsoleInput, error)
	// ConsoleInputAfter returns up to limit of the job's inputs numbered
	// after seq, in order (none when the job has none).
	ConsoleInputAfter(ctx context.Context, jobID, seq int64, limit int) ([]lab.ConsoleInput, error)
	// LastConsoleInput returns the number of the job's last input (0:
	// none).
	LastConsoleInput(ctx context.Context, jobID int64) (int64, error)
	// DeleteConsoleInput removes every input of the job's session.
	DeleteConsoleInput(ctx context.Context, jobID int64) error

	// Tags.
	CreateTag(ctx context.Context, t lab.Tag) error
	GetTag(ctx context.Context, name string) (lab.Tag, error)
	ListTags(ctx context.Context) ([]lab.Tag, error)
	DeleteTag(ctx context.Context, name string) error

	// Workers. CreateWorker stores State and Health as given.
	CreateWorker(ctx context.Context, w lab.Worker) error
	GetWorker(ctx context.Context, name string) (lab.Worker, error)
	ListWorkers(ctx context.Context) ([]lab.Worker, error)
	// UpdateWorker changes description and job limit only.
	UpdateWorker(ctx context.Context, w lab.Worker) error
	// SetWorkerStatus sets state and health and records a WorkerTransition
	// when either changed (it returns the zero transition otherwise).
	SetWorkerStatus(ctx context.Context, name string, state lab.WorkerState, health lab.WorkerHealth, actor, reason string) (lab.WorkerTransition, error)
	// TouchWorker records a heartbeat: last heartbeat time and version.
	TouchWorker(ctx context.Context, name string, at time.Time, version string) error
	WorkerHistory(ctx context.Context, name string, limit int) ([]lab.WorkerTransition, error)
	// DeleteWorker removes a worker with its history and its worker and
	// join tokens; its devices stay, attached to no worker. ErrNotFound
	// when it does not exist, ErrConflict while one of its devices is not
	// Idle or a job requested the worker (jobs are kept).
	DeleteWorker(ctx context.Context, name string) error

	// Devices. CreateDevice and UpdateDevice fail with ErrInvalid when the
	// device type, worker or a tag does not exist.
	CreateDevice(ctx context.Context, d lab.Device) error
	GetDevice(ctx context.Context, hostname string) (lab.Device, error)
	ListDevices(ctx context.Context, f DeviceFilter) ([]lab.Device, error)
	// UpdateDevice changes description, type, worker, tags and dictionary;
	// never state, health or current job.
	UpdateDevice(ctx context.Context, d lab.Device) error
	// SetDeviceHealth sets health and records a DeviceTransition when it
	// changed (it returns the zero transition otherwise).
	SetDeviceHealth(ctx context.Context, hostname string, health lab.DeviceHealth, actor, reason string, job int64) (lab.DeviceTransition, error)
	// DeviceHistory returns transitions newest first.
	DeviceHistory(ctx context.Context, hostname string, limit int) ([]lab.DeviceTransition, error)
	// DeleteDevice removes a device with its tags and history; ErrNotFound
	// when it does not exist, ErrConflict while any job refers to it
	// (requested it, ran on it or holds it: jobs are kept).
	DeleteDevice(ctx context.Context, hostname string) error

	// Jobs. CreateJob assigns ID and returns it; SubmitTime must be set.
	CreateJob(ctx context.Context, j lab.Job) (int64, error)
	// CreateJobGroup creates the jobs of one multinode group together, in
	// one transaction, and returns their ids in order. Every job must carry
	// Multinode with the same TargetGroup and GroupSize len(jobs)
	// (ErrInvalid otherwise); each job's SubID becomes "<first id>.<its
	// index>" (LAVA's sub_id), whatever was given.
	CreateJobGroup(ctx context.Context, jobs []lab.Job) ([]int64, error)
	GetJob(ctx context.Context, id int64) (lab.Job, error)
	// ListJobs returns one page of jobs matching f, in f.Order (newest
	// first by default), and the total number of matches.
	ListJobs(ctx context.Context, f JobFilter) ([]lab.Job, int, error)
	// Queue returns every Submitted job in the compact form the scheduler needs.
	Queue(ctx context.Context) ([]QueuedJob, error)
	// TransitionJob moves a job between states with its device, atomically;
	// see JobTransition.
	TransitionJob(ctx context.Context, t JobTransition) (lab.Job, error)
	// UpdateReservation replaces the reservation fields of job id (a
	// reservation) with to (Duration, Until, Reason and EndedBy as
	// given), to extend it or record who ended it, if they are still from
	// (as the caller read them): ErrConflict, and nothing changes, when
	// another call changed them since. The compare is one conditional
	// statement, so that of two concurrent read-modify-writes one fails
	// instead of losing the other's change. ErrNotFound when the job does
	// not exist or is not a reservation; ErrInvalid for a duration not
	// above 0 or a bad text.
	UpdateReservation(ctx context.Context, id int64, from, to lab.Reservation) error
	// HealthCheckInfo returns, per device hostname, when its last health
	// check was submitted and how many ordinary jobs started on it since.
	HealthCheckInfo(ctx context.Context) (map[string]HealthInfo, error)

	// Users and groups. Usernames and group names are unique.
	CreateUser(ctx context.Context, u lab.User) (int64, error)
	GetUser(ctx context.Context, username string) (lab.User, error)
	ListUsers(ctx context.Context) ([]lab.User, error)
	// UpdateUser changes email, names, superuser and active flags and the
	// password hash (Groups is ignored: use the group methods).
	UpdateUser(ctx context.Context, u lab.User) error
	DeleteUser(ctx context.Context, username string) error
	CreateGroup(ctx context.Context, name string) error
	GetGroup(ctx context.Context, name string) (lab.Group, error)
	ListGroups(ctx context.Context) ([]lab.Group, error)
	DeleteGroup(ctx context.Context, name string) error
	AddGroupMember(ctx context.Context, group, username string) error
	RemoveGroupMember(ctx context.Context, group, username string) error

	// API tokens. Only hashes are stored.
	CreateToken(ctx context.Context, t lab.Token) (int64, error)
	// TokenByHash finds a token by the SHA-256 of its secret.
	TokenByHash(ctx context.Context, hash []byte) (lab.Token, error)
	ListTokens(ctx context.Context, kind lab.TokenKind, owner string) ([]lab.Token, error)
	DeleteToken(ctx context.Context, id int64) error
	TouchToken(ctx context.Context, id int64, at time.Time) error

	// Test results: LAVA's suites, sets and cases, stored as job logs are
	// ingested. Line numbers are 0-based log lines.
	//
	// AddTestCases stores cases of job jobID (whose JobID must be jobID or
	// 0), creating their suites and sets, and raises the job's ingestion
	// watermark to lines (it never lowers it), in one transaction. A case
	// whose Line the job already has is skipped, so ingesting the same lines
	// again changes nothing; it returns how many cases were added. A missing
	// job is ErrNotFound; a case that does not Validate is ErrInvalid.
	AddTestCases(ctx context.Context, jobID int64, cases []lab.TestCase, lines int) (int, error)
	// ResultsIngested returns the job's ingestion watermark: the number of
	// its log lines whose results are stored (0 when none were ingested).
	ResultsIngested(ctx context.Context, jobID int64) (int, error)
	// ListTestCases returns one page of a job's cases that f selects, in log
	// order, and how many match in all (-1 with f.NoCount).
	ListTestCases(ctx context.Context, f CaseFilter) ([]lab.TestCase, int, error)
	// ListTestSuites returns a job's suites (with their ids) and their
	// cases counted by result, in the order of their first case in the log.
	ListTestSuites(ctx context.Context, jobID int64) ([]lab.SuiteSummary, error)
	// CaseHistory returns one page of the cases of a suite (and optionally
	// one case name) across the jobs f selects, newest job first (then log
	// order), and how many match in all: the query trends stand on.
	CaseHistory(ctx context.Context, f HistoryFilter) ([]lab.TestCase, int, error)

	// Notifications: the deliveries of jobs' notify blocks (a callback
	// call, an e-mail, an IRC message each) and their attempts. Any number
	// of senders (server processes on one database) share the queue:
	// ClaimDeliveries hands a due delivery to one of them at a time, and
	// RecordDeliveryAttempt applies its outcome only under that claim, so
	// a delivery is marked delivered once.
	//
	// AddDeliveries stores new deliveries of existing jobs with their
	// Status (pending ones need NextAttempt), Created and fields as given,
	// and returns their ids; call it in the transaction that moves the job.
	// A missing job, an unknown kind or status is ErrInvalid.
	AddDeliveries(ctx context.Context, ds []lab.Delivery) ([]int64, error)
	// ListDeliveries returns a job's deliveries by id, each with its
	// attempts (Log) in order; none for a job without any.
	ListDeliveries(ctx context.Context, jobID int64) ([]lab.Delivery, error)
	// ClaimDeliveries claims up to c.Limit pending deliveries due at c.Now
	// (NextAttempt not after it) that no claim holds (none, or one expired
	// at c.Now), earliest due first, for c.Claim until c.Until, and
	// returns them. A delivery under a live claim is never returned to
	// another caller.
	ClaimDeliveries(ctx context.Context, c DeliveryClaim) ([]lab.Delivery, error)
	// RecordDeliveryAttempt applies the outcome of one try of a claimed
	// delivery (see DeliveryOutcome) and releases the claim. ErrConflict
	// when the delivery is no longer pending or r.Claim no longer holds it
	// (it expired and another sender claimed it): nothing changes then.
	// ErrNotFound when it does not exist.
	RecordDeliveryAttempt(ctx context.Context, r DeliveryOutcome) (lab.Delivery, error)
	// ReleaseDeliveries drops every claim named claim (a sender stopping
	// with work in hand), so that the deliveries are due again at once.
	ReleaseDeliveries(ctx context.Context, claim string) error
	// NextDeliveryDue returns the earliest NextAttempt of the pending
	// deliveries, zero when there are none: when a sender must look next.
	NextDeliveryDue(ctx context.Context) (time.Time, error)
	// LatestFinishedJob returns the Finished job, other than f.Exclude,
	// whose metadata is exactly f.Metadata (the same keys and values) and
	// whose health is one of f.Health, that ended last (the highest id
	// among equal end times); ErrNotFound when there is none. Jobs without
	// metadata match an empty f.Metadata.
	LatestFinishedJob(ctx context.Context, f PreviousJobFilter) (lab.Job, error)
}

// DeliveryClaim asks for due deliveries (Queries.ClaimDeliveries).
type DeliveryClaim struct {
	// Claim names the claimant: unique per sender and run.
	Claim string
	Now   time.Time
	// Until is when the claim expires: later than any attempt can last.
	Until time.Time
	Limit int // 0 = 16
}

// DeliveryOutcome is what one try of a claimed delivery came to
// (Queries.RecordDeliveryAttempt).
type DeliveryOutcome struct {
	ID    int64
	Claim string
	// Attempt is the attempt made, appended to the delivery's log with
	// the next attempt number (Attempt.Attempt is ignored); nil when none
	// was made (the delivery is not sent).
	Attempt *lab.DeliveryAttempt
	// Status is the delivery's new status: Pending again (to retry at
	// NextAttempt), Delivered, Failed or NotSent (then Done is At).
	Status      lab.DeliveryStatus
	NextAttempt time.Time
	// Error becomes the delivery's LastError.
	Error string
	// At is when the outcome was known.
	At time.Time
}

// PreviousJobFilter selects the job a job is compared with
// (Queries.LatestFinishedJob).
type PreviousJobFilter struct {
	Metadata map[string]string
	Exclude  int64
	// Health keeps jobs with one of these healths; empty: any.
	Health []lab.JobHealth
}

// CaseFilter selects test cases of one job. Zero fields match everything.
type CaseFilter struct {
	JobID int64 // required
	// ID keeps the case with this id (0: any).
	ID     int64
	Suite  string
	Set    string
	Case   string
	Result *lab.TestResult
	// FromLine keeps cases whose log line is FromLine or later (to read a
	// job's cases in chunks without OFFSET).
	FromLine int
	Limit    int // 0 = no limit
	Offset   int
	// NoCount skips counting the matches: ListTestCases returns -1 for the
	// total (for a reader that counted them once and reads on in chunks).
	NoCount bool
}

// HistoryFilter selects the cases of one suite across jobs. Zero fields
// match everything.
type HistoryFilter struct {
	// VisibleTo, when set, keeps only cases of jobs that viewer may see
	// (JobFilter.VisibleTo's rule).
	VisibleTo *Viewer
	Suite     string // required
	Case      string
	// DeviceType keeps jobs that requested this device type.
	DeviceType string
	// Since and Until bound the cases' logged time: [Since, Until).
	Since, Until time.Time
	Limit        int // 0 = 50
	Offset       int
}

// urgentKey marks an urgent context (Urgent).
type urgentKey struct{}

// Urgent returns a context whose writes go before ordinary ones waiting for
// the database: the worker link's (heartbeats, log appends, job starts and
// finishes) must not wait behind a burst of API requests, or working
// workers would look dead.
func Urgent(ctx context.Context) context.Context { return context.WithValue(ctx, urgentKey{}, true) }

// IsUrgent reports whether ctx was made by Urgent.
func IsUrgent(ctx context.Context) bool { v, _ := ctx.Value(urgentKey{}).(bool); return v }

// DeviceFilter selects devices; zero fields match everything.
type DeviceFilter struct {
	DeviceType string
	Worker     string
	Health     []lab.DeviceHealth
	State      []lab.DeviceState
}

// Viewer is the identity a job listing is filtered for.
type Viewer struct {
	Username  string // empty: anonymous
	Superuser bool
	Groups    []string
}

// JobFilter selects a page of jobs. Zero fields match everything.
type JobFilter struct {
	// VisibleTo, when set, keeps only jobs that viewer may see: public jobs,
	// the viewer's own, personal jobs only for their submitter, group jobs
	// for members of every listed group; superusers see all.
	VisibleTo *Viewer
	// IDs, when not nil, keeps only the jobs with these ids (none when
	// empty): to read the jobs a page of other objects refers to in one
	// query.
	IDs        []int64
	States     []lab.JobState
	Health     []lab.JobHealth
	DeviceType string
	Device     string // actual device
	Submitter  string
	// TargetGroup keeps the jobs of one multinode group.
	TargetGroup string
	HealthCheck *bool
	// Reservation, when set, keeps only reservations (true) or only other
	// jobs (false).
	Reservation *bool
	// RequestedDevice keeps the jobs that asked for this device by name.
	RequestedDevice string
	// Text matches job name (description) as a case-insensitive substring.
	Text string
	// DeviceTypes, when not empty, keeps only jobs requesting one of these
	// device types (DeviceType, when set too, must also match).
	DeviceTypes []string
	// EndedSince, when set, keeps only jobs that ended at or after it.
	EndedSince time.Time
	// LongerThan, when set, keeps only jobs that started and ran for
	// longer than it: from their start to their end, or to Now for jobs
	// that have not ended (LAVA's duration_at_least). It may be zero or
	// negative (every job that started, then).
	LongerThan *time.Duration
	// Now is the time LongerThan measures jobs that have not ended to;
	// zero: the store's clock.
	Now time.Time
	// IDAfter and IDBefore, when not 0, keep the jobs whose id is greater
	// than IDAfter and less than IDBefore.
	IDAfter, IDBefore int64
	// SubmittedAfter … EndedBefore, when not zero, keep the jobs whose
	// submit, start or end time is strictly after or before them. A job
	// without the time (not started, not ended) matches no bound on it.
	SubmittedAfter, SubmittedBefore time.Time
	StartedAfter, StartedBefore     time.Time
	EndedAfter, EndedBefore         time.Time
	// Metadata keeps the jobs whose metadata meets every condition.
	Metadata []MetadataCond
	// Order is the order of the page: newest (highest id) first when empty.
	Order  JobOrder
	Limit  int // 0 = 50
	Offset int
	// WithDefinition loads Definition and OriginalDefinition (omitted otherwise).
	WithDefinition bool
}

// MetaOp is how a metadata condition (MetadataCond) tests a job's
// metadata. The names are LAVA's lookups (metadata__<key>__<lookup>);
// case-insensitive comparisons fold ASCII letters on SQLite and all
// letters on PostgreSQL.
type MetaOp string

// Metadata conditions.
const (
	MetaExact       MetaOp = "exact"       // the key's value is Values[0]
	MetaIExact      MetaOp = "iexact"      // … in any case
	MetaContains    MetaOp = "contains"    // the value contains Values[0]
	MetaIContains   MetaOp = "icontains"   // … in any case
	MetaStartsWith  MetaOp = "startswith"  // the value starts with Values[0]
	MetaIStartsWith MetaOp = "istartswith" // … in any case
	MetaEndsWith    MetaOp = "endswith"    // the value ends with Values[0]
	MetaIEndsWith   MetaOp = "iendswith"   // … in any case
	MetaIn          MetaOp = "in"          // the value is one of Values (at least one)
	MetaHasKey      MetaOp = "has_key"     // the job has the key (Values unused)
	MetaNoKey       MetaOp = "no_key"      // the job lacks the key (LAVA's isnull=true)
)

// MetadataCond is one condition on a job's metadata: the value of Key
// compared by Op. Keys are matched exactly (case and all). An unknown Op,
// an empty Key or the wrong number of Values is lab.ErrInvalid.
type MetadataCond struct {
	Key    string
	Op     MetaOp
	Values []string
}

// JobOrder is the order of a page of jobs: a column, descending with a
// leading "-". Jobs without the time sort after those with it, in either
// direction; ties go by id in the same direction. Anything else is
// lab.ErrInvalid.
type JobOrder string

// Job orders.
const (
	OrderNewest         JobOrder = ""             // highest id first (the default)
	OrderID             JobOrder = "id"           // lowest id first
	OrderIDDesc         JobOrder = "-id"          // highest id first
	OrderSubmitTime     JobOrder = "submit_time"  // earliest submission first
	OrderSubmitTimeDesc JobOrder = "-submit_time" // latest submission first
	OrderStartTime      JobOrder = "start_time"   // earliest start first
	OrderStartTimeDesc  JobOrder = "-start_time"  // latest start first
	OrderEndTime        JobOrder = "end_time"     // earliest end first
	OrderEndTimeDesc    JobOrder = "-end_time"    // latest end first
)

// QueuedJob is the part of a Submitted job that scheduling looks at.
type QueuedJob struct {
	ID              int64
	Priority        int
	SubmitTime      time.Time
	Submitter       string
	RequestedType   string
	RequestedDevice string
	RequestedWorker string
	Tags            []string
	QueueTimeout    time.Duration
	HealthCheck     bool
	// Group, Role and GroupSize place a multinode sub-job in its group
	// (empty, 0 for other jobs).
	Group     string
	Role      string
	GroupSize int
}

// HealthInfo is the health-check bookkeeping of one device.
type HealthInfo struct {
	LastCheck     time.Time // submit time of the last health check, zero if none
	JobsSinceLast int       // ordinary jobs started on the device since then
}

// JobTransition describes one atomic job state change. The store applies it
// only when the job's current state is in From (ErrConflict otherwise) and
// keeps the job's device consistent:
//
//   - To Scheduling/Scheduled with Device set: the device must be Idle with
//     no current job (ErrConflict otherwise); it becomes Reserved holding the
//     job and the job's ActualDevice is set. No device ever holds two jobs and
//     no job is assigned twice, even with concurrent servers.
//   - To Running: start time = At; the device becomes Running.
//   - To Finished: end time = At, health/error/comment as given; the device
//     (if any) becomes Idle with no current job; for a health-check job the
//     device's LastHealthReportJob is set.
//   - To Canceling: only the state changes, and the failure comment when
//     FailureComment is not empty (why it is canceled).
type JobTransition struct {
	ID             int64
	From           []lab.JobState
	To             lab.JobState
	Device         string
	At             time.Time
	Health         lab.JobHealth
	ErrorType      lab.ErrorType
	FailureComment string
}
