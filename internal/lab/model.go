package lab

import "time"

// DeviceType is a kind of board (e.g. "qemu", "bbb"). Jobs request a type;
// the scheduler picks one of its devices.
type DeviceType struct {
	Name        string // primary key, 1–50 characters, no '/'
	Description string
	// HealthFrequency and HealthDenominator say how often health checks run:
	// every HealthFrequency hours, or every HealthFrequency ordinary jobs.
	HealthFrequency    int
	HealthDenominator  HealthDenominator
	DisableHealthCheck bool
	// HealthCheck is the job definition (YAML) run as this type's health
	// check; empty means no health check.
	HealthCheck string
	// Hidden keeps the type out of the overview and listings (LAVA's
	// display = false). The zero value is LAVA's default: shown. Unlike
	// LAVA, hidden types still schedule.
	Hidden bool
	// NoHealthCheckAfterReservation lets the type's devices take jobs
	// again as soon as a reservation ends, keeping their health. The zero
	// value is the safe default: a device whose reservation ended is
	// Unknown, so it runs the type's health check before any other job (a
	// person may have left the board in any state).
	NoHealthCheckAfterReservation bool
}

// Alias is another name for a device type, usable in a job's device_type.
type Alias struct {
	Name       string
	DeviceType string
}

// DeviceTemplate is a device-type template stored in the database: the
// Jinja2 text (LAVA's form, e.g. "{% extends 'base-uboot.jinja2' %}…") that
// renders the dictionaries of a type's devices. Stored templates are
// searched before the server's template directory and the ones Basalt
// ships.
type DeviceTemplate struct {
	// Name is the template's file name without ".jinja2"; a device type's
	// own template is named after the type ("qemu" for qemu.jinja2).
	Name string
	// Text is the template's Jinja2 source (UTF-8, no NUL). Listings leave
	// it empty.
	Text string
	// Updated is when the template was last set (UTC, microseconds).
	Updated time.Time
}

// Tag is a label on devices; a job's tags must be a subset of its device's.
type Tag struct {
	Name        string
	Description string
}

// Worker is a host that runs jobs on the devices attached to it.
type Worker struct {
	Name        string // primary key (LAVA's hostname)
	Description string
	State       WorkerState
	Health      WorkerHealth
	// JobLimit caps concurrently busy devices on the worker; 0 = unlimited.
	JobLimit      int
	LastHeartbeat time.Time // zero when never seen
	Version       string
}

// Device is one board under test.
type Device struct {
	Hostname    string // primary key
	DeviceType  string
	Worker      string // empty when not attached to a worker
	Description string
	Tags        []string // sorted
	State       DeviceState
	Health      DeviceHealth
	// CurrentJob is the job holding the device (0 when Idle).
	CurrentJob int64
	// LastHealthReportJob is the most recent finished health-check job (0: none).
	LastHealthReportJob int64
	// Dictionary is the device dictionary text (Jinja2 or YAML), opaque here.
	Dictionary string
}

// BusyWithPrivateJob reports whether d holds a job whose id is withheld
// from the reader: Reserved or Running with CurrentJob 0. The app shows a
// device's job only to those who may see the job (everywhere: the API,
// the web pages, the command line), and says "a private job" otherwise.
func (d Device) BusyWithPrivateJob() bool { return d.State != DeviceIdle && d.CurrentJob == 0 }

// DeviceTransition is one entry of a device's history: a change of health
// and/or state with who did it and why.
type DeviceTransition struct {
	ID        int64
	Device    string
	Time      time.Time
	Actor     string // username, "scheduler", "worker:<name>" …
	Reason    string
	OldHealth DeviceHealth
	NewHealth DeviceHealth
	OldState  DeviceState
	NewState  DeviceState
	Job       int64 // the job that caused it, 0 for none
}

// WorkerTransition is one entry of a worker's history.
type WorkerTransition struct {
	ID        int64
	Worker    string
	Time      time.Time
	Actor     string
	Reason    string
	OldState  WorkerState
	NewState  WorkerState
	OldHealth WorkerHealth
	NewHealth WorkerHealth
}

