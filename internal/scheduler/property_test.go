package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/basalt-lab/basalt/internal/lab"
)

// genSnapshot draws a small snapshot with unique keys, designed to collide
// often: few types, workers and tags, priority and submit-time ties, queue
// timeouts and health-check ages on their boundaries, references to unknown
// types, workers and devices. With wide set, the tag pool exceeds 64 names
// so tag sets span several words.
func genSnapshot(t *rapid.T) Snapshot {
	s := Snapshot{Now: now}
	wide := rapid.Bool().Draw(t, "wide")
	tagPool := []string{"a", "b", "c", "d", "e"}
	if wide {
		tagPool = nil
		for i := range 70 {
			tagPool = append(tagPool, fmt.Sprintf("g%02d", i))
		}
	}
	tags := func(label string, maxN int) []string {
		return rapid.SliceOfNDistinct(rapid.SampledFrom(tagPool), 0, maxN, rapid.ID[string]).Draw(t, label)
	}
	deviceTags := func() []string {
		if !wide {
			return tags("dtags", 4)
		}
		// A cyclic window of the pool, often long, so that the devices
		// together carry more than 64 distinct tags and every set spans
		// two words.
		n := rapid.IntRange(0, 70).Draw(t, "dntags")
		if !rarely(t, "dfewtags") {
			n = rapid.IntRange(30, 70).Draw(t, "dmanytags")
		}
		off := rapid.IntRange(0, 69).Draw(t, "dtagoff")
		out := make([]string, n)
		for i := range out {
			out[i] = tagPool[(off+i)%len(tagPool)]
		}
		return out
	}

	nTypes := rapid.IntRange(1, 4).Draw(t, "types")
	var typeNames []string
	for i := range nTypes {
		name := fmt.Sprintf("t%d", i)
		typeNames = append(typeNames, name)
		s.DeviceTypes = append(s.DeviceTypes, DeviceType{
			Name:               name,
			HealthFrequency:    rapid.IntRange(-1, 6).Draw(t, "freq"),
			HealthDenominator:  lab.HealthDenominator(rapid.IntRange(0, 2).Draw(t, "den")),
			DisableHealthCheck: rapid.Bool().Draw(t, "disable"),
			HasHealthCheck:     rapid.Bool().Draw(t, "has"),
		})
	}
	typeNames = append(typeNames, "tx") // never listed
	nWorkers := rapid.IntRange(1, 4).Draw(t, "workers")
	var workerNames []string
	for i := range nWorkers {
		name := fmt.Sprintf("w%d", i)
		workerNames = append(workerNames, name)
		w := Worker{Name: name, State: lab.WorkerOnline, Health: lab.WorkerActive}
		if rarely(t, "wbroken") {
			w.State = lab.WorkerState(rapid.IntRange(0, 1).Draw(t, "wstate"))
			w.Health = lab.WorkerHealth(rapid.IntRange(0, 2).Draw(t, "whealth"))
		}
		if rarely(t, "wlimited") {
			w.JobLimit = rapid.IntRange(-1, 4).Draw(t, "limit")
			w.Busy = rapid.IntRange(0, 3).Draw(t, "busy")
		}
		s.Workers = append(s.Workers, w)
	}
	workerNames = append(workerNames, "wx", "") // "wx" is never listed, "" is no worker
	nDevices := rapid.IntRange(1, 14).Draw(t, "devices")
	var hostNames []string
	for i := range nDevices {
		name := fmt.Sprintf("d%02d", i)
		hostNames = append(hostNames, name)
		d := Device{
			Hostname:             name,
			Type:                 pick(t, typeNames, 1, "dtype"),
			Worker:               pick(t, workerNames, 2, "dworker"),
			Tags:                 deviceTags(),
			JobsSinceHealthCheck: rapid.IntRange(0, 7).Draw(t, "jobs"),
		}
		if rarely(t, "dbusy") {
			d.State = lab.DeviceState(rapid.IntRange(0, 2).Draw(t, "dstate"))
		}
		if rarely(t, "dunhealthy") {
			d.Health = lab.DeviceHealth(rapid.IntRange(0, 5).Draw(t, "dhealth"))
		}
		if !rarely(t, "neverchecked") {
			d.LastHealthCheck = now.Add(-time.Duration(rapid.IntRange(0, 7).Draw(t, "age"))*time.Hour -
				time.Duration(rapid.IntRange(-1, 1).Draw(t, "agens")))
		}
		s.Devices = append(s.Devices, d)
	}
	hostNames = append(hostNames, "dx") // never listed
	nJobs := rapid.IntRange(1, 30).Draw(t, "queue")
	ids := make([]int64, nJobs)
	for i := range ids {
		ids[i] = int64(i + 1)
	}
	for _, id := range rapid.Permutation(ids).Draw(t, "ids") {
		j := Job{
			ID:         id,
			Priority:   rapid.SampledFrom([]int{0, 50, 50, 100}).Draw(t, "prio"),
			SubmitTime: now.Add(-time.Duration(rapid.IntRange(0, 4).Draw(t, "submit")) * time.Minute),
			Type:       pick(t, typeNames, 1, "jtype"),
			Tags:       tags("jtags", 3),
		}
		if rarely(t, "reqdev") {
			j.Device = rapid.SampledFrom(hostNames).Draw(t, "jdevice")
		}
		if rarely(t, "reqworker") {
			j.Worker = rapid.SampledFrom(workerNames[:len(workerNames)-1]).Draw(t, "jworker")
		}
		if rarely(t, "timed") {
			j.QueueTimeout = time.Duration(rapid.IntRange(-1, 4).Draw(t, "timeout"))*time.Minute +
				time.Duration(rapid.IntRange(-1, 1).Draw(t, "timeoutns"))
		}
		s.Queue = append(s.Queue, j)
	}
	genGroups(t, &s, int64(nJobs+1), typeNames, workerNames[:len(workerNames)-1], hostNames, tags)
	return s
}

