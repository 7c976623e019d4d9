package scheduler

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Builders for small snapshots. Defaults describe the happy path: an online,
// active, unlimited worker; an idle Good device checked an hour ago; a
// medium-priority job.

func worker(name string) Worker {
	return Worker{Name: name, State: lab.WorkerOnline, Health: lab.WorkerActive}
}

func device(host, typ, wk string, tags ...string) Device {
	return Device{
		Hostname: host, Type: typ, Worker: wk, Tags: tags,
		State: lab.DeviceIdle, Health: lab.DeviceGood,
		LastHealthCheck: now.Add(-time.Hour),
	}
}

// job makes job id submitted id minutes before now, so lower IDs are older.
func job(id int64, typ string, tags ...string) Job {
	return Job{ID: id, Priority: lab.PriorityMedium, SubmitTime: now.Add(-time.Duration(id) * time.Minute), Type: typ, Tags: tags}
}

// noCheck is a device type without a health check.
func noCheck(name string) DeviceType { return DeviceType{Name: name} }

// checked is a device type with a health check every freq units.
func checked(name string, freq int, den lab.HealthDenominator) DeviceType {
	return DeviceType{Name: name, HealthFrequency: freq, HealthDenominator: den, HasHealthCheck: true}
}

func assign(pairs ...any) []Assignment {
	var out []Assignment
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Assignment{Job: int64(pairs[i].(int)), Device: pairs[i+1].(string)})
	}
	return out
}

type planCase struct {
	name string
	snap Snapshot
	want Decisions
}

func runCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.snap.Now = now
			got := Plan(tc.snap)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Plan() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHealthCheckDue(t *testing.T) {
	// One device d1 of type "t" on worker w1 and one queued job 1 of type t:
	// when no check is due the job takes the device.
	type tc struct {
		name   string
		typ    DeviceType
		dev    func(*Device)
		reason string // "" = no check due
	}
	hours24 := checked("t", 24, lab.PerHours)
	jobs5 := checked("t", 5, lab.PerJobs)
	cases := []tc{
		{"hours: recent check", hours24, func(d *Device) { d.LastHealthCheck = now.Add(-time.Hour) }, ""},
		{"hours: period ends exactly now is not due (strict <)", hours24,
			func(d *Device) { d.LastHealthCheck = now.Add(-24 * time.Hour) }, ""},
		{"hours: one nanosecond past the period", hours24,
			func(d *Device) { d.LastHealthCheck = now.Add(-24*time.Hour - 1) },
			"last health check at 2026-02-28T11:59:59Z is more than 24 hours old"},
		{"hours: long overdue", hours24,
			func(d *Device) { d.LastHealthCheck = now.Add(-72 * time.Hour) },
			"last health check at 2026-02-26T12:00:00Z is more than 24 hours old"},
		{"hours: job counter ignored", hours24,
			func(d *Device) { d.JobsSinceHealthCheck = 1000 }, ""},
		{"hours: frequency 0 means every pass", checked("t", 0, lab.PerHours),
			func(d *Device) {}, "last health check at 2026-03-01T11:00:00Z is more than 0 hours old"},
		{"hours: huge frequency never due", checked("t", 1<<62, lab.PerHours),
			func(d *Device) { d.LastHealthCheck = time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC) }, ""},
		{"unknown denominator counts hours", checked("t", 24, lab.HealthDenominator(7)),
			func(d *Device) { d.LastHealthCheck = now.Add(-25 * time.Hour); d.JobsSinceHealthCheck = 0 },
			"last health check at 2026-02-28T11:00:00Z is more than 24 hours old"},
		{"jobs: below frequency", jobs5, func(d *Device) { d.JobsSinceHealthCheck = 4 }, ""},
		{"jobs: at frequency", jobs5, func(d *Device) { d.JobsSinceHealthCheck = 5 },
			"5 jobs since last health check (frequency 5 jobs)"},
		{"jobs: above frequency", jobs5, func(d *Device) { d.JobsSinceHealthCheck = 9 },
			"9 jobs since last health check (frequency 5 jobs)"},
		{"jobs: age ignored", jobs5, func(d *Device) { d.LastHealthCheck = now.Add(-1000 * time.Hour) }, ""},
		{"never checked", jobs5, func(d *Device) { d.LastHealthCheck = time.Time{} }, "no previous health check"},
		{"health Unknown forces a check", hours24, func(d *Device) { d.Health = lab.DeviceUnknown }, "device health is Unknown"},
		{"health Looping forces a check", hours24, func(d *Device) { d.Health = lab.DeviceLooping }, "device health is Looping"},
		{"Unknown wins over other reasons", jobs5,
			func(d *Device) {
				d.Health = lab.DeviceUnknown
				d.LastHealthCheck = time.Time{}
				d.JobsSinceHealthCheck = 9
			},
			"device health is Unknown"},
	}
	var pc []planCase
	for _, c := range cases {
		d := device("d1", "t", "w1")
		c.dev(&d)
		p := planCase{
			name: c.name,
			snap: Snapshot{DeviceTypes: []DeviceType{c.typ}, Devices: []Device{d}, Workers: []Worker{worker("w1")}, Queue: []Job{job(1, "t")}},
		}
		if c.reason == "" {
			p.want.Assignments = assign(1, "d1")
		} else {
			p.want.HealthChecks = []HealthCheck{{Device: "d1", Type: "t", Reason: c.reason}}
		}
		pc = append(pc, p)
	}
	runCases(t, pc)
}

