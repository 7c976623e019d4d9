package scheduler

// Decisions is the outcome of one scheduling pass: what the caller should
// now apply to the store. (The type would be called Plan, but that name is
// the function that computes it.)
//
// Invariants: a device appears at most once across HealthChecks and
// Assignments; a job ID appears at most once across Assignments and
// Expired; no worker is pushed past its job limit. Empty lists are nil.
type Decisions struct {
	// HealthChecks lists the health checks to create, in decision order:
	// by device type name, then hostname.
	HealthChecks []HealthCheck
	// Assignments lists the queued jobs to schedule, in decision order:
	// priority descending, then submit time ascending, then ID ascending.
	// Applying them in this order favours the most important jobs should a
	// concurrent change make some of them fail.
	Assignments []Assignment
	// Expired lists, in ascending order, the IDs of queued jobs whose queue
	// timeout has passed; they must be canceled, and none is assigned.
	Expired []int64
}

// HealthCheck asks for a health check to be created directly Scheduled on
// Device. The device is Idle, on an Online and Active worker with room, and
// its health is Good, Unknown or Looping.
type HealthCheck struct {
	// Device is the hostname of the device to check.
	Device string
	// Type is the device's type, whose health-check definition to run.
	Type string
	// Reason says, for people, why the check is due.
	Reason string
}

// Assignment schedules queued job Job on Device. The device is Idle, Good or
// Unknown, of the job's type, carries all the job's tags, matches the job's
// requested device and worker, and its worker is Online, Active and has room.
type Assignment struct {
	// Job is the ID of the queued job.
	Job int64
	// Device is the hostname of the device the job goes to.
	Device string
}
