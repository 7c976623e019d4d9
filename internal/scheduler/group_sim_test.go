package scheduler

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/basalt-lab/basalt/internal/lab"
)

// sim runs scheduling passes over a lab whose only changes are the jobs:
// each pass applies Plan's assignments (the device runs the job for dur()
// passes, then is Idle again), the queue ages by a minute (the snapshot's
// Now stays the package's now, so submit times move back instead) and new
// ordinary jobs arrive.
type sim struct {
	s        Snapshot
	left     map[string]int // running device → passes left
	dur      func() int
	arrivals func(pass int) []Job
	started  map[int64]int // job → the pass that assigned it
	pass     int
}

func newSim(s Snapshot, dur func() int, arrivals func(int) []Job) *sim {
	return &sim{s: s, left: map[string]int{}, dur: dur, arrivals: arrivals, started: map[int64]int{}}
}

// step runs one pass, checks its invariants and applies it.
func (sm *sim) step(t fataler) Decisions {
	s := &sm.s
	s.Now = now
	d := Plan(*s)
	checkInvariants(t, *s, d)
	if len(d.HealthChecks) > 0 || len(d.Expired) > 0 {
		t.Fatalf("pass %d: unexpected decisions %+v", sm.pass, d)
	}
	for _, a := range d.Assignments {
		i := slices.IndexFunc(s.Devices, func(dv Device) bool { return dv.Hostname == a.Device })
		dv := &s.Devices[i]
		dv.State, dv.Job = lab.DeviceRunning, a.Job
		sm.left[a.Device] = sm.dur()
		s.Workers[slices.IndexFunc(s.Workers, func(w Worker) bool { return w.Name == dv.Worker })].Busy++
		s.Queue = slices.DeleteFunc(s.Queue, func(j Job) bool { return j.ID == a.Job })
		sm.started[a.Job] = sm.pass
	}
	for i := range s.Devices {
		dv := &s.Devices[i]
		if n, ok := sm.left[dv.Hostname]; ok {
			if n > 1 {
				sm.left[dv.Hostname] = n - 1
				continue
			}
			delete(sm.left, dv.Hostname)
			dv.State, dv.Job = lab.DeviceIdle, 0
			s.Workers[slices.IndexFunc(s.Workers, func(w Worker) bool { return w.Name == dv.Worker })].Busy--
		}
	}
	for i := range s.Queue {
		s.Queue[i].SubmitTime = s.Queue[i].SubmitTime.Add(-time.Minute)
	}
	s.Queue = append(s.Queue, sm.arrivals(sm.pass)...)
	sm.pass++
	return d
}

// TestGroupHoldPreventsStarvation: two busy boards, a group that needs
// both, and a stream of ordinary jobs behind it. Without a hold, whichever
// board frees up goes to the next ordinary job and the group never finds
// both free; with GroupHoldAfter, the board that frees up first is kept
// for the group until the other one frees up too.
func TestGroupHoldPreventsStarvation(t *testing.T) {
	for _, tc := range []struct {
		hold   time.Duration
		placed int // the pass that places the group, -1: none in 30
	}{
		{0, -1},
		{time.Minute, 3},
		{5 * time.Minute, 7},
	} {
		t.Run(fmt.Sprintf("hold after %s", tc.hold), func(t *testing.T) {
			s := Snapshot{GroupHoldAfter: tc.hold, DeviceTypes: []DeviceType{noCheck("qemu")},
				Workers: []Worker{with(worker("w1"), func(w *Worker) { w.Busy = 2 })},
				Devices: []Device{running(device("q1", "qemu", "w1"), 91), running(device("q2", "qemu", "w1"), 92)},
				Queue: []Job{inGroup(Job{ID: 1, Type: "qemu", SubmitTime: now}, "g", 2, "a"),
					inGroup(Job{ID: 2, Type: "qemu", SubmitTime: now}, "g", 2, "b")}}
			id := int64(100)
			sm := newSim(s, func() int { return 2 }, func(int) []Job {
				id++
				return []Job{{ID: id, Type: "qemu", SubmitTime: now}}
			})
			sm.left = map[string]int{"q1": 1, "q2": 2}
			for range 30 {
				sm.step(t)
			}
			got, ok := sm.started[1]
			if !ok {
				got = -1
			}
			if got != tc.placed || sm.started[2] != sm.started[1] {
				t.Errorf("group placed at pass %d (job 2: %d), want %d", got, sm.started[2], tc.placed)
			}
		})
	}
}

