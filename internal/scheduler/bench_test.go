package scheduler

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// labShape describes a synthetic lab for benchmarks.
type labShape struct {
	name                        string
	jobs, devices, types, wkers int
	tagPool                     int // distinct tag names
	maxJobTags, maxDeviceTags   int
}

var shapes = []labShape{
	{name: "small", jobs: 500, devices: 50, types: 5, wkers: 5, tagPool: 10, maxJobTags: 3, maxDeviceTags: 5},
	{name: "large", jobs: 10_000, devices: 1_000, types: 50, wkers: 50, tagPool: 10, maxJobTags: 3, maxDeviceTags: 5},
	{name: "large-one-type", jobs: 10_000, devices: 1_000, types: 1, wkers: 50, tagPool: 10, maxJobTags: 3, maxDeviceTags: 5},
	{name: "large-wide-tags", jobs: 10_000, devices: 1_000, types: 50, wkers: 50, tagPool: 200, maxJobTags: 3, maxDeviceTags: 40},
}

// synthLab builds a reproducible snapshot of the given shape: most workers
// online and active (some with job limits), most devices idle and healthy
// (some due a health check, some busy, some in maintenance), a queue in
// random order with mixed priorities, submit times, tags, requested
// devices and workers, and queue timeouts.
func synthLab(sh labShape, seed uint64) Snapshot {
	r := rand.New(rand.NewPCG(seed, 0x5ca1ab1e))
	s := Snapshot{Now: now}
	tag := func() string { return fmt.Sprintf("tag-%d", r.IntN(sh.tagPool)) }
	for i := range sh.types {
		t := DeviceType{Name: fmt.Sprintf("type-%02d", i), HealthFrequency: 24, HasHealthCheck: r.IntN(10) < 8}
		if r.IntN(4) == 0 {
			t.HealthDenominator, t.HealthFrequency = lab.PerJobs, 10
		}
		s.DeviceTypes = append(s.DeviceTypes, t)
	}
	for i := range sh.wkers {
		w := Worker{Name: fmt.Sprintf("worker-%02d", i), State: lab.WorkerOnline, Health: lab.WorkerActive}
		switch r.IntN(20) {
		case 0:
			w.State = lab.WorkerOffline
		case 1:
			w.Health = lab.WorkerMaintenance
		case 2, 3, 4:
			w.JobLimit = 1 + r.IntN(sh.devices/sh.wkers)
		}
		s.Workers = append(s.Workers, w)
	}
	for i := range sh.devices {
		d := Device{
			Hostname:             fmt.Sprintf("dev-%04d", i),
			Type:                 s.DeviceTypes[r.IntN(sh.types)].Name,
			Worker:               s.Workers[r.IntN(sh.wkers)].Name,
			State:                lab.DeviceIdle,
			Health:               lab.DeviceGood,
			LastHealthCheck:      now.Add(-time.Duration(r.IntN(30)) * time.Hour),
			JobsSinceHealthCheck: r.IntN(12),
		}
		for range r.IntN(sh.maxDeviceTags + 1) {
			d.Tags = append(d.Tags, tag())
		}
		switch r.IntN(10) {
		case 0:
			d.State = lab.DeviceRunning
		case 1:
			d.Health = lab.DeviceUnknown
		case 2:
			d.Health = lab.DeviceMaintenance
		}
		s.Devices = append(s.Devices, d)
	}
	for i := range sh.jobs {
		j := Job{
			ID:         int64(i + 1),
			Priority:   []int{0, 50, 50, 50, 100}[r.IntN(5)],
			SubmitTime: now.Add(-time.Duration(r.IntN(48*3600)) * time.Second),
			Type:       s.DeviceTypes[r.IntN(sh.types)].Name,
		}
		for range r.IntN(sh.maxJobTags + 1) {
			j.Tags = append(j.Tags, tag())
		}
		switch r.IntN(50) {
		case 0:
			j.Device = s.Devices[r.IntN(sh.devices)].Hostname
		case 1:
			j.Worker = s.Workers[r.IntN(sh.wkers)].Name
		case 2, 3, 4, 5:
			j.QueueTimeout = time.Duration(1+r.IntN(72)) * time.Hour
		}
		s.Queue = append(s.Queue, j)
	}
	r.Shuffle(len(s.Queue), func(a, b int) { s.Queue[a], s.Queue[b] = s.Queue[b], s.Queue[a] })
	return s
}

func BenchmarkPlan(b *testing.B) {
	for _, sh := range shapes {
		s := synthLab(sh, 1)
		d := Plan(s)
		b.Run(fmt.Sprintf("%s/jobs=%d/devices=%d/types=%d/workers=%d", sh.name, sh.jobs, sh.devices, sh.types, sh.wkers), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Plan(s)
			}
			b.ReportMetric(float64(len(d.Assignments)), "assigned")
			b.ReportMetric(float64(len(d.HealthChecks)), "checks")
		})
	}
}

