package scheduler

// Decisions is the outcome of one scheduling pass: what the caller should
// now apply to the store. (The type would be called Plan, but that name is
// the function that computes it.)
//
// Invariants: a device appears at most once across HealthChecks,
// Assignments and the Devices of Holds; a job ID appears at most once
// across Assignments and Expired; no worker is pushed past its job limit
// (held devices count); a multinode group's queued members are all
// assigned, consecutively, or none is. Empty lists are nil.
type Decisions struct {
	// HealthChecks lists the health checks to create, in decision order:
	// by device type name, then hostname.
	HealthChecks []HealthCheck
	// Assignments lists the queued jobs to schedule, in decision order:
	// priority descending, then submit time ascending, then ID ascending,
	// a multinode group's members together at the place of its first
	// member.
	// Applying them in this order favours the most important jobs should a
	// concurrent change make some of them fail.
	Assignments []Assignment
	// Expired lists, in ascending order, the IDs of queued jobs whose queue
	// timeout has passed, and of every queued member of a group one of
	// whose members' timeout has passed; they must be canceled, and none
	// is assigned.
	Expired []int64
	// Holds lists, in decision order, the multinode groups that the pass
	// holds free devices for (rule 8). They are for information (Explain,
	// monitoring): there is nothing to apply, as the held devices are
	// simply left idle until the next pass.
	Holds []Hold
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
//
// The assignments of a multinode group's members are consecutive, carry
// the group's name and must be committed together (in one transaction):
// the pass places a group whole or not at all.
type Assignment struct {
	// Job is the ID of the queued job.
	Job int64
	// Device is the hostname of the device the job goes to.
	Device string
	// Group is the job's multinode group (Job.Group); empty for an
	// ordinary job.
	Group string
}

// Hold is one multinode group's bounded hold (rule 8): the group has
// waited longer than Snapshot.GroupHoldAfter and would fit if the busy
// devices of one matching of its members were free, so the free devices
// of that matching are kept idle for it in this pass.
type Hold struct {
	// Group names the group.
	Group string
	// Devices are the free devices kept for the group: no job served
	// after the group gets them in this pass. Each takes a slot on its
	// worker. They are in the order of the group's members.
	Devices []string
	// Waits are the other devices of the matching, busy now (running or
	// reserved, running a health check, taken by a job ahead in this
	// pass, or on a worker with no slot left): the group waits for them.
	Waits []string
}
