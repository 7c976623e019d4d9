package scheduler

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/basalt-lab/basalt/internal/lab"
)

// inGroup makes job j a member of group g (of size n) with the given role.
func inGroup(j Job, g string, n int, role string) Job {
	j.Group, j.GroupSize, j.Role = g, n, role
	return j
}

// gassign is assign for the members of group g.
func gassign(g string, pairs ...any) []Assignment {
	out := assign(pairs...)
	for i := range out {
		out[i].Group = g
	}
	return out
}

func running(d Device, job int64) Device {
	d.State, d.Job = lab.DeviceRunning, job
	return d
}

func TestGroups(t *testing.T) {
	qemu := []DeviceType{noCheck("qemu")}
	w1 := []Worker{worker("w1")}
	q1, q2, q3 := device("q1", "qemu", "w1"), device("q2", "qemu", "w1"), device("q3", "qemu", "w1")
	limited := func(name string, limit int) Worker {
		w := worker(name)
		w.JobLimit = limit
		return w
	}
	withWorker := func(j Job, w string) Job { j.Worker = w; return j }
	withDevice := func(j Job, d string) Job { j.Device = d; return j }
	timed := func(j Job, timeout time.Duration) Job { j.QueueTimeout = timeout; return j }

	runCases(t, []planCase{
		{
			name: "two roles on one type: placed together, consecutively, with the group's name",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, q3},
				Queue: []Job{job(1, "qemu"), inGroup(job(3, "qemu"), "g", 2, "server"), inGroup(job(4, "qemu"), "g", 2, "client"), job(2, "qemu")}},
			want: Decisions{Assignments: slices.Concat(
				gassign("g", 4, "q1", 3, "q2"), // the group is served at its oldest member, job 4
				assign(2, "q3"))},
		},
		{
			name: "roles compete for a tagged board: a matching, not a greedy choice",
			// Job 2 (any board, served first) prefers x1, the board with
			// the fewest tags, which job 1 needs; the matching moves it.
			snap: Snapshot{DeviceTypes: qemu, Workers: w1,
				Devices: []Device{device("x1", "qemu", "w1", "x"), device("yz", "qemu", "w1", "y", "z")},
				Queue:   []Job{inGroup(job(2, "qemu"), "g", 2, "any"), inGroup(job(1, "qemu", "x"), "g", 2, "tagged")}},
			want: Decisions{Assignments: gassign("g", 2, "yz", 1, "x1")},
		},
		{
			name: "a group larger than the free devices waits; ordinary jobs behind it run",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, running(q3, 99)},
				Queue: []Job{inGroup(job(10, "qemu"), "g", 3, "r"), inGroup(job(11, "qemu"), "g", 3, "r"),
					inGroup(job(12, "qemu"), "g", 3, "r"), job(1, "qemu")}},
			want: Decisions{Assignments: assign(1, "q1")},
		},
		{
			name: "before GroupHoldAfter passes, ordinary jobs behind still run",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, running(q3, 99)}, GroupHoldAfter: 12 * time.Minute,
				Queue: []Job{inGroup(job(10, "qemu"), "g", 3, "r"), inGroup(job(11, "qemu"), "g", 3, "r"),
					inGroup(job(12, "qemu"), "g", 3, "r"), job(1, "qemu")}},
			want: Decisions{Assignments: assign(1, "q1")},
		},
		{
			name: "after GroupHoldAfter, the group holds the free devices of its matching",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, running(q3, 99)}, GroupHoldAfter: 11 * time.Minute,
				Queue: []Job{inGroup(job(10, "qemu"), "g", 3, "r"), inGroup(job(11, "qemu"), "g", 3, "r"),
					inGroup(job(12, "qemu"), "g", 3, "r"), job(1, "qemu")}},
			want: Decisions{Holds: []Hold{{Group: "g", Devices: []string{"q1", "q2"}, Waits: []string{"q3"}}}},
		},
		{
			name: "a hold takes only the devices of one matching; jobs behind get the rest",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, GroupHoldAfter: time.Minute,
				Devices: []Device{q1, q2, q3, running(device("q4", "qemu", "w1", "x"), 99)},
				Queue:   []Job{inGroup(job(10, "qemu"), "g", 2, "r"), inGroup(job(11, "qemu", "x"), "g", 2, "x"), job(1, "qemu")}},
			want: Decisions{Assignments: assign(1, "q2"),
				Holds: []Hold{{Group: "g", Devices: []string{"q1"}, Waits: []string{"q4"}}}},
		},
		{
			name: "a group that does not fit the devices in service holds nothing",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, GroupHoldAfter: time.Minute,
				Devices: []Device{q1, with(q2, func(d *Device) { d.Health = lab.DeviceMaintenance })},
				Queue:   []Job{inGroup(job(10, "qemu"), "g", 2, "r"), inGroup(job(11, "qemu"), "g", 2, "r"), job(1, "qemu")}},
			want: Decisions{Assignments: assign(1, "q1")},
		},
		{
			name: "the worker job limit counts across members",
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{limited("w1", 1), worker("w2")},
				Devices: []Device{q1, q2, device("r1", "qemu", "w2")},
				Queue:   []Job{inGroup(job(2, "qemu"), "g", 2, "r"), inGroup(job(1, "qemu"), "g", 2, "r")}},
			want: Decisions{Assignments: gassign("g", 2, "q1", 1, "r1")},
		},
		{
			name: "the worker job limit can keep a group out",
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{limited("w1", 1)}, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(job(2, "qemu"), "g", 2, "r"), inGroup(job(1, "qemu"), "g", 2, "r"), job(3, "qemu")}},
			want: Decisions{Assignments: assign(3, "q1")},
		},
		{
			name: "a member moves off a full worker to make room for one that needs it",
			// Job 2 first takes q1 on w1 (limit 1), whose slot job 1
			// needs for q2: the search moves job 2 to r1 on w2.
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{limited("w1", 1), worker("w2")},
				Devices: []Device{q1, q2, device("r1", "qemu", "w2", "t")},
				Queue:   []Job{inGroup(job(2, "qemu"), "g", 2, "a"), inGroup(withDevice(job(1, "qemu"), "q2"), "g", 2, "b")}},
			want: Decisions{Assignments: gassign("g", 2, "r1", 1, "q2")},
		},
		{
			name: "a member moves off a device another one needs",
			snap: Snapshot{DeviceTypes: qemu, Workers: []Worker{limited("w1", 1), worker("w2")},
				Devices: []Device{q1, q2, device("r1", "qemu", "w2", "t")},
				Queue:   []Job{inGroup(job(2, "qemu"), "g", 2, "a"), inGroup(withWorker(job(1, "qemu"), "w1"), "g", 2, "b")}},
			want: Decisions{Assignments: gassign("g", 2, "r1", 1, "q1")},
		},
		{
			name: "requested device per role",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, q3},
				Queue: []Job{inGroup(withDevice(job(2, "qemu"), "q3"), "g", 2, "a"), inGroup(withDevice(job(1, "qemu"), "q1"), "g", 2, "b")}},
			want: Decisions{Assignments: gassign("g", 2, "q3", 1, "q1")},
		},
		{
			name: "two members requesting the same device never run",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(withDevice(job(2, "qemu"), "q1"), "g", 2, "a"), inGroup(withDevice(job(1, "qemu"), "q1"), "g", 2, "b")}},
		},
		{
			name: "a group with a missing member is never placed",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, q3}, GroupHoldAfter: time.Minute,
				Queue: []Job{inGroup(job(10, "qemu"), "g", 3, "r"), inGroup(job(11, "qemu"), "g", 3, "r"), job(1, "qemu")}},
			want: Decisions{Assignments: assign(1, "q1")},
		},
		{
			name: "members disagreeing on the size are never placed",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(job(10, "qemu"), "g", 2, "r"), inGroup(job(11, "qemu"), "g", 3, "r")}},
		},
		{
			name: "one member expires: the whole group expires",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(timed(job(10, "qemu"), time.Minute), "g", 2, "r"), inGroup(job(11, "qemu"), "g", 2, "r"), job(1, "qemu")}},
			want: Decisions{Assignments: assign(1, "q1"), Expired: []int64{10, 11}},
		},
		{
			name: "the remaining members of an incomplete group expire together",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1,
				Queue: []Job{inGroup(job(12, "qemu"), "g", 3, "r"), inGroup(timed(job(11, "qemu"), time.Minute), "g", 3, "r")}},
			want: Decisions{Expired: []int64{11, 12}},
		},
		{
			name: "a group is served at its best member: ahead of older jobs of lower priority",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{job(9, "qemu"), inGroup(withPrio(job(1, "qemu"), 90), "g", 2, "a"), inGroup(job(2, "qemu"), "g", 2, "b")}},
			want: Decisions{Assignments: gassign("g", 1, "q1", 2, "q2")},
		},
		{
			name: "jobs ahead of a group take devices first",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{job(9, "qemu"), inGroup(job(1, "qemu"), "g", 2, "a"), inGroup(job(2, "qemu"), "g", 2, "b")}},
			want: Decisions{Assignments: assign(9, "q1")},
		},
		{
			name: "a group ahead holds its devices; a second group holds others, not the first one's",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, GroupHoldAfter: time.Minute,
				Devices: []Device{q1, running(q2, 97), running(q3, 98), device("q4", "qemu", "w1"), running(device("q5", "qemu", "w1"), 99)},
				Queue: []Job{inGroup(job(10, "qemu"), "a", 3, "r"), inGroup(job(11, "qemu"), "a", 3, "r"), inGroup(job(12, "qemu"), "a", 3, "r"),
					inGroup(job(5, "qemu"), "b", 2, "r"), inGroup(job(6, "qemu"), "b", 2, "r"), job(1, "qemu")}},
			want: Decisions{Holds: []Hold{
				{Group: "a", Devices: []string{"q1"}, Waits: []string{"q2", "q3"}},
				{Group: "b", Devices: []string{"q4"}, Waits: []string{"q5"}},
			}},
		},
		{
			name: "members of several types",
			snap: Snapshot{DeviceTypes: []DeviceType{noCheck("qemu"), noCheck("bbb")}, Workers: w1,
				Devices: []Device{q1, device("b1", "bbb", "w1")},
				Queue:   []Job{inGroup(job(2, "qemu"), "g", 2, "host"), inGroup(job(1, "bbb"), "g", 2, "board")}},
			want: Decisions{Assignments: gassign("g", 2, "q1", 1, "b1")},
		},
	})
}

