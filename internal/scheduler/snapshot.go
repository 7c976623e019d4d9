package scheduler

import (
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Snapshot is everything one scheduling pass looks at, captured at one
// instant. It is plain data: Plan reads it and never modifies it or keeps
// references into it.
//
// Keys are expected to be unique (device type names, device hostnames,
// worker names, job IDs), but bad input can never make Plan hand out a
// device or a job twice: for a repeated type, hostname or worker name the
// first occurrence in slice order is used and later ones are ignored; a
// repeated job ID is listed in Expired once if any of its entries expired
// and is then never assigned, else it is assigned at most once (through its
// first entry in queue order that finds a device); a multinode group with a
// repeated member ID is never placed.
type Snapshot struct {
	// Now is the instant the pass runs at; Plan never reads the clock.
	Now time.Time
	// DeviceTypes lists the types that may be scheduled. A device or job
	// whose type is not listed here is never scheduled.
	DeviceTypes []DeviceType
	// Devices lists the devices, in any order and in any state.
	Devices []Device
	// Workers lists the workers devices are attached to, in any state.
	Workers []Worker
	// Queue lists the Submitted jobs, in any order. Health-check jobs are
	// not queued: Plan decides them itself.
	Queue []Job
	// GroupHoldAfter is how long a multinode group may wait before the
	// pass holds free devices for it (rule 8): once a group has been
	// queued longer than this, the free devices of its matching are kept
	// from the jobs served after it. 0 (or a negative value) never holds.
	GroupHoldAfter time.Duration
}

// DeviceType is the scheduling-relevant part of a device type.
type DeviceType struct {
	// Name identifies the type; devices and jobs refer to it.
	Name string
	// HealthFrequency is how often a health check is due: every
	// HealthFrequency hours or every HealthFrequency ordinary jobs,
	// depending on HealthDenominator. A value ≤ 0 makes a check due on
	// every pass (LAVA's arithmetic, kept as is); an hours value too large
	// for a time.Duration (about 292 years) is never due by time.
	HealthFrequency int
	// HealthDenominator is the unit of HealthFrequency. Any value other
	// than lab.PerJobs is treated as lab.PerHours, LAVA's default.
	HealthDenominator lab.HealthDenominator
	// DisableHealthCheck turns health checks off for the type: its Good and
	// Unknown devices take ordinary jobs directly.
	DisableHealthCheck bool
	// HasHealthCheck says a health-check definition exists for the type.
	// Without one, devices behave as if checks were disabled.
	HasHealthCheck bool
}

// Device is the scheduling-relevant part of a device.
type Device struct {
	// Hostname identifies the device; jobs may request it by name.
	Hostname string
	// Type is the name of the device's DeviceType.
	Type string
	// Worker is the name of the worker the device is attached to; empty
	// means none, and such a device is never used.
	Worker string
	// Tags are the device's tags, in any order; duplicates are harmless.
	Tags []string
	// State must be lab.DeviceIdle for the device to be used.
	State lab.DeviceState
	// Health decides what the device may run: Good and Unknown take
	// ordinary jobs, Good, Unknown and Looping take health checks.
	Health lab.DeviceHealth
	// LastHealthCheck is the submit time of the device's last health
	// check; the zero time means it never had one.
	LastHealthCheck time.Time
	// JobsSinceHealthCheck counts ordinary jobs started on the device
	// since its last health check.
	JobsSinceHealthCheck int
	// Job is the job holding the device when it is Reserved or Running (0:
	// none or not known). Plan ignores it; Explain names it.
	Job int64
	// Holder is, when Job is a reservation, the user who holds the device
	// (empty otherwise), and Until when the reservation ends (zero: it has
	// not started). Plan ignores them; Explain says "qemu01 is reserved by
	// alice until 22:00 UTC".
	Holder string
	Until  time.Time
}

// Worker is the scheduling-relevant part of a worker.
type Worker struct {
	// Name identifies the worker; devices and jobs refer to it.
	Name string
	// State must be lab.WorkerOnline for the worker's devices to be used.
	State lab.WorkerState
	// Health must be lab.WorkerActive for the worker's devices to be used.
	Health lab.WorkerHealth
	// JobLimit caps how many of the worker's devices may be busy at once;
	// 0 (or a negative value) means unlimited.
	JobLimit int
	// Busy is how many of the worker's devices are Reserved or Running
	// when the snapshot is taken. Plan adds what it assigns.
	Busy int
	// Since is when the worker entered its current State (zero: not
	// known), and LastSeen its last heartbeat (zero: never). Plan ignores
	// them; Explain says since when a worker is Offline.
	Since, LastSeen time.Time
}

// Job is the scheduling-relevant part of a queued (Submitted) job.
type Job struct {
	// ID identifies the job.
	ID int64
	// Priority orders the queue: higher runs first (LAVA: 0–100).
	Priority int
	// SubmitTime orders jobs of equal priority: older runs first. It is
	// also the start of the queue timeout.
	SubmitTime time.Time
	// Type is the requested device type name; the job only runs on a
	// device of that type.
	Type string
	// Device, when not empty, is the only device hostname the job accepts.
	Device string
	// Worker, when not empty, is the only worker the job accepts.
	Worker string
	// Tags must all be carried by the device that runs the job.
	Tags []string
	// QueueTimeout, when positive, is how long the job may wait in the
	// queue: once SubmitTime+QueueTimeout < Now the job expires. The
	// members of a group share their fate: when one expires, all expire.
	QueueTimeout time.Duration
	// Group, when not empty, names the multinode group the job belongs to
	// (LAVA's target_group): the group's queued members are placed all
	// at once or not at all (rule 7). Empty for ordinary jobs.
	Group string
	// GroupSize is how many jobs the group has; a group with fewer queued
	// members (one left the queue), or whose members disagree on the
	// size, is never placed. Ignored without Group.
	GroupSize int
	// Role is the job's role in its group; Explain names it.
	Role string
}
