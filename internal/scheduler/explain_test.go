package scheduler

import (
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/basalt-lab/basalt/internal/lab"
)

// with returns d changed by f.
func with[T any](v T, f func(*T)) T { f(&v); return v }

type explainCase struct {
	name    string
	snap    Snapshot
	job     int64
	verdict Verdict
	summary string
	reasons []Code   // job codes, in order
	devices []string // "hostname code" per device, in order
}

func runExplain(t *testing.T, cases []explainCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.snap.Now = now
			e := Explain(tc.snap, tc.job)
			if e.Job != tc.job || e.Verdict != tc.verdict || e.Summary != tc.summary {
				t.Errorf("Explain(%d) = %s %q\nwant       %s %q", tc.job, e.Verdict, e.Summary, tc.verdict, tc.summary)
			}
			var codes []Code
			for _, r := range e.Reasons {
				codes = append(codes, r.Code)
			}
			if !slices.Equal(codes, tc.reasons) {
				t.Errorf("reasons %v, want %v (%+v)", codes, tc.reasons, e.Reasons)
			}
			var devs []string
			for _, r := range e.Devices {
				devs = append(devs, r.Device+" "+string(r.Code))
			}
			if !slices.Equal(devs, tc.devices) {
				t.Errorf("devices %q, want %q", devs, tc.devices)
			}
			// The verdict is Plan's.
			d := Plan(tc.snap)
			placed := slices.ContainsFunc(d.Assignments, func(a Assignment) bool { return a.Job == tc.job })
			if placed != (e.Verdict == VerdictSchedulable) || e.Blocked() != (e.Verdict == VerdictWaiting) {
				t.Errorf("verdict %s, but Plan assigned the job: %v", e.Verdict, placed)
			}
		})
	}
}

