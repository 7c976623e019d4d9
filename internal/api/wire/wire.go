package wire

import "time"

// Prefix is where the REST API is mounted.
const Prefix = "/api/v1"

// Job is a job as the API shows it.
type Job struct {
	ID              int64             `json:"id"`
	Description     string            `json:"description"`
	Submitter       string            `json:"submitter"`
	Visibility      string            `json:"visibility"`
	ViewingGroups   []string          `json:"viewing_groups"`
	State           string            `json:"state"`
	Health          string            `json:"health"`
	Priority        int               `json:"priority"`
	DeviceType      string            `json:"requested_device_type"`
	RequestedDevice string            `json:"requested_device"`
	RequestedWorker string            `json:"requested_worker"`
	Tags            []string          `json:"tags"`
	ActualDevice    string            `json:"actual_device"`
	HealthCheck     bool              `json:"health_check"`
	SubmitTime      *time.Time        `json:"submit_time"`
	StartTime       *time.Time        `json:"start_time"`
	EndTime         *time.Time        `json:"end_time"`
	QueueTimeout    int64             `json:"queue_timeout"` // seconds, 0 = none
	FailureComment  string            `json:"failure_comment"`
	ErrorType       string            `json:"error_type"`
	Metadata        map[string]string `json:"metadata"`
	Definition      string            `json:"definition,omitempty"`
	// Multinode places a multinode sub-job in its group; absent for other
	// jobs. GET /api/v1/jobs?target_group=G lists the group's jobs.
	Multinode *Multinode `json:"multinode,omitempty"`
	// Reservation is set on a reservation (a job that holds its
	// requested device for its submitter); absent for other jobs.
	// GET /api/v1/reservations/{id} shows it as a reservation.
	Reservation *JobReservation `json:"reservation,omitempty"`
}

// JobReservation is what a reservation adds to a job.
type JobReservation struct {
	Duration int64      `json:"duration"` // seconds, from its start
	Until    *time.Time `json:"until"`    // null until it runs
	Reason   string     `json:"reason"`
	EndedBy  string     `json:"ended_by"`
}

// Reservation holds a device for a person (docs/reservations.md): a job
// that names the device, queued by its priority, shown and canceled like
// one.
type Reservation struct {
	ID         int64  `json:"id"` // the job's id
	Device     string `json:"device"`
	DeviceType string `json:"device_type"`
	Holder     string `json:"holder"`
	State      string `json:"state"`  // the job's state: Submitted (queued), Scheduled, Running, Canceling, Finished
	Health     string `json:"health"` // Complete when it expired or its holder released it, Canceled when someone else ended it
	Priority   int    `json:"priority"`
	Reason     string `json:"reason"`
	// Duration is how long it holds the device from its start, in
	// seconds; Until is when it ends unless extended (null until it
	// runs).
	Duration   int64      `json:"duration"`
	Until      *time.Time `json:"until"`
	SubmitTime *time.Time `json:"submit_time"`
	StartTime  *time.Time `json:"start_time"`
	EndTime    *time.Time `json:"end_time"`
	// EndedBy names who ended it before its time ("" while it runs, and
	// when it expired).
	EndedBy string `json:"ended_by"`
	// FailureComment says how it ended ("reservation expired at …").
	FailureComment string `json:"failure_comment"`
}

// ReserveInput asks for a reservation of a device: POST
// /api/v1/devices/{hostname}/reservations.
type ReserveInput struct {
	// Duration is how long to hold the device once the reservation
	// starts: a Go duration ("2h", "90m"), from 1 minute to the server's
	// maximum (--max-reservation, 24 h by default).
	Duration string `json:"duration"`
	Reason   string `json:"reason"`
	// Priority places it in the queue like a job's (0–100); omitted: 50.
	Priority *int `json:"priority"`
}

// ExtendInput extends a reservation: POST /api/v1/reservations/{id}/extend.
type ExtendInput struct {
	Duration string `json:"duration"` // a Go duration ("1h"), at least 1 minute
}

// Multinode is a sub-job's place in its multinode group.
type Multinode struct {
	TargetGroup string `json:"target_group"`
	SubID       string `json:"sub_id"` // LAVA's "<parent id>.<n>"
	Role        string `json:"role"`
	GroupSize   int    `json:"group_size"`
	Essential   bool   `json:"essential"`
}