// TestGroupsEventuallyRun is the liveness property of rule 8: in a random
// static lab with GroupHoldAfter > 0, every group that fits the lab
// (GroupFeasible) runs within a bounded number of passes, even though a
// stream of ordinary jobs, each running a few passes, keeps arriving
// behind the groups and would take any device left free; a group that
// does not fit never runs.
func TestGroupsEventuallyRun(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := Snapshot{GroupHoldAfter: time.Duration(rapid.IntRange(1, 3).Draw(t, "holdafter")) * time.Minute}
		nTypes := rapid.IntRange(1, 2).Draw(t, "types")
		for i := range nTypes {
			s.DeviceTypes = append(s.DeviceTypes, noCheck(fmt.Sprintf("t%d", i)))
		}
		for i := range rapid.IntRange(1, 3).Draw(t, "workers") {
			w := worker(fmt.Sprintf("w%d", i))
			w.JobLimit = rapid.IntRange(0, 3).Draw(t, "limit")
			s.Workers = append(s.Workers, w)
		}
		tagSets := [][]string{nil, {"x"}, {"y"}, {"x", "y"}}
		for i := range rapid.IntRange(2, 8).Draw(t, "devices") {
			s.Devices = append(s.Devices, device(fmt.Sprintf("d%d", i), rapid.SampledFrom(s.DeviceTypes).Draw(t, "dtype").Name,
				rapid.SampledFrom(s.Workers).Draw(t, "dworker").Name, rapid.SampledFrom(tagSets).Draw(t, "dtags")...))
		}
		// Requirements drawn from the devices, so that they often fit.
		requirement := func(label string) (string, []string) {
			d := rapid.SampledFrom(s.Devices).Draw(t, label+"dev")
			var tags []string
			for _, tag := range d.Tags {
				if rapid.Bool().Draw(t, label+"tag") {
					tags = append(tags, tag)
				}
			}
			return d.Type, tags
		}
		groups := map[string][]Job{}
		id := int64(0)
		nGroups := rapid.IntRange(1, 3).Draw(t, "groups")
		for g := range nGroups {
			name := fmt.Sprintf("g%d", g)
			size := rapid.IntRange(1, 3).Draw(t, "size")
			for n := range size {
				id++
				typ, tags := requirement("member")
				j := inGroup(Job{ID: id, Priority: 50, SubmitTime: now, Type: typ, Tags: tags}, name, size, fmt.Sprintf("r%d", n))
				groups[name] = append(groups[name], j)
				s.Queue = append(s.Queue, j)
			}
		}
		maxDur := rapid.IntRange(1, 3).Draw(t, "maxdur")
		id = 1000
		sm := newSim(s, func() int { return rapid.IntRange(1, maxDur).Draw(t, "dur") }, func(int) []Job {
			var out []Job
			for range rapid.IntRange(1, 3).Draw(t, "arrivals") {
				id++
				typ, tags := requirement("stream")
				out = append(out, Job{ID: id, Priority: rapid.SampledFrom([]int{0, 50}).Draw(t, "sprio"), SubmitTime: now, Type: typ, Tags: tags})
			}
			return out
		})

		// The first feasible group waiting is placed within 2·maxDur+2
		// passes of its hold: its matching's busy devices free within
		// maxDur passes, and the slots of its workers within another
		// maxDur, as no job behind it may start on a held device or slot.
		holdPasses := int(s.GroupHoldAfter/time.Minute) + 1
		bound := holdPasses + nGroups*(2*maxDur+3)
		for range bound {
			sm.step(t)
		}
		for name, members := range groups {
			ok, why := GroupFeasible(s.Devices, s.Workers, members)
			_, placed := sm.started[members[0].ID]
			if ok != placed {
				t.Fatalf("group %s (%+v): feasible %v (%s), placed within %d passes: %v", name, members, ok, why, bound, placed)
			}
		}
	})
}