func TestHealthCheckEligibility(t *testing.T) {
	withHealth := func(h lab.DeviceHealth) []Device {
		d := device("d1", "t", "w1")
		d.Health = h
		d.LastHealthCheck = time.Time{}
		return []Device{d}
	}
	disabled := checked("t", 24, lab.PerHours)
	disabled.DisableHealthCheck = true
	w := []Worker{worker("w1")}
	q := []Job{job(1, "t")}
	runCases(t, []planCase{
		{
			name: "Bad device: no check, no job",
			snap: Snapshot{DeviceTypes: []DeviceType{checked("t", 24, lab.PerHours)}, Devices: withHealth(lab.DeviceBad), Workers: w, Queue: q},
		},
		{
			name: "Maintenance device: no check, no job",
			snap: Snapshot{DeviceTypes: []DeviceType{checked("t", 24, lab.PerHours)}, Devices: withHealth(lab.DeviceMaintenance), Workers: w, Queue: q},
		},
		{
			name: "Retired device: no check, no job",
			snap: Snapshot{DeviceTypes: []DeviceType{checked("t", 24, lab.PerHours)}, Devices: withHealth(lab.DeviceRetired), Workers: w, Queue: q},
		},
		{
			name: "disabled check: Unknown, never-checked device takes the job",
			snap: Snapshot{DeviceTypes: []DeviceType{disabled}, Devices: withHealth(lab.DeviceUnknown), Workers: w, Queue: q},
			want: Decisions{Assignments: assign(1, "d1")},
		},
		{
			name: "no check definition: Unknown device takes the job",
			snap: Snapshot{DeviceTypes: []DeviceType{{Name: "t", HealthFrequency: 1}}, Devices: withHealth(lab.DeviceUnknown), Workers: w, Queue: q},
			want: Decisions{Assignments: assign(1, "d1")},
		},
		{
			name: "disabled check: Looping device takes nothing",
			snap: Snapshot{DeviceTypes: []DeviceType{disabled}, Devices: withHealth(lab.DeviceLooping), Workers: w, Queue: q},
		},
		{
			name: "Looping device runs checks even with an empty queue",
			snap: Snapshot{DeviceTypes: []DeviceType{checked("t", 24, lab.PerHours)}, Devices: withHealth(lab.DeviceLooping), Workers: w},
			want: Decisions{HealthChecks: []HealthCheck{{Device: "d1", Type: "t", Reason: "device health is Looping"}}},
		},
		{
			name: "checks go by type name then hostname; due devices skip jobs",
			snap: Snapshot{
				DeviceTypes: []DeviceType{checked("b", 24, lab.PerHours), checked("a", 24, lab.PerHours)},
				Devices: []Device{
					func() Device { d := device("z", "a", "w1"); d.Health = lab.DeviceUnknown; return d }(),
					func() Device { d := device("b2", "b", "w1"); d.LastHealthCheck = time.Time{}; return d }(),
					func() Device { d := device("b1", "b", "w1"); d.Health = lab.DeviceUnknown; return d }(),
					device("y", "a", "w1"),
				},
				Workers: w,
				Queue:   []Job{job(1, "a"), job(2, "a"), job(3, "b")},
			},
			want: Decisions{
				HealthChecks: []HealthCheck{
					{Device: "z", Type: "a", Reason: "device health is Unknown"},
					{Device: "b1", Type: "b", Reason: "device health is Unknown"},
					{Device: "b2", Type: "b", Reason: "no previous health check"},
				},
				// Job 2 is older (submitted 2 minutes ago) than job 1.
				Assignments: assign(2, "y"),
			},
		},
	})
}

