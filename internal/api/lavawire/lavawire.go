package lavawire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Prefix is where the API is mounted. Every path below it ends with a
// slash, as LAVA's do.
const Prefix = "/api/v0.2"

// Time is a time as Django REST Framework writes it: ISO 8601 in UTC with
// microseconds unless they are zero and "Z" for the zone
// ("2026-03-04T05:06:07.123456Z"), null when unset.
type Time time.Time

// MarshalJSON writes t in DRF's format, null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	tt := time.Time(t)
	if tt.IsZero() {
		return []byte("null"), nil
	}
	return []byte(`"` + FormatTime(tt) + `"`), nil
}

// UnmarshalJSON reads null or an RFC 3339 time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*t = Time{}
		return nil
	}
	var tt time.Time
	if err := json.Unmarshal(b, &tt); err != nil {
		return fmt.Errorf("time: %w", err)
	}
	*t = Time(tt.UTC())
	return nil
}

// FormatTime writes t as DRF does (see Time).
func FormatTime(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05Z")
	}
	return t.Format("2006-01-02T15:04:05.000000Z")
}

// Page is one page of a list (DRF's LimitOffsetPagination): the number of
// objects in all and the absolute URLs of the next and previous pages,
// null at either end.
type Page[T any] struct {
	Count    int     `json:"count"`
	Next     *string `json:"next"`
	Previous *string `json:"previous"`
	Results  []T     `json:"results"`
}

// Error is the body of a failed request: {"detail": "..."}. Problems with
// fields of a request (a filter, a body field) answer an object of field
// names to lists of messages instead, as DRF does.
type Error struct {
	Detail string `json:"detail"`
}

// Job is a test job (LAVA's TestJob serializer). Relations are by name:
// requested_device_type, actual_device, tags and viewing_groups name the
// type, device, tags and groups (LAVA gives the primary keys, which are
// the names for types and devices, and numbers for tags and groups).
type Job struct {
	ID                  int64             `json:"id"`
	Submitter           string            `json:"submitter"`
	ViewingGroups       []string          `json:"viewing_groups"`
	Description         string            `json:"description"`
	HealthCheck         bool              `json:"health_check"`
	RequestedDeviceType *string           `json:"requested_device_type"`
	Tags                []string          `json:"tags"`
	ActualDevice        *string           `json:"actual_device"`
	SubmitTime          Time              `json:"submit_time"`
	StartTime           Time              `json:"start_time"`
	EndTime             Time              `json:"end_time"`
	State               string            `json:"state"`  // Submitted, Scheduling, Scheduled, Running, Canceling, Finished
	Health              string            `json:"health"` // Unknown, Complete, Incomplete, Canceled
	Priority            int               `json:"priority"`
	Definition          string            `json:"definition"`
	Metadata            map[string]string `json:"metadata"`
	OriginalDefinition  string            `json:"original_definition"`
	MultinodeDefinition string            `json:"multinode_definition"`
	FailureTags         []string          `json:"failure_tags"`
	FailureComment      *string           `json:"failure_comment"`
}

// DefinitionInput is the body of POST jobs/ and jobs/validate/ (JSON or
// a form). Strict is read by validate/ only.
type DefinitionInput struct {
	Definition string `json:"definition"`
	Strict     bool   `json:"strict,omitempty"`
}

// Submitted answers a submission or a resubmission (201).
type Submitted struct {
	Message string `json:"message"` // "job(s) successfully submitted"
	// JobIDs are the new jobs' ids (numbers), or for a multinode job its
	// jobs' sub_ids ("<parent id>.<n>", strings), as LAVA answers.
	JobIDs []any `json:"job_ids"`
}

// Message is an answer that is only a message ({"message": "..."}): a
// validation's verdict, a cancel, a refused submission.
type Message struct {
	Message string `json:"message"`
	// Errors lists the positioned problems of a definition (Basalt's
	// addition to LAVA's message): in a validation's verdict and a refused
	// submission.
	Errors []Problem `json:"errors,omitempty"`
}

// Problem is one problem of a job definition, with its position.
type Problem struct {
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path"`
	Message string `json:"message"`
}

// BatchCancelInput is the body of POST jobs/batch-cancel/.
type BatchCancelInput struct {
	JobIDs []ID `json:"job_ids"`
}

// ID is a job id in a request: a JSON number or a string of digits, as
// LAVA takes both.
type ID int64

// UnmarshalJSON reads a whole number or a string of one.
func (id *ID) UnmarshalJSON(b []byte) error {
	var s string
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		b = []byte(s)
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil || (s != "" && (s[0] < '0' || s[0] > '9')) {
		return fmt.Errorf("job id %s is not a whole number", b)
	}
	*id = ID(n)
	return nil
}

// BatchCanceled answers POST jobs/batch-cancel/: the jobs canceled (or
// already finishing) and those not found or not cancelable by the caller.
type BatchCanceled struct {
	Message       string  `json:"message"` // "Job cancel signal sent for job ids."
	JobIDs        []int64 `json:"job_ids"`
	InvalidJobIDs []int64 `json:"invalid_job_ids"`
}