// withPrio sets j's priority.
func withPrio(j Job, p int) Job { j.Priority = p; return j }

func TestGroupFeasible(t *testing.T) {
	retiredW := worker("w9")
	retiredW.Health = lab.WorkerRetired
	limited := worker("w2")
	limited.JobLimit = 1
	offline := worker("w3")
	offline.State = lab.WorkerOffline
	devs := []Device{
		device("q1", "qemu", "w1"), device("q2", "qemu", "w1", "x"),
		with(device("q3", "qemu", "w1"), func(d *Device) { d.Health = lab.DeviceRetired }),
		device("q4", "qemu", "w9"),   // retired worker
		device("q5", "qemu", ""),     // no worker
		device("q6", "qemu", "w404"), // unknown worker
		device("r1", "qemu", "w2"), device("r2", "qemu", "w2"),
		with(device("o1", "bbb", "w3"), func(d *Device) { d.State, d.Health = lab.DeviceRunning, lab.DeviceBad }),
	}
	ws := []Worker{worker("w1"), retiredW, limited, offline}
	roles := func(spec ...string) []Job {
		var out []Job
		for i, s := range spec {
			typ, tags, _ := strings.Cut(s, ":")
			j := job(int64(i+1), typ)
			if tags != "" {
				j.Tags = strings.Split(tags, ",")
			}
			j.Role = "r" + typ + tags
			out = append(out, j)
		}
		return out
	}
	for _, tc := range []struct {
		name    string
		members []Job
		why     string
	}{
		{"three qemu on three usable devices (one per w2 slot)", roles("qemu", "qemu", "qemu"), ""},
		{"four qemu need two slots on w2", roles("qemu", "qemu", "qemu", "qemu"),
			"role rqemu needs 4 qemu devices at once, and only 3 can ever be used"},
		{"tagged and untagged compete", roles("qemu:x", "qemu", "qemu"), ""},
		{"two tagged", roles("qemu:x", "qemu:x"), "role rqemux needs 2 qemu devices with tags [x] at once, and only 1 can ever be used"},
		{"roles compete for the same devices", roles("qemu:x", "qemu", "qemu", "qemu"),
			"the group needs 4 devices at once, and only 3 can ever be used together: its roles compete for the same devices or worker job limits"},
		{"state and health other than retirement are ignored", roles("bbb"), ""},
		{"no such type", roles("arm"), "role rarm needs 1 arm device, and none can ever be used (none exists that is not Retired, on a worker that is not Retired)"},
		{"unknown tag", roles("qemu:y"), "role rqemuy needs 1 qemu device with tags [y], and none can ever be used (none exists that is not Retired, on a worker that is not Retired)"},
		{"no members", nil, "the group has no jobs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why := GroupFeasible(devs, ws, tc.members)
			if ok != (tc.why == "") || why != tc.why {
				t.Errorf("GroupFeasible = %v %q, want %q", ok, why, tc.why)
			}
		})
	}
	t.Run("requested device and worker", func(t *testing.T) {
		a, b := job(1, "qemu"), job(2, "qemu")
		a.Device, b.Worker = "q1", "w1"
		if ok, why := GroupFeasible(devs, ws, []Job{a, b}); !ok {
			t.Errorf("q1 and another w1 device: %s", why)
		}
		b.Device = "q1"
		if ok, _ := GroupFeasible(devs, ws, []Job{a, b}); ok {
			t.Error("two members requesting q1 are feasible")
		}
		a.Device, a.Worker = "", "w2"
		b.Device, b.Worker = "", "w2"
		if ok, _ := GroupFeasible(devs, ws, []Job{a, b}); ok {
			t.Error("two members on w2 (limit 1) are feasible")
		}
	})
}