func TestUsableDevices(t *testing.T) {
	types := []DeviceType{noCheck("t")}
	q := []Job{job(1, "t")}
	one := func(d Device, w ...Worker) Snapshot {
		return Snapshot{DeviceTypes: types, Devices: []Device{d}, Workers: w, Queue: q}
	}
	offline := worker("w1")
	offline.State = lab.WorkerOffline
	maint := worker("w1")
	maint.Health = lab.WorkerMaintenance
	retired := worker("w1")
	retired.Health = lab.WorkerRetired
	limited := func(limit, busy int) Worker { w := worker("w1"); w.JobLimit, w.Busy = limit, busy; return w }
	withState := func(s lab.DeviceState) Device { d := device("d1", "t", "w1"); d.State = s; return d }
	unknownDev := device("d2", "t", "w1")
	unknownDev.Health = lab.DeviceUnknown
	unknownDev.LastHealthCheck = time.Time{}

	runCases(t, []planCase{
		{name: "happy path", snap: one(device("d1", "t", "w1"), worker("w1")), want: Decisions{Assignments: assign(1, "d1")}},
		{name: "worker offline", snap: one(device("d1", "t", "w1"), offline)},
		{name: "worker in maintenance", snap: one(device("d1", "t", "w1"), maint)},
		{name: "worker retired", snap: one(device("d1", "t", "w1"), retired)},
		{name: "worker missing", snap: one(device("d1", "t", "w9"), worker("w1"))},
		{name: "device without worker", snap: one(device("d1", "t", ""), worker("w1"), worker(""))},
		{name: "device reserved", snap: one(withState(lab.DeviceReserved), worker("w1"))},
		{name: "device running", snap: one(withState(lab.DeviceRunning), worker("w1"))},
		{name: "device type not listed", snap: Snapshot{DeviceTypes: []DeviceType{noCheck("other")}, Devices: []Device{device("d1", "t", "w1")}, Workers: []Worker{worker("w1")}, Queue: q}},
		{name: "worker at limit", snap: one(device("d1", "t", "w1"), limited(2, 2))},
		{name: "worker over limit", snap: one(device("d1", "t", "w1"), limited(2, 5))},
		{name: "worker below limit", snap: one(device("d1", "t", "w1"), limited(2, 1)), want: Decisions{Assignments: assign(1, "d1")}},
		{name: "limit 0 is unlimited", snap: one(device("d1", "t", "w1"), limited(0, 100)), want: Decisions{Assignments: assign(1, "d1")}},
		{name: "negative limit is unlimited", snap: one(device("d1", "t", "w1"), limited(-1, 100)), want: Decisions{Assignments: assign(1, "d1")}},
		{
			name: "limit counts this pass's assignments",
			snap: Snapshot{
				DeviceTypes: types,
				Devices:     []Device{device("d1", "t", "w1"), device("d2", "t", "w1"), device("d3", "t", "w1"), device("e1", "t", "w2")},
				Workers:     []Worker{limited(3, 1), worker("w2")},
				Queue:       []Job{job(1, "t"), job(2, "t"), job(3, "t"), job(4, "t")},
			},
			// Queue order is 4, 3, 2, 1 (older first); d* come before e1.
			want: Decisions{Assignments: assign(4, "d1", 3, "d2", 2, "e1")},
		},
		{
			name: "limit counts health checks",
			snap: Snapshot{
				DeviceTypes: []DeviceType{checked("t", 24, lab.PerHours)},
				Devices:     []Device{unknownDev, device("d1", "t", "w1")},
				Workers:     []Worker{limited(1, 0)},
				Queue:       q,
			},
			want: Decisions{HealthChecks: []HealthCheck{{Device: "d2", Type: "t", Reason: "device health is Unknown"}}},
		},
		{
			name: "a full worker gets no health check",
			snap: Snapshot{
				DeviceTypes: []DeviceType{checked("t", 24, lab.PerHours)},
				Devices:     []Device{unknownDev},
				Workers:     []Worker{limited(1, 1)},
			},
		},
	})
}