// Device is a device as the API shows it. The dictionary has its own
// admin-only endpoint.
type Device struct {
	Hostname    string   `json:"hostname"`
	DeviceType  string   `json:"device_type"`
	Worker      string   `json:"worker_host"`
	Description string   `json:"description"`
	Tags        []string `json:"tags"`
	State       string   `json:"state"`
	Health      string   `json:"health"`
	Status      string   `json:"status"` // idle, reserved, running, offline, retired
	// StatusDetail says why a device that would be idle is offline because
	// of its worker ("worker lab-1 Offline"); empty otherwise.
	StatusDetail        string `json:"status_detail"`
	CurrentJob          int64  `json:"current_job"`
	LastHealthReportJob int64  `json:"last_health_report_job"`
	// Reservation says who holds the device and until when, when its
	// current job is a reservation (docs/reservations.md); null otherwise.
	Reservation *DeviceReservation `json:"reservation"`
}

// DeviceReservation is the reservation holding a device.
type DeviceReservation struct {
	ID     int64      `json:"id"`
	Holder string     `json:"holder"`
	Until  *time.Time `json:"until"` // null until it runs
	Reason string     `json:"reason"`
}

// DeviceInput creates or updates a device. On update, omitted fields keep
// their values.
type DeviceInput struct {
	Hostname    string    `json:"hostname"`
	DeviceType  *string   `json:"device_type"`
	Worker      *string   `json:"worker_host"`
	Description *string   `json:"description"`
	Tags        *[]string `json:"tags"`
	Health      *string   `json:"health"` // create only; default MAINTENANCE
	Dictionary  *string   `json:"dictionary"`
}

// DeviceTransition is one entry of a device's history.
type DeviceTransition struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	OldHealth string    `json:"old_health"`
	NewHealth string    `json:"new_health"`
	Job       int64     `json:"job"`
}

// WorkerTransition is one entry of a worker's history.
type WorkerTransition struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	OldState  string    `json:"old_state"`
	NewState  string    `json:"new_state"`
	OldHealth string    `json:"old_health"`
	NewHealth string    `json:"new_health"`
}

// DeviceType is a device type (the health-check definition has its own
// endpoint).
type DeviceType struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	HealthFrequency    int    `json:"health_frequency"`
	HealthDenominator  string `json:"health_denominator"`
	DisableHealthCheck bool   `json:"disable_health_check"`
	HasHealthCheck     bool   `json:"has_health_check"`
	Display            bool   `json:"display"`
	// HealthCheckAfterReservation says whether a device whose reservation
	// ended runs the type's health check before other jobs (true, the
	// default) or takes jobs at once.
	HealthCheckAfterReservation bool `json:"health_check_after_reservation"`
}

// DeviceTypeInput creates or updates a device type; omitted fields keep
// their values on update.
type DeviceTypeInput struct {
	Name               string  `json:"name"`
	Description        *string `json:"description"`
	HealthFrequency    *int    `json:"health_frequency"`
	HealthDenominator  *string `json:"health_denominator"`
	DisableHealthCheck *bool   `json:"disable_health_check"`
	Display            *bool   `json:"display"`
	// HealthCheckAfterReservation: see DeviceType (default true).
	HealthCheckAfterReservation *bool `json:"health_check_after_reservation"`
}

// Worker is a worker as the API shows it.
type Worker struct {
	Name          string     `json:"hostname"`
	Description   string     `json:"description"`
	State         string     `json:"state"`
	Health        string     `json:"health"`
	JobLimit      int        `json:"job_limit"`
	LastHeartbeat *time.Time `json:"last_ping"`
	Version       string     `json:"version"`
}

// WorkerInput creates or updates a worker.
type WorkerInput struct {
	Name        string  `json:"hostname"`
	Description *string `json:"description"`
	JobLimit    *int    `json:"job_limit"`
	Health      *string `json:"health"`
	Reason      string  `json:"reason"`
}

// User is a user (never with a password hash).
type User struct {
	ID          int64     `json:"id"`
	Username    string    `json:"username"`
	Email       string    `json:"email"`
	FirstName   string    `json:"first_name"`
	LastName    string    `json:"last_name"`
	IsSuperuser bool      `json:"is_superuser"`
	IsActive    bool      `json:"is_active"`
	Groups      []string  `json:"groups"`
	DateJoined  time.Time `json:"date_joined"`
}

