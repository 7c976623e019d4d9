package scheduler

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"
)

// none marks a missing index in the planner's int32 tables.
const none = -1

// Plan computes one scheduling pass over s: the health checks to start, the
// queued jobs to assign and the queued jobs that expired. It performs no I/O,
// never reads the clock (s.Now is the present) and is deterministic: the
// same snapshot always yields the same decisions, and when keys are unique
// the order of the snapshot's slices does not matter either. s is not
// modified. See the package documentation for the rules.
func Plan(s Snapshot) Decisions {
	p := planner{s: &s}
	p.screen()
	p.assignJobs()
	return p.out
}

// screen runs the part of a pass that comes before the queue: it indexes
// the snapshot, classifies every device (rules 2 and 3), starts the due
// health checks and builds the pool of devices left for ordinary jobs.
func (p *planner) screen() {
	p.indexWorkers()
	p.indexTypes()
	p.indexDevices()
	p.healthChecks()
	p.buildPool()
}

// planner holds the working state of one pass. Devices, workers and device
// types are referred to by int32 indexes: devices and workers by their
// position in the snapshot, types by the rank of their name.
type planner struct {
	s   *Snapshot
	out Decisions

	// Workers, indexed like s.Workers.
	workerIdx map[string]int32
	wLimit    []int // > 0 means limited
	wBusy     []int // busy devices, including this pass's decisions

	// Device types, indexed by rank of name.
	typeRank map[string]int32
	types    []*DeviceType

	// Devices, indexed like s.Devices.
	deviceIdx map[string]int32 // hostname → first device of that name
	devType   []int32          // type rank, none if unknown or duplicate
	devWorker []int32          // worker index, none if unknown
	free      []bool           // in the ordinary pool and not yet given away
	// blocked says why each device is not in the ordinary pool
	// (blockNone when it is); Explain reads it.
	blocked []block

	pool    []int32 // devices that may take ordinary jobs this pass
	tags    tagSet
	devBits []uint64 // tag set of device i at [i*words:(i+1)*words]

	// Free-device chains in preference order (fewest tags, then hostname),
	// one per type and one per (type, worker). Given-away devices and
	// devices of full workers are unlinked lazily while scanning.
	byType       chains
	byTypeWorker chains
	twBucket     map[typeWorker]int32

	assigned map[int64]bool // job IDs given a device
	nfree    int            // pool devices not yet given away

	// log lists what the pass gave away, in queue order, when explaining.
	log []event

	// Multinode groups (group.go), in queue order of their first member,
	// and the scratch space used to match them.
	groups []*group
	gm     []member
	gwant  []uint64
	kp     *keeper
	mt     *matcher
	svc    *service

	// explainID, when explaining is set, is the job Explain looks at: the
	// pass then records what it sees at the turn of that job's groups.
	explaining bool
	explainID  int64
	diags      map[*group]*groupDiag
	memberOf   map[int32]*group // queue entry → its group (Explain only)
}

// typeWorker is a (type rank, worker index) pair.
type typeWorker struct{ t, w int32 }

// chains is a set of singly linked lists of devices threaded through next.
// A device is on at most one list of a given chains value.
type chains struct {
	head []int32 // first device of each list, none when empty
	next []int32 // following device, indexed by device
}

// overused reports whether worker w has no slot left (rule 2).
func (p *planner) overused(w int32) bool { return full(p.wLimit[w], p.wBusy[w]) }

// indexWorkers indexes the workers by name (first entry wins) and copies
// their limit and busy count (their usability is workerBlock's).
func (p *planner) indexWorkers() {
	ws := p.s.Workers
	p.workerIdx = make(map[string]int32, len(ws))
	p.wLimit = make([]int, len(ws))
	p.wBusy = make([]int, len(ws))
	for i := range ws {
		w := &ws[i]
		if _, dup := p.workerIdx[w.Name]; dup {
			continue
		}
		p.workerIdx[w.Name] = int32(i)
		p.wLimit[i] = w.JobLimit
		p.wBusy[i] = w.Busy
	}
}

