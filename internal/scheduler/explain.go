package scheduler

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Verdict is what a scheduling pass over a snapshot does with a job.
type Verdict string

// Verdicts of Explain.
const (
	// VerdictWaiting: the pass leaves the job queued.
	VerdictWaiting Verdict = "waiting"
	// VerdictSchedulable: the pass assigns the job to a device
	// (Explanation.Device).
	VerdictSchedulable Verdict = "schedulable"
	// VerdictExpired: the job's queue timeout has passed; the pass cancels it.
	VerdictExpired Verdict = "expired"
	// VerdictNotQueued: the job is not in the snapshot's queue.
	VerdictNotQueued Verdict = "not_queued"
)

// Code identifies a reason, for programs; the values are stable API strings.
// Job codes describe the job as a whole (Explanation.Reasons), device codes
// one device of the job's scope (Explanation.Devices).
type Code string

// Job codes.
const (
	// CodeNotQueued: the job is not queued (Submitted).
	CodeNotQueued Code = "not_queued"
	// CodeExpired: the queue timeout has passed (rule 1).
	CodeExpired Code = "queue_timeout_expired"
	// CodeQueueTimeout: when the job will be canceled if still queued; a
	// note, never the reason it waits.
	CodeQueueTimeout Code = "queue_timeout"
	// CodeNoDeviceType: the job's device type does not exist.
	CodeNoDeviceType Code = "no_such_device_type"
	// CodeNoSuchDevice: the job's requested device does not exist.
	CodeNoSuchDevice Code = "no_such_device"
	// CodeDeviceOtherType: the requested device is of another type.
	CodeDeviceOtherType Code = "device_of_other_type"
	// CodeNoSuchWorker: the requested worker does not exist.
	CodeNoSuchWorker Code = "no_such_worker"
	// CodeDeviceOtherWorker: the requested device is not on the requested worker.
	CodeDeviceOtherWorker Code = "device_on_other_worker"
	// CodeNoDevice: no device of the type (on the requested worker) exists.
	CodeNoDevice Code = "no_device"
	// CodeNoDeviceWithTags: no device of the scope carries all the job's tags.
	CodeNoDeviceWithTags Code = "no_device_with_tags"
	// CodeNoUsableDevice: the devices that fit are all out of service
	// (retired, in maintenance, bad, on an unusable worker…).
	CodeNoUsableDevice Code = "no_usable_device"
	// CodeAllBusy: the usable devices that fit are all busy: running or
	// reserved for a job, running a health check, taken by a job ahead in
	// this pass, or on a worker at its job limit.
	CodeAllBusy Code = "all_devices_busy"
	// CodeJobsAhead: queued jobs ahead of this one (higher priority, or
	// equal priority and submitted earlier) fit the same devices.
	CodeJobsAhead Code = "jobs_ahead"
	// CodeGroupWaits: the job's multinode group cannot be placed whole on
	// the free devices (rule 7); Explanation.Group says which roles wait
	// for what.
	CodeGroupWaits Code = "group_waits"
	// CodeGroupIncomplete: fewer of the group's jobs are queued than its
	// size: a group is only placed whole.
	CodeGroupIncomplete Code = "group_incomplete"
	// CodeGroupInconsistent: the group's jobs disagree on its size, or
	// repeat a job ID; it is never placed.
	CodeGroupInconsistent Code = "group_inconsistent"
	// CodeGroupExpired: another job of the group passed its queue
	// timeout, so the whole group is canceled (rule 1).
	CodeGroupExpired Code = "group_member_expired"
	// CodeGroupHold: a note on the group's hold (rule 8): the devices the
	// pass holds for it and those it waits for, or when the hold starts.
	CodeGroupHold Code = "group_hold"
)