// UserInput creates or updates a user.
type UserInput struct {
	Username    string  `json:"username"`
	Email       *string `json:"email"`
	FirstName   *string `json:"first_name"`
	LastName    *string `json:"last_name"`
	Password    *string `json:"password"`
	IsSuperuser *bool   `json:"is_superuser"`
	IsActive    *bool   `json:"is_active"`
}

// Group is a group with its members.
type Group struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// Token describes a token; Secret is present only in the response that
// created it.
type Token struct {
	ID          int64      `json:"id"`
	Owner       string     `json:"owner"`
	Description string     `json:"description"`
	Created     time.Time  `json:"created"`
	LastUsed    *time.Time `json:"last_used"`
	Expires     *time.Time `json:"expires"`
	Secret      string     `json:"secret,omitempty"`
}

// List is a page of results.
type List[T any] struct {
	Count   int `json:"count"` // total matches
	Limit   int `json:"limit"`
	Offset  int `json:"offset"`
	Results []T `json:"results"`
}

// ErrorResponse is every error response: a stable machine code and a message
// for people; Details lists the problems of a job definition or a device
// dictionary with their positions.
type ErrorResponse struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the content of ErrorResponse.
type ErrorBody struct {
	Code    string    `json:"code"`
	Message string    `json:"message"`
	Details []Problem `json:"details,omitempty"`
}

// Problem is one problem in a job definition or a device dictionary.
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// Version answers GET /system/version.
type Version struct {
	Version string `json:"version"`
}

// Whoami answers GET /system/whoami.
type Whoami struct {
	User        string `json:"user"`
	Kind        string `json:"kind"` // anonymous, user, worker, job
	IsSuperuser bool   `json:"is_superuser"`
}

// LoginInput is the body of POST /token.
type LoginInput struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	Description string `json:"description"`
}

// DefinitionInput carries a job definition (YAML text).
type DefinitionInput struct {
	Definition string `json:"definition"`
}

// ValidateInput is the body of POST /jobs/validate.
type ValidateInput struct {
	Definition string `json:"definition"`
	// Strict refuses what is otherwise accepted with a warning (LAVA's
	// strict validation).
	Strict bool `json:"strict,omitempty"`
}

// Submitted answers a submission with the new job ids.
type Submitted struct {
	Message string  `json:"message"`
	JobIDs  []int64 `json:"job_ids"`
	// Warnings are what the definition has that LAVA accepts but is most
	// likely a mistake (a key written twice, a key that is ignored), with
	// their positions; empty when there is none.
	Warnings []Problem `json:"warnings"`
}

// Validation answers POST /jobs/validate: Errors when the definition would
// be refused, else its Warnings (both empty for a clean definition).
type Validation struct {
	Valid    bool      `json:"valid"`
	Errors   []Problem `json:"errors"`
	Warnings []Problem `json:"warnings"`
}

// HealthInput sets a device's health.
type HealthInput struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// Dictionary carries a device dictionary.
type Dictionary struct {
	Dictionary string `json:"dictionary"`
}

// TemplateInput sets a device type's template (PUT
// /device-types/{name}/template): LAVA's Jinja2 device-type template, at
// most 1 MiB; empty removes the stored template.
type TemplateInput struct {
	Template string `json:"template"`
}

// DeviceTemplate is a device-type template stored by the server: a type's
// own (GET /device-types/{name}/template, with its text) or one entry of
// GET /device-templates (without it).
type DeviceTemplate struct {
	// Name is the template's name: its file name without ".jinja2", the
	// device type's name for a type's own template.
	Name string `json:"name"`
	// Template is the Jinja2 text; omitted in listings.
	Template string `json:"template,omitempty"`
	// Updated is when it was last set; null after a PUT that removed it.
	Updated *time.Time `json:"updated"`
}

// Alias is a device-type alias.
type Alias struct {
	Name       string `json:"name"`
	DeviceType string `json:"device_type"`
}

// Tag is a tag.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// NewWorker answers POST /workers: the worker and its token secret.
type NewWorker struct {
	Worker Worker `json:"worker"`
	Token  string `json:"token"`
}