// genGroups adds up to three multinode groups to s, with IDs from next:
// one or two roles of one to four members in all, each role with its type
// and tags (often competing for the same devices), members sharing a
// priority and submit time (rarely not), now and then a requested device
// or worker, a queue timeout, a member missing from the queue or a size
// the members disagree on. It also draws GroupHoldAfter around the queue's
// submit ages.
func genGroups(t *rapid.T, s *Snapshot, next int64, typeNames, workerNames, hostNames []string, tags func(string, int) []string) {
	s.GroupHoldAfter = time.Duration(rapid.SampledFrom([]int{0, 0, 1, 2, 3}).Draw(t, "holdafter"))*time.Minute +
		time.Duration(rapid.IntRange(-1, 1).Draw(t, "holdafterns"))
	// Half the time, the groups are old enough for their hold and many
	// devices are busy, so that groups wait and hold.
	focus := rapid.Bool().Draw(t, "gfocus")
	if focus {
		s.GroupHoldAfter = time.Minute
		for i := range s.Devices {
			if rapid.IntRange(0, 2).Draw(t, "gdbusy") == 0 {
				s.Devices[i].State = lab.DeviceRunning
			}
		}
	}
	for g := range rapid.IntRange(0, 3).Draw(t, "groups") {
		name := fmt.Sprintf("g%d", g)
		size := rapid.IntRange(1, 4).Draw(t, "gsize")
		prio := rapid.SampledFrom([]int{0, 50, 50, 100}).Draw(t, "gprio")
		submit := now.Add(-time.Duration(rapid.IntRange(0, 4).Draw(t, "gsubmit")) * time.Minute)
		if focus {
			prio = 100
			submit = now.Add(-time.Duration(rapid.IntRange(1, 4).Draw(t, "gfsubmit")) * time.Minute)
			size = min(size, 3)
		}
		type role struct {
			name, typ string
			tags      []string
		}
		var roles []role
		for r := range rapid.IntRange(1, 2).Draw(t, "groles") {
			ro := role{fmt.Sprintf("r%d", r), pick(t, typeNames, 1, "gtype"), tags("gtags", 2)}
			if focus { // the type of a device, and tags it carries
				d := rapid.SampledFrom(s.Devices).Draw(t, "gfdevice")
				ro.typ, ro.tags = d.Type, nil
				if len(d.Tags) > 0 && rapid.Bool().Draw(t, "gftagged") {
					ro.tags = []string{rapid.SampledFrom(d.Tags).Draw(t, "gftag")}
				}
			}
			roles = append(roles, ro)
		}
		missing := -1
		if rarely(t, "gincomplete") {
			missing = rapid.IntRange(0, size-1).Draw(t, "gmissing")
		}
		for n := range size {
			r := roles[rapid.IntRange(0, len(roles)-1).Draw(t, "grole")]
			j := Job{ID: next, Priority: prio, SubmitTime: submit, Type: r.typ, Tags: r.tags, Group: name, GroupSize: size, Role: r.name}
			next++
			if rarely(t, "gmemberprio") {
				j.Priority = rapid.SampledFrom([]int{0, 50, 100}).Draw(t, "gmprio")
				j.SubmitTime = now.Add(-time.Duration(rapid.IntRange(0, 4).Draw(t, "gmsubmit")) * time.Minute)
			}
			if rarely(t, "greqdev") {
				j.Device = rapid.SampledFrom(hostNames).Draw(t, "gdevice")
			}
			if rarely(t, "greqworker") {
				j.Worker = rapid.SampledFrom(workerNames).Draw(t, "gworker")
			}
			if rarely(t, "gtimed") {
				j.QueueTimeout = time.Duration(rapid.IntRange(1, 4).Draw(t, "gtimeout"))*time.Minute +
					time.Duration(rapid.IntRange(-1, 1).Draw(t, "gtimeoutns"))
			}
			if rarely(t, "gbadsize") {
				j.GroupSize = rapid.IntRange(-1, 5).Draw(t, "gbad")
			}
			if n != missing {
				s.Queue = append(s.Queue, j)
			}
		}
	}
}

