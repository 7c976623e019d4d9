package scheduler

import (
	"cmp"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Multinode groups (rules 7 and 8 of the package documentation).
//
// A group is served at its first member's place in the queue order. Its
// members are matched to distinct devices with augmenting paths (a small
// max-flow: member → device → worker, a worker taking at most its free
// slots), so members whose requirements overlap (role A needs a tagged
// board, role B any board) are placed whenever some assignment exists, not
// only when a greedy choice happens to find it.

// group is one multinode group of the queue.
type group struct {
	name    string
	key     queued  // serving position: the group's first member in queue order
	members []int32 // queue positions, in queue order
	n       int     // members counted while collecting
	size    int     // the GroupSize its members agree on
	state   groupState
	expired bool // some member's queue timeout has passed (rule 1)
	placed  bool // the pass assigns the whole group
	hold    int  // index of its Hold in Decisions.Holds, or none
}

// groupState says whether a group may be placed at all.
type groupState uint8

const (
	groupOK groupState = iota
	// groupIncomplete: fewer members are queued than GroupSize says (one
	// left the queue, or is not yet visible).
	groupIncomplete
	// groupInconsistent: the members disagree on GroupSize, the size is
	// not positive, more members than the size are queued, or a member's
	// ID appears more than once in the queue.
	groupInconsistent
)

// groupSet gathers the groups of the queue while collect walks it.
type groupSet struct {
	byName  map[string]int32
	groups  []group // members not yet filled
	groupOf []int32 // by queue entry: its group, or none
}

// add records queue entry i, job j, as a member of j.Group; queue is the
// length of the queue.
func (gs *groupSet) add(i int32, j *Job, now time.Time, queue int) {
	if gs.byName == nil {
		gs.byName = make(map[string]int32)
		gs.groupOf = slices.Repeat([]int32{none}, queue)
	}
	gi, ok := gs.byName[j.Group]
	if !ok {
		gi = int32(len(gs.groups))
		gs.byName[j.Group] = gi
		gs.groups = append(gs.groups, group{name: j.Group, size: j.GroupSize, hold: none})
	}
	g := &gs.groups[gi]
	g.n++
	if j.GroupSize != g.size {
		g.state = groupInconsistent
	}
	g.expired = g.expired || queueExpired(j, now)
	gs.groupOf[i] = gi
}

// indexGroups builds the pass's groups from those collect found, decides
// their state and expiry, and orders them by their first member.
func (p *planner) indexGroups(gs *groupSet) {
	q := p.s.Queue
	// Members, in queue order, in one backing array.
	flat := make([]int32, 0, len(gs.groupOf))
	for gi := range gs.groups {
		g := &gs.groups[gi]
		g.members = flat[len(flat) : len(flat) : len(flat)+g.n]
		flat = flat[:len(flat)+g.n]
	}
	for i, gi := range gs.groupOf {
		if gi != none {
			g := &gs.groups[gi]
			g.members = append(g.members, int32(i))
		}
	}
	// A member whose ID appears more than once in the queue makes its
	// group inconsistent.
	seen := make(map[int64]uint8, len(flat))
	for _, i := range flat {
		seen[q[i].ID] = 0
	}
	for i := range q {
		if n, ok := seen[q[i].ID]; ok && n < 2 {
			seen[q[i].ID] = n + 1
		}
	}
	p.groups = make([]*group, len(gs.groups))
	for gi := range gs.groups {
		g := &gs.groups[gi]
		p.groups[gi] = g
		slices.SortFunc(g.members, func(a, b int32) int { return before(p.entry(a), p.entry(b)) })
		g.key = p.entry(g.members[0])
		for _, i := range g.members {
			if seen[q[i].ID] > 1 {
				g.state = groupInconsistent
			}
			if g.expired {
				p.out.Expired = append(p.out.Expired, q[i].ID)
			}
		}
		switch n := len(g.members); {
		case g.state != groupOK:
		case g.size <= 0 || n > g.size:
			g.state = groupInconsistent
		case n < g.size:
			g.state = groupIncomplete
		}
	}
	slices.SortFunc(p.groups, func(a, b *group) int { return before(a.key, b.key) })
}

// member is one group member being matched: its resolved request and its
// candidate devices.
type member struct {
	j     *Job
	sig   signature
	why   request // when !ok
	ok    bool    // the request can be met (rule 4 without tags)
	want  []uint64
	known bool    // every tag is in the dictionary the want set uses
	cands []int32 // candidate devices, in preference order
}

// resolve fills the members of g with their requests and tag sets (in the
// pool's dictionary). It reuses the planner's scratch space.
func (p *planner) resolve(g *group) []member {
	W := p.tags.words
	k := len(g.members)
	if cap(p.gm) < k {
		p.gm = make([]member, k)
	}
	ms := p.gm[:k]
	if len(p.gwant) < k*W {
		p.gwant = make([]uint64, k*W)
	}
	for n, i := range g.members {
		m := &ms[n]
		m.j = &p.s.Queue[i]
		m.sig, m.why, m.ok = p.request(m.j)
		m.want = p.gwant[n*W : (n+1)*W]
		m.known = p.tags.fill(m.want, m.j.Tags)
		m.cands = m.cands[:0]
	}
	return ms
}

// tryGroup serves group g at its turn: it places the whole group on free
// devices if a matching exists (rule 7), else, when the group's hold is
// due, holds the free devices of its matching (rule 8).
func (p *planner) tryGroup(g *group, failed *failedSet) {
	if g.state != groupOK || g.expired {
		return
	}
	diag := p.diagFor(g)
	due := p.holdDue(g)
	if p.nfree == 0 && !due && diag == nil {
		return // nothing is free: the group cannot be placed
	}
	ms := p.resolve(g)
	if diag != nil {
		p.diagnose(g, ms, diag)
	}
	if p.nfree > 0 && p.placeGroup(g, ms, failed) {
		g.placed = true
		return
	}
	if due {
		p.holdGroup(g, ms)
	}
}

// placeGroup assigns every member of g to a distinct free device if the
// free devices allow it, and reports whether it did.
func (p *planner) placeGroup(g *group, ms []member, failed *failedSet) bool {
	k := len(ms)
	for n := range ms {
		m := &ms[n]
		if !m.ok || !m.known {
			return false
		}
		if failed.has(m.sig, m.want) {
			return false // no free device fits this member
		}
		m.cands = p.freeCands(m.sig, m.want, k, m.cands[:0])
		if len(m.cands) == 0 {
			failed.add() // no ordinary job with this request finds a device either
			return false
		}
	}
	mt := p.matcher()
	defer mt.reset()
	if mt.match(ms, p.wLimit, p.wBusy, true) < k {
		return false
	}
	for n := range ms {
		p.take(mt.at[n], g.key, ms[n].j.ID, g)
	}
	return true
}

// holdDue reports whether g has been queued longer than the snapshot's
// GroupHoldAfter (rule 8).
func (p *planner) holdDue(g *group) bool {
	after := p.s.GroupHoldAfter
	return after > 0 && p.s.Now.Sub(p.s.Queue[g.members[0]].SubmitTime) > after
}

// holdGroup computes g's matching over the devices in service that no
// group ahead claimed, as if every busy device were free, and when there
// is one, claims its devices and holds those that are free now (rule 8).
func (p *planner) holdGroup(g *group, ms []member) {
	mt, ok := p.serviceMatching(ms, true)
	if !ok {
		return
	}
	defer mt.reset()
	sv := p.svc
	h := Hold{Group: g.name}
	for n := range ms {
		d := mt.at[n]
		w := p.devWorker[d]
		sv.claimed[d] = true
		sv.claimedSlots[w]++
		host := p.s.Devices[d].Hostname
		if p.free[d] && !p.overused(w) {
			p.free[d] = false
			p.wBusy[w]++
			p.nfree--
			if p.explaining {
				p.log = append(p.log, event{key: g.key, dev: d, group: g, hold: true})
			}
			h.Devices = append(h.Devices, host)
		} else {
			h.Waits = append(h.Waits, host)
		}
	}
	g.hold = len(p.out.Holds)
	p.out.Holds = append(p.out.Holds, h)
}

// serviceMatching looks for a matching of ms over the devices in service
// (rule 8), in their static preference order, leaving out the devices and
// worker slots claimed by groups ahead when unclaimed is set. When ok, the
// matcher holds the matching and the caller must reset it.
func (p *planner) serviceMatching(ms []member, unclaimed bool) (mt *matcher, ok bool) {
	sv := p.service()
	k := len(ms)
	W := sv.tags.words
	if len(sv.want) < W {
		sv.want = make([]uint64, W)
	}
	want := sv.want[:W]
	base := sv.noSlots
	if unclaimed {
		base = sv.claimedSlots
	}
	for n := range ms {
		m := &ms[n]
		if !m.ok || !sv.tags.fill(want, m.j.Tags) {
			return nil, false
		}
		m.cands = p.serviceCands(m.sig, want, k, base, unclaimed, m.cands[:0])
		if len(m.cands) == 0 {
			return nil, false
		}
	}
	mt = p.matcher()
	if mt.match(ms, p.wLimit, base, true) < k {
		mt.reset()
		return nil, false
	}
	return mt, true
}

// take gives free device d to job id, served at key (for a group member,
// the group's key; g is then the group).
func (p *planner) take(d int32, key queued, id int64, g *group) {
	p.assigned[id] = true
	p.free[d] = false
	p.wBusy[p.devWorker[d]]++
	p.nfree--
	a := Assignment{Job: id, Device: p.s.Devices[d].Hostname}
	if g != nil {
		a.Group = g.name
	}
	p.out.Assignments = append(p.out.Assignments, a)
	if p.explaining {
		p.log = append(p.log, event{key: key, dev: d, job: id, group: g})
	}
}

// event is one device the pass gives away, in the order it does: to job
// job, or held for group when hold is set. Explain replays the events
// before a job's turn.
type event struct {
	key   queued // the serving position of the job or group
	dev   int32
	job   int64
	group *group // the group of the job, or the group holding the device
	hold  bool
}

// keeper bounds a member's candidate devices. A group of k members uses at
// most k devices on at most k workers, so any matching can be rewritten to
// use, for each member, only devices among the first k it fits on each
// worker, on the first k workers where it fits one: if the member's device
// is not kept, either its worker has k kept devices, one of them unused by
// the k-1 others, or k workers have kept devices and one of them (the
// member's own, or one that no other member uses and so has a free slot)
// offers a kept device. Keeping at most k devices per worker and stopping
// at the k-th worker therefore loses no matching, and bounds the matching
// work by k² candidates per member whatever the size of the lab.
type keeper struct {
	kept    []int32 // per worker: devices kept for the current member
	k       int
	workers int
}

// keep reports whether device d on worker w is kept, and done whether the
// scan may stop.
func (kp *keeper) keep(w int32) (keep, done bool) {
	if int(kp.kept[w]) >= kp.k {
		return false, false
	}
	if kp.kept[w] == 0 {
		kp.workers++
	}
	kp.kept[w]++
	return true, kp.workers >= kp.k
}

// finish clears the counts of the devices in kept.
func (kp *keeper) finish(kept []int32, devWorker []int32) {
	for _, d := range kept {
		kp.kept[devWorker[d]] = 0
	}
	kp.workers = 0
}

func (p *planner) keeper(k int) *keeper {
	if p.kp == nil {
		p.kp = &keeper{kept: make([]int32, len(p.s.Workers))}
	}
	p.kp.k = k
	return p.kp
}

// freeCands appends to out the free devices that fit signature sig and tag
// set want, on workers with room, in preference order, bounded for a group
// of k (keeper). Taken devices and devices of full workers met on the way
// are unlinked, as scan does.
func (p *planner) freeCands(sig signature, want []uint64, k int, out []int32) []int32 {
	if d := sig.device; d != none {
		if p.free[d] && p.matches(sig, d) && !p.overused(p.devWorker[d]) && subset(want, p.bitsOf(d)) {
			out = append(out, d)
		}
		return out
	}
	c, l := &p.byType, sig.typ
	if sig.worker != none {
		b, ok := p.twBucket[typeWorker{sig.typ, sig.worker}]
		if !ok {
			return out
		}
		c, l = &p.byTypeWorker, b
	}
	kp := p.keeper(k)
	start := len(out)
	prev := int32(none)
	for d := c.head[l]; d != none; {
		next := c.next[d]
		if !p.free[d] || p.overused(p.devWorker[d]) {
			if prev == none {
				c.head[l] = next
			} else {
				c.next[prev] = next
			}
			d = next
			continue
		}
		if subset(want, p.bitsOf(d)) {
			keep, done := kp.keep(p.devWorker[d])
			if keep {
				out = append(out, d)
			}
			if done {
				break
			}
		}
		prev, d = d, next
	}
	kp.finish(out[start:], p.devWorker)
	return out
}

// service indexes the devices in service for rule 8: those that take jobs
// now or will once their job, their health check or their worker's other
// jobs end. It is built on first use in a pass.
type service struct {
	tags   tagSet
	bits   []uint64  // tag set of device i at [i*words:(i+1)*words]
	byType [][]int32 // per type rank: devices in service, in preference order
	want   []uint64  // scratch

	claimed      []bool // by device: in the matching of a held group ahead
	claimedSlots []int  // by worker: slots claimed by held groups ahead
	noSlots      []int  // by worker: zeros
}

// inService reports whether device i is in service (rule 8): it takes an
// ordinary job now, or is only busy (reserved, running, running a health
// check first, or on a full worker) and healthy enough to take one after.
func (p *planner) inService(i int32) bool {
	switch p.blocked[i] {
	case blockNone:
		return true
	case blockDeviceReserved, blockDeviceRunning, blockWorkerFull, blockHealthCheck:
		return p.s.Devices[i].Health.Schedulable() || checksEnabled(p.types[p.devType[i]])
	}
	return false
}

func (p *planner) service() *service {
	if p.svc != nil {
		return p.svc
	}
	ds := p.s.Devices
	sv := &service{tags: tagSet{index: make(map[string]int)}}
	var in []int32
	for i := range ds {
		if p.inService(int32(i)) {
			in = append(in, int32(i))
			sv.tags.intern(ds[i].Tags)
		}
	}
	sv.tags.fix()
	W := sv.tags.words
	sv.bits = make([]uint64, len(ds)*W)
	ntags := make([]int, len(ds))
	for _, i := range in {
		set := sv.bits[int(i)*W : int(i+1)*W]
		sv.tags.fill(set, ds[i].Tags)
		ntags[i] = count(set)
	}
	slices.SortFunc(in, func(a, b int32) int {
		return cmp.Or(cmp.Compare(p.devType[a], p.devType[b]), cmp.Compare(ntags[a], ntags[b]),
			strings.Compare(ds[a].Hostname, ds[b].Hostname))
	})
	sv.byType = make([][]int32, len(p.types))
	for lo := 0; lo < len(in); {
		t := p.devType[in[lo]]
		hi := lo
		for hi < len(in) && p.devType[in[hi]] == t {
			hi++
		}
		sv.byType[t] = in[lo:hi:hi]
		lo = hi
	}
	sv.claimed = make([]bool, len(ds))
	sv.claimedSlots = make([]int, len(p.s.Workers))
	sv.noSlots = make([]int, len(p.s.Workers))
	p.svc = sv
	return sv
}

// serviceCands appends to out the devices in service that fit sig and want
// (in the service dictionary), in static preference order, on workers
// whose job limit leaves a slot beyond base, not claimed when unclaimed is
// set, bounded for a group of k (keeper).
func (p *planner) serviceCands(sig signature, want []uint64, k int, base []int, unclaimed bool, out []int32) []int32 {
	sv := p.svc
	W := sv.tags.words
	fit := func(d int32) bool {
		w := p.devWorker[d]
		return p.inService(d) && p.matches(sig, d) && !(unclaimed && sv.claimed[d]) &&
			!full(p.wLimit[w], base[w]) && subset(want, sv.bits[int(d)*W:int(d+1)*W])
	}
	if d := sig.device; d != none {
		if fit(d) {
			out = append(out, d)
		}
		return out
	}
	kp := p.keeper(k)
	start := len(out)
	for _, d := range sv.byType[sig.typ] {
		if !fit(d) {
			continue
		}
		keep, done := kp.keep(p.devWorker[d])
		if keep {
			out = append(out, d)
		}
		if done {
			break
		}
	}
	kp.finish(out[start:], p.devWorker)
	return out
}

// matcher finds a maximum matching of group members to distinct devices
// under worker slot limits: the flow network source → member → device →
// worker → sink, with unit capacities except worker → sink, whose capacity
// is the worker's free slots (limit − base, unlimited for a limit ≤ 0).
// Each member is augmented once, by depth-first search in the residual
// network: a vertex from which the sink cannot be reached never can be
// after other augmentations, so this is Ford-Fulkerson, exact.
type matcher struct {
	devWorker []int32
	owner     []int32  // by device: the member on it, or none
	seenD     []uint32 // by device: visited at stamp
	seenW     []uint32 // by worker: visited at stamp
	load      []int    // by worker: members on it
	stamp     uint32
	limit     []int
	base      []int
	ms        []member
	at        []int32 // by member: its device, or none
}

func newMatcher(devWorker []int32, workers int) *matcher {
	return &matcher{
		devWorker: devWorker,
		owner:     slices.Repeat([]int32{none}, len(devWorker)),
		seenD:     make([]uint32, len(devWorker)),
		seenW:     make([]uint32, workers),
		load:      make([]int, workers),
	}
}

func (p *planner) matcher() *matcher {
	if p.mt == nil {
		p.mt = newMatcher(p.devWorker, len(p.s.Workers))
	}
	return p.mt
}

// match matches the members ms (their cands) and returns how many it
// placed; m.at says where. With perfect set it stops at the first member
// that cannot be placed. reset must be called before the next match.
func (m *matcher) match(ms []member, limit, base []int, perfect bool) int {
	m.ms, m.limit, m.base = ms, limit, base
	m.at = m.at[:0]
	for range ms {
		m.at = append(m.at, none)
	}
	n := 0
	for i := range ms {
		m.stamp++
		if m.augment(int32(i)) {
			n++
		} else if perfect {
			break
		}
	}
	return n
}

// reset clears the matching.
func (m *matcher) reset() {
	for _, d := range m.at {
		if d != none {
			m.owner[d] = none
			m.load[m.devWorker[d]] = 0
		}
	}
	m.at = m.at[:0]
}

// room is how many more members worker w may take.
func (m *matcher) room(w int32) int {
	if m.limit[w] <= 0 {
		return math.MaxInt
	}
	return m.limit[w] - m.base[w] - m.load[w]
}

// augment looks for an augmenting path from member i and applies it. It
// first tries the member's candidates in preference order for one that is
// simply free, so that members keep their preferred devices whenever no
// other member needs them.
func (m *matcher) augment(i int32) bool {
	for _, d := range m.ms[i].cands {
		if m.seenD[d] != m.stamp && m.owner[d] == none && m.room(m.devWorker[d]) > 0 {
			m.seenD[d] = m.stamp
			m.moveTo(i, d)
			return true
		}
	}
	for _, d := range m.ms[i].cands {
		if m.seenD[d] == m.stamp {
			continue
		}
		m.seenD[d] = m.stamp
		if o := m.owner[d]; o != none {
			if !m.augment(o) { // o moves elsewhere, leaving d and its slot
				continue
			}
		} else if !m.slot(m.devWorker[d]) {
			continue
		}
		m.moveTo(i, d)
		return true
	}
	return false
}

// slot reports whether worker w can take one more member, moving a member
// off w to make room if need be.
func (m *matcher) slot(w int32) bool {
	if m.seenW[w] == m.stamp {
		return false
	}
	m.seenW[w] = m.stamp
	if m.room(w) > 0 {
		return true
	}
	for o, d := range m.at {
		if d == none || m.devWorker[d] != w || m.seenD[d] == m.stamp {
			continue
		}
		m.seenD[d] = m.stamp
		if m.augment(int32(o)) {
			return true
		}
	}
	return false
}

func (m *matcher) moveTo(i, d int32) {
	if old := m.at[i]; old != none {
		m.owner[old] = none
		m.load[m.devWorker[old]]--
	}
	m.at[i] = d
	m.owner[d] = i
	m.load[m.devWorker[d]]++
}

// groupDiag is what the pass saw at the turn of a group Explain looks at.
type groupDiag struct {
	members []member // the members' requests (cands not kept)
	matched int      // the most members free devices could take at once
	roles   []roleDiag
	// fits: the group has a matching over the devices in service that no
	// group ahead claimed (rule 8); fitsAll: over all devices in service.
	fits, fitsAll bool
}

// roleDiag is one role of a group at the group's turn.
type roleDiag struct {
	role    string
	members []int // positions in the group
	matched int   // the most of them free devices could take, the role alone
	missing int   // a member left unplaced, when matched < len(members)
}

// diagFor returns the record to fill for g when Explain looks at one of
// its members, else nil.
func (p *planner) diagFor(g *group) *groupDiag {
	if !p.explaining {
		return nil
	}
	for _, i := range g.members {
		if p.s.Queue[i].ID == p.explainID {
			if p.diags == nil {
				p.diags = make(map[*group]*groupDiag)
			}
			d := &groupDiag{}
			p.diags[g] = d
			return d
		}
	}
	return nil
}

// diagnose records in d what the pass sees at g's turn: how many members
// free devices could take, the group as a whole and each role alone, and
// whether the group fits the devices in service. It changes nothing the
// pass decides.
func (p *planner) diagnose(g *group, ms []member, d *groupDiag) {
	k := len(ms)
	for n := range ms {
		m := &ms[n]
		m.cands = m.cands[:0]
		if m.ok && m.known {
			m.cands = p.freeCands(m.sig, m.want, k, m.cands)
		}
		d.members = append(d.members, member{j: m.j, sig: m.sig, why: m.why, ok: m.ok})
	}
	mt := p.matcher()
	d.matched = mt.match(ms, p.wLimit, p.wBusy, false)
	mt.reset()

	byRole := map[string][]int{}
	for n := range ms {
		byRole[ms[n].j.Role] = append(byRole[ms[n].j.Role], n)
	}
	for _, role := range slices.Sorted(maps.Keys(byRole)) {
		r := roleDiag{role: role, members: byRole[role], missing: none}
		sub := make([]member, len(r.members))
		for x, n := range r.members {
			sub[x] = ms[n]
		}
		r.matched = mt.match(sub, p.wLimit, p.wBusy, false)
		for x, at := range mt.at {
			if at == none {
				r.missing = r.members[x]
				break
			}
		}
		mt.reset()
		d.roles = append(d.roles, r)
	}

	if mt, ok := p.serviceMatching(ms, true); ok {
		mt.reset()
		d.fits, d.fitsAll = true, true
	} else if mt, ok := p.serviceMatching(ms, false); ok {
		mt.reset()
		d.fitsAll = true
	}
}