// Device codes, in the order they are tested: a device gets the first
// that applies.
const (
	// CodeMissingTags: the device lacks some of the job's tags (rule 4).
	CodeMissingTags Code = "missing_tags"
	// CodeNoWorker: the device is attached to no (existing) worker (rule 2).
	CodeNoWorker Code = "no_worker"
	// CodeDeviceRetired: the device's health is Retired.
	CodeDeviceRetired Code = "device_retired"
	// CodeWorkerRetired: the device's worker is Retired.
	CodeWorkerRetired Code = "worker_retired"
	// CodeWorkerMaintenance: the device's worker is in Maintenance.
	CodeWorkerMaintenance Code = "worker_maintenance"
	// CodeWorkerOffline: the device's worker is Offline.
	CodeWorkerOffline Code = "worker_offline"
	// CodeDeviceMaintenance: the device's health is Maintenance.
	CodeDeviceMaintenance Code = "device_maintenance"
	// CodeDeviceBad: the device's health is Bad.
	CodeDeviceBad Code = "device_bad"
	// CodeDeviceReserved: the device is Reserved for a job (DeviceReason.Job).
	CodeDeviceReserved Code = "device_reserved"
	// CodeDeviceRunning: the device is Running a job (DeviceReason.Job).
	CodeDeviceRunning Code = "device_running"
	// CodeWorkerFull: the device's worker has reached its job limit.
	CodeWorkerFull Code = "worker_job_limit"
	// CodeHealthCheck: a health check starts on the device first (rule 3).
	CodeHealthCheck Code = "health_check_first"
	// CodeDeviceLooping: the device is Looping and its type runs no
	// health checks, so it takes nothing.
	CodeDeviceLooping Code = "device_looping"
	// CodeTaken: the pass gives the device to a job ahead in the queue
	// (DeviceReason.Job).
	CodeTaken Code = "taken_by_job_ahead"
	// CodeHeld: the pass holds the device for a multinode group ahead in
	// the queue (rule 8; DeviceReason.Group).
	CodeHeld Code = "held_for_group"
	// CodeFree: the device is free and fits: the job gets it (or another
	// free one) in this pass. As the job's reason (VerdictSchedulable) it
	// names the device the pass assigns.
	CodeFree Code = "free"
)

// Explanation says why a queued job waits, or what happens to it, in one
// pass of Plan over a snapshot.
type Explanation struct {
	// Job is the job explained.
	Job int64
	// Verdict is what the pass does with the job.
	Verdict Verdict
	// Summary is one sentence for people: the main reason, the devices
	// behind it and the jobs ahead.
	Summary string
	// Device is, for VerdictSchedulable, the device the pass assigns.
	Device string
	// Reasons are the job-level reasons, the main one first; a
	// CodeQueueTimeout note is last.
	Reasons []Reason
	// Devices lists, by hostname, every device of the job's scope (its
	// type, and its requested device or worker when given) with the first
	// reason it does not take the job (CodeFree when it would).
	Devices []DeviceReason
	// Ahead counts the queued jobs served before this one that fit at
	// least one of the devices that fit it; AheadHigher of them have a
	// higher priority, the others an equal one and an earlier submission.
	Ahead, AheadHigher int
	// ExpiresAt is when the queue timeout cancels the job (zero: none).
	ExpiresAt time.Time
	// Group is set when the job belongs to a multinode group.
	Group *GroupState
}

// GroupState is how a pass sees the multinode group of an explained job.
type GroupState struct {
	// Name is the group (Job.Group), Role the explained job's role and
	// Size the job's GroupSize.
	Name, Role string
	Size       int
	// Queued lists the group's queued jobs, in queue order.
	Queued []int64
	// Roles says, by role name, what each role waits for at the group's
	// turn; set when the group is complete and waits.
	Roles []RoleState
	// Held and Waits are the group's hold in this pass (rule 8): the free
	// devices kept for it and the busy ones it waits for.
	Held, Waits []string
}

// RoleState is one role of a waiting group at the group's turn.
type RoleState struct {
	// Role is the role's name; Jobs its queued jobs, in queue order.
	Role string
	Jobs []int64
	// Placeable is how many of the role's jobs the free devices could
	// take at once, the role alone.
	Placeable int
	// Detail is a sentence fragment for people: "role client (1 of 2
	// jobs) has no free qemu device with tags [x]", "role server is
	// satisfiable".
	Detail string
}

// Blocked reports whether the job waits: the pass neither assigns nor
// expires it.
func (e Explanation) Blocked() bool { return e.Verdict == VerdictWaiting }

// Reason is one job-level reason.
type Reason struct {
	Code   Code
	Detail string // a sentence fragment for people
}

// DeviceReason says why one device does not take the job.
type DeviceReason struct {
	// Device and Worker name the device and the worker it is attached to.
	Device, Worker string
	// Code is the first device code that applies.
	Code Code
	// Detail is a sentence fragment for people, starting with the
	// hostname ("qemu01 is on worker lab-1, Offline since 12:03 UTC").
	Detail string
	// Job is the job holding the device (CodeDeviceReserved,
	// CodeDeviceRunning) or taking it in this pass (CodeTaken).
	Job int64
	// Group is, for CodeHeld, the group the device is held for.
	Group string
	// Holder and Until are, when the job holding the device is a
	// reservation, who holds it and until when (zero: it has not
	// started).
	Holder string
	Until  time.Time
	// Since is, for CodeWorkerOffline, when the worker went Offline
	// (zero: not known).
	Since time.Time
	// MissingTags are, for CodeMissingTags, the job's tags the device
	// lacks, sorted.
	MissingTags []string
}