// TestSyntheticLabs runs the benchmark shapes once through the invariant
// checks, so the benchmarked snapshots are known to be planned correctly
// (and to exercise the interesting paths: assignments, health checks,
// expiry, waiting jobs).
func TestSyntheticLabs(t *testing.T) {
	for _, sh := range shapes[:2] {
		t.Run(sh.name, func(t *testing.T) {
			s := synthLab(sh, 1)
			d := Plan(s)
			if len(d.Assignments) == 0 || len(d.HealthChecks) == 0 || len(d.Expired) == 0 ||
				len(d.Assignments)+len(d.Expired) == len(s.Queue) {
				t.Fatalf("synthetic lab is degenerate: %d assigned, %d checks, %d expired of %d jobs",
					len(d.Assignments), len(d.HealthChecks), len(d.Expired), len(s.Queue))
			}
			checkInvariants(t, s, d)
			if diff := cmpPlans(referencePlan(t, s, d), d); diff != "" {
				t.Fatalf("Plan differs from the reference (-reference +Plan):\n%s", diff)
			}
		})
	}
}

// BenchmarkExplain explains the waiting job served last (the one with the
// most jobs ahead to count) in the large labs.
func BenchmarkExplain(b *testing.B) {
	for _, sh := range shapes[1:] {
		s := synthLab(sh, 1)
		var last *Job
		for i := range s.Queue {
			j := &s.Queue[i]
			if !expired(*j) && (last == nil || queueOrder(*last, *j) < 0) {
				last = j
			}
		}
		e := Explain(s, last.ID)
		b.Run(fmt.Sprintf("%s/jobs=%d/devices=%d", sh.name, sh.jobs, sh.devices), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Explain(s, last.ID)
			}
			b.ReportMetric(float64(e.Ahead), "ahead")
			b.ReportMetric(float64(len(e.Devices)), "devices")
		})
	}
}

// groupShape is the lab of BenchmarkPlanGroups: 10,000 queued jobs, of
// which the members of 1,000 groups of 2–4 jobs, on 1,000 devices of five
// types and 50 workers.
var groupShape = labShape{name: "groups", jobs: 10_000, devices: 1_000, types: 5, wkers: 50, tagPool: 10, maxJobTags: 2, maxDeviceTags: 5}

// synthGroupLab is synthLab(groupShape) with groups of 2–4 members made of
// queued jobs (in their random order), each member keeping its own type,
// tags and requests (roles differ) and sharing the first member's
// priority, submit time and queue timeout.
func synthGroupLab(groups int, hold time.Duration, seed uint64) Snapshot {
	s := synthLab(groupShape, seed)
	s.GroupHoldAfter = hold
	r := rand.New(rand.NewPCG(seed, 0x6a6e6700))
	next := 0
	for g := range groups {
		size := 2 + r.IntN(3)
		first := s.Queue[next]
		for n := range size {
			j := &s.Queue[next]
			next++
			j.Group, j.GroupSize, j.Role = fmt.Sprintf("group-%04d", g), size, fmt.Sprintf("role-%d", n%2)
			j.Priority, j.SubmitTime, j.QueueTimeout = first.Priority, first.SubmitTime, first.QueueTimeout
		}
	}
	return s
}

func BenchmarkPlanGroups(b *testing.B) {
	for _, hold := range []time.Duration{0, time.Hour} {
		s := synthGroupLab(1_000, hold, 1)
		d := Plan(s)
		groups := map[string]bool{}
		for _, a := range d.Assignments {
			if a.Group != "" {
				groups[a.Group] = true
			}
		}
		b.Run(fmt.Sprintf("jobs=%d/groups=1000/devices=%d/types=%d/workers=%d/hold=%s", len(s.Queue), groupShape.devices, groupShape.types,
			groupShape.wkers, hold), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Plan(s)
			}
			b.ReportMetric(float64(len(d.Assignments)), "assigned")
			b.ReportMetric(float64(len(groups)), "groups-placed")
			b.ReportMetric(float64(len(d.Holds)), "holds")
		})
	}
}

// TestSyntheticGroupLab runs the benchmarked group labs once through the
// invariant checks, and checks that they exercise groups: some placed,
// some waiting, and with a hold, some held.
func TestSyntheticGroupLab(t *testing.T) {
	for _, hold := range []time.Duration{0, time.Hour} {
		s := synthGroupLab(1_000, hold, 1)
		d := Plan(s)
		checkInvariants(t, s, d)
		placed := map[string]bool{}
		for _, a := range d.Assignments {
			if a.Group != "" {
				placed[a.Group] = true
			}
		}
		holding := 0
		for _, h := range d.Holds {
			if len(h.Devices) > 0 {
				holding++
			}
		}
		if len(placed) == 0 || len(placed) == 1_000 || (hold > 0) != (len(d.Holds) > 0) {
			t.Fatalf("hold %s: degenerate group lab: %d groups placed, %d holds (%d holding devices)", hold, len(placed), len(d.Holds), holding)
		}
		t.Logf("hold %s: %d assigned, %d groups placed, %d holds (%d holding devices)", hold, len(d.Assignments), len(placed), len(d.Holds), holding)
	}
}