// TestExplainReasons has one case per reason Explain gives, with the exact
// sentence people read.
func TestExplainReasons(t *testing.T) {
	qemu := []DeviceType{noCheck("qemu")}
	offline := func(name string, f func(*Worker)) Worker {
		w := worker(name)
		w.State = lab.WorkerOffline
		f(&w)
		return w
	}
	q1 := device("qemu01", "qemu", "lab-1")
	q2 := device("qemu02", "qemu", "lab-1")
	one := func(d Device, ws ...Worker) Snapshot {
		if ws == nil {
			ws = []Worker{worker("lab-1")}
		}
		return Snapshot{DeviceTypes: qemu, Devices: []Device{d}, Workers: ws, Queue: []Job{job(1, "qemu")}}
	}
	running := with(q1, func(d *Device) { d.State, d.Job = lab.DeviceRunning, 42 })
	limited := func(limit, busy int) Worker {
		return with(worker("lab-1"), func(w *Worker) { w.JobLimit, w.Busy = limit, busy })
	}
	prio := func(j Job, p int) Job { j.Priority = p; return j }
	// req is one(q1, ws...) with job 1 changed by f.
	req := func(f func(*Job), ws ...Worker) Snapshot {
		s := one(q1, ws...)
		f(&s.Queue[0])
		return s
	}
	waiting := VerdictWaiting

	runExplain(t, []explainCase{
		{
			name: "worker Offline since a time today",
			snap: one(q1, offline("lab-1", func(w *Worker) { w.Since = now.Add(-57 * time.Minute) })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is on worker lab-1, Offline since 11:03 UTC",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_offline"},
		},
		{
			name: "worker Offline since yesterday",
			snap: one(q1, offline("lab-1", func(w *Worker) { w.Since = now.Add(-25 * time.Hour) })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is on worker lab-1, Offline since 2026-02-28 11:00 UTC",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_offline"},
		},
		{
			name: "worker Offline, only its last heartbeat known",
			snap: one(q1, offline("lab-1", func(w *Worker) { w.LastSeen = now.Add(-2 * time.Minute) })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is on worker lab-1, Offline (last heartbeat 11:58 UTC)",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_offline"},
		},
		{
			name: "worker never connected",
			snap: one(q1, offline("lab-1", func(*Worker) {})),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is on worker lab-1, Offline (never connected)",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_offline"},
		},
		{
			name: "worker in Maintenance",
			snap: one(q1, with(worker("lab-1"), func(w *Worker) { w.Health = lab.WorkerMaintenance })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is on worker lab-1, in Maintenance",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_maintenance"},
		},
		{
			name: "worker Retired, even when Offline",
			snap: one(q1, offline("lab-1", func(w *Worker) { w.Health = lab.WorkerRetired })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is on worker lab-1, Retired",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_retired"},
		},
		{
			name: "device attached to no worker",
			snap: one(with(q1, func(d *Device) { d.Worker = "" })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is attached to no worker",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 no_worker"},
		},
		{
			name: "device attached to a worker that does not exist",
			snap: one(with(q1, func(d *Device) { d.Worker = "gone" })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is attached to worker gone, which does not exist",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 no_worker"},
		},
		{
			name: "device Retired, whatever its worker",
			snap: one(with(q1, func(d *Device) { d.Health = lab.DeviceRetired }), offline("lab-1", func(*Worker) {})),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is Retired",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 device_retired"},
		},
		{
			name: "device in Maintenance and device Bad",
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{worker("lab-1")}, Queue: []Job{job(1, "qemu")},
				Devices: []Device{with(q1, func(d *Device) { d.Health = lab.DeviceMaintenance }), with(q2, func(d *Device) { d.Health = lab.DeviceBad })}},
			job: 1, verdict: waiting,
			summary: "0 of 2 qemu devices usable: qemu01 is in Maintenance; qemu02 is Bad",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 device_maintenance", "qemu02 device_bad"},
		},
		{
			name: "Looping device of a type without checks",
			snap: one(with(q1, func(d *Device) { d.Health = lab.DeviceLooping })),
			job:  1, verdict: waiting,
			summary: "0 of 1 qemu device usable: qemu01 is Looping, and its type runs no health checks",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 device_looping"},
		},
		{
			name: "device running a job",
			snap: one(running),
			job:  1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is running job 42",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 device_running"},
		},
		{
			name: "device held by a person's reservation",
			snap: one(with(running, func(d *Device) { d.Holder, d.Until = "alice", now.Add(10*time.Hour) })),
			job:  1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is reserved by alice until 22:00 UTC (reservation 42)",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 device_running"},
		},
		{
			name: "device taken by a reservation that has not started",
			snap: one(with(q1, func(d *Device) { d.State, d.Job, d.Holder = lab.DeviceReserved, 42, "alice" })),
			job:  1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is reserved by alice (reservation 42, starting)",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 device_reserved"},
		},
		{
			name: "device reserved for a job, another out of service",
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{worker("lab-1")}, Queue: []Job{job(1, "qemu")},
				Devices: []Device{with(q1, func(d *Device) { d.State, d.Job = lab.DeviceReserved, 43 }), with(q2, func(d *Device) { d.Health = lab.DeviceBad })}},
			job: 1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is reserved for job 43; 1 other is out of service",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 device_reserved", "qemu02 device_bad"},
		},
		{
			name: "worker at its job limit",
			snap: one(q1, limited(1, 1)),
			job:  1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is on worker lab-1, at its job limit (1 of 1 busy)",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 worker_job_limit"},
		},
		{
			name: "worker slot and device taken in this pass by a job ahead",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{q1, q2}, Workers: []Worker{limited(1, 0)},
				Queue: []Job{job(1, "qemu"), job(2, "qemu")}},
			job: 1, verdict: waiting,
			summary: "no qemu device is free: qemu01 goes to job 2, ahead in the queue; " +
				"qemu02 is on worker lab-1, at its job limit (1 of 1 busy, 1 of them taken in this pass); " +
				"1 job of equal priority submitted earlier ahead",
			reasons: []Code{CodeAllBusy, CodeJobsAhead}, devices: []string{"qemu01 taken_by_job_ahead", "qemu02 worker_job_limit"},
		},
		{
			name: "health check first",
			snap: Snapshot{DeviceTypes: []DeviceType{checked("qemu", 24, lab.PerHours)}, Workers: []Worker{worker("lab-1")},
				Devices: []Device{with(q1, func(d *Device) { d.Health = lab.DeviceUnknown })}, Queue: []Job{job(1, "qemu")}},
			job: 1, verdict: waiting,
			summary: "no qemu device is free: qemu01 runs a health check first (device health is Unknown)",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 health_check_first"},
		},
		{
			name: "health check due, worker full",
			snap: Snapshot{DeviceTypes: []DeviceType{checked("qemu", 24, lab.PerHours)}, Workers: []Worker{limited(2, 2)},
				Devices: []Device{with(q1, func(d *Device) { d.LastHealthCheck = time.Time{} })}, Queue: []Job{job(1, "qemu")}},
			job: 1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is on worker lab-1, at its job limit (2 of 2 busy), " +
				"and a health check is due first (no previous health check)",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 worker_job_limit"},
		},
		{
			name: "jobs ahead: higher priority, and equal priority submitted earlier",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{running}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{job(1, "qemu"), prio(job(0, "qemu"), 100), job(2, "qemu"), prio(job(3, "qemu"), 0), job(4, "qemu", "x")}},
			job: 1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is running job 42; 2 jobs ahead (1 of higher priority, 1 of equal priority submitted earlier)",
			reasons: []Code{CodeAllBusy, CodeJobsAhead}, devices: []string{"qemu01 device_running"},
		},
		{
			name: "jobs ahead: higher priority only",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{running}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{job(5, "qemu"), prio(job(1, "qemu"), 100), prio(job(2, "qemu"), 70)}},
			job: 5, verdict: waiting,
			summary: "no qemu device is free: qemu01 is running job 42; 2 jobs of higher priority ahead",
			reasons: []Code{CodeAllBusy, CodeJobsAhead}, devices: []string{"qemu01 device_running"},
		},
		{
			name: "no device has the tags",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{q1, with(q2, func(d *Device) { d.Tags = []string{"x"} })},
				Workers: []Worker{worker("lab-1")}, Queue: []Job{job(1, "qemu", "y", "x")}},
			job: 1, verdict: waiting,
			summary: "no qemu device has tags [y, x]",
			reasons: []Code{CodeNoDeviceWithTags}, devices: []string{"qemu01 missing_tags", "qemu02 missing_tags"},
		},
		{
			name: "the one device with the tags is in Maintenance",
			snap: Snapshot{DeviceTypes: []DeviceType{noCheck("bbb")}, Workers: []Worker{worker("lab-1")}, Queue: []Job{job(1, "bbb", "x")},
				Devices: []Device{device("bbb-01", "bbb", "lab-1"), with(device("bbb-03", "bbb", "lab-1", "x"), func(d *Device) { d.Health = lab.DeviceMaintenance })}},
			job: 1, verdict: waiting,
			summary: "1 bbb device has tags [x]: bbb-03 is in Maintenance",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"bbb-01 missing_tags", "bbb-03 device_maintenance"},
		},
		{
			name: "busy devices with the tags",
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{worker("lab-1")}, Queue: []Job{job(1, "qemu", "x")},
				Devices: []Device{q1, with(running, func(d *Device) { d.Hostname, d.Tags = "qemu03", []string{"x"} })}},
			job: 1, verdict: waiting,
			summary: "no qemu device with tags [x] is free: qemu03 is running job 42",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 missing_tags", "qemu03 device_running"},
		},
		{
			name: "requested device busy",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{running, q2}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{with(job(1, "qemu"), func(j *Job) { j.Device = "qemu01" })}},
			job: 1, verdict: waiting,
			summary: "the requested device qemu01 is running job 42",
			reasons: []Code{CodeAllBusy}, devices: []string{"qemu01 device_running"},
		},
		{
			name: "requested device Retired",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{with(q1, func(d *Device) { d.Health = lab.DeviceRetired })}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{with(job(1, "qemu"), func(j *Job) { j.Device = "qemu01" })}},
			job: 1, verdict: waiting,
			summary: "the requested device qemu01 is Retired",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 device_retired"},
		},
		{
			name: "requested device lacks a tag",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{q1}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{with(job(1, "qemu", "x"), func(j *Job) { j.Device = "qemu01" })}},
			job: 1, verdict: waiting,
			summary: "the requested device qemu01 lacks tags [x]",
			reasons: []Code{CodeNoDeviceWithTags}, devices: []string{"qemu01 missing_tags"},
		},
		{
			name: "requested worker: only its devices count",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{q1, device("qemu09", "qemu", "lab-2")},
				Workers: []Worker{offline("lab-1", func(*Worker) {}), worker("lab-2")},
				Queue:   []Job{with(job(1, "qemu"), func(j *Job) { j.Worker = "lab-1" })}},
			job: 1, verdict: waiting,
			summary: "0 of 1 qemu device on worker lab-1 usable: qemu01 is on worker lab-1, Offline (never connected)",
			reasons: []Code{CodeNoUsableDevice}, devices: []string{"qemu01 worker_offline"},
		},
		{
			name: "device type does not exist",
			snap: req(func(j *Job) { j.Type = "bbb" }), job: 1, verdict: waiting,
			summary: "device type bbb does not exist",
			reasons: []Code{CodeNoDeviceType},
		},
		{
			name: "requested device does not exist",
			snap: req(func(j *Job) { j.Device = "qemu07" }), job: 1, verdict: waiting,
			summary: "the requested device qemu07 does not exist",
			reasons: []Code{CodeNoSuchDevice},
		},
		{
			name: "requested device of another type",
			snap: func() Snapshot {
				s := req(func(j *Job) { j.Device = "bbb-01" })
				s.DeviceTypes = append(slices.Clone(qemu), noCheck("bbb"))
				s.Devices = append(s.Devices, device("bbb-01", "bbb", "lab-1"))
				return s
			}(), job: 1, verdict: waiting,
			summary: "the requested device bbb-01 is of type bbb, not qemu",
			reasons: []Code{CodeDeviceOtherType},
		},
		{
			name: "requested worker does not exist",
			snap: req(func(j *Job) { j.Worker = "lab-9" }), job: 1, verdict: waiting,
			summary: "the requested worker lab-9 does not exist",
			reasons: []Code{CodeNoSuchWorker},
		},
		{
			name: "requested device on another worker",
			snap: req(func(j *Job) { j.Device, j.Worker = "qemu01", "lab-2" }, worker("lab-1"), worker("lab-2")), job: 1, verdict: waiting,
			summary: "the requested device qemu01 is on worker lab-1, not on the requested worker lab-2",
			reasons: []Code{CodeDeviceOtherWorker},
		},
		{
			name: "no device of the type",
			snap: Snapshot{DeviceTypes: append(slices.Clone(qemu), noCheck("bbb")), Devices: []Device{q1}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{job(1, "bbb")}},
			job: 1, verdict: waiting,
			summary: "there is no bbb device",
			reasons: []Code{CodeNoDevice},
		},
		{
			name: "no device of the type on the requested worker",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{q1}, Workers: []Worker{worker("lab-1"), worker("lab-2")},
				Queue: []Job{with(job(1, "qemu"), func(j *Job) { j.Worker = "lab-2" })}},
			job: 1, verdict: waiting,
			summary: "there is no qemu device on worker lab-2",
			reasons: []Code{CodeNoDevice},
		},
		{
			name: "queue timeout to come is a note",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{running}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{with(job(1, "qemu"), func(j *Job) { j.QueueTimeout = 15 * time.Minute })}},
			job: 1, verdict: waiting,
			summary: "no qemu device is free: qemu01 is running job 42",
			reasons: []Code{CodeAllBusy, CodeQueueTimeout}, devices: []string{"qemu01 device_running"},
		},
		{
			name: "queue timeout passed",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{q1}, Workers: []Worker{worker("lab-1")},
				Queue: []Job{with(job(31, "qemu"), func(j *Job) { j.QueueTimeout = 30 * time.Minute })}},
			job: 31, verdict: VerdictExpired,
			summary: "the queue timeout of 30m passed at 11:59 UTC: the job will be canceled",
			reasons: []Code{CodeExpired},
		},
		{
			name: "schedulable: a free device",
			snap: Snapshot{DeviceTypes: qemu, Devices: []Device{running, q2}, Workers: []Worker{worker("lab-1")}, Queue: []Job{job(1, "qemu")}},
			job:  1, verdict: VerdictSchedulable,
			summary: "qemu02 is free: the next scheduling pass assigns the job to it",
			reasons: []Code{CodeFree}, devices: []string{"qemu01 device_running", "qemu02 free"},
		},
		{
			name: "not queued",
			snap: one(q1), job: 99, verdict: VerdictNotQueued,
			summary: "job 99 is not queued",
			reasons: []Code{CodeNotQueued},
		},
	})
}