// Explain says what one pass of Plan over s does with queued job id and,
// when it leaves the job queued, why: every rule Plan applies that keeps
// the job from each device of its scope. It runs the same passes with the
// same predicates as Plan and looks at the state at the job's turn (the
// decisions taken for the jobs before it in queue order), so its verdict
// is always Plan's: VerdictSchedulable exactly when Plan assigns the job,
// VerdictExpired exactly when Plan expires it. It is pure, like Plan.
//
// Keys are expected to be unique. When a job ID repeats, the first of its
// entries in queue order that could be assigned is explained (else the
// first); the verdict may then differ from Plan's, which is only safe.
func Explain(s Snapshot, id int64) Explanation {
	p := planner{s: &s, explaining: true, explainID: id}
	p.screen()
	busy := slices.Clone(p.wBusy) // after the health checks, before any job
	p.assignJobs()
	return p.explain(id, busy)
}

// entry is queue entry i as the queue order sees it.
func (p *planner) entry(i int32) queued {
	j := &p.s.Queue[i]
	return queued{prio: j.Priority, sec: j.SubmitTime.Unix(), nsec: int32(j.SubmitTime.Nanosecond()), idx: i, id: j.ID}
}

// explain explains job id after a pass; busy0 is the worker load after the
// health checks.
func (p *planner) explain(id int64, busy0 []int) Explanation {
	q := p.s.Queue
	var entries []int32
	for i := range q {
		if q[i].ID == id {
			entries = append(entries, int32(i))
		}
	}
	if len(entries) == 0 {
		return Explanation{Job: id, Verdict: VerdictNotQueued, Summary: fmt.Sprintf("job %d is not queued", id),
			Reasons: []Reason{{CodeNotQueued, fmt.Sprintf("job %d is not queued", id)}}}
	}
	slices.SortFunc(entries, func(a, b int32) int { return before(p.entry(a), p.entry(b)) })
	p.indexMembers()
	for _, i := range entries {
		if j := &q[i]; queueExpired(j, p.s.Now) {
			at := j.SubmitTime.Add(j.QueueTimeout)
			d := fmt.Sprintf("the queue timeout of %s passed at %s", durText(j.QueueTimeout), clock(at, p.s.Now))
			return Explanation{Job: id, Verdict: VerdictExpired, ExpiresAt: at,
				Summary: d + ": the job will be canceled", Reasons: []Reason{{CodeExpired, d}}}
		}
	}
	for _, i := range entries {
		if g := p.memberOf[i]; g != nil && g.expired {
			for _, m := range g.members {
				if o := &q[m]; queueExpired(o, p.s.Now) {
					at := o.SubmitTime.Add(o.QueueTimeout)
					d := fmt.Sprintf("job %d of group %s passed its queue timeout of %s at %s", o.ID, g.name,
						durText(o.QueueTimeout), clock(at, p.s.Now))
					return Explanation{Job: id, Verdict: VerdictExpired, ExpiresAt: at,
						Summary: d + ": the whole group will be canceled", Reasons: []Reason{{CodeGroupExpired, d}}}
				}
			}
		}
	}
	var first Explanation
	for k, i := range entries {
		e := p.explainEntry(i, busy0)
		if e.Verdict == VerdictSchedulable || len(entries) == 1 {
			return e
		}
		if k == 0 {
			first = e
		}
	}
	return first
}

// indexMembers maps the queue entries of group members to their group.
func (p *planner) indexMembers() {
	p.memberOf = map[int32]*group{}
	for _, g := range p.groups {
		for _, i := range g.members {
			p.memberOf[i] = g
		}
	}
}

// serving is the position at which queue entry i is served: its own, or
// its group's.
func (p *planner) serving(i int32) queued {
	if g := p.memberOf[i]; g != nil {
		return g.key
	}
	return p.entry(i)
}

// expiredEntry reports whether the pass expires queue entry i: its own
// queue timeout passed, or that of a member of its group (rule 1).
func (p *planner) expiredEntry(i int32) bool {
	if g := p.memberOf[i]; g != nil {
		return g.expired
	}
	return queueExpired(&p.s.Queue[i], p.s.Now)
}

// turn is the state of a pass when a job's turn comes: what the jobs and
// groups before it took or held.
type turn struct {
	busy  []int            // worker load
	taken map[int32]int64  // device → the job ahead that got it
	held  map[int32]*group // device → the group ahead that holds it
}