// indexTypes ranks the device types by name (first entry of a name wins).
func (p *planner) indexTypes() {
	dts := p.s.DeviceTypes
	p.typeRank = make(map[string]int32, len(dts))
	p.types = make([]*DeviceType, 0, len(dts))
	for i := range dts {
		if _, dup := p.typeRank[dts[i].Name]; dup {
			continue
		}
		p.typeRank[dts[i].Name] = 0
		p.types = append(p.types, &dts[i])
	}
	slices.SortFunc(p.types, func(a, b *DeviceType) int { return strings.Compare(a.Name, b.Name) })
	for r, t := range p.types {
		p.typeRank[t.Name] = int32(r)
	}
}

// indexDevices indexes the devices by hostname (first entry wins) and
// resolves their type and worker; a duplicate or a device of an unlisted
// type gets no type and is never used.
func (p *planner) indexDevices() {
	ds := p.s.Devices
	p.deviceIdx = make(map[string]int32, len(ds))
	p.devType = make([]int32, len(ds))
	p.devWorker = make([]int32, len(ds))
	p.free = make([]bool, len(ds))
	for i := range ds {
		d := &ds[i]
		p.devType[i], p.devWorker[i] = none, none
		if _, dup := p.deviceIdx[d.Hostname]; dup {
			continue
		}
		p.deviceIdx[d.Hostname] = int32(i)
		if r, ok := p.typeRank[d.Type]; ok {
			p.devType[i] = r
		}
		if w, ok := p.workerIdx[d.Worker]; ok && d.Worker != "" {
			p.devWorker[i] = w
		}
	}
}

// healthChecks classifies every device (rules 2 and 3), walks the usable
// ones by type name then hostname, starts the due health checks and
// collects the devices left for ordinary jobs. Why each other device is
// left out is recorded in p.blocked, for Explain.
func (p *planner) healthChecks() {
	ds := p.s.Devices
	p.blocked = make([]block, len(ds))
	order := make([]int32, 0, len(ds))
	for i := range ds {
		if p.blocked[i] = p.deviceBlock(int32(i)); p.blocked[i] == blockNone {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int {
		if c := cmp.Compare(p.devType[a], p.devType[b]); c != 0 {
			return c
		}
		return strings.Compare(ds[a].Hostname, ds[b].Hostname)
	})
	p.pool = make([]int32, 0, len(order))
	for _, i := range order {
		d := &ds[i]
		t := p.types[p.devType[i]]
		if checksEnabled(t) {
			w := p.devWorker[i]
			if p.overused(w) {
				p.blocked[i] = blockWorkerFull
				continue
			}
			if reason, due := healthDue(t, d, p.s.Now); due {
				p.out.HealthChecks = append(p.out.HealthChecks, HealthCheck{Device: d.Hostname, Type: t.Name, Reason: reason})
				p.wBusy[w]++
				p.blocked[i] = blockHealthCheck
				continue
			}
		}
		if !d.Health.Schedulable() {
			p.blocked[i] = blockLooping // the only checkable health that takes no job
			continue
		}
		p.pool = append(p.pool, i)
	}
}

// buildPool interns the pool's tags and threads the pool devices onto the
// free-device chains in preference order.
func (p *planner) buildPool() {
	ds := p.s.Devices
	p.tags.index = make(map[string]int)
	for _, i := range p.pool {
		p.tags.intern(ds[i].Tags)
	}
	p.tags.fix()
	W := p.tags.words
	p.devBits = make([]uint64, len(ds)*W)
	ntags := make([]int, len(ds))
	for _, i := range p.pool {
		set := p.devBits[int(i)*W : int(i+1)*W]
		p.tags.fill(set, ds[i].Tags)
		ntags[i] = count(set)
		p.free[i] = true
	}
	p.nfree = len(p.pool)
	slices.SortFunc(p.pool, func(a, b int32) int {
		if c := cmp.Compare(ntags[a], ntags[b]); c != 0 {
			return c
		}
		return strings.Compare(ds[a].Hostname, ds[b].Hostname)
	})

	p.twBucket = make(map[typeWorker]int32)
	p.byType = newChains(len(p.types), len(ds))
	p.byTypeWorker = newChains(0, len(ds))
	tailT := slices.Repeat([]int32{none}, len(p.types))
	var tailTW []int32
	for _, i := range p.pool {
		tw := typeWorker{p.devType[i], p.devWorker[i]}
		b, ok := p.twBucket[tw]
		if !ok {
			b = int32(len(tailTW))
			p.twBucket[tw] = b
			p.byTypeWorker.head = append(p.byTypeWorker.head, none)
			tailTW = append(tailTW, none)
		}
		p.byType.push(tw.t, i, tailT)
		p.byTypeWorker.push(b, i, tailTW)
	}
}

func newChains(lists, devices int) chains {
	return chains{
		head: slices.Repeat([]int32{none}, lists),
		next: slices.Repeat([]int32{none}, devices),
	}
}

// push appends device d to list l whose last element is tail[l].
func (c *chains) push(l, d int32, tail []int32) {
	if tail[l] == none {
		c.head[l] = d
	} else {
		c.next[tail[l]] = d
	}
	tail[l] = d
}

// queued is the part of a queued job the ordering needs, kept compact so
// that the queue heaps stay cache friendly.
type queued struct {
	prio int
	sec  int64 // submit time, seconds since the Unix epoch
	nsec int32 // submit time, nanoseconds within the second
	typ  int32 // type rank
	idx  int32 // position in Snapshot.Queue
	id   int64
}

// before is the queue order: priority descending, submit time ascending,
// ID ascending (then snapshot position, so the order is total).
func before(a, b queued) int {
	if c := cmp.Compare(b.prio, a.prio); c != 0 {
		return c
	}
	if c := cmp.Compare(a.sec, b.sec); c != 0 {
		return c
	}
	if c := cmp.Compare(a.nsec, b.nsec); c != 0 {
		return c
	}
	if c := cmp.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.idx, b.idx)
}

