package rest

import (
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// The wire shapes of /api/v1. Enumerations travel as LAVA's display names
// ("Submitted", "Good", "Online"); times as RFC 3339 UTC, null when unset.

// JobJSON is a job as the API shows it.
type JobJSON struct {
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
}

func tptr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func jobJSON(j lab.Job, withDefinition bool) JobJSON {
	out := JobJSON{
		ID: j.ID, Description: j.Description, Submitter: j.Submitter, Visibility: j.Visibility.String(),
		ViewingGroups: nonNil(j.ViewingGroups), State: j.State.String(), Health: j.Health.String(), Priority: j.Priority,
		DeviceType: j.RequestedType, RequestedDevice: j.RequestedDevice, RequestedWorker: j.RequestedWorker,
		Tags: nonNil(j.Tags), ActualDevice: j.ActualDevice, HealthCheck: j.HealthCheck,
		SubmitTime: tptr(j.SubmitTime), StartTime: tptr(j.StartTime), EndTime: tptr(j.EndTime),
		QueueTimeout: int64(j.QueueTimeout / time.Second), FailureComment: j.FailureComment,
		ErrorType: string(j.ErrorType), Metadata: j.Metadata,
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if withDefinition {
		out.Definition = j.Definition
	}
	return out
}

// DeviceJSON is a device as the API shows it. The dictionary has its own
// admin-only endpoint.
type DeviceJSON struct {
	Hostname            string   `json:"hostname"`
	DeviceType          string   `json:"device_type"`
	Worker              string   `json:"worker_host"`
	Description         string   `json:"description"`
	Tags                []string `json:"tags"`
	State               string   `json:"state"`
	Health              string   `json:"health"`
	Status              string   `json:"status"` // idle, reserved, running, offline, retired
	CurrentJob          int64    `json:"current_job"`
	LastHealthReportJob int64    `json:"last_health_report_job"`
}

func deviceJSON(d lab.Device) DeviceJSON {
	return DeviceJSON{Hostname: d.Hostname, DeviceType: d.DeviceType, Worker: d.Worker, Description: d.Description,
		Tags: nonNil(d.Tags), State: d.State.String(), Health: strings.ToUpper(d.Health.String()),
		Status: lab.SimpleDeviceStatus(d.State, d.Health), CurrentJob: d.CurrentJob, LastHealthReportJob: d.LastHealthReportJob}
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

// TransitionJSON is one entry of a device's history.
type TransitionJSON struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	OldHealth string    `json:"old_health"`
	NewHealth string    `json:"new_health"`
	Job       int64     `json:"job"`
}

// WorkerTransitionJSON is one entry of a worker's history.
type WorkerTransitionJSON struct {
	Time      time.Time `json:"time"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
	OldState  string    `json:"old_state"`
	NewState  string    `json:"new_state"`
	OldHealth string    `json:"old_health"`
	NewHealth string    `json:"new_health"`
}

// DeviceTypeJSON is a device type (the health-check definition has its own
// endpoint).
type DeviceTypeJSON struct {
	Name               string `json:"name"`
	Description        string `json:"description"`
	HealthFrequency    int    `json:"health_frequency"`
	HealthDenominator  string `json:"health_denominator"`
	DisableHealthCheck bool   `json:"disable_health_check"`
	HasHealthCheck     bool   `json:"has_health_check"`
	Display            bool   `json:"display"`
}

func deviceTypeJSON(dt lab.DeviceType) DeviceTypeJSON {
	return DeviceTypeJSON{Name: dt.Name, Description: dt.Description, HealthFrequency: dt.HealthFrequency,
		HealthDenominator: dt.HealthDenominator.String(), DisableHealthCheck: dt.DisableHealthCheck,
		HasHealthCheck: dt.HealthCheck != "", Display: dt.Display}
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
}

// WorkerJSON is a worker as the API shows it.
type WorkerJSON struct {
	Name          string     `json:"hostname"`
	Description   string     `json:"description"`
	State         string     `json:"state"`
	Health        string     `json:"health"`
	JobLimit      int        `json:"job_limit"`
	LastHeartbeat *time.Time `json:"last_ping"`
	Version       string     `json:"version"`
}

func workerJSON(w lab.Worker) WorkerJSON {
	return WorkerJSON{Name: w.Name, Description: w.Description, State: w.State.String(), Health: w.Health.String(),
		JobLimit: w.JobLimit, LastHeartbeat: tptr(w.LastHeartbeat), Version: w.Version}
}

// WorkerInput creates or updates a worker.
type WorkerInput struct {
	Name        string  `json:"hostname"`
	Description *string `json:"description"`
	JobLimit    *int    `json:"job_limit"`
	Health      *string `json:"health"`
	Reason      string  `json:"reason"`
}

// UserJSON is a user (never with a password hash).
type UserJSON struct {
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

func userJSON(u lab.User) UserJSON {
	return UserJSON{ID: u.ID, Username: u.Username, Email: u.Email, FirstName: u.FirstName, LastName: u.LastName,
		IsSuperuser: u.IsSuperuser, IsActive: u.IsActive, Groups: nonNil(u.Groups), DateJoined: u.DateJoined.UTC()}
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

// GroupJSON is a group with its members.
type GroupJSON struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// TokenJSON describes a token; Secret is present only in the response that
// created it.
type TokenJSON struct {
	ID          int64      `json:"id"`
	Owner       string     `json:"owner"`
	Description string     `json:"description"`
	Created     time.Time  `json:"created"`
	LastUsed    *time.Time `json:"last_used"`
	Expires     *time.Time `json:"expires"`
	Secret      string     `json:"secret,omitempty"`
}

func tokenJSON(t lab.Token) TokenJSON {
	return TokenJSON{ID: t.ID, Owner: t.Owner, Description: t.Description, Created: t.Created.UTC(),
		LastUsed: tptr(t.LastUsed), Expires: tptr(t.Expires)}
}

// ListJSON is a page of results.
type ListJSON[T any] struct {
	Count   int `json:"count"` // total matches
	Limit   int `json:"limit"`
	Offset  int `json:"offset"`
	Results []T `json:"results"`
}

// ErrorJSON is every error response: a stable machine code and a message
// for people; Details lists the problems of a job definition or a device
// dictionary with their positions.
type ErrorJSON struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is the content of ErrorJSON.
type ErrorBody struct {
	Code    string        `json:"code"`
	Message string        `json:"message"`
	Details []ProblemJSON `json:"details,omitempty"`
}

// ProblemJSON is one problem in a job definition or a device dictionary.
type ProblemJSON struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// VersionJSON answers GET /system/version.
type VersionJSON struct {
	Version string `json:"version"`
}

// WhoamiJSON answers GET /system/whoami.
type WhoamiJSON struct {
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

// SubmittedJSON answers a submission with the new job ids.
type SubmittedJSON struct {
	Message string  `json:"message"`
	JobIDs  []int64 `json:"job_ids"`
}

// ValidationJSON answers POST /jobs/validate.
type ValidationJSON struct {
	Valid  bool          `json:"valid"`
	Errors []ProblemJSON `json:"errors"`
}

// HealthInput sets a device's health.
type HealthInput struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// DictionaryJSON carries a device dictionary.
type DictionaryJSON struct {
	Dictionary string `json:"dictionary"`
}

// AliasJSON is a device-type alias.
type AliasJSON struct {
	Name       string `json:"name"`
	DeviceType string `json:"device_type"`
}

// TagJSON is a tag.
type TagJSON struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// NewWorkerJSON answers POST /workers: the worker and its token secret.
type NewWorkerJSON struct {
	Worker WorkerJSON `json:"worker"`
	Token  string     `json:"token"`
}

// WorkerTokenJSON carries a new worker token secret.
type WorkerTokenJSON struct {
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

// ResultJSON is one test result: a "results" record of the job's log.
type ResultJSON struct {
	Suite       string    `json:"suite"`
	Case        string    `json:"case"`
	Result      string    `json:"result"`
	Set         string    `json:"set"`
	Measurement string    `json:"measurement"`
	Units       string    `json:"units"`
	Duration    string    `json:"duration"`
	ErrorType   string    `json:"error_type"`
	ErrorMsg    string    `json:"error_msg"`
	Logged      time.Time `json:"logged"`
	LogLine     int       `json:"log_line"`
}

// JoinTokenInput asks for a join token valid for TTLSeconds (default a day).
type JoinTokenInput struct {
	TTLSeconds int64 `json:"ttl_seconds"`
}

// JoinTokenJSON carries a join token, shown once.
type JoinTokenJSON struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
}