// turnOf replays what the pass gave away before the serving position me.
// The pass serves, and logs, in queue order, so that is a prefix of the
// log.
func (p *planner) turnOf(me queued, busy0 []int) turn {
	t := turn{busy: slices.Clone(busy0), taken: map[int32]int64{}, held: map[int32]*group{}}
	for _, ev := range p.log {
		if before(ev.key, me) >= 0 {
			break
		}
		if ev.hold {
			t.held[ev.dev] = ev.group
		} else {
			t.taken[ev.dev] = ev.job
		}
		t.busy[p.devWorker[ev.dev]]++
	}
	return t
}

// scopeTags is the tag sets of a job's scope, interned afresh (the pass
// interns only the pool's tags) with the same tagSet as Plan.
type scopeTags struct {
	ts   tagSet
	bits []uint64 // device k of the scope at [k*words:(k+1)*words]
	want []uint64 // the job's tags
	ok   bool     // every job tag is carried by some device of the scope
}

func newScopeTags(devs []Device, scope []int32, jobTags []string) *scopeTags {
	st := &scopeTags{ts: tagSet{index: map[string]int{}}}
	for _, d := range scope {
		st.ts.intern(devs[d].Tags)
	}
	st.ts.fix()
	W := st.ts.words
	st.bits = make([]uint64, len(scope)*W)
	for k, d := range scope {
		st.ts.fill(st.bits[k*W:(k+1)*W], devs[d].Tags)
	}
	st.want = make([]uint64, W)
	st.ok = st.ts.fill(st.want, jobTags)
	return st
}

func (st *scopeTags) of(k int) []uint64 { return st.bits[k*st.ts.words : (k+1)*st.ts.words] }

// fits is rule 4's tag test for device k of the scope.
func (st *scopeTags) fits(k int) bool { return st.ok && subset(st.want, st.of(k)) }

