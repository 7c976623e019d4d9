package lab

import "fmt"

// jobNext lists, for each job state, the states it may move to.
var jobNext = map[JobState][]JobState{
	JobSubmitted:  {JobScheduling, JobScheduled, JobFinished},
	JobScheduling: {JobScheduled, JobCanceling, JobFinished},
	JobScheduled:  {JobRunning, JobCanceling, JobFinished},
	JobRunning:    {JobCanceling, JobFinished},
	JobCanceling:  {JobFinished},
	JobFinished:   nil,
}

// CheckJobTransition returns nil when a job may move from one state to the
// other, and an ErrConflict otherwise. Transitions are monotonic.
func CheckJobTransition(from, to JobState) error {
	for _, s := range jobNext[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("%w: job cannot go from %s to %s", ErrConflict, from, to)
}

// Cancelable reports whether a job in this state may be canceled.
func (s JobState) Cancelable() bool { return s <= JobRunning }

// DeviceHealthAfterJob applies LAVA's rules for a device's health when a job
// on it finishes, and returns the new health and the reason to record
// (empty reason = unchanged):
//
//   - a health check on a Looping device leaves it Looping;
//   - a health check on a Good/Unknown/Bad device makes it Good when
//     Complete and Bad otherwise; Maintenance/Retired stay;
//   - an ordinary job with an infrastructure-class error makes it Unknown.
func DeviceHealthAfterJob(before DeviceHealth, healthCheck bool, health JobHealth, errType ErrorType) (DeviceHealth, string) {
	if healthCheck {
		switch before {
		case DeviceGood, DeviceUnknown, DeviceBad:
			if health == JobHealthComplete {
				if before == DeviceGood {
					return before, ""
				}
				return DeviceGood, "health-check complete"
			}
			if before == DeviceBad {
				return before, ""
			}
			return DeviceBad, "health-check " + health.String()
		default:
			return before, ""
		}
	}
	if errType.InfrastructureClass() && before != DeviceUnknown &&
		before != DeviceMaintenance && before != DeviceRetired && before != DeviceBad {
		return DeviceUnknown, fmt.Sprintf("job failed with %s error", errType)
	}
	return before, ""
}

// DeviceHealthOnWorkerHealth applies LAVA's cascade when a worker's health
// changes: back to Active (except from Retired) turns Good devices Unknown so
// they are re-checked; Retired retires every device that is not Bad or
// Retired. It returns the device's new health and whether it changed.
func DeviceHealthOnWorkerHealth(dev DeviceHealth, from, to WorkerHealth) (DeviceHealth, bool) {
	switch {
	case to == WorkerActive && from != WorkerActive && from != WorkerRetired && dev == DeviceGood:
		return DeviceUnknown, true
	case to == WorkerRetired && dev != DeviceBad && dev != DeviceRetired:
		return DeviceRetired, true
	}
	return dev, false
}

// SimpleDeviceStatus is LAVA's one-word device summary (idle, reserved,
// running, offline or retired), with the device's worker w taken into
// account (nil when the device has none or it does not exist): a device
// that would be idle is offline when its worker cannot run jobs (Offline,
// in Maintenance or Retired), and detail then says why, as
// "worker lab-1 Offline". Otherwise detail is empty.
func SimpleDeviceStatus(d Device, w *Worker) (status, detail string) {
	switch d.State {
	case DeviceReserved:
		return "reserved", ""
	case DeviceRunning:
		return "running", ""
	}
	switch d.Health {
	case DeviceGood, DeviceUnknown:
	case DeviceRetired:
		return "retired", ""
	default:
		return "offline", ""
	}
	switch {
	case w == nil && d.Worker == "":
		return "offline", "no worker"
	case w == nil:
		return "offline", "worker " + d.Worker + " does not exist"
	case w.Health != WorkerActive:
		return "offline", "worker " + w.Name + " " + w.Health.String()
	case w.State != WorkerOnline:
		return "offline", "worker " + w.Name + " " + w.State.String()
	}
	return "idle", ""
}