// JobMetadata answers jobs/<id>/metadata/: one single-key object per
// metadata entry, as LAVA keeps them.
type JobMetadata struct {
	Metadata []map[string]string `json:"metadata"`
}

// Suite is a test suite of a job.
type Suite struct {
	ID          int64  `json:"id"`
	ResourceURI string `json:"resource_uri"`
	Name        string `json:"name"`
	Job         int64  `json:"job"`
}

// TestCase is one test result of a job. Measurement is a decimal with ten
// places ("1.5000000000"), null when there is none; Metadata is the
// results record as JSON text; TestSet names the case's set, null when it
// is in none (LAVA gives the set's number).
type TestCase struct {
	ID           int64   `json:"id"`
	Result       string  `json:"result"` // pass, fail, skip, unknown
	ResourceURI  string  `json:"resource_uri"`
	Unit         string  `json:"unit"`
	Name         string  `json:"name"`
	Measurement  *string `json:"measurement"`
	Metadata     string  `json:"metadata"`
	StartLogLine *int    `json:"start_log_line"`
	EndLogLine   *int    `json:"end_log_line"`
	Logged       Time    `json:"logged"`
	Suite        int64   `json:"suite"`
	TestSet      *string `json:"test_set"`
}

// Device is a device (LAVA's Device serializer). Health is the display
// name ("Good", "Unknown", "Looping", "Bad", "Maintenance", "Retired").
type Device struct {
	Hostname            string   `json:"hostname"`
	DeviceType          string   `json:"device_type"`
	DeviceVersion       *string  `json:"device_version"`
	PhysicalOwner       *int64   `json:"physical_owner"`
	PhysicalGroup       *int64   `json:"physical_group"`
	Description         string   `json:"description"`
	Tags                []string `json:"tags"`
	State               string   `json:"state"` // Idle, Reserved, Running
	Health              string   `json:"health"`
	LastHealthReportJob *int64   `json:"last_health_report_job"`
	WorkerHost          *string  `json:"worker_host"`
	IsSynced            bool     `json:"is_synced"`
}

// DeviceType is a device type (LAVA's DeviceType serializer) with
// Basalt's additions: its devices counted by availability and the jobs
// waiting for it.
type DeviceType struct {
	Name               string   `json:"name"`
	Architecture       *string  `json:"architecture"`
	Processor          *string  `json:"processor"`
	CPUModel           *string  `json:"cpu_model"`
	Aliases            []string `json:"aliases"`
	Bits               *int     `json:"bits"`
	Cores              []string `json:"cores"`
	CoreCount          *int     `json:"core_count"`
	Description        string   `json:"description"`
	HealthFrequency    int      `json:"health_frequency"`
	DisableHealthCheck bool     `json:"disable_health_check"`
	HealthDenominator  string   `json:"health_denominator"` // hours, jobs
	Display            bool     `json:"display"`
	// Idle devices can take a job now; Busy ones run or are reserved for
	// one; Offline ones are not retired but cannot take jobs (their health
	// or their worker); Retired ones are out of service.
	Idle    int `json:"idle"`
	Busy    int `json:"busy"`
	Offline int `json:"offline"`
	Retired int `json:"retired"`
	// QueuedJobs is the number of Submitted jobs requesting the type that
	// the caller may see.
	QueuedJobs int `json:"queued_jobs"`
}

// Worker is a worker (LAVA's Worker serializer, without its token).
type Worker struct {
	Hostname    string  `json:"hostname"`
	State       string  `json:"state"`  // Online, Offline
	Health      string  `json:"health"` // Active, Maintenance, Retired
	Description string  `json:"description"`
	LastPing    Time    `json:"last_ping"`
	JobLimit    int     `json:"job_limit"`
	Version     *string `json:"version"`
}

// Alias is another name of a device type.
type Alias struct {
	Name       string `json:"name"`
	DeviceType string `json:"device_type"`
}

// Tag is a device tag.
type Tag struct {
	Name        string `json:"name"`
	Description string `json:"description"`
}

// Version answers system/version/.
type Version struct {
	Version string `json:"version"`
}

// Whoami answers system/whoami/: the caller's username, "" when
// anonymous.
type Whoami struct {
	User string `json:"user"`
}

// MasterConfig answers system/master_config/ with LAVA's keys.
type MasterConfig struct {
	EventTopic        string `json:"EVENT_TOPIC"`
	EventSocket       string `json:"EVENT_SOCKET"`
	EventNotification bool   `json:"EVENT_NOTIFICATION"`
	LogSizeLimit      int    `json:"LOG_SIZE_LIMIT"` // MB
}

// Basalt's master configuration, the same on every API (REST v0.2's
// system/master_config/, XML-RPC's system.master_config): LAVA's event
// topic; no ZMQ socket (events are the WebSocket /ws/ on the main port);
// events are published; no log size limit (0: Basalt shows logs of any
// size).
var BasaltMasterConfig = MasterConfig{EventTopic: "org.lavasoftware", EventSocket: "", EventNotification: true, LogSizeLimit: 0}

// TokenInput is the body of POST token/ (JSON or a form).
type TokenInput struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// Token answers POST token/: a new API token of the user.
type Token struct {
	Token string `json:"token"`
}