// WorkerToken carries a new worker token secret.
type WorkerToken struct {
	Token string `json:"token"`
}

// HeartbeatInput is a worker's heartbeat.
type HeartbeatInput struct {
	Version string `json:"version"`
}

// GroupInput creates a group.
type GroupInput struct {
	Name string `json:"name"`
}

// TokenInput creates a user token.
type TokenInput struct {
	Owner       string     `json:"owner"`
	Description string     `json:"description"`
	Expires     *time.Time `json:"expires"`
}

// Result is one test case of a job: a "results" record of its log, as the
// server stored it when the log was uploaded (LAVA's TestCase). Log lines
// are 0-based, LAVA's convention: LogLine is the record's own line,
// StartLogLine and EndLogLine the lines its starttc/endtc name (LAVA's
// start_log_line/end_log_line), or LogLine when it has none.
type Result struct {
	ID          int64  `json:"id"`
	Job         int64  `json:"job"`
	Suite       string `json:"suite"`
	Set         string `json:"set"`
	Case        string `json:"case"`
	Result      string `json:"result"`
	Measurement string `json:"measurement"`
	Units       string `json:"units"`
	Duration    string `json:"duration"`
	Level       string `json:"level"`
	ErrorType   string `json:"error_type"`
	ErrorMsg    string `json:"error_msg"`
	// Metadata is the whole results record as JSON text, bounded to 4,096
	// characters by LAVA's rule.
	Metadata     string    `json:"metadata"`
	Logged       time.Time `json:"logged"`
	LogLine      int       `json:"log_line"`
	StartLogLine int       `json:"start_log_line"`
	EndLogLine   int       `json:"end_log_line"`
}

// Suite is one test suite of a job with its cases counted by result.
type Suite struct {
	Name    string `json:"name"`
	Pass    int    `json:"pass"`
	Fail    int    `json:"fail"`
	Skip    int    `json:"skip"`
	Unknown int    `json:"unknown"`
	Total   int    `json:"total"`
}

