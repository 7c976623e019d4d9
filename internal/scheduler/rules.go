package scheduler

import (
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// The predicates of the rules, shared by Plan (which applies them) and
// Explain (which reports which one holds a job back). Each says why
// something cannot be used rather than only whether it can, so that the
// two can never disagree.

// block is why a device is not in a pass's pool of devices for ordinary
// jobs (rules 2 and 3); blockNone means it is.
type block uint8

const (
	blockNone block = iota
	// blockNoType: the device's type is not in the snapshot, or its
	// hostname repeats an earlier device's. Such a device is in no job's
	// scope.
	blockNoType
	blockNoWorker          // attached to no worker, or to one not in the snapshot
	blockDeviceRetired     // health Retired
	blockWorkerRetired     // its worker's health is Retired
	blockWorkerMaintenance // its worker's health is Maintenance (or another non-Active value)
	blockWorkerOffline     // its worker is not Online
	blockDeviceMaintenance // health Maintenance
	blockDeviceBad         // health Bad (or a value outside LAVA's enumeration)
	blockDeviceReserved    // state Reserved: a job is about to start on it
	blockDeviceRunning     // state Running (or another non-Idle value)
	blockWorkerFull        // its worker had no slot left when checks were decided
	blockHealthCheck       // a health check starts on it in this pass
	blockLooping           // health Looping, and its type runs no checks
)

// workerBlock says why the devices of worker w cannot be used (rule 2), or
// blockNone when they can: w must be Active and Online.
func workerBlock(w *Worker) block {
	switch {
	case w.Health == lab.WorkerRetired:
		return blockWorkerRetired
	case w.Health != lab.WorkerActive:
		return blockWorkerMaintenance
	case w.State != lab.WorkerOnline:
		return blockWorkerOffline
	}
	return blockNone
}

// deviceBlock is the static part of rules 2 and 3 for device i: it says
// why the device can take nothing in this pass whatever the queue holds, or
// blockNone when it may take a health check or an ordinary job. The tests
// are conjunctive, so their order only decides which reason is reported
// when several hold: the most lasting first.
func (p *planner) deviceBlock(i int32) block {
	d := &p.s.Devices[i]
	if p.devType[i] == none {
		return blockNoType
	}
	if p.devWorker[i] == none {
		return blockNoWorker
	}
	if d.Health == lab.DeviceRetired {
		return blockDeviceRetired
	}
	if b := workerBlock(&p.s.Workers[p.devWorker[i]]); b != blockNone {
		return b
	}
	switch d.Health {
	case lab.DeviceGood, lab.DeviceUnknown, lab.DeviceLooping:
	case lab.DeviceMaintenance:
		return blockDeviceMaintenance
	default:
		return blockDeviceBad
	}
	switch d.State {
	case lab.DeviceIdle:
	case lab.DeviceReserved:
		return blockDeviceReserved
	default:
		return blockDeviceRunning
	}
	return blockNone
}

// full reports whether a worker with job limit limit and busy devices (or
// decisions) busy has no slot left: a limit ≤ 0 is no limit (rule 2).
func full(limit, busy int) bool { return limit > 0 && busy >= limit }

// queueExpired reports whether queued job j's queue timeout has passed at now
// (rule 1): LAVA's strict submit time + timeout < now.
func queueExpired(j *Job, now time.Time) bool {
	return j.QueueTimeout > 0 && j.SubmitTime.Add(j.QueueTimeout).Before(now)
}

// request is why a job's static request cannot be met at all.
type request uint8

const (
	requestOK           request = iota
	requestNoType               // the job's device type is not in the snapshot
	requestNoDevice             // the requested device is not in the snapshot
	requestDeviceType           // the requested device is of another type
	requestNoWorker             // the requested worker is not in the snapshot
	requestDeviceWorker         // the requested device is not on the requested worker
)

// request resolves the static part of job j's request (rule 4): its type,
// its requested device and its requested worker, as a signature. ok is
// false, and why says what is missing, when no device can ever fit.
func (p *planner) request(j *Job) (sig signature, why request, ok bool) {
	sig = signature{typ: none, device: none, worker: none}
	t, found := p.typeRank[j.Type]
	if !found {
		return sig, requestNoType, false
	}
	sig.typ = t
	if j.Device != "" {
		d, found := p.deviceIdx[j.Device]
		if !found {
			return sig, requestNoDevice, false
		}
		if p.devType[d] != t {
			return sig, requestDeviceType, false
		}
		sig.device = d
	}
	if j.Worker != "" {
		w, found := p.workerIdx[j.Worker]
		if !found {
			return sig, requestNoWorker, false
		}
		sig.worker = w
	}
	if sig.device != none && !p.matches(sig, sig.device) {
		return sig, requestDeviceWorker, false
	}
	return sig, requestOK, true
}

// matches reports whether device d meets signature sig (rule 4 without the
// tags): the job's type, and its requested device and worker when given.
func (p *planner) matches(sig signature, d int32) bool {
	return p.devType[d] == sig.typ && (sig.device == none || sig.device == d) &&
		(sig.worker == none || p.devWorker[d] == sig.worker)
}