func TestFit(t *testing.T) {
	types := []DeviceType{noCheck("t"), noCheck("u")}
	ws := []Worker{worker("w1"), worker("w2")}
	req := func(j Job, dev, wk string) Job { j.Device, j.Worker = dev, wk; return j }
	snap := func(devs []Device, jobs ...Job) Snapshot {
		return Snapshot{DeviceTypes: types, Devices: devs, Workers: ws, Queue: jobs}
	}
	runCases(t, []planCase{
		{name: "type must match", snap: snap([]Device{device("d1", "u", "w1")}, job(1, "t"))},
		{name: "job type not listed", snap: snap([]Device{device("d1", "t", "w1")}, job(1, "x"))},
		{name: "tags subset", snap: snap([]Device{device("d1", "t", "w1", "a", "b", "c")}, job(1, "t", "c", "a")), want: Decisions{Assignments: assign(1, "d1")}},
		{name: "duplicate job tags", snap: snap([]Device{device("d1", "t", "w1", "a")}, job(1, "t", "a", "a")), want: Decisions{Assignments: assign(1, "d1")}},
		{name: "tags not subset", snap: snap([]Device{device("d1", "t", "w1", "a", "b")}, job(1, "t", "a", "z"))},
		{name: "tag only on a busy device", snap: snap([]Device{func() Device { d := device("d0", "t", "w1", "z"); d.State = lab.DeviceRunning; return d }(), device("d1", "t", "w1")}, job(1, "t", "z"))},
		{
			name: "untagged job fits a tagged device",
			snap: snap([]Device{device("d1", "t", "w1", "a")}, job(1, "t")),
			want: Decisions{Assignments: assign(1, "d1")},
		},
		{
			name: "requested device",
			snap: snap([]Device{device("d1", "t", "w1"), device("d2", "t", "w1")}, req(job(1, "t"), "d2", "")),
			want: Decisions{Assignments: assign(1, "d2")},
		},
		{name: "requested device of another type", snap: snap([]Device{device("d1", "t", "w1"), device("d2", "u", "w1")}, req(job(1, "t"), "d2", ""))},
		{name: "requested device unknown", snap: snap([]Device{device("d1", "t", "w1")}, req(job(1, "t"), "nope", ""))},
		{name: "requested device lacks tags", snap: snap([]Device{device("d1", "t", "w1", "a"), device("d2", "t", "w1")}, req(job(1, "t", "a"), "d2", ""))},
		{name: "requested device busy", snap: snap([]Device{func() Device { d := device("d1", "t", "w1"); d.State = lab.DeviceReserved; return d }(), device("d2", "t", "w1")}, req(job(1, "t"), "d1", ""))},
		{
			name: "requested device taken earlier in the pass",
			snap: snap([]Device{device("d1", "t", "w1"), device("d2", "t", "w1", "a")}, req(job(1, "t"), "d1", ""), job(2, "t"), job(3, "t")),
			// 3 is oldest and takes d1 (fewest tags); 2 takes d2; 1 waits.
			want: Decisions{Assignments: assign(3, "d1", 2, "d2")},
		},
		{
			name: "requested worker",
			snap: snap([]Device{device("d1", "t", "w1"), device("d2", "t", "w2")}, req(job(1, "t"), "", "w2")),
			want: Decisions{Assignments: assign(1, "d2")},
		},
		{name: "requested worker unknown", snap: snap([]Device{device("d1", "t", "w1")}, req(job(1, "t"), "", "w9"))},
		{name: "requested worker without devices of the type", snap: snap([]Device{device("d1", "t", "w1"), device("d2", "u", "w2")}, req(job(1, "t"), "", "w2"))},
		{name: "requested device not on requested worker", snap: snap([]Device{device("d1", "t", "w1"), device("d2", "t", "w2")}, req(job(1, "t"), "d1", "w2"))},
		{
			name: "requested device on requested worker",
			snap: snap([]Device{device("d1", "t", "w1"), device("d2", "t", "w2")}, req(job(1, "t"), "d2", "w2")),
			want: Decisions{Assignments: assign(1, "d2")},
		},
		{
			name: "requested worker with tags",
			snap: snap([]Device{device("d1", "t", "w1", "a"), device("d2", "t", "w2"), device("d3", "t", "w2", "a", "b")}, req(job(1, "t", "a"), "", "w2")),
			want: Decisions{Assignments: assign(1, "d3")},
		},
	})
}

