package lab

import (
	"fmt"
	"strconv"
	"strings"
)

// enumNames maps the integer value of an enumeration (its index) to the
// display name LAVA uses for it. Parsing is case-insensitive so that both
// "Good" and LAVA's upper-case API spelling "GOOD" are accepted.
type enumNames []string

func (n enumNames) name(v int, kind string) string {
	if v >= 0 && v < len(n) {
		return n[v]
	}
	return kind + "(" + strconv.Itoa(v) + ")"
}

func (n enumNames) parse(s, kind string) (int, error) {
	for i, name := range n {
		if strings.EqualFold(name, s) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown %s %q (expected one of %s)", ErrInvalid, kind, s, strings.Join(n, ", "))
}

// JobState is the lifecycle position of a test job. The integer values are
// LAVA's (TestJob.STATE_*) and are what the store persists. Transitions are
// monotonic: a job never moves back to an earlier state.
type JobState int

// Job states, in lifecycle order.
const (
	JobSubmitted  JobState = 0
	JobScheduling JobState = 1
	JobScheduled  JobState = 2
	JobRunning    JobState = 3
	JobCanceling  JobState = 4
	JobFinished   JobState = 5
)

var jobStateNames = enumNames{"Submitted", "Scheduling", "Scheduled", "Running", "Canceling", "Finished"}

// String returns LAVA's display name ("Submitted", …).
func (s JobState) String() string { return jobStateNames.name(int(s), "JobState") }

// ParseJobState parses a display name, case-insensitively.
func ParseJobState(s string) (JobState, error) {
	v, err := jobStateNames.parse(s, "job state")
	return JobState(v), err
}

// Active reports whether the job holds (or is about to hold) a device:
// Scheduling, Scheduled, Running or Canceling.
func (s JobState) Active() bool { return s >= JobScheduling && s <= JobCanceling }

// JobHealth is the outcome of a job. It stays Unknown until the job is Finished.
type JobHealth int

// Job health values (TestJob.HEALTH_*).
const (
	JobHealthUnknown    JobHealth = 0
	JobHealthComplete   JobHealth = 1
	JobHealthIncomplete JobHealth = 2
	JobHealthCanceled   JobHealth = 3
)

var jobHealthNames = enumNames{"Unknown", "Complete", "Incomplete", "Canceled"}

// String returns LAVA's display name ("Complete", …).
func (h JobHealth) String() string { return jobHealthNames.name(int(h), "JobHealth") }

// ParseJobHealth parses a display name, case-insensitively.
func ParseJobHealth(s string) (JobHealth, error) {
	v, err := jobHealthNames.parse(s, "job health")
	return JobHealth(v), err
}

// DeviceState says whether a device is free. It is derived from the job the
// device holds and is never set directly by users.
type DeviceState int

// Device states (Device.STATE_*).
const (
	DeviceIdle     DeviceState = 0
	DeviceReserved DeviceState = 1
	DeviceRunning  DeviceState = 2
)

var deviceStateNames = enumNames{"Idle", "Reserved", "Running"}

// String returns LAVA's display name.
func (s DeviceState) String() string { return deviceStateNames.name(int(s), "DeviceState") }

// ParseDeviceState parses a display name, case-insensitively.
func ParseDeviceState(s string) (DeviceState, error) {
	v, err := deviceStateNames.parse(s, "device state")
	return DeviceState(v), err
}

// DeviceHealth is the admin- and health-check-controlled fitness of a device.
// Only Good and Unknown devices take ordinary jobs; Looping devices only run
// health checks; new devices start in Maintenance.
type DeviceHealth int

// Device health values (Device.HEALTH_*).
const (
	DeviceGood        DeviceHealth = 0
	DeviceUnknown     DeviceHealth = 1
	DeviceLooping     DeviceHealth = 2
	DeviceBad         DeviceHealth = 3
	DeviceMaintenance DeviceHealth = 4
	DeviceRetired     DeviceHealth = 5
)

var deviceHealthNames = enumNames{"Good", "Unknown", "Looping", "Bad", "Maintenance", "Retired"}

// String returns LAVA's display name ("Good", …). The REST API upper-cases it.
func (h DeviceHealth) String() string { return deviceHealthNames.name(int(h), "DeviceHealth") }

// ParseDeviceHealth parses a display name, case-insensitively ("GOOD" works).
func ParseDeviceHealth(s string) (DeviceHealth, error) {
	v, err := deviceHealthNames.parse(s, "device health")
	return DeviceHealth(v), err
}

// Schedulable reports whether a device with this health may take ordinary jobs.
func (h DeviceHealth) Schedulable() bool { return h == DeviceGood || h == DeviceUnknown }

// WorkerState is the connection state of a worker, maintained by the server
// from heartbeats.
type WorkerState int

// Worker states.
const (
	WorkerOnline  WorkerState = 0
	WorkerOffline WorkerState = 1
)

var workerStateNames = enumNames{"Online", "Offline"}

// String returns LAVA's display name.
func (s WorkerState) String() string { return workerStateNames.name(int(s), "WorkerState") }

// ParseWorkerState parses a display name, case-insensitively.
func ParseWorkerState(s string) (WorkerState, error) {
	v, err := workerStateNames.parse(s, "worker state")
	return WorkerState(v), err
}

// WorkerHealth is the admin-controlled availability of a worker.
type WorkerHealth int

// Worker health values.
const (
	WorkerActive      WorkerHealth = 0
	WorkerMaintenance WorkerHealth = 1
	WorkerRetired     WorkerHealth = 2
)

var workerHealthNames = enumNames{"Active", "Maintenance", "Retired"}

// String returns LAVA's display name.
func (h WorkerHealth) String() string { return workerHealthNames.name(int(h), "WorkerHealth") }

// ParseWorkerHealth parses a display name, case-insensitively.
func ParseWorkerHealth(s string) (WorkerHealth, error) {
	v, err := workerHealthNames.parse(s, "worker health")
	return WorkerHealth(v), err
}

// HealthDenominator is the unit of a device type's health-check frequency.
type HealthDenominator int

// Health-check frequency units.
const (
	PerHours HealthDenominator = 0
	PerJobs  HealthDenominator = 1
)

var denominatorNames = enumNames{"hours", "jobs"}

// String returns "hours" or "jobs".
func (d HealthDenominator) String() string { return denominatorNames.name(int(d), "HealthDenominator") }

// ParseHealthDenominator parses "hours" or "jobs".
func ParseHealthDenominator(s string) (HealthDenominator, error) {
	v, err := denominatorNames.parse(s, "health denominator")
	return HealthDenominator(v), err
}

// Visibility says who may see a job.
type Visibility int

// Job visibility kinds: public (anyone who can see the device), personal
// (only the submitter and admins) and group (members of all listed groups).
const (
	VisibilityPublic   Visibility = 0
	VisibilityPersonal Visibility = 1
	VisibilityGroup    Visibility = 2
)

var visibilityNames = enumNames{"public", "personal", "group"}

// String returns "public", "personal" or "group".
func (v Visibility) String() string { return visibilityNames.name(int(v), "Visibility") }

// ParseVisibility parses "public", "personal" or "group".
func ParseVisibility(s string) (Visibility, error) {
	v, err := visibilityNames.parse(s, "visibility")
	return Visibility(v), err
}

// ErrorType classifies why a job failed, with LAVA's names. The empty value
// means no error.
type ErrorType string

// Job error types.
const (
	ErrorNone           ErrorType = ""
	ErrorInfrastructure ErrorType = "Infrastructure"
	ErrorJob            ErrorType = "Job"
	ErrorTest           ErrorType = "Test"
	ErrorBug            ErrorType = "Bug"
	ErrorConfiguration  ErrorType = "Configuration"
	ErrorTimeout        ErrorType = "LAVATimeout"
	ErrorCanceled       ErrorType = "Canceled"
	// ErrorMultinodeTimeout: a multinode job's call to its group's
	// coordinator got no answer in time (LAVA's
	// MultinodeProtocolTimeoutError).
	ErrorMultinodeTimeout ErrorType = "MultinodeTimeout"
)

// ParseErrorType accepts LAVA's error type names (case-insensitively) and "".
func ParseErrorType(s string) (ErrorType, error) {
	for _, e := range []ErrorType{ErrorNone, ErrorInfrastructure, ErrorJob, ErrorTest, ErrorBug, ErrorConfiguration, ErrorTimeout, ErrorCanceled, ErrorMultinodeTimeout} {
		if strings.EqualFold(string(e), s) {
			return e, nil
		}
	}
	return ErrorNone, fmt.Errorf("%w: unknown error type %q", ErrInvalid, s)
}

// InfrastructureClass reports whether the error says the lab, not the job,
// failed (Bug, Configuration, Infrastructure). Such failures set the device
// health to Unknown so that a health check runs before the next job.
func (e ErrorType) InfrastructureClass() bool {
	return e == ErrorInfrastructure || e == ErrorBug || e == ErrorConfiguration
}

// Priority bounds and LAVA's named priorities.
const (
	PriorityLow    = 0
	PriorityMedium = 50
	PriorityHigh   = 100
)

// ParsePriority accepts "low", "medium", "high" or an integer 0–100.
func ParsePriority(s string) (int, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low":
		return PriorityLow, nil
	case "medium":
		return PriorityMedium, nil
	case "high":
		return PriorityHigh, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < PriorityLow || n > PriorityHigh {
		return 0, fmt.Errorf("%w: priority %q must be low, medium, high or an integer from 0 to 100", ErrInvalid, s)
	}
	return n, nil
}