// Job is a test job. Definition is the job YAML as it will be run;
// OriginalDefinition is what the submitter sent.
type Job struct {
	ID                 int64
	Description        string // job_name
	Submitter          string // username
	Visibility         Visibility
	ViewingGroups      []string // for VisibilityGroup: members of all may view
	State              JobState
	Health             JobHealth
	Priority           int // 0–100
	RequestedType      string
	RequestedDevice    string
	RequestedWorker    string
	Tags               []string // sorted
	ActualDevice       string
	HealthCheck        bool
	SubmitTime         time.Time
	StartTime          time.Time     // zero until Running
	EndTime            time.Time     // zero until Finished
	QueueTimeout       time.Duration // 0 = none
	FailureComment     string
	ErrorType          ErrorType
	Metadata           map[string]string
	Definition         string
	OriginalDefinition string
	// Multinode is set on the sub-jobs of a multinode submission (LAVA's
	// protocols: lava-multinode), nil on other jobs.
	Multinode *MultinodeJob
	// Reservation is set on a reservation: a job that holds one device
	// for a person (its Submitter) and runs an interactive console
	// session instead of a pipeline. nil on other jobs.
	Reservation *Reservation
}

// Reservation holds a device for a person for a while. It is queued,
// scheduled and shown like a job of its priority (RequestedDevice names the
// device); while it runs, the device is busy with it, and its holder has
// the board's console through the server (its log records the session).
type Reservation struct {
	// Duration is how long the device is held once the reservation
	// starts, as asked (extensions move Until, not Duration).
	Duration time.Duration
	// Until is when the reservation ends by itself: zero until it runs,
	// then its start plus Duration plus any extensions.
	Until time.Time
	// Reason is what the holder said the board is for (may be empty).
	Reason string
	// EndedBy names who ended the reservation before Until ("" while it
	// runs, and when it expired).
	EndedBy string
}

// MultinodeJob places a sub-job in its multinode group. A submission with
// protocols.lava-multinode becomes one sub-job per role instance, created
// together; they share TargetGroup and are scheduled as one unit. The
// sub-job's Definition is its split definition (the job as one role sees
// it); OriginalDefinition is the whole submission (LAVA's
// multinode_definition).
type MultinodeJob struct {
	// TargetGroup is the group's identifier (a UUID, LAVA's target_group).
	TargetGroup string
	// SubID is LAVA's "<parent id>.<n>": the id of the group's first job,
	// a dot, and this job's 0-based index in the group.
	SubID string
	// Role is the job's role in the group.
	Role string
	// GroupSize is how many sub-jobs the group has (the sum of the role
	// counts).
	GroupSize int
	// Essential says that this role failing (Incomplete) or being
	// canceled cancels the rest of the group.
	Essential bool
}

// User is a person or service account.
type User struct {
	ID           int64
	Username     string
	Email        string
	FirstName    string
	LastName     string
	IsSuperuser  bool
	IsActive     bool
	PasswordHash string // encoded argon2id (or imported) hash; empty = no password login
	Groups       []string
	DateJoined   time.Time
}

// Group is a named set of users, used for job visibility and permissions.
type Group struct {
	Name    string
	Members []string
}

// TokenKind says whom an API token acts for. Each kind grants only its own
// narrow set of rights (least privilege).
type TokenKind string

// Token kinds.
const (
	TokenUser   TokenKind = "user"   // acts as the owning user
	TokenWorker TokenKind = "worker" // acts only as one worker
	TokenJob    TokenKind = "job"    // acts only for one job
	// TokenJoin is a one-time credential for a new worker: it cannot
	// authenticate any request; it is only exchanged, once, for the
	// worker's own token (Owner names the worker).
	TokenJoin TokenKind = "join"
)

// Token is an API credential. Only a hash of the secret is ever stored; the
// secret itself is shown once, when created.
type Token struct {
	ID          int64
	Kind        TokenKind
	Owner       string // username for user tokens, worker name for worker tokens
	JobID       int64  // for job tokens
	Description string
	Hash        []byte // SHA-256 of the secret
	Created     time.Time
	LastUsed    time.Time
	Expires     time.Time // zero = never
}

// Names of built-in accounts and actors.
const (
	// HealthCheckUser is the service account that submits health checks.
	HealthCheckUser = "lava-health"
	// ActorScheduler is the actor recorded for scheduler-made transitions.
	ActorScheduler = "scheduler"
)

// SubID is the job's sub_id as LAVA names it: "<parent id>.<n>" for a
// multinode sub-job, "" for other jobs.
func (j Job) SubID() string {
	if j.Multinode != nil {
		return j.Multinode.SubID
	}
	return ""
}

// LAVADefinitions returns the job's original_definition and
// multinode_definition as LAVA's TestJob holds them: a multinode sub-job's
// original definition is its own (split) definition and its multinode
// definition the whole submission; other jobs have no multinode
// definition.
func (j Job) LAVADefinitions() (original, multinode string) {
	if j.Multinode != nil {
		return j.Definition, j.OriginalDefinition
	}
	return j.OriginalDefinition, ""
}