func TestOrder(t *testing.T) {
	types := []DeviceType{noCheck("a"), noCheck("b")}
	ws := []Worker{worker("w1")}
	one := []Device{device("d1", "a", "w1")}
	j := func(id int64, prio int, submitMin int) Job {
		jb := job(id, "a")
		jb.Priority = prio
		jb.SubmitTime = now.Add(-time.Duration(submitMin) * time.Minute)
		return jb
	}
	limited := worker("w1")
	limited.JobLimit = 1
	runCases(t, []planCase{
		{
			name: "higher priority first",
			snap: Snapshot{DeviceTypes: types, Devices: one, Workers: ws, Queue: []Job{j(1, 10, 100), j(2, 90, 1), j(3, 50, 50)}},
			want: Decisions{Assignments: assign(2, "d1")},
		},
		{
			name: "same priority: older first",
			snap: Snapshot{DeviceTypes: types, Devices: one, Workers: ws, Queue: []Job{j(1, 50, 5), j(2, 50, 9), j(3, 50, 7)}},
			want: Decisions{Assignments: assign(2, "d1")},
		},
		{
			name: "same priority and time: lower ID first",
			snap: Snapshot{DeviceTypes: types, Devices: one, Workers: ws, Queue: []Job{j(7, 50, 5), j(3, 50, 5), j(5, 50, 5)}},
			want: Decisions{Assignments: assign(3, "d1")},
		},
		{
			name: "sub-second submit times order",
			snap: Snapshot{DeviceTypes: types, Devices: one, Workers: ws, Queue: []Job{
				{ID: 1, Priority: 50, Type: "a", SubmitTime: now.Add(-time.Second + time.Millisecond)},
				{ID: 2, Priority: 50, Type: "a", SubmitTime: now.Add(-time.Second)},
			}},
			want: Decisions{Assignments: assign(2, "d1")},
		},
		{
			name: "assignments listed in queue order",
			snap: Snapshot{
				DeviceTypes: types,
				Devices:     []Device{device("d1", "a", "w1"), device("d2", "a", "w1"), device("e1", "b", "w1")},
				Workers:     ws,
				Queue:       []Job{j(1, 10, 1), func() Job { jb := j(2, 20, 1); jb.Type = "b"; return jb }(), j(3, 30, 1)},
			},
			want: Decisions{Assignments: assign(3, "d1", 2, "e1", 1, "d2")},
		},
		{
			name: "a higher-priority job of a later type wins the last worker slot",
			snap: Snapshot{
				DeviceTypes: types,
				Devices:     []Device{device("d1", "a", "w1"), device("e1", "b", "w1")},
				Workers:     []Worker{limited},
				Queue:       []Job{j(1, 10, 100), func() Job { jb := j(2, 90, 1); jb.Type = "b"; return jb }()},
			},
			want: Decisions{Assignments: assign(2, "e1")},
		},
		{
			name: "a waiting specific job does not block a general one",
			snap: Snapshot{
				DeviceTypes: types,
				Devices:     []Device{device("d1", "a", "w1")},
				Workers:     ws,
				Queue:       []Job{func() Job { jb := j(1, 90, 9); jb.Tags = []string{"x"}; return jb }(), j(2, 10, 1)},
			},
			want: Decisions{Assignments: assign(2, "d1")},
		},
	})
}