// TestExplainAgreesWithPlan: over random labs, for every queued job,
// Explain says the job is schedulable exactly when Plan assigns it,
// expired exactly when Plan expires it, and waiting otherwise; every device
// of the job's scope is listed with a reason that is true of the snapshot
// and of the pass; and the jobs it counts ahead are exactly those an
// independent statement of the rule finds.
func TestExplainAgreesWithPlan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		d := Plan(s)
		for _, j := range s.Queue {
			checkExplanation(t, s, d, j, Explain(s, j.ID))
		}
		if e := Explain(s, 1000); e.Verdict != VerdictNotQueued || e.Blocked() {
			t.Fatalf("Explain of a job not in the queue: %+v", e)
		}
	})
}

// TestExplainDeterministic: the explanation does not depend on the order of
// the snapshot's slices.
func TestExplainDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		p := deepCopy(s)
		p.DeviceTypes = rapid.Permutation(p.DeviceTypes).Draw(t, "ptypes")
		p.Devices = rapid.Permutation(p.Devices).Draw(t, "pdevices")
		p.Workers = rapid.Permutation(p.Workers).Draw(t, "pworkers")
		p.Queue = rapid.Permutation(p.Queue).Draw(t, "pqueue")
		for _, j := range s.Queue {
			a, b := Explain(s, j.ID), Explain(p, j.ID)
			if diff := gocmp.Diff(a, b); diff != "" {
				t.Fatalf("Explain(%d) of a permuted snapshot differs (-orig +permuted):\n%s", j.ID, diff)
			}
		}
	})
}

