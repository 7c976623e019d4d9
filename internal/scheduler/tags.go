package scheduler

import "math/bits"

// tagSet interns tag names to bit positions so that "the device carries all
// the job's tags" becomes a few AND-NOT operations. Only tags carried by
// devices that may take ordinary jobs are interned: a job tag outside that
// dictionary can never be satisfied.
//
// Sets are stored as words consecutive uint64 words each, so there is no
// limit on the number of distinct tags; with 64 or fewer (the usual case)
// every set is a single word.
type tagSet struct {
	index map[string]int
	words int
}

// intern assigns bit positions to every name in tags not seen before.
func (ts *tagSet) intern(tags []string) {
	for _, t := range tags {
		if _, ok := ts.index[t]; !ok {
			ts.index[t] = len(ts.index)
		}
	}
}

// fix freezes the dictionary and computes the set width. No more names may
// be interned afterwards.
func (ts *tagSet) fix() {
	ts.words = max(1, (len(ts.index)+63)/64)
}

// fill sets dst (ts.words long, cleared first) to the set of tags and
// reports whether every name is known.
func (ts *tagSet) fill(dst []uint64, tags []string) bool {
	clear(dst)
	for _, t := range tags {
		b, ok := ts.index[t]
		if !ok {
			return false
		}
		dst[b>>6] |= 1 << (b & 63)
	}
	return true
}

// subset reports whether every bit of a is also set in b.
func subset(a, b []uint64) bool {
	b = b[:len(a)]
	for i, w := range a {
		if w&^b[i] != 0 {
			return false
		}
	}
	return true
}

// count returns the number of tags in set a.
func count(a []uint64) int {
	n := 0
	for _, w := range a {
		n += bits.OnesCount64(w)
	}
	return n
}