// pick draws from names, rarely from its last bad entries.
func pick(t *rapid.T, names []string, bad int, label string) string {
	if rarely(t, label+"bad") {
		return rapid.SampledFrom(names).Draw(t, label)
	}
	return rapid.SampledFrom(names[:len(names)-bad]).Draw(t, label)
}

// rarely draws a boolean that is true about one time in five.
func rarely(t *rapid.T, label string) bool {
	return rapid.IntRange(0, 99).Draw(t, label) >= 80
}

// model is an index of a snapshot with unique keys, for checking decisions.
type model struct {
	s       Snapshot
	types   map[string]DeviceType
	devices map[string]Device
	workers map[string]Worker
}

func newModel(s Snapshot) model {
	m := model{s: s, types: map[string]DeviceType{}, devices: map[string]Device{}, workers: map[string]Worker{}}
	for _, t := range s.DeviceTypes {
		m.types[t.Name] = t
	}
	for _, d := range s.Devices {
		m.devices[d.Hostname] = d
	}
	for _, w := range s.Workers {
		m.workers[w.Name] = w
	}
	return m
}

// tgroup is a multinode group as the tests see it.
type tgroup struct {
	name     string
	members  []Job // in queue order
	key      Job   // the member first in queue order: where the group is served
	complete bool  // its queued members are all its members, and agree on its size
	expired  bool  // some member's queue timeout passed
}

// groupsOf indexes the groups of s (unique job IDs assumed).
func groupsOf(s Snapshot) map[string]*tgroup {
	gs := map[string]*tgroup{}
	for _, j := range s.Queue {
		if j.Group == "" {
			continue
		}
		g := gs[j.Group]
		if g == nil {
			g = &tgroup{name: j.Group}
			gs[j.Group] = g
		}
		g.members = append(g.members, j)
		g.expired = g.expired || expired(j)
	}
	for _, g := range gs {
		slices.SortFunc(g.members, queueOrder)
		g.key = g.members[0]
		g.complete = true
		for _, j := range g.members {
			g.complete = g.complete && j.GroupSize == len(g.members)
		}
	}
	return gs
}

// serving is where job j is served: itself, or its group's first member.
func serving(gs map[string]*tgroup, j Job) Job {
	if j.Group != "" {
		return gs[j.Group].key
	}
	return j
}

// expiredIn says whether the pass expires j: its own timeout, or its group's.
func expiredIn(gs map[string]*tgroup, j Job) bool {
	if j.Group != "" {
		return gs[j.Group].expired
	}
	return expired(j)
}

// inService is rule 8's devices in service: on a listed type, on an
// Online and Active worker, healthy enough to take jobs (Good, Unknown, or
// Looping with health checks on), whatever their state.
func (m model) inService(d Device) bool {
	_, typeOK := m.types[d.Type]
	w, ok := m.workers[d.Worker]
	if !typeOK || !ok || d.Worker == "" || w.State != lab.WorkerOnline || w.Health != lab.WorkerActive {
		return false
	}
	return d.Health.Schedulable() || (d.Health == lab.DeviceLooping && m.checksOn(d))
}