// genMatchingLab draws a small lab of one type where a group's members
// compete for devices: few tags, workers with small job limits, members
// with overlapping tag sets and now and then a requested worker or device.
func genMatchingLab(t *rapid.T) (Snapshot, []Job) {
	s := Snapshot{Now: now, DeviceTypes: []DeviceType{noCheck("t")}}
	for w := range rapid.IntRange(1, 3).Draw(t, "workers") {
		wk := worker(fmt.Sprintf("w%d", w))
		wk.JobLimit = rapid.IntRange(0, 2).Draw(t, "limit")
		wk.Busy = rapid.IntRange(0, 1).Draw(t, "busy")
		s.Workers = append(s.Workers, wk)
	}
	tagSets := [][]string{nil, {"x"}, {"y"}, {"x", "y"}}
	for d := range rapid.IntRange(1, 7).Draw(t, "devices") {
		dv := device(fmt.Sprintf("d%d", d), "t", rapid.SampledFrom(s.Workers).Draw(t, "dworker").Name,
			rapid.SampledFrom(tagSets).Draw(t, "dtags")...)
		if rapid.IntRange(0, 4).Draw(t, "dbusy") == 0 {
			dv.State = lab.DeviceRunning
		}
		s.Devices = append(s.Devices, dv)
	}
	size := rapid.IntRange(1, 4).Draw(t, "size")
	var members []Job
	for n := range size {
		j := inGroup(job(int64(n+1), "t", rapid.SampledFrom(tagSets).Draw(t, "jtags")...), "g", size, fmt.Sprintf("r%d", n%2))
		switch rapid.IntRange(0, 9).Draw(t, "req") {
		case 0:
			j.Worker = rapid.SampledFrom(s.Workers).Draw(t, "jworker").Name
		case 1:
			j.Device = rapid.SampledFrom(s.Devices).Draw(t, "jdevice").Hostname
		}
		members = append(members, j)
	}
	s.Queue = rapid.Permutation(members).Draw(t, "queue")
	return s, members
}