// TestExplainDuplicateKeysSafe: with repeated keys Explain does not fail,
// and a job Plan expires is explained as expired.
func TestExplainDuplicateKeysSafe(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		u := genSnapshot(t)
		s.Devices = append(s.Devices, rapid.SliceOf(rapid.SampledFrom(u.Devices)).Draw(t, "dupdevices")...)
		s.Workers = append(s.Workers, rapid.SliceOf(rapid.SampledFrom(u.Workers)).Draw(t, "dupworkers")...)
		s.Queue = append(s.Queue, rapid.SliceOf(rapid.SampledFrom(u.Queue)).Draw(t, "dupjobs")...)
		d := Plan(s)
		for _, j := range s.Queue {
			e := Explain(s, j.ID)
			if _, exp := slices.BinarySearch(d.Expired, j.ID); exp != (e.Verdict == VerdictExpired) || e.Summary == "" {
				t.Fatalf("job %d: Plan expired it: %v; Explain: %+v", j.ID, exp, e)
			}
		}
	})
}

// checkExplanation checks e, the explanation of job j, against the plan d
// of s and an independent statement of each rule (property_test.go's model).
func checkExplanation(t fataler, s Snapshot, d Decisions, j Job, e Explanation) {
	m := newModel(s)
	assignedTo := map[int64]string{}
	jobOf := map[string]int64{}
	for _, a := range d.Assignments {
		assignedTo[a.Job], jobOf[a.Device] = a.Device, a.Job
	}
	hc := map[string]bool{}
	for _, c := range d.HealthChecks {
		hc[c.Device] = true
	}
	jobs := map[int64]Job{}
	for _, q := range s.Queue {
		jobs[q.ID] = q
	}
	gs := groupsOf(s)
	// order is the serving order: a group member at its group's place.
	order := func(a, b Job) int { return queueOrder(serving(gs, a), serving(gs, b)) }
	heldBy := map[string]string{}
	for _, h := range d.Holds {
		for _, host := range h.Devices {
			heldBy[host] = h.Group
		}
	}
	_, isExpired := slices.BinarySearch(d.Expired, j.ID)
	dev, isAssigned := assignedTo[j.ID]
	switch {
	case isExpired:
		if e.Verdict != VerdictExpired {
			t.Fatalf("Plan expires job %d, Explain says %s: %s", j.ID, e.Verdict, e.Summary)
		}
		return
	case isAssigned:
		if e.Verdict != VerdictSchedulable || e.Device != dev || e.Blocked() {
			t.Fatalf("Plan assigns job %d to %s, Explain says %s (%s): %s", j.ID, dev, e.Verdict, e.Device, e.Summary)
		}
	default:
		if e.Verdict != VerdictWaiting || !e.Blocked() || e.Summary == "" || len(e.Reasons) == 0 {
			t.Fatalf("Plan leaves job %+v queued, Explain says %s: %q", j, e.Verdict, e.Summary)
		}
	}
	if e.Job != j.ID || e.Reasons[0].Detail == "" {
		t.Fatalf("bad explanation %+v", e)
	}
	if (j.Group != "") != (e.Group != nil) || (e.Group != nil && (e.Group.Name != j.Group || e.Group.Role != j.Role)) {
		t.Fatalf("job %+v: group %+v", j, e.Group)
	}
	if j.Group != "" && !isAssigned {
		g := gs[j.Group]
		want := CodeGroupWaits
		switch {
		case len(g.members) < j.GroupSize && g.complete == false && slices.IndexFunc(g.members, func(o Job) bool { return o.GroupSize != j.GroupSize }) < 0:
			want = CodeGroupIncomplete
		case !g.complete:
			want = CodeGroupInconsistent
		}
		if e.Reasons[0].Code != want {
			t.Fatalf("group member %+v waits, reason %+v, want %s", j, e.Reasons[0], want)
		}
		h := slices.IndexFunc(d.Holds, func(h Hold) bool { return h.Group == j.Group })
		if (h >= 0) != (len(e.Group.Held)+len(e.Group.Waits) > 0) ||
			(h >= 0 && !slices.ContainsFunc(e.Reasons, func(r Reason) bool { return r.Code == CodeGroupHold })) {
			t.Fatalf("group member %+v: holds %+v, explanation %+v", j, d.Holds, e)
		}
		if want == CodeGroupWaits {
			// Every role is listed with its jobs; a role whose jobs the
			// free devices could all take is satisfiable.
			n := 0
			for _, r := range e.Group.Roles {
				n += len(r.Jobs)
				if (r.Placeable == len(r.Jobs)) != strings.HasSuffix(r.Detail, " is satisfiable") || r.Placeable > len(r.Jobs) {
					t.Fatalf("group member %+v: role %+v", j, r)
				}
			}
			if n != len(g.members) {
				t.Fatalf("group member %+v: roles %+v", j, e.Group.Roles)
			}
		}
	}

	// The scope: the job's type, requested device and worker, when the
	// request can be met at all.
	_, typeOK := m.types[j.Type]
	reqDev, devOK := m.devices[j.Device]
	_, workerOK := m.workers[j.Worker]
	requestOK := typeOK && (j.Device == "" || (devOK && reqDev.Type == j.Type && (j.Worker == "" || reqDev.Worker == j.Worker))) &&
		(j.Worker == "" || workerOK)
	var scope []string
	for _, dv := range s.Devices {
		if requestOK && dv.Type == j.Type && (j.Device == "" || dv.Hostname == j.Device) && (j.Worker == "" || dv.Worker == j.Worker) {
			scope = append(scope, dv.Hostname)
		}
	}
	slices.Sort(scope)
	var listed []string
	for _, r := range e.Devices {
		listed = append(listed, r.Device)
	}
	if !slices.Equal(scope, listed) {
		t.Fatalf("job %+v: devices listed %v, scope %v", j, listed, scope)
	}
	if !requestOK && j.Group == "" {
		switch e.Reasons[0].Code {
		case CodeNoDeviceType, CodeNoSuchDevice, CodeDeviceOtherType, CodeNoSuchWorker, CodeDeviceOtherWorker:
		default:
			t.Fatalf("job %+v cannot be met, but the reason is %+v", j, e.Reasons[0])
		}
	}
	if requestOK && len(scope) == 0 && j.Group == "" && e.Reasons[0].Code != CodeNoDevice {
		t.Fatalf("job %+v has no device in scope, but the reason is %+v", j, e.Reasons[0])
	}

	// Every device reason is true.
	busyAtEnd := map[string]int{}
	for _, w := range s.Workers {
		busyAtEnd[w.Name] = w.Busy
	}
	for _, a := range d.Assignments {
		busyAtEnd[m.devices[a.Device].Worker]++
	}
	for host := range heldBy {
		busyAtEnd[m.devices[host].Worker]++
	}
	for _, c := range d.HealthChecks {
		busyAtEnd[m.devices[c.Device].Worker]++
	}
	tagsOK := func(dv Device) bool { return fits(Job{Type: dv.Type, Tags: j.Tags}, dv) }
	nFitting := 0
	for _, r := range e.Devices {
		dv := m.devices[r.Device]
		w, wOK := m.workers[dv.Worker]
		if r.Detail == "" || !strings.HasPrefix(r.Detail, dv.Hostname+" ") || r.Worker != dv.Worker {
			t.Fatalf("bad device reason %+v", r)
		}
		if (r.Code == CodeMissingTags) == tagsOK(dv) {
			t.Fatalf("job %+v, device %+v: reason %s", j, dv, r.Code)
		}
		if r.Code != CodeMissingTags {
			nFitting++
		}
		usable := m.usable(dv)
		ok := false
		switch r.Code {
		case CodeMissingTags:
			ok = len(r.MissingTags) > 0
			for _, tag := range r.MissingTags {
				ok = ok && slices.Contains(j.Tags, tag) && !slices.Contains(dv.Tags, tag)
			}
		case CodeNoWorker:
			ok = !wOK || dv.Worker == ""
		case CodeDeviceRetired:
			ok = dv.Health == lab.DeviceRetired
		case CodeWorkerRetired:
			ok = wOK && w.Health == lab.WorkerRetired
		case CodeWorkerMaintenance:
			ok = wOK && w.Health != lab.WorkerActive && w.Health != lab.WorkerRetired
		case CodeWorkerOffline:
			ok = wOK && w.State != lab.WorkerOnline && w.Health == lab.WorkerActive
		case CodeDeviceMaintenance:
			ok = dv.Health == lab.DeviceMaintenance && wOK && w.State == lab.WorkerOnline
		case CodeDeviceBad:
			ok = dv.Health != lab.DeviceGood && dv.Health != lab.DeviceUnknown && dv.Health != lab.DeviceLooping &&
				dv.Health != lab.DeviceMaintenance && dv.Health != lab.DeviceRetired
		case CodeDeviceReserved:
			ok = dv.State == lab.DeviceReserved && r.Job == dv.Job
		case CodeDeviceRunning:
			ok = dv.State != lab.DeviceIdle && dv.State != lab.DeviceReserved && r.Job == dv.Job
		case CodeHealthCheck:
			ok = hc[dv.Hostname]
		case CodeDeviceLooping:
			ok = usable && dv.Health == lab.DeviceLooping && !m.checksOn(dv)
		case CodeWorkerFull:
			ok = usable && w.JobLimit > 0 && busyAtEnd[dv.Worker] >= w.JobLimit && !hc[dv.Hostname] && jobOf[dv.Hostname] == 0 &&
				heldBy[dv.Hostname] == ""
		case CodeTaken:
			taker, ok2 := jobs[r.Job]
			ok = ok2 && jobOf[dv.Hostname] == r.Job && order(taker, j) < 0
		case CodeHeld:
			g := gs[r.Group]
			ok = g != nil && heldBy[dv.Hostname] == r.Group && queueOrder(g.key, serving(gs, j)) < 0
		case CodeFree:
			// Free at the job's turn: it takes it, or a group member
			// waits with the rest of its group; at the end of the pass
			// the device is still free, or went to the job or its group,
			// or to a job or group served after it.
			holder := heldBy[dv.Hostname]
			ok = (e.Verdict == VerdictSchedulable || j.Group != "") && usable && dv.Health.Schedulable() && !hc[dv.Hostname] &&
				(jobOf[dv.Hostname] == 0 || jobOf[dv.Hostname] == j.ID || order(jobs[jobOf[dv.Hostname]], j) >= 0) &&
				(holder == "" || holder == j.Group || queueOrder(gs[holder].key, serving(gs, j)) > 0)
		}
		if !ok {
			t.Fatalf("job %+v: reason %+v is false of device %+v (worker %+v)", j, r, dv, w)
		}
	}
	if e.Verdict == VerdictSchedulable {
		i := slices.IndexFunc(e.Devices, func(r DeviceReason) bool { return r.Device == e.Device })
		if i < 0 || e.Devices[i].Code != CodeFree {
			t.Fatalf("job %d assigned to %s, which is not listed free: %+v", j.ID, e.Device, e.Devices)
		}
		return
	}

	// Jobs ahead: queued, unexpired, served before j, fitting a device j
	// fits.
	wantAhead, wantHigher := 0, 0
	if nFitting > 0 {
		for _, o := range s.Queue {
			if o.ID == j.ID || expiredIn(gs, o) || order(o, j) >= 0 {
				continue
			}
			if o.Worker != "" && m.workers[o.Worker].Name == "" {
				continue // a worker that does not exist fits nothing
			}
			for _, r := range e.Devices {
				if dv := m.devices[r.Device]; r.Code != CodeMissingTags && fits(o, dv) {
					wantAhead++
					if o.Priority > j.Priority {
						wantHigher++
					}
					break
				}
			}
		}
	}
	if e.Ahead != wantAhead || e.AheadHigher != wantHigher {
		t.Fatalf("job %+v: ahead %d (%d higher), want %d (%d)", j, e.Ahead, e.AheadHigher, wantAhead, wantHigher)
	}
	if (e.Ahead > 0) != slices.ContainsFunc(e.Reasons, func(r Reason) bool { return r.Code == CodeJobsAhead }) {
		t.Fatalf("job %d: ahead %d but reasons %+v", j.ID, e.Ahead, e.Reasons)
	}
	if (j.QueueTimeout > 0) != (e.Reasons[len(e.Reasons)-1].Code == CodeQueueTimeout) {
		t.Fatalf("job %+v: reasons %+v", j, e.Reasons)
	}
}

