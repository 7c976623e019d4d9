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
	return s
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

	// Expiry: exactly the timed-out jobs, ascending.
	var wantExpired []int64
	for _, j := range s.Queue {
		if expired(j) {
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
		if i > 0 && queueOrder(jobs[d.Assignments[i-1].Job], j) >= 0 {
			t.Fatalf("assignments out of queue order at %d", i)
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

	// Rule 5, the ordering guarantee: a device is never given a job while a
	// job earlier in queue order that fits it stays unassigned.
	for _, a := range d.Assignments {
		dev := m.devices[a.Device]
		for _, h := range s.Queue {
			if !assigned[h.ID] && !expired(h) && queueOrder(h, jobs[a.Job]) < 0 && fits(h, dev) {
				t.Fatalf("device %s given to job %+v while earlier job %+v fits it and waits", dev.Hostname, jobs[a.Job], h)
			}
		}
	}

	// Work conservation: no waiting job fits a device left free on a worker
	// with room.
	for _, dev := range s.Devices {
		if _, ok := taken[dev.Hostname]; ok || !m.usable(dev) || !dev.Health.Schedulable() ||
			(m.checksOn(dev) && m.due(dev)) || full(dev.Worker) {
			continue
		}
		for _, j := range s.Queue {
			if !assigned[j.ID] && !expired(j) && fits(j, dev) {
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
// in queue order scans every device in preference order. The optimised Plan
// (bucketing, bitsets, failed-signature memo, lazy unlinking) must agree
// with it exactly, reasons aside. It assumes unique keys.
func referencePlan(s Snapshot) Decisions {
	m := newModel(s)
	var out Decisions
	busy := map[string]int{}
	for _, w := range s.Workers {
		busy[w.Name] = w.Busy
	}
	full := func(name string) bool {
		w := m.workers[name]
		return w.JobLimit > 0 && busy[name] >= w.JobLimit
	}
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
	queue := slices.Clone(s.Queue)
	slices.SortFunc(queue, queueOrder)
	for _, j := range queue {
		if expired(j) {
			out.Expired = append(out.Expired, j.ID)
			continue
		}
		for _, d := range devs {
			if taken[d.Hostname] || !m.usable(d) || !d.Health.Schedulable() || full(d.Worker) || !fits(j, d) {
				continue
			}
			out.Assignments = append(out.Assignments, Assignment{Job: j.ID, Device: d.Hostname})
			taken[d.Hostname] = true
			busy[d.Worker]++
			break
		}
	}
	slices.Sort(out.Expired)
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
		if diff := cmpPlans(referencePlan(s), Plan(s)); diff != "" {
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