// bruteMatch reports whether the members can be given distinct devices of
// devs that ok accepts, with at most room(w) on each worker w, by trying
// every assignment.
func bruteMatch(members []Job, devs []Device, ok func(Job, Device) bool, room func(string) int) bool {
	used := make([]bool, len(devs))
	load := map[string]int{}
	var try func(i int) bool
	try = func(i int) bool {
		if i == len(members) {
			return true
		}
		for k, d := range devs {
			if used[k] || !ok(members[i], d) || load[d.Worker] >= room(d.Worker) {
				continue
			}
			used[k] = true
			load[d.Worker]++
			if try(i + 1) {
				return true
			}
			used[k] = false
			load[d.Worker]--
		}
		return false
	}
	return try(0)
}

// usable is rule 2 without the limit: Idle, listed type, listed worker that
// is Online and Active.
func (m model) usable(d Device) bool {
	_, typeOK := m.types[d.Type]
	w, ok := m.workers[d.Worker]
	return typeOK && ok && d.Worker != "" && d.State == lab.DeviceIdle &&
		w.State == lab.WorkerOnline && w.Health == lab.WorkerActive
}

// checksOn says whether d's type runs health checks.
func (m model) checksOn(d Device) bool {
	t := m.types[d.Type]
	return t.HasHealthCheck && !t.DisableHealthCheck
}

// due is an independent statement of the health-check due rule.
func (m model) due(d Device) bool {
	t := m.types[d.Type]
	switch {
	case d.Health == lab.DeviceUnknown || d.Health == lab.DeviceLooping:
		return true
	case d.LastHealthCheck.IsZero():
		return true
	case t.HealthDenominator == lab.PerJobs:
		return d.JobsSinceHealthCheck >= t.HealthFrequency
	default:
		return now.Sub(d.LastHealthCheck) > time.Duration(t.HealthFrequency)*time.Hour
	}
}

func expired(j Job) bool {
	return j.QueueTimeout > 0 && j.SubmitTime.Add(j.QueueTimeout).Before(now)
}

// fits is rule 4's static part: type, requested device and worker, tags.
func fits(j Job, d Device) bool {
	if d.Type != j.Type || (j.Device != "" && j.Device != d.Hostname) || (j.Worker != "" && j.Worker != d.Worker) {
		return false
	}
	for _, tag := range j.Tags {
		if !slices.Contains(d.Tags, tag) {
			return false
		}
	}
	return true
}