// TestExplainQueueTimeoutNote: the note says when the job expires; the
// instant itself is not yet expired (LAVA's strict comparison).
func TestExplainQueueTimeoutNote(t *testing.T) {
	j := job(1, "qemu")
	j.QueueTimeout = 15 * time.Minute // submitted a minute ago: 14 minutes left
	s := Snapshot{Now: now, DeviceTypes: []DeviceType{noCheck("qemu")}, Workers: []Worker{worker("w1")},
		Devices: []Device{with(device("d1", "qemu", "w1"), func(d *Device) { d.State = lab.DeviceRunning })}, Queue: []Job{j}}
	e := Explain(s, 1)
	last := e.Reasons[len(e.Reasons)-1]
	if want := "the job is canceled if still queued after 12:14 UTC, in 14 minutes"; last.Code != CodeQueueTimeout || last.Detail != want ||
		!e.ExpiresAt.Equal(now.Add(14*time.Minute)) {
		t.Errorf("note %+v (expires %v), want %q", last, e.ExpiresAt, want)
	}
	s.Now = e.ExpiresAt
	if e := Explain(s, 1); e.Verdict != VerdictWaiting || !strings.HasSuffix(e.Reasons[len(e.Reasons)-1].Detail, "in less than a minute") {
		t.Errorf("at the deadline: %+v", e)
	}
	s.Now = e.ExpiresAt.Add(1)
	if e := Explain(s, 1); e.Verdict != VerdictExpired || e.Summary != "the queue timeout of 15m passed at 12:14 UTC: the job will be canceled" {
		t.Errorf("past the deadline: %+v", e)
	}
}
