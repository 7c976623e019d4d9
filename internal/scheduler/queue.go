package scheduler

// typeQueues serves queued jobs in queue order (see before) without sorting
// the whole queue: each device type's jobs form a binary heap, and the types
// form a heap ordered by their next job. When a type runs out of free
// devices it is dropped with all its remaining jobs, which are then never
// ordered at all. In a busy lab most types run out after a few jobs, so a
// pass costs O(J) plus O(log J) per job actually looked at, instead of
// O(J log J).
type typeQueues struct {
	jobs  [][]queued // per type rank: a heap of its jobs
	types []int32    // heap of the type ranks that still have jobs
	less  func(a, b int32) bool
	cur   int32 // the type of the job last popped
}

func lessQueued(a, b queued) bool { return before(a, b) < 0 }

func newTypeQueues(perType [][]queued) *typeQueues {
	qs := &typeQueues{jobs: perType}
	for t, h := range perType {
		if len(h) > 0 {
			heapify(h, lessQueued)
			qs.types = append(qs.types, int32(t))
		}
	}
	qs.less = func(a, b int32) bool { return before(qs.jobs[a][0], qs.jobs[b][0]) < 0 }
	heapify(qs.types, qs.less)
	return qs
}

// len is the number of types with jobs left.
func (qs *typeQueues) len() int { return len(qs.types) }

// peek returns the first job in queue order without removing it. len
// must be > 0.
func (qs *typeQueues) peek() queued { return qs.jobs[qs.types[0]][0] }

// pop removes and returns the first job in queue order. len must be > 0,
// and next must be called before the following pop.
func (qs *typeQueues) pop() queued {
	t := qs.types[0]
	h := qs.jobs[t]
	qj := h[0]
	last := len(h) - 1
	h[0] = h[last]
	h = h[:last]
	siftDown(h, 0, lessQueued)
	qs.jobs[t] = h
	qs.cur = t
	return qj
}

// next repositions the type of the job last popped, dropping it when it has
// no jobs left or when keep is false (it has no free device left).
func (qs *typeQueues) next(keep bool) {
	if !keep || len(qs.jobs[qs.cur]) == 0 {
		last := len(qs.types) - 1
		qs.types[0] = qs.types[last]
		qs.types = qs.types[:last]
	}
	siftDown(qs.types, 0, qs.less)
}

// heapify arranges h as a binary min-heap under less.
func heapify[T any](h []T, less func(a, b T) bool) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i, less)
	}
}

// siftDown moves h[i] down until neither child is less than it.
func siftDown[T any](h []T, i int, less func(a, b T) bool) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			return
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
}
