package scheduler

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/lab"
)

// GroupFeasible reports whether the members of a multinode group could
// ever run at once on these devices and workers: whether distinct devices
// exist for all of them together, each of the member's type, carrying all
// its tags, matching its requested device and worker, with no worker given
// more members than its JobLimit (> 0). Like the submission check of
// single jobs it ignores the current state and health of devices and
// workers, except retirement: a device counts unless it is Retired,
// attached to no worker, or attached to a worker that is not listed or is
// Retired. Workers' Busy counts are ignored too.
//
// When ok is false, why is a sentence saying what is missing ("role
// client needs 3 qemu devices with tags [x] at once, and only 2 can ever
// be used"). It is pure and, like Plan, uses the first of repeated
// hostnames and worker names.
func GroupFeasible(devices []Device, workers []Worker, members []Job) (ok bool, why string) {
	if len(members) == 0 {
		return false, "the group has no jobs"
	}
	workerIdx := make(map[string]int32, len(workers))
	limit := make([]int, len(workers))
	for i := range workers {
		if _, dup := workerIdx[workers[i].Name]; !dup {
			workerIdx[workers[i].Name] = int32(i)
			limit[i] = workers[i].JobLimit
		}
	}
	devWorker := slices.Repeat([]int32{none}, len(devices))
	seen := make(map[string]bool, len(devices))
	ts := tagSet{index: make(map[string]int)}
	var usable []int32
	for i := range devices {
		d := &devices[i]
		if seen[d.Hostname] {
			continue
		}
		seen[d.Hostname] = true
		w, found := workerIdx[d.Worker]
		if !found || d.Worker == "" || d.Health == lab.DeviceRetired || workers[w].Health == lab.WorkerRetired {
			continue
		}
		devWorker[i] = w
		usable = append(usable, int32(i))
		ts.intern(d.Tags)
	}
	ts.fix()
	W := ts.words
	bits := make([]uint64, len(devices)*W)
	ntags := make([]int, len(devices))
	for _, i := range usable {
		set := bits[int(i)*W : int(i+1)*W]
		ts.fill(set, devices[i].Tags)
		ntags[i] = count(set)
	}
	slices.SortFunc(usable, func(a, b int32) int {
		return cmp.Or(cmp.Compare(ntags[a], ntags[b]), strings.Compare(devices[a].Hostname, devices[b].Hostname))
	})

	k := len(members)
	kp := &keeper{kept: make([]int32, len(workers)), k: k}
	want := make([]uint64, W)
	ms := make([]member, k)
	for n := range members {
		j := &members[n]
		ms[n].j = j
		if !ts.fill(want, j.Tags) {
			continue
		}
		for _, d := range usable {
			dv := &devices[d]
			if dv.Type != j.Type || (j.Device != "" && dv.Hostname != j.Device) || (j.Worker != "" && dv.Worker != j.Worker) ||
				!subset(want, bits[int(d)*W:int(d+1)*W]) {
				continue
			}
			keep, done := kp.keep(devWorker[d])
			if keep {
				ms[n].cands = append(ms[n].cands, d)
			}
			if done {
				break
			}
		}
		kp.finish(ms[n].cands, devWorker)
	}

	mt := newMatcher(devWorker, len(workers))
	zero := make([]int, len(workers))
	byRole := map[string][]int{}
	for n := range ms {
		byRole[ms[n].j.Role] = append(byRole[ms[n].j.Role], n)
	}
	for _, role := range slices.Sorted(maps.Keys(byRole)) {
		idx := byRole[role]
		sub := make([]member, len(idx))
		for x, n := range idx {
			sub[x] = ms[n]
		}
		got := mt.match(sub, limit, zero, false)
		missing := slices.Index(mt.at, none)
		mt.reset()
		if got < len(sub) {
			j := sub[missing].j
			if got == 0 && len(sub) == 1 {
				return false, fmt.Sprintf("%s needs %s, and none can ever be used (none exists that is not Retired, on a worker that is not Retired)",
					roleName(role), need(j, 1))
			}
			return false, fmt.Sprintf("%s needs %s at once, and only %d can ever be used", roleName(role), need(j, len(sub)), got)
		}
	}
	if got := mt.match(ms, limit, zero, false); got < k {
		return false, fmt.Sprintf("the group needs %d devices at once, and only %d can ever be used together: its roles compete for the same devices or worker job limits",
			k, got)
	}
	return true, ""
}

// roleName is "role client", for a sentence.
func roleName(role string) string {
	if role == "" {
		return "the role without a name"
	}
	return "role " + role
}

// need describes n devices as member j needs them: "2 qemu devices on
// worker lab-1 with tags [x]", or "its requested device qemu01".
func need(j *Job, n int) string {
	if j.Device != "" {
		return "its requested device " + j.Device
	}
	s := plural(n, j.Type+" device") + onWorker(j)
	if len(j.Tags) > 0 {
		s += " with tags " + listText(j.Tags)
	}
	return s
}