// queueOrder is the documented order: priority desc, submit asc, ID asc.
func queueOrder(a, b Job) int {
	if c := cmp.Compare(b.Priority, a.Priority); c != 0 {
		return c
	}
	if c := a.SubmitTime.Compare(b.SubmitTime); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// fataler is what checkInvariants needs of *testing.T and *rapid.T.
type fataler interface {
	Fatalf(format string, args ...any)
}

// checkInvariants checks decisions d of snapshot s against every rule that
// can be stated without re-running the algorithm.
func checkInvariants(t fataler, s Snapshot, d Decisions) {
	m := newModel(s)
	jobs := map[int64]Job{}
	for _, j := range s.Queue {
		jobs[j.ID] = j
	}
	gs := groupsOf(s)
	// order is the serving order: a group member at its group's place.
	order := func(a, b Job) int { return queueOrder(serving(gs, a), serving(gs, b)) }

	// Expiry: exactly the timed-out jobs and the members of their groups,
	// ascending.
	var wantExpired []int64
	for _, j := range s.Queue {
		if expiredIn(gs, j) {
			wantExpired = append(wantExpired, j.ID)
		}
	}
	slices.Sort(wantExpired)
	if !slices.Equal(wantExpired, d.Expired) {
		t.Fatalf("Expired = %v, want %v", d.Expired, wantExpired)
	}

	// Rule 6: no device twice, no job twice.
	taken := map[string]string{} // hostname → what took it
	added := map[string]int{}    // worker → decisions on it
	claim := func(host, what string) Device {
		dev, ok := m.devices[host]
		if !ok {
			t.Fatalf("%s targets unknown device %q", what, host)
		}
		if prev, dup := taken[host]; dup {
			t.Fatalf("device %s given to both %s and %s", host, prev, what)
		}
		taken[host] = what
		added[dev.Worker]++
		// Rule 2.
		if !m.usable(dev) {
			t.Fatalf("%s targets unusable device %+v", what, dev)
		}
		return dev
	}

	// Rule 3: health checks only on due devices, in type/hostname order.
	for i, hc := range d.HealthChecks {
		dev := claim(hc.Device, "health check")
		if hc.Type != dev.Type || hc.Reason == "" {
			t.Fatalf("bad health check %+v for %+v", hc, dev)
		}
		if !m.checksOn(dev) {
			t.Fatalf("health check on %s whose type has no enabled check", dev.Hostname)
		}
		switch dev.Health {
		case lab.DeviceGood, lab.DeviceUnknown, lab.DeviceLooping:
		default:
			t.Fatalf("health check on %s with health %v", dev.Hostname, dev.Health)
		}
		if !m.due(dev) {
			t.Fatalf("health check on %s which is not due: %+v", dev.Hostname, dev)
		}
		if i > 0 {
			p := d.HealthChecks[i-1]
			if cmp.Or(strings.Compare(p.Type, hc.Type), strings.Compare(p.Device, hc.Device)) >= 0 {
				t.Fatalf("health checks out of order: %+v before %+v", p, hc)
			}
		}
	}

	// Rule 4: assignments fit; rule 1: never an expired job.
	assigned := map[int64]bool{}
	for i, a := range d.Assignments {
		j, ok := jobs[a.Job]
		if !ok {
			t.Fatalf("assignment of unknown job %d", a.Job)
		}
		if assigned[a.Job] {
			t.Fatalf("job %d assigned twice", a.Job)
		}
		assigned[a.Job] = true
		if expired(j) {
			t.Fatalf("expired job %d assigned", a.Job)
		}
		dev := claim(a.Device, fmt.Sprintf("job %d", a.Job))
		if !dev.Health.Schedulable() {
			t.Fatalf("job %d on %s with health %v", a.Job, dev.Hostname, dev.Health)
		}
		if m.checksOn(dev) && m.due(dev) {
			t.Fatalf("job %d on %s which is due a health check", a.Job, dev.Hostname)
		}
		if !fits(j, dev) {
			t.Fatalf("job %+v does not fit device %+v", j, dev)
		}
		if a.Group != j.Group {
			t.Fatalf("assignment %+v of job %+v: wrong group", a, j)
		}
		if i > 0 {
			prev := jobs[d.Assignments[i-1].Job]
			if c := order(prev, j); c > 0 || (c == 0 && (j.Group == "" || prev.Group != j.Group)) {
				t.Fatalf("assignments out of queue order at %d", i)
			}
		}
	}

	// Rule 7: a group is placed whole, consecutively, or not at all, and
	// only when complete.
	for _, g := range gs {
		var at []int
		for i, a := range d.Assignments {
			if a.Group == g.name {
				at = append(at, i)
			}
		}
		if len(at) == 0 {
			continue
		}
		if !g.complete || len(at) != len(g.members) || at[len(at)-1]-at[0] != len(at)-1 {
			t.Fatalf("group %s (complete %v, %d members) placed at %v", g.name, g.complete, len(g.members), at)
		}
	}

	// Rule 8: holds are of complete, waiting groups whose hold is due, on
	// free devices that fit one of their members.
	held := map[string]string{} // hostname → group
	for _, h := range d.Holds {
		g := gs[h.Group]
		if g == nil || !g.complete || g.expired || assigned[g.key.ID] || s.GroupHoldAfter <= 0 ||
			now.Sub(g.key.SubmitTime) <= s.GroupHoldAfter || len(h.Devices)+len(h.Waits) != len(g.members) {
			t.Fatalf("hold %+v of group %+v", h, g)
		}
		for _, host := range h.Devices {
			dev := claim(host, "hold of group "+h.Group)
			held[host] = h.Group
			if !dev.Health.Schedulable() || (m.checksOn(dev) && m.due(dev)) ||
				!slices.ContainsFunc(g.members, func(j Job) bool { return fits(j, dev) }) {
				t.Fatalf("group %s holds %+v", h.Group, dev)
			}
		}
	}

	// Rule 2: worker limits, counting what this pass decided.
	full := func(name string) bool {
		w := m.workers[name]
		return w.JobLimit > 0 && w.Busy+added[name] >= w.JobLimit
	}
	for name, n := range added {
		if w := m.workers[name]; w.JobLimit > 0 && n > 0 && w.Busy+n > w.JobLimit {
			t.Fatalf("worker %s: busy %d + %d decisions > limit %d", name, w.Busy, n, w.JobLimit)
		}
	}

	// Health checks are complete: a due device without one sits on a full worker.
	for _, dev := range s.Devices {
		if _, ok := taken[dev.Hostname]; ok || !m.usable(dev) || !m.checksOn(dev) || !m.due(dev) {
			continue
		}
		switch dev.Health {
		case lab.DeviceGood, lab.DeviceUnknown, lab.DeviceLooping:
			if !full(dev.Worker) {
				t.Fatalf("device %s is due a health check but got none", dev.Hostname)
			}
		}
	}

	// Rule 5, the ordering guarantee: a device is never given a job (or
	// held for a group) while an ordinary job earlier in queue order that
	// fits it stays unassigned. (A waiting group member does not count: a
	// group takes devices only when all its members can.)
	given := map[string]Job{}
	for _, a := range d.Assignments {
		given[a.Device] = jobs[a.Job]
	}
	for host, g := range held {
		given[host] = gs[g].key
	}
	for host, to := range given {
		dev := m.devices[host]
		for _, h := range s.Queue {
			if h.Group == "" && !assigned[h.ID] && !expired(h) && order(h, to) < 0 && fits(h, dev) {
				t.Fatalf("device %s given to %+v while earlier job %+v fits it and waits", dev.Hostname, to, h)
			}
		}
	}

	// Work conservation: no waiting ordinary job fits a device left free
	// on a worker with room.
	for _, dev := range s.Devices {
		if _, ok := taken[dev.Hostname]; ok || !m.usable(dev) || !dev.Health.Schedulable() ||
			(m.checksOn(dev) && m.due(dev)) || full(dev.Worker) {
			continue
		}
		for _, j := range s.Queue {
			if j.Group == "" && !assigned[j.ID] && !expired(j) && fits(j, dev) {
				t.Fatalf("job %+v waits although device %+v is free", j, dev)
			}
		}
	}
}

func TestPlanInvariants(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		checkInvariants(t, s, Plan(s))
	})
}