// TestGroupMatchingExact: Plan places a group exactly when some assignment
// of its members to distinct free devices within the worker limits exists
// (found by trying them all), and GroupFeasible answers the same question
// for every device that is not retired, with the limits alone.
func TestGroupMatchingExact(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s, members := genMatchingLab(t)
		m := newModel(s)
		d := Plan(s)
		room := func(name string) int {
			w := m.workers[name]
			if w.JobLimit <= 0 {
				return len(s.Devices)
			}
			return w.JobLimit - w.Busy
		}
		want := bruteMatch(members, s.Devices, func(j Job, dv Device) bool { return dv.State == lab.DeviceIdle && fits(j, dv) }, room)
		if got := len(d.Assignments) > 0; got != want {
			t.Fatalf("a matching exists: %v; Plan: %+v", want, d)
		}
		checkInvariants(t, s, d)

		limit := func(name string) int {
			if l := m.workers[name].JobLimit; l > 0 {
				return l
			}
			return len(s.Devices)
		}
		want = bruteMatch(members, s.Devices, fits, limit)
		if ok, why := GroupFeasible(s.Devices, s.Workers, members); ok != want || ok != (why == "") {
			t.Fatalf("GroupFeasible = %v %q, a matching exists: %v", ok, why, want)
		}
	})
}