func TestDevicePreference(t *testing.T) {
	types := []DeviceType{noCheck("t")}
	ws := []Worker{worker("w1")}
	prio := func(jb Job, p int) Job { jb.Priority = p; return jb }
	runCases(t, []planCase{
		{
			name: "fewest tags wins",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Queue: []Job{job(1, "t")}, Devices: []Device{
				device("a", "t", "w1", "x", "y"), device("b", "t", "w1", "x"), device("c", "t", "w1", "x", "y", "z"),
			}},
			want: Decisions{Assignments: assign(1, "b")},
		},
		{
			name: "duplicate device tags count once",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Queue: []Job{job(1, "t")}, Devices: []Device{
				device("a", "t", "w1", "x", "x", "x"), device("b", "t", "w1", "x", "y"),
			}},
			want: Decisions{Assignments: assign(1, "a")},
		},
		{
			name: "then hostname",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Queue: []Job{job(1, "t")}, Devices: []Device{
				device("d3", "t", "w1"), device("d1", "t", "w1"), device("d2", "t", "w1"),
			}},
			want: Decisions{Assignments: assign(1, "d1")},
		},
		{
			name: "tagged board is kept for the job that needs it (LAVA may lose it)",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Queue: []Job{prio(job(1, "t"), 90), prio(job(2, "t", "special"), 50)}, Devices: []Device{
				device("aa-special", "t", "w1", "special"), device("zz-plain", "t", "w1"),
			}},
			want: Decisions{Assignments: assign(1, "zz-plain", 2, "aa-special")},
		},
	})
}

func TestExpiry(t *testing.T) {
	types := []DeviceType{noCheck("t")}
	ws := []Worker{worker("w1")}
	timed := func(id int64, submitAgo, timeout time.Duration) Job {
		jb := job(id, "t")
		jb.SubmitTime = now.Add(-submitAgo)
		jb.QueueTimeout = timeout
		return jb
	}
	runCases(t, []planCase{
		{
			name: "expired job is listed and not assigned; the next job runs",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Devices: []Device{device("d1", "t", "w1")},
				Queue: []Job{timed(1, 2*time.Hour, time.Hour), timed(2, time.Hour, 0)}},
			want: Decisions{Assignments: assign(2, "d1"), Expired: []int64{1}},
		},
		{
			name: "timeout ending exactly now has not expired",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Devices: []Device{device("d1", "t", "w1")},
				Queue: []Job{timed(1, time.Hour, time.Hour)}},
			want: Decisions{Assignments: assign(1, "d1")},
		},
		{
			name: "one nanosecond later it has",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Devices: []Device{device("d1", "t", "w1")},
				Queue: []Job{timed(1, time.Hour+1, time.Hour)}},
			want: Decisions{Expired: []int64{1}},
		},
		{
			name: "no timeout never expires",
			snap: Snapshot{DeviceTypes: types, Workers: ws, Queue: []Job{timed(1, 10000*time.Hour, 0), timed(2, 10000*time.Hour, -time.Second)}},
		},
		{
			name: "expiry applies without devices or known types, sorted by ID",
			snap: Snapshot{Queue: []Job{timed(9, 2*time.Hour, time.Hour), timed(3, 2*time.Hour, time.Minute), timed(5, time.Minute, time.Hour)}},
			want: Decisions{Expired: []int64{3, 9}},
		},
	})
}