// TestPlanDeterministic checks that a snapshot always yields the same plan,
// whatever the order of its slices and of the tags in them.
func TestPlanDeterministic(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		want := Plan(s)
		if again := Plan(s); !gocmp.Equal(want, again) {
			t.Fatalf("second Plan differs:\n%s", gocmp.Diff(want, again))
		}
		p := deepCopy(s)
		p.DeviceTypes = rapid.Permutation(p.DeviceTypes).Draw(t, "ptypes")
		p.Devices = rapid.Permutation(p.Devices).Draw(t, "pdevices")
		p.Workers = rapid.Permutation(p.Workers).Draw(t, "pworkers")
		p.Queue = rapid.Permutation(p.Queue).Draw(t, "pqueue")
		for i := range p.Devices {
			p.Devices[i].Tags = rapid.Permutation(p.Devices[i].Tags).Draw(t, "pdtags")
		}
		for i := range p.Queue {
			p.Queue[i].Tags = rapid.Permutation(p.Queue[i].Tags).Draw(t, "pjtags")
		}
		if got := Plan(p); !gocmp.Equal(want, got) {
			t.Fatalf("Plan of a permuted snapshot differs (-orig +permuted):\n%s", gocmp.Diff(want, got))
		}
	})
}

// referencePlan is a deliberately naive statement of the rules: every job
// in queue order scans every device in preference order, and every group
// at its turn tries every assignment of its members (bruteMatch). The
// optimised Plan (bucketing, bitsets, failed-signature memo, lazy
// unlinking, augmenting paths, bounded candidates) must agree with it
// exactly, reasons aside. It assumes unique keys.
//
// Which devices a group gets, and which matching its hold uses, are free
// choices of Plan: the reference takes them from plan after checking that
// they are legal (a matching of the group's members onto free, fitting
// devices with worker room; a hold's devices in service, unclaimed and
// within worker limits), and decides independently whether the group is
// placed, holds or neither.
func referencePlan(t fataler, s Snapshot, plan Decisions) Decisions {
	m := newModel(s)
	var out Decisions
	busy := map[string]int{}
	for _, w := range s.Workers {
		busy[w.Name] = w.Busy
	}
	room := func(name string) int {
		w := m.workers[name]
		if w.JobLimit <= 0 {
			return len(s.Devices) + 1
		}
		return w.JobLimit - busy[name]
	}
	full := func(name string) bool { return room(name) <= 0 }
	devs := slices.Clone(s.Devices)
	slices.SortFunc(devs, func(a, b Device) int {
		return cmp.Or(strings.Compare(a.Type, b.Type), strings.Compare(a.Hostname, b.Hostname))
	})
	taken := map[string]bool{}
	for _, d := range devs {
		if !m.usable(d) || !m.checksOn(d) || full(d.Worker) {
			continue
		}
		if h := d.Health; (h == lab.DeviceGood || h == lab.DeviceUnknown || h == lab.DeviceLooping) && m.due(d) {
			out.HealthChecks = append(out.HealthChecks, HealthCheck{Device: d.Hostname, Type: d.Type})
			taken[d.Hostname] = true
			busy[d.Worker]++
		}
	}
	distinct := func(tags []string) int { return len(slices.Compact(slices.Sorted(slices.Values(tags)))) }
	slices.SortFunc(devs, func(a, b Device) int {
		return cmp.Or(cmp.Compare(distinct(a.Tags), distinct(b.Tags)), strings.Compare(a.Hostname, b.Hostname))
	})
	free := func(d Device) bool {
		return !taken[d.Hostname] && m.usable(d) && d.Health.Schedulable() && !full(d.Worker)
	}

	gs := groupsOf(s)
	for _, j := range s.Queue {
		if expiredIn(gs, j) {
			out.Expired = append(out.Expired, j.ID)
		}
	}
	slices.Sort(out.Expired)

	// The queue in serving order: ordinary jobs, and groups at their
	// first member.
	type item struct {
		key Job
		g   *tgroup
	}
	var items []item
	for _, j := range s.Queue {
		if j.Group == "" {
			items = append(items, item{key: j})
		}
	}
	for _, g := range gs {
		items = append(items, item{key: g.key, g: g})
	}
	slices.SortFunc(items, func(a, b item) int { return queueOrder(a.key, b.key) })

	placed := map[string][]Assignment{}
	for _, a := range plan.Assignments {
		if a.Group != "" {
			placed[a.Group] = append(placed[a.Group], a)
		}
	}
	holds := map[string]Hold{}
	for _, h := range plan.Holds {
		holds[h.Group] = h
	}
	claimed := map[string]bool{}
	claimedSlots := map[string]int{}
	potential := func(name string) int {
		w := m.workers[name]
		if w.JobLimit <= 0 {
			return len(s.Devices) + 1
		}
		return w.JobLimit - claimedSlots[name]
	}
	byHost := func(hosts []string) []Device {
		var out []Device
		for _, h := range hosts {
			out = append(out, m.devices[h])
		}
		return out
	}

	for _, it := range items {
		g := it.g
		if g == nil {
			j := it.key
			if expired(j) {
				continue
			}
			for _, d := range devs {
				if free(d) && fits(j, d) {
					out.Assignments = append(out.Assignments, Assignment{Job: j.ID, Device: d.Hostname})
					taken[d.Hostname] = true
					busy[d.Worker]++
					break
				}
			}
			continue
		}
		got, h := placed[g.name], holds[g.name]
		if !g.complete || g.expired {
			if len(got) > 0 || h.Group != "" {
				t.Fatalf("group %+v, incomplete or expired, is placed %v or held %+v", g, got, h)
			}
			continue
		}
		canPlace := bruteMatch(g.members, devs, func(j Job, d Device) bool { return free(d) && fits(j, d) }, room)
		if canPlace != (len(got) > 0) {
			t.Fatalf("group %s: a matching on free devices exists: %v; Plan places it: %v", g.name, canPlace, got)
		}
		if canPlace {
			// Plan's matching: each member once, in queue order, on a
			// free fitting device; the members' devices distinct, the
			// workers within their limits.
			if len(got) != len(g.members) {
				t.Fatalf("group %s placed as %v", g.name, got)
			}
			for n, a := range got {
				d := m.devices[a.Device]
				if a.Job != g.members[n].ID || !free(d) || !fits(g.members[n], d) {
					t.Fatalf("group %s: bad assignment %+v", g.name, a)
				}
				out.Assignments = append(out.Assignments, a)
				taken[d.Hostname] = true
				busy[d.Worker]++
			}
			continue
		}
		due := s.GroupHoldAfter > 0 && now.Sub(g.key.SubmitTime) > s.GroupHoldAfter
		inService := func(j Job, d Device) bool {
			return m.inService(d) && !claimed[d.Hostname] && potential(d.Worker) > 0 && fits(j, d)
		}
		canHold := due && bruteMatch(g.members, devs, inService, potential)
		if canHold != (h.Group != "") {
			t.Fatalf("group %s: hold due %v, matching in service %v; Plan holds %+v", g.name, due, canHold, h)
		}
		if !canHold {
			continue
		}
		all := byHost(append(slices.Clone(h.Devices), h.Waits...))
		load := map[string]int{}
		for _, d := range all {
			load[d.Worker]++
		}
		for w, n := range load {
			if n > potential(w) {
				t.Fatalf("group %s holds %+v: worker %s over its limit", g.name, h, w)
			}
		}
		if len(all) != len(g.members) || !bruteMatch(g.members, all, inService, func(string) int { return len(all) }) {
			t.Fatalf("group %s: hold %+v is no matching of its members in service", g.name, h)
		}
		for _, d := range byHost(h.Devices) {
			if !free(d) {
				t.Fatalf("group %s holds %s, which is not free", g.name, d.Hostname)
			}
			taken[d.Hostname] = true
			busy[d.Worker]++
		}
		for _, d := range byHost(h.Waits) {
			if free(d) {
				t.Fatalf("group %s waits for %s, which is free", g.name, d.Hostname)
			}
		}
		for _, d := range all {
			claimed[d.Hostname] = true
			claimedSlots[d.Worker]++
		}
		out.Holds = append(out.Holds, h)
	}
	return out
}