// missing lists, sorted and once each, the tags of tags device k lacks.
func (st *scopeTags) missing(k int, tags []string) []string {
	have := st.of(k)
	var out []string
	for _, t := range tags {
		b, ok := st.ts.index[t]
		if !ok || have[b>>6]&(1<<(b&63)) == 0 {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// explainEntry explains queue entry i, which has not expired.
func (p *planner) explainEntry(i int32, busy0 []int) Explanation {
	s := p.s
	j := &s.Queue[i]
	e := Explanation{Job: j.ID, Verdict: VerdictWaiting}
	var note []Reason
	if j.QueueTimeout > 0 {
		e.ExpiresAt = j.SubmitTime.Add(j.QueueTimeout)
		note = []Reason{{CodeQueueTimeout, fmt.Sprintf("the job is canceled if still queued after %s, %s",
			clock(e.ExpiresAt, s.Now), inText(e.ExpiresAt.Sub(s.Now)))}}
	}
	done := func(r Reason) Explanation {
		e.Summary = r.Detail
		e.Reasons = append([]Reason{r}, note...)
		return e
	}

	g := p.memberOf[i]
	me := p.serving(i)
	sig, why, ok := p.request(j)
	scopeName := j.Type + " device" + onWorker(j)
	var scope []int32
	for d := range s.Devices {
		if ok && p.deviceIdx[s.Devices[d].Hostname] == int32(d) && p.matches(sig, int32(d)) {
			scope = append(scope, int32(d))
		}
	}
	slices.SortFunc(scope, func(a, b int32) int { return strings.Compare(s.Devices[a].Hostname, s.Devices[b].Hostname) })

	at := p.turnOf(me, busy0)
	hcReason := map[string]string{}
	for _, hc := range p.out.HealthChecks {
		hcReason[hc.Device] = hc.Reason
	}
	tags := newScopeTags(s.Devices, scope, j.Tags)
	var fitting, usable []int // positions in scope
	free := false
	for k, d := range scope {
		r := p.deviceReason(j, d, k, tags, at, hcReason)
		e.Devices = append(e.Devices, r)
		if r.Code == CodeMissingTags {
			continue
		}
		fitting = append(fitting, k)
		switch r.Code {
		case CodeFree:
			free = true
			usable = append(usable, k)
		case CodeDeviceReserved, CodeDeviceRunning, CodeWorkerFull, CodeHealthCheck, CodeTaken, CodeHeld:
			usable = append(usable, k)
		}
	}

	if g != nil {
		return p.explainMember(e, j, g, me, scope, fitting, tags, note)
	}
	if !ok {
		return done(p.requestReason(j, sig, why))
	}
	if len(scope) == 0 {
		return done(Reason{CodeNoDevice, "there is no " + scopeName})
	}

	if free {
		e.Verdict = VerdictSchedulable
		for _, a := range p.out.Assignments {
			if a.Job == j.ID {
				e.Device = a.Device
			}
		}
		if e.Device == "" { // only with duplicated job IDs
			for _, r := range e.Devices {
				if r.Code == CodeFree {
					e.Device = r.Device
					break
				}
			}
		}
		return done(Reason{CodeFree, e.Device + " is free: the next scheduling pass assigns the job to it"})
	}

	tagText := "tags " + listText(j.Tags)
	var main Reason
	switch {
	case sig.device != none:
		main = Reason{CodeNoUsableDevice, "the requested device " + e.Devices[0].Detail}
		switch e.Devices[0].Code {
		case CodeMissingTags:
			main.Code = CodeNoDeviceWithTags
		case CodeDeviceReserved, CodeDeviceRunning, CodeWorkerFull, CodeHealthCheck, CodeTaken, CodeHeld:
			main.Code = CodeAllBusy
		}
	case len(fitting) == 0:
		main = Reason{CodeNoDeviceWithTags, "no " + scopeName + " has " + tagText}
	case len(usable) == 0 && len(j.Tags) > 0:
		main = Reason{CodeNoUsableDevice, plural(len(fitting), j.Type+" device") + onWorker(j) + " " +
			hasHave(len(fitting), tagText) + ": " + phrases(e.Devices, fitting)}
	case len(usable) == 0:
		main = Reason{CodeNoUsableDevice, fmt.Sprintf("0 of %s%s usable: %s", plural(len(fitting), j.Type+" device"), onWorker(j), phrases(e.Devices, fitting))}
	default:
		what := "no " + scopeName
		if len(j.Tags) > 0 {
			what += " with " + tagText
		}
		main = Reason{CodeAllBusy, what + " is free: " + phrases(e.Devices, usable)}
		switch n := len(fitting) - len(usable); {
		case n == 1:
			main.Detail += "; 1 other is out of service"
		case n > 1:
			main.Detail += fmt.Sprintf("; %d others are out of service", n)
		}
	}
	e.Summary = main.Detail
	e.Reasons = []Reason{main}
	p.addAhead(&e, j, me, scope, fitting, tags)
	e.Reasons = append(e.Reasons, note...)
	return e
}

// phrases joins the details of devices ks of ds, the first three and a
// count of the others.
func phrases(ds []DeviceReason, ks []int) string {
	var out []string
	for n, k := range ks {
		if n == 3 {
			out = append(out, fmt.Sprintf("and %d more", len(ks)-n))
			break
		}
		out = append(out, ds[k].Detail)
	}
	return strings.Join(out, "; ")
}

// addAhead counts the jobs ahead of j (served at me) that fit its fitting
// devices and, when there are some, adds the reason to e.
func (p *planner) addAhead(e *Explanation, j *Job, me queued, scope []int32, fitting []int, tags *scopeTags) {
	if len(fitting) == 0 {
		return
	}
	e.Ahead, e.AheadHigher = p.ahead(j, me, scope, fitting, tags)
	if e.Ahead > 0 {
		r := Reason{CodeJobsAhead, aheadText(e.Ahead, e.AheadHigher)}
		e.Reasons = append(e.Reasons, r)
		e.Summary += "; " + r.Detail
	}
}

// explainMember finishes e, the explanation of job j, a member of group g
// served at me, whose device reasons are filled in.
func (p *planner) explainMember(e Explanation, j *Job, g *group, me queued, scope []int32, fitting []int, tags *scopeTags, note []Reason) Explanation {
	q := p.s.Queue
	gs := &GroupState{Name: g.name, Role: j.Role, Size: j.GroupSize}
	for _, m := range g.members {
		gs.Queued = append(gs.Queued, q[m].ID)
	}
	var h *Hold
	if g.hold != none {
		h = &p.out.Holds[g.hold]
		gs.Held, gs.Waits = h.Devices, h.Waits
	}
	e.Group = gs
	finish := func(main Reason, more ...Reason) Explanation {
		e.Summary = main.Detail
		for _, r := range more {
			e.Summary += "; " + r.Detail
		}
		e.Reasons = append([]Reason{main}, more...)
		p.addAhead(&e, j, me, scope, fitting, tags)
		e.Reasons = append(e.Reasons, note...)
		return e
	}
	switch g.state {
	case groupIncomplete:
		return finish(Reason{CodeGroupIncomplete, fmt.Sprintf("the job is part of group %s, which has %d of its %d jobs queued: a group is only placed whole",
			g.name, len(g.members), g.size)})
	case groupInconsistent:
		return finish(Reason{CodeGroupInconsistent, fmt.Sprintf("the job is part of group %s, which is inconsistent (its jobs disagree on its size, or repeat a job ID): it is never placed",
			g.name)})
	}
	if g.placed {
		e.Verdict = VerdictSchedulable
		for _, a := range p.out.Assignments {
			if a.Job == j.ID && a.Group == g.name {
				e.Device = a.Device
			}
		}
		d := e.Device + " is free: the next scheduling pass assigns the job to it"
		if n := len(g.members) - 1; n > 0 {
			d += fmt.Sprintf(", together with the %s of group %s", plural(n, "other job"), g.name)
		}
		e.Summary, e.Reasons = d, append([]Reason{{CodeFree, d}}, note...)
		return e
	}

	main := Reason{CodeGroupWaits, fmt.Sprintf("the job (%s) is part of group %s, which cannot be placed whole", roleName(j.Role), g.name)}
	dg := p.diags[g]
	if dg == nil { // not reached: every complete, unexpired group is diagnosed
		return finish(main)
	}
	var details []string
	for _, r := range dg.roles {
		rs := RoleState{Role: r.role, Placeable: r.matched}
		for _, n := range r.members {
			rs.Jobs = append(rs.Jobs, dg.members[n].j.ID)
		}
		if r.matched == len(r.members) {
			rs.Detail = roleName(r.role) + " is satisfiable"
		} else {
			rs.Detail = roleName(r.role)
			if len(r.members) > 1 {
				rs.Detail += fmt.Sprintf(" (%d of %d jobs)", len(r.members)-r.matched, len(r.members))
			}
			rs.Detail += " " + p.lacks(&dg.members[r.missing])
			details = append(details, rs.Detail)
		}
		gs.Roles = append(gs.Roles, rs)
	}
	if len(details) == 0 {
		main.Detail += fmt.Sprintf(": each role could be placed alone, but only %d of its %d jobs can get free devices at once (the roles need the same devices or worker slots)",
			dg.matched, len(g.members))
	} else {
		for _, rs := range gs.Roles {
			if rs.Placeable == len(rs.Jobs) {
				details = append(details, rs.Detail)
			}
		}
		main.Detail += ": " + strings.Join(details, "; ")
	}
	switch {
	case !dg.fitsAll:
		main.Detail += "; even with every busy device free, the devices in service cannot take the whole group"
	case !dg.fits:
		main.Detail += "; even with every busy device free, the devices in service that groups ahead wait for leave too few for it"
	}

	var more []Reason
	after := p.s.GroupHoldAfter
	switch {
	case h != nil && len(h.Devices) > 0:
		r := Reason{CodeGroupHold, "the group has been queued longer than " + durText(after) + ": the pass holds " +
			strings.Join(h.Devices, ", ") + " for it"}
		if len(h.Waits) > 0 {
			r.Detail += ", and it waits for " + strings.Join(h.Waits, ", ")
		}
		more = append(more, r)
	case h != nil:
		more = append(more, Reason{CodeGroupHold, "the group has been queued longer than " + durText(after) + ": it waits for " +
			strings.Join(h.Waits, ", ") + ", none of them free to hold"})
	case after > 0 && dg.fits && !p.holdDue(g):
		at := q[g.members[0]].SubmitTime.Add(after)
		more = append(more, Reason{CodeGroupHold, fmt.Sprintf("free devices are held for the group once it has been queued longer than %s, after %s, %s",
			durText(after), clock(at, p.s.Now), inText(at.Sub(p.s.Now)))})
	}
	return finish(main, more...)
}

// lacks says why member m gets no free device: "has no free qemu device
// with tags [x]", "cannot get its requested device qemu01", "cannot run:
// device type bbb does not exist".
func (p *planner) lacks(m *member) string {
	j := m.j
	switch {
	case !m.ok:
		return "cannot run: " + p.requestReason(j, m.sig, m.why).Detail
	case j.Device != "":
		return "cannot get its requested device " + j.Device
	}
	s := "has no free " + j.Type + " device" + onWorker(j)
	if len(j.Tags) > 0 {
		s += " with tags " + listText(j.Tags)
	}
	return s
}

// deviceReason is why device d (position k of the scope) does not take
// job j at its turn at: the first device code that applies.
func (p *planner) deviceReason(j *Job, d int32, k int, tags *scopeTags, at turn, hcReason map[string]string) DeviceReason {
	s := p.s
	dev := &s.Devices[d]
	r := DeviceReason{Device: dev.Hostname, Worker: dev.Worker}
	h := dev.Hostname
	var wk *Worker
	if w := p.devWorker[d]; w != none {
		wk = &s.Workers[w]
	}
	limitText := func() string {
		w := p.devWorker[d]
		txt := fmt.Sprintf("%s is on worker %s, at its job limit (%d of %d busy", h, dev.Worker, at.busy[w], p.wLimit[w])
		if n := at.busy[w] - s.Workers[w].Busy; n > 0 {
			txt += fmt.Sprintf(", %d of them taken in this pass", n)
		}
		return txt + ")"
	}
	if !tags.fits(k) {
		r.Code, r.MissingTags = CodeMissingTags, tags.missing(k, j.Tags)
		r.Detail = h + " lacks tags " + listText(r.MissingTags)
		return r
	}
	switch p.blocked[d] {
	case blockNone:
		jobID, taken := at.taken[d]
		holder, held := at.held[d]
		switch {
		case taken:
			r.Code, r.Job = CodeTaken, jobID
			r.Detail = h + " goes to " + jobText(jobID) + ", ahead in the queue"
		case held:
			r.Code, r.Group = CodeHeld, holder.name
			r.Detail = h + " is held for group " + holder.name + ", ahead in the queue"
		case full(p.wLimit[p.devWorker[d]], at.busy[p.devWorker[d]]):
			r.Code, r.Detail = CodeWorkerFull, limitText()
		default:
			r.Code, r.Detail = CodeFree, h+" is free"
		}
	case blockNoWorker:
		r.Code = CodeNoWorker
		if dev.Worker == "" {
			r.Detail = h + " is attached to no worker"
		} else {
			r.Detail = h + " is attached to worker " + dev.Worker + ", which does not exist"
		}
	case blockDeviceRetired:
		r.Code, r.Detail = CodeDeviceRetired, h+" is Retired"
	case blockWorkerRetired:
		r.Code, r.Detail = CodeWorkerRetired, h+" is on worker "+dev.Worker+", Retired"
	case blockWorkerMaintenance:
		r.Code = CodeWorkerMaintenance
		if wk.Health == lab.WorkerMaintenance {
			r.Detail = h + " is on worker " + dev.Worker + ", in Maintenance"
		} else {
			r.Detail = h + " is on worker " + dev.Worker + ", health " + wk.Health.String()
		}
	case blockWorkerOffline:
		r.Code, r.Since = CodeWorkerOffline, wk.Since
		r.Detail = h + " is on worker " + dev.Worker + ", " + wk.State.String()
		switch {
		case !wk.Since.IsZero():
			r.Detail += " since " + clock(wk.Since, s.Now)
		case !wk.LastSeen.IsZero():
			r.Detail += " (last heartbeat " + clock(wk.LastSeen, s.Now) + ")"
		default:
			r.Detail += " (never connected)"
		}
	case blockDeviceMaintenance:
		r.Code, r.Detail = CodeDeviceMaintenance, h+" is in Maintenance"
	case blockDeviceBad:
		r.Code, r.Detail = CodeDeviceBad, h+" is "+dev.Health.String()
	case blockDeviceReserved:
		r.Code, r.Job = CodeDeviceReserved, dev.Job
		r.Detail = h + " is reserved for " + jobText(dev.Job)
		if dev.Holder != "" {
			r.Holder, r.Until, r.Detail = dev.Holder, dev.Until, heldText(dev, s.Now)
		}
	case blockDeviceRunning:
		r.Code, r.Job = CodeDeviceRunning, dev.Job
		if dev.Holder != "" {
			r.Holder, r.Until, r.Detail = dev.Holder, dev.Until, heldText(dev, s.Now)
		} else if dev.State == lab.DeviceRunning {
			r.Detail = h + " is running " + jobText(dev.Job)
		} else {
			r.Detail = h + " is busy (" + dev.State.String() + ")"
		}
	case blockWorkerFull:
		r.Code, r.Detail = CodeWorkerFull, limitText()
		if reason, due := healthDue(p.types[p.devType[d]], dev, s.Now); due {
			r.Detail += ", and a health check is due first (" + reason + ")"
		}
	case blockHealthCheck:
		r.Code, r.Detail = CodeHealthCheck, h+" runs a health check first ("+hcReason[h]+")"
	case blockLooping:
		r.Code, r.Detail = CodeDeviceLooping, h+" is Looping, and its type runs no health checks"
	}
	return r
}

// requestReason phrases why job j's request cannot be met at all.
func (p *planner) requestReason(j *Job, sig signature, why request) Reason {
	switch why {
	case requestNoType:
		return Reason{CodeNoDeviceType, "device type " + j.Type + " does not exist"}
	case requestNoDevice:
		return Reason{CodeNoSuchDevice, "the requested device " + j.Device + " does not exist"}
	case requestDeviceType:
		d := p.s.Devices[p.deviceIdx[j.Device]]
		return Reason{CodeDeviceOtherType, "the requested device " + j.Device + " is of type " + d.Type + ", not " + j.Type}
	case requestNoWorker:
		return Reason{CodeNoSuchWorker, "the requested worker " + j.Worker + " does not exist"}
	default: // requestDeviceWorker
		on := "attached to no worker"
		if w := p.s.Devices[sig.device].Worker; w != "" {
			on = "on worker " + w
		}
		return Reason{CodeDeviceOtherWorker, "the requested device " + j.Device + " is " + on + ", not on the requested worker " + j.Worker}
	}
}

// ahead counts the queued, unexpired jobs served before me (a group
// member at its group's position) that fit at least one of the fitting
// devices of j's scope, and those of them with a higher priority.
func (p *planner) ahead(j *Job, me queued, scope []int32, fitting []int, tags *scopeTags) (n, higher int) {
	want := make([]uint64, tags.ts.words)
	for i := range p.s.Queue {
		o := &p.s.Queue[i]
		if o.ID == j.ID || before(p.serving(int32(i)), me) >= 0 || p.expiredEntry(int32(i)) {
			continue
		}
		sig, _, ok := p.request(o)
		if !ok || !tags.ts.fill(want, o.Tags) {
			continue
		}
		for _, k := range fitting {
			if p.matches(sig, scope[k]) && subset(want, tags.of(k)) {
				n++
				if o.Priority > j.Priority {
					higher++
				}
				break
			}
		}
	}
	return n, higher
}

func aheadText(n, higher int) string {
	switch earlier := n - higher; {
	case earlier == 0:
		return plural(n, "job") + " of higher priority ahead"
	case higher == 0:
		return plural(n, "job") + " of equal priority submitted earlier ahead"
	default:
		return fmt.Sprintf("%s ahead (%d of higher priority, %d of equal priority submitted earlier)", plural(n, "job"), higher, earlier)
	}
}

// onWorker is " on worker W" for a job that requests worker W.
func onWorker(j *Job) string {
	if j.Worker == "" {
		return ""
	}
	return " on worker " + j.Worker
}

func hasHave(n int, what string) string {
	if n == 1 {
		return "has " + what
	}
	return "have " + what
}

// plural is "1 thing" or "n things".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func jobText(id int64) string {
	if id == 0 {
		return "another job"
	}
	return "job " + strconv.FormatInt(id, 10)
}

// heldText says who holds reserved device dev until when: "qemu01 is
// reserved by alice until 22:00 UTC (reservation 12)".
func heldText(dev *Device, now time.Time) string {
	s := dev.Hostname + " is reserved by " + dev.Holder
	if !dev.Until.IsZero() {
		s += " until " + clock(dev.Until, now)
	}
	var notes []string
	if dev.Job != 0 {
		notes = append(notes, "reservation "+strconv.FormatInt(dev.Job, 10))
	}
	if dev.Until.IsZero() {
		notes = append(notes, "starting")
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

// listText is "[a, b]".
func listText(s []string) string { return "[" + strings.Join(s, ", ") + "]" }

// clock formats t for a reader at now: "15:04 UTC" on the same day, with
// the date otherwise.
func clock(t, now time.Time) string {
	t, now = t.UTC(), now.UTC()
	if y, m, d := t.Date(); y == now.Year() && m == now.Month() && d == now.Day() {
		return t.Format("15:04 UTC")
	}
	return t.Format("2006-01-02 15:04 UTC")
}

// inText is "in 14 minutes" for a positive duration, rounded up to the
// minute, in hours beyond two.
func inText(d time.Duration) string {
	m := int64(math.Ceil(d.Minutes()))
	switch {
	case m <= 1:
		return "in less than a minute"
	case m < 120:
		return "in " + strconv.FormatInt(m, 10) + " minutes"
	default:
		return "in about " + strconv.FormatInt((m+30)/60, 10) + " hours"
	}
}

// durText is a duration without trailing zero units: "30m", "2h", "1h30m".
func durText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