// signature is everything that decides which devices a job fits, with its
// tag set kept aside (see failedSet). Devices only ever leave the pool
// during a pass and workers only fill up, so once a job finds no device, no
// later job with the same signature and tags can find one.
type signature struct {
	typ, device, worker int32
}

// failedSet remembers the (signature, tag set) pairs that found no device
// in this pass. With one-word tag sets (≤ 64 distinct tags) the pair is a
// plain comparable key; wider sets are byte-encoded in a reused buffer, so
// that lookups allocate nothing and only recording a failure does.
type failedSet struct {
	narrow map[narrowKey]struct{}
	wide   map[string]struct{}
	key    narrowKey
	buf    []byte
}

type narrowKey struct {
	signature
	tags uint64
}

// has reports whether (sig, tags) failed before; add records the pair that
// has looked up last.
func (f *failedSet) has(sig signature, tags []uint64) bool {
	if len(tags) == 1 {
		f.key = narrowKey{sig, tags[0]}
		_, ok := f.narrow[f.key]
		return ok
	}
	b := f.buf[:0]
	b = binary.LittleEndian.AppendUint32(b, uint32(sig.typ))
	b = binary.LittleEndian.AppendUint32(b, uint32(sig.device))
	b = binary.LittleEndian.AppendUint32(b, uint32(sig.worker))
	for _, w := range tags {
		b = binary.LittleEndian.AppendUint64(b, w)
	}
	f.buf = b
	_, ok := f.wide[string(b)]
	return ok
}

func (f *failedSet) add() {
	if f.buf == nil {
		f.narrow[f.key] = struct{}{}
	} else {
		f.wide[string(f.buf)] = struct{}{}
	}
}

// assignJobs expires timed-out jobs and serves the rest in queue order,
// giving each ordinary job the preferred free device that fits it and each
// group a matching of free devices, or a hold.
func (p *planner) assignJobs() {
	q := p.s.Queue
	perType := p.collect()
	qs := newTypeQueues(perType)
	W := p.tags.words
	want := make([]uint64, W)
	failed := &failedSet{narrow: make(map[narrowKey]struct{}), wide: make(map[string]struct{})}
	p.assigned = make(map[int64]bool)
	gs := p.groups
	for {
		if len(gs) > 0 && (qs.len() == 0 || before(gs[0].key, qs.peek()) < 0) {
			p.tryGroup(gs[0], failed)
			gs = gs[1:]
			continue
		}
		if qs.len() == 0 {
			return
		}
		qj := qs.pop()
		p.try(&q[qj.idx], qj, want, failed)
		qs.next(p.byType.head[qj.typ] != none)
	}
}