// Notification is one delivery of a job's notify block (GET
// /jobs/{id}/notifications): a callback call, an e-mail or an IRC message,
// with every attempt made to send it.
type Notification struct {
	ID int64 `json:"id"`
	// Kind is callback, email or irc.
	Kind string `json:"kind"`
	// Target is the callback's URL as the definition wrote it, the e-mail
	// address or the IRC handle.
	Target string `json:"target"`
	// Callbacks: method, dataset, content type, the header of the token
	// and whether there is one (never the token itself).
	Method      string `json:"method,omitempty"`
	Dataset     string `json:"dataset,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Header      string `json:"header,omitempty"`
	TokenSet    bool   `json:"token_set,omitempty"`
	// JobState and JobHealth are the job's when the notification was
	// queued (what it tells).
	JobState  string `json:"job_state"`
	JobHealth string `json:"job_health"`
	// Status is pending, delivered, failed or not_sent.
	Status   string    `json:"status"`
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	// NextAttempt is when a pending notification is tried next.
	NextAttempt *time.Time `json:"next_attempt"`
	// Done is when it stopped being pending.
	Done *time.Time `json:"done"`
	// LastError is the last attempt's error, or why it was not sent.
	LastError string                `json:"last_error"`
	Log       []NotificationAttempt `json:"log"`
}

// NotificationAttempt is one attempt to send a notification.
type NotificationAttempt struct {
	Attempt    int       `json:"attempt"`
	At         time.Time `json:"at"`
	DurationMS float64   `json:"duration_ms"`
	// StatusCode is the HTTP status of the callback's answer or the SMTP
	// server's reply code; 0 when there was none.
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
}

// JoinTokenInput asks for a join token valid for TTLSeconds (default a day).
type JoinTokenInput struct {
	TTLSeconds int64 `json:"ttl_seconds"`
}

// JoinToken carries a join token, shown once.
type JoinToken struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}

// Queue answers GET /jobs/{id}/queue: what the scheduler does with a job
// and, while it is queued, why it waits.
type Queue struct {
	Job   int64  `json:"job"`
	State string `json:"state"` // the job's state when asked
	// Verdict is waiting (the next pass leaves the job queued),
	// schedulable (the next pass assigns it to Device), expired (its queue
	// timeout passed; the next pass cancels it) or not_queued (the job is
	// not Submitted; Summary says where it is).
	Verdict string `json:"verdict"`
	Summary string `json:"summary"` // one sentence for people
	Device  string `json:"device"`  // schedulable: the device the next pass assigns
	// Reasons are the job-level reasons, the main one first.
	Reasons []QueueReason `json:"reasons"`
	// Devices lists every device of the job's scope (its type, and its
	// requested device or worker), by hostname, with the first reason it
	// does not take the job.
	Devices []QueueDevice `json:"devices"`
	// JobsAhead counts the queued jobs served first that fit the same
	// devices; JobsAheadHigherPriority of them have a higher priority, the
	// others an equal one and an earlier submission.
	JobsAhead               int `json:"jobs_ahead"`
	JobsAheadHigherPriority int `json:"jobs_ahead_higher_priority"`
	// ExpiresAt is when the queue timeout cancels the job (null: none).
	ExpiresAt *time.Time `json:"expires_at"`
	// Group is, for a job of a multinode group, how the scheduler sees
	// the group (null for other jobs).
	Group *QueueGroup `json:"group"`
}

// QueueGroup is the multinode group of a queued job as a scheduling pass
// sees it: a group starts whole or not at all.
type QueueGroup struct {
	// Name is the group's name (Multinode.TargetGroup), Role the job's
	// role in it and Size its number of jobs.
	Name string `json:"name"`
	Role string `json:"role"`
	Size int    `json:"size"`
	// Queued lists the group's queued jobs in queue order (0: a job the
	// caller may not see).
	Queued []int64 `json:"queued"`
	// Roles says what each role waits for, by role name; empty unless
	// every job of the group is queued and the group waits.
	Roles []QueueRole `json:"roles"`
	// Held are the free devices the scheduler keeps idle for the group
	// (its hold), WaitsFor the busy ones it waits for.
	Held     []string `json:"held"`
	WaitsFor []string `json:"waits_for"`
}

// QueueRole is one role of a waiting multinode group.
type QueueRole struct {
	Role string  `json:"role"`
	Jobs []int64 `json:"jobs"` // queue order; 0: a job the caller may not see
	// Placeable is how many of the role's jobs the free devices could
	// take at once, the role alone.
	Placeable int    `json:"placeable"`
	Detail    string `json:"detail"` // for people: "role client (1 of 2 jobs) has no free bbb device"
}

// QueueReason is one job-level reason of a Queue: a stable code and a
// sentence fragment.
type QueueReason struct {
	Code   string `json:"code"`
	Detail string `json:"detail"`
}

// QueueDevice is why one device does not take a queued job.
type QueueDevice struct {
	Hostname string `json:"hostname"`
	Worker   string `json:"worker_host"`
	Code     string `json:"code"`
	Detail   string `json:"detail"`
	// Job holds or takes the device (codes device_reserved,
	// device_running, taken_by_job_ahead); 0 otherwise.
	Job int64 `json:"job"`
	// Group is the multinode group the scheduler holds the device for
	// (code held_for_group); empty otherwise, or when the caller may see
	// none of its jobs.
	Group string `json:"group"`
	// Since is when the worker went Offline (code worker_offline), if known.
	Since *time.Time `json:"since"`
	// MissingTags are the job's tags the device lacks (code missing_tags).
	MissingTags []string `json:"missing_tags"`
	// ReservedBy and ReservedUntil say, when the job holding the device
	// is a reservation (docs/reservations.md), who holds it and until
	// when (null until it runs); empty and null otherwise.
	ReservedBy    string     `json:"reserved_by"`
	ReservedUntil *time.Time `json:"reserved_until"`
}

// ConsoleInput is typed into a reservation's console: text, raw bytes, or
// a power action, exactly one of them.
type ConsoleInput struct {
	// Data is text to type (UTF-8; control characters as they are, "\r"
	// for Enter).
	Data string `json:"data,omitempty"`
	// Bytes is raw bytes to type (base64), for input that is not UTF-8.
	Bytes []byte `json:"bytes,omitempty"`
	// Power is a power action: "on", "off" or "reset" (the device's
	// power_on, power_off and hard_reset commands).
	Power string `json:"power,omitempty"`
}

// ConsoleAck answers console input: its number in the session.
type ConsoleAck struct {
	Seq int64 `json:"seq"`
}