func TestDuplicateKeys(t *testing.T) {
	offline := worker("w1")
	offline.State = lab.WorkerOffline
	dupType := checked("t", 24, lab.PerHours)
	jb := job(1, "t")
	jb.Priority = 10
	runCases(t, []planCase{
		{
			name: "duplicate job ID is assigned once, first in queue order",
			snap: Snapshot{DeviceTypes: []DeviceType{noCheck("t")}, Workers: []Worker{worker("w1")},
				Devices: []Device{device("d1", "t", "w1"), device("d2", "t", "w1"), device("d3", "t", "w1")},
				Queue:   []Job{job(2, "t"), jb, job(1, "t")}},
			want: Decisions{Assignments: assign(2, "d1", 1, "d2")},
		},
		{
			name: "duplicate job ID with an expired entry is expired once, never assigned",
			snap: Snapshot{DeviceTypes: []DeviceType{noCheck("t")}, Workers: []Worker{worker("w1")},
				Devices: []Device{device("d1", "t", "w1")},
				Queue: []Job{
					job(1, "t"),
					{ID: 1, Type: "t", SubmitTime: now.Add(-time.Hour), QueueTimeout: time.Minute},
					{ID: 1, Type: "t", SubmitTime: now.Add(-time.Hour), QueueTimeout: time.Second},
				}},
			want: Decisions{Expired: []int64{1}},
		},
		{
			name: "duplicate hostname: first device wins",
			snap: Snapshot{DeviceTypes: []DeviceType{noCheck("t")}, Workers: []Worker{worker("w1"), worker("w2")},
				Devices: []Device{device("d1", "t", "w2"), device("d1", "t", "w1")},
				Queue:   []Job{func() Job { j := job(1, "t"); j.Worker = "w1"; return j }(), func() Job { j := job(2, "t"); j.Worker = "w2"; return j }()}},
			want: Decisions{Assignments: assign(2, "d1")},
		},
		{
			name: "duplicate worker: first entry wins",
			snap: Snapshot{DeviceTypes: []DeviceType{noCheck("t")}, Workers: []Worker{offline, worker("w1")},
				Devices: []Device{device("d1", "t", "w1")}, Queue: []Job{job(1, "t")}},
		},
		{
			name: "duplicate device type: first entry wins",
			snap: Snapshot{DeviceTypes: []DeviceType{dupType, noCheck("t")}, Workers: []Worker{worker("w1")},
				Devices: []Device{func() Device { d := device("d1", "t", "w1"); d.Health = lab.DeviceUnknown; return d }()},
				Queue:   []Job{job(1, "t")}},
			want: Decisions{HealthChecks: []HealthCheck{{Device: "d1", Type: "t", Reason: "device health is Unknown"}}},
		},
	})
}

func TestWideTagSets(t *testing.T) {
	// 130 distinct tags need three words per set.
	tag := func(i int) string { return fmt.Sprintf("tag%03d", i) }
	var all []string
	for i := range 130 {
		all = append(all, tag(i))
	}
	devs := []Device{
		device("d-all", "t", "w1", all...),
		device("d-high", "t", "w1", tag(64), tag(129)),
		device("d-low", "t", "w1", tag(0), tag(63)),
		device("d-alias", "t", "w1", tag(65)), // bit 1 of word 1
	}
	runCases(t, []planCase{{
		name: "subset tests across words",
		snap: Snapshot{
			DeviceTypes: []DeviceType{noCheck("t")},
			Workers:     []Worker{worker("w1")},
			Devices:     devs,
			Queue: []Job{
				job(6, "t", tag(129)),          // d-high (fewer tags than d-all)
				job(5, "t", tag(129), tag(64)), // only d-all is left with both
				job(4, "t", tag(0), tag(129)),  // nothing left
				job(3, "t", tag(0)),            // d-low
				job(2, "t", tag(129)),          // nothing left
				job(1, "t", tag(1)),            // bit 1 of word 0: not d-alias
			},
		},
		want: Decisions{Assignments: assign(6, "d-high", 5, "d-all", 3, "d-low")},
	}})
}

func TestPlanLeavesSnapshotUntouched(t *testing.T) {
	s := Snapshot{
		Now:         now,
		DeviceTypes: []DeviceType{checked("b", 1, lab.PerJobs), noCheck("a")},
		Devices:     []Device{device("d2", "a", "w1", "y", "x"), device("d1", "a", "w1", "x"), device("e1", "b", "w1")},
		Workers:     []Worker{worker("w1")},
		Queue:       []Job{job(3, "a", "x"), job(1, "a"), job(2, "b")},
	}
	before := deepCopy(s)
	Plan(s)
	if diff := cmp.Diff(before, s); diff != "" {
		t.Errorf("Plan modified its input (-before +after):\n%s", diff)
	}
}

func deepCopy(s Snapshot) Snapshot {
	c := s
	c.DeviceTypes = append([]DeviceType(nil), s.DeviceTypes...)
	c.Workers = append([]Worker(nil), s.Workers...)
	c.Devices = append([]Device(nil), s.Devices...)
	for i := range c.Devices {
		c.Devices[i].Tags = append([]string(nil), c.Devices[i].Tags...)
	}
	c.Queue = append([]Job(nil), s.Queue...)
	for i := range c.Queue {
		c.Queue[i].Tags = append([]string(nil), c.Queue[i].Tags...)
	}
	return c
}