// collect lists the queued jobs that may be assigned this pass, grouped by
// type rank, and records the expired ones. Jobs of unknown types and of
// types with no free device are left out at once.
func (p *planner) collect() [][]queued {
	q := p.s.Queue
	now := p.s.Now
	typ := make([]int32, len(q))         // type rank of each job, none if left out
	start := make([]int, len(p.types)+1) // jobs per type, then group starts
	n := 0
	var gs groupSet
	for i := range q {
		j := &q[i]
		typ[i] = none
		if j.Group != "" {
			gs.add(int32(i), j, now, len(q))
			continue
		}
		if queueExpired(j, now) {
			p.out.Expired = append(p.out.Expired, j.ID)
			continue
		}
		t, ok := p.typeRank[j.Type]
		if !ok || p.byType.head[t] == none {
			continue // no device of that type is free this pass
		}
		typ[i] = t
		start[t+1]++
		n++
	}
	if gs.groups != nil {
		p.indexGroups(&gs)
	}
	// Expired IDs are unique and sorted; a duplicated ID that expired in
	// any of its entries is never assigned.
	slices.Sort(p.out.Expired)
	p.out.Expired = slices.Compact(p.out.Expired)

	// Counting sort by type.
	for t := 1; t < len(start); t++ {
		start[t] += start[t-1]
	}
	grouped := make([]queued, n)
	fill := slices.Clone(start[:len(p.types)])
	for i, t := range typ {
		if t == none {
			continue
		}
		grouped[fill[t]] = queued{
			prio: q[i].Priority,
			sec:  q[i].SubmitTime.Unix(),
			nsec: int32(q[i].SubmitTime.Nanosecond()),
			typ:  t,
			idx:  int32(i),
			id:   q[i].ID,
		}
		fill[t]++
	}
	perType := make([][]queued, len(p.types))
	for t := range perType {
		perType[t] = grouped[start[t]:start[t+1]:start[t+1]]
	}
	return perType
}

// try assigns job j (queue entry qj) to its preferred free fitting device,
// if any. want is scratch space for the job's tag set; failed holds the
// signatures that found no device earlier in the pass.
func (p *planner) try(j *Job, qj queued, want []uint64, failed *failedSet) {
	sig, _, ok := p.request(j)
	if !ok || sig.typ != qj.typ {
		return
	}
	if sig.device != none && !p.free[sig.device] {
		return
	}
	if !p.tags.fill(want, j.Tags) {
		return // a tag no available device carries
	}
	if failed.has(sig, want) {
		return
	}
	if p.assigned[j.ID] {
		return // a duplicated ID whose first entry in queue order got a device
	}
	if _, ok := slices.BinarySearch(p.out.Expired, j.ID); ok {
		return // a duplicated ID with an expired entry
	}
	d := p.find(sig, want)
	if d == none {
		failed.add()
		return
	}
	p.take(d, qj, j.ID, nil)
}

// find returns the preferred free device for a job with signature sig and
// tag set want, or none. The device is not yet marked as taken.
func (p *planner) find(sig signature, want []uint64) int32 {
	if d := sig.device; d != none {
		if p.free[d] && p.matches(sig, d) && !p.overused(p.devWorker[d]) && subset(want, p.bitsOf(d)) {
			return d
		}
		return none
	}
	if sig.worker == none {
		return p.scan(&p.byType, sig.typ, want)
	}
	b, ok := p.twBucket[typeWorker{sig.typ, sig.worker}]
	if !ok {
		return none
	}
	return p.scan(&p.byTypeWorker, b, want)
}

// scan walks list l of c in preference order and returns the first device
// that is still free, on a worker with room, and carries want; that device
// is unlinked. Devices found taken or on a full worker are unlinked too:
// within a pass they never become usable again.
func (p *planner) scan(c *chains, l int32, want []uint64) int32 {
	prev := int32(none)
	for d := c.head[l]; d != none; {
		next := c.next[d]
		dead := !p.free[d] || p.overused(p.devWorker[d])
		if dead || subset(want, p.bitsOf(d)) {
			if prev == none {
				c.head[l] = next
			} else {
				c.next[prev] = next
			}
			if !dead {
				return d
			}
		} else {
			prev = d
		}
		d = next
	}
	return none
}

func (p *planner) bitsOf(d int32) []uint64 {
	W := p.tags.words
	return p.devBits[int(d)*W : int(d+1)*W]
}