// cmpPlans diffs two plans, ignoring health-check reasons (the reference
// does not phrase them).
func cmpPlans(want, got Decisions) string {
	ignoreReason := gocmp.FilterPath(func(p gocmp.Path) bool {
		sf, ok := p.Last().(gocmp.StructField)
		return ok && sf.Name() == "Reason"
	}, gocmp.Ignore())
	return gocmp.Diff(want, got, ignoreReason)
}

func TestPlanMatchesReference(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		d := Plan(s)
		if diff := cmpPlans(referencePlan(t, s, d), d); diff != "" {
			t.Fatalf("Plan differs from the reference (-reference +Plan):\n%s", diff)
		}
	})
}

// TestPlanDuplicateKeysSafe feeds snapshots whose keys repeat (with
// different contents) and checks that Plan stays safe: a job ID is decided
// once, a device is used once, only listed devices and jobs are named, and
// the plan is still deterministic.
func TestPlanDuplicateKeysSafe(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSnapshot(t)
		u := genSnapshot(t) // same key space, other contents
		s.DeviceTypes = append(s.DeviceTypes, rapid.SliceOf(rapid.SampledFrom(u.DeviceTypes)).Draw(t, "duptypes")...)
		s.Devices = append(s.Devices, rapid.SliceOf(rapid.SampledFrom(u.Devices)).Draw(t, "dupdevices")...)
		s.Workers = append(s.Workers, rapid.SliceOf(rapid.SampledFrom(u.Workers)).Draw(t, "dupworkers")...)
		s.Queue = append(s.Queue, rapid.SliceOf(rapid.SampledFrom(u.Queue)).Draw(t, "dupjobs")...)
		s.Queue = rapid.Permutation(s.Queue).Draw(t, "queueorder")

		d := Plan(s)
		if again := Plan(s); !gocmp.Equal(d, again) {
			t.Fatalf("second Plan differs:\n%s", gocmp.Diff(d, again))
		}
		ids := map[int64]bool{}
		for _, j := range s.Queue {
			ids[j.ID] = true
		}
		hosts := map[string]bool{}
		for _, dev := range s.Devices {
			hosts[dev.Hostname] = true
		}
		decided := map[int64]bool{}
		for _, id := range d.Expired {
			if decided[id] || !ids[id] {
				t.Fatalf("expired job %d listed twice or unknown", id)
			}
			decided[id] = true
		}
		used := map[string]bool{}
		for _, hc := range d.HealthChecks {
			if used[hc.Device] || !hosts[hc.Device] {
				t.Fatalf("health check on %s: used twice or unknown", hc.Device)
			}
			used[hc.Device] = true
		}
		for _, a := range d.Assignments {
			if decided[a.Job] || !ids[a.Job] {
				t.Fatalf("job %d decided twice or unknown", a.Job)
			}
			decided[a.Job] = true
			if used[a.Device] || !hosts[a.Device] {
				t.Fatalf("device %s used twice or unknown", a.Device)
			}
			used[a.Device] = true
		}
	})
}