// TestExplainGroups has one case per group reason Explain gives, with the
// exact sentences people read.
func TestExplainGroups(t *testing.T) {
	qemu := []DeviceType{noCheck("qemu")}
	w1 := []Worker{worker("w1")}
	q1, q2 := device("q1", "qemu", "w1"), device("q2", "qemu", "w1")
	timed := func(j Job, timeout time.Duration) Job { j.QueueTimeout = timeout; return j }
	clientsAndServer := []Job{inGroup(job(1, "qemu", "x"), "g", 3, "client"), inGroup(job(2, "qemu", "x"), "g", 3, "client"),
		inGroup(job(3, "qemu"), "g", 3, "server")}
	pair := []Job{inGroup(job(2, "qemu"), "g", 2, "client"), inGroup(job(3, "qemu"), "g", 2, "server"), job(1, "qemu")}
	runExplain(t, []explainCase{
		{
			name: "a role has no free device with its tags",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Queue: clientsAndServer,
				Devices: []Device{q1, q2, running(device("x1", "qemu", "w1", "x"), 8), running(device("x2", "qemu", "w1", "x"), 9)}},
			job: 3, verdict: VerdictWaiting,
			summary: "the job (role server) is part of group g, which cannot be placed whole: role client (2 of 2 jobs) has no free qemu device with tags [x]; role server is satisfiable",
			reasons: []Code{CodeGroupWaits},
			devices: []string{"q1 free", "q2 free", "x1 device_running", "x2 device_running"},
		},
		{
			name: "a group that cannot fit even when busy devices free up says so",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2, running(device("x1", "qemu", "w1", "x"), 9)},
				Queue: clientsAndServer},
			job: 1, verdict: VerdictWaiting,
			summary: "the job (role client) is part of group g, which cannot be placed whole: role client (2 of 2 jobs) has no free qemu device with tags [x]; role server is satisfiable; " +
				"even with every busy device free, the devices in service cannot take the whole group",
			reasons: []Code{CodeGroupWaits},
			devices: []string{"q1 missing_tags", "q2 missing_tags", "x1 device_running"},
		},
		{
			name: "roles that fit alone but not together",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, running(q2, 7)}, Queue: pair},
			job:  2, verdict: VerdictWaiting,
			summary: "the job (role client) is part of group g, which cannot be placed whole: each role could be placed alone, but only 1 of its 2 jobs can get free devices at once " +
				"(the roles need the same devices or worker slots)",
			reasons: []Code{CodeGroupWaits},
			devices: []string{"q1 free", "q2 device_running"},
		},
		{
			name: "a member whose request cannot be met",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(job(1, "qemu"), "g", 2, "host"), inGroup(job(2, "bbb"), "g", 2, "board")}},
			job: 1, verdict: VerdictWaiting,
			summary: "the job (role host) is part of group g, which cannot be placed whole: role board cannot run: device type bbb does not exist; role host is satisfiable; " +
				"even with every busy device free, the devices in service cannot take the whole group",
			reasons: []Code{CodeGroupWaits},
			devices: []string{"q1 free", "q2 free"},
		},
		{
			name: "the hold starts later",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, running(q2, 7)}, Queue: pair, GroupHoldAfter: 10 * time.Minute},
			job:  3, verdict: VerdictWaiting,
			summary: "the job (role server) is part of group g, which cannot be placed whole: each role could be placed alone, but only 1 of its 2 jobs can get free devices at once " +
				"(the roles need the same devices or worker slots); free devices are held for the group once it has been queued longer than 10m, " +
				"after 12:07 UTC, in 7 minutes",
			reasons: []Code{CodeGroupWaits, CodeGroupHold},
			devices: []string{"q1 free", "q2 device_running"},
		},
		{
			name: "the group holds a device and waits for another",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, running(q2, 7)}, Queue: pair, GroupHoldAfter: time.Minute},
			job:  3, verdict: VerdictWaiting,
			summary: "the job (role server) is part of group g, which cannot be placed whole: each role could be placed alone, but only 1 of its 2 jobs can get free devices at once " +
				"(the roles need the same devices or worker slots); the group has been queued longer than 1m: the pass holds q1 for it, and it waits for q2",
			reasons: []Code{CodeGroupWaits, CodeGroupHold},
			devices: []string{"q1 free", "q2 device_running"},
		},
		{
			name: "the group waits for busy devices only",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{running(q1, 6), running(q2, 7)}, Queue: pair, GroupHoldAfter: time.Minute},
			job:  3, verdict: VerdictWaiting,
			summary: "the job (role server) is part of group g, which cannot be placed whole: role client has no free qemu device; role server has no free qemu device; " +
				"the group has been queued longer than 1m: it waits for q1, q2, none of them free to hold",
			reasons: []Code{CodeGroupWaits, CodeGroupHold},
			devices: []string{"q1 device_running", "q2 device_running"},
		},
		{
			name: "an ordinary job behind a held device",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, running(q2, 7)}, Queue: pair, GroupHoldAfter: time.Minute},
			job:  1, verdict: VerdictWaiting,
			summary: "no qemu device is free: q1 is held for group g, ahead in the queue; q2 is running job 7; " +
				"2 jobs of equal priority submitted earlier ahead",
			reasons: []Code{CodeAllBusy, CodeJobsAhead},
			devices: []string{"q1 held_for_group", "q2 device_running"},
		},
		{
			name: "a member of a placed group",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2}, Queue: pair},
			job:  2, verdict: VerdictSchedulable,
			summary: "q2 is free: the next scheduling pass assigns the job to it, together with the 1 other job of group g",
			reasons: []Code{CodeFree},
			devices: []string{"q1 free", "q2 free"},
		},
		{
			name: "a group with a member missing",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2}, Queue: pair[1:]},
			job:  3, verdict: VerdictWaiting,
			summary: "the job is part of group g, which has 1 of its 2 jobs queued: a group is only placed whole",
			reasons: []Code{CodeGroupIncomplete},
			devices: []string{"q1 free", "q2 free"},
		},
		{
			name: "members disagreeing on the group's size",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(job(2, "qemu"), "g", 2, "a"), inGroup(job(3, "qemu"), "g", 3, "b")}},
			job: 2, verdict: VerdictWaiting,
			summary: "the job is part of group g, which is inconsistent (its jobs disagree on its size, or repeat a job ID): it is never placed",
			reasons: []Code{CodeGroupInconsistent},
			devices: []string{"q1 free", "q2 free"},
		},
		{
			name: "another member's queue timeout",
			snap: Snapshot{DeviceTypes: qemu, Workers: w1, Devices: []Device{q1, q2},
				Queue: []Job{inGroup(job(2, "qemu"), "g", 2, "a"), inGroup(timed(job(3, "qemu"), time.Minute), "g", 2, "b")}},
			job: 2, verdict: VerdictExpired,
			summary: "job 3 of group g passed its queue timeout of 1m at 11:58 UTC: the whole group will be canceled",
			reasons: []Code{CodeGroupExpired},
		},
	})
}
