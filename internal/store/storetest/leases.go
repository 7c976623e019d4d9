package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Leases.

// t0 is the lease tests' clock reading, as the store keeps times (UTC,
// microseconds), so that leases read back compare equal.
var t0 = base.UTC().Truncate(time.Microsecond)

// sameLease reports whether a and b are the same lease.
func sameLease(a, b lab.Lease) bool {
	return a.Name == b.Name && a.Holder == b.Holder && a.Expires.Equal(b.Expires)
}

// testLeaseAcquire: a free lease is taken until now+ttl; its holder renews
// it (even late, while nobody else took it); another holder gets
// ErrConflict with the lease as held, until it expires; then it takes it.
func testLeaseAcquire(f *fx) {
	const ttl = 15 * time.Second
	_, err := f.s.GetLease(f.ctx, "scheduler")
	f.is(err, lab.ErrNotFound, "get a lease never taken")

	l, err := f.s.AcquireLease(f.ctx, "scheduler", "a", t0, ttl)
	f.ok(err, "a takes the free lease")
	want := lab.Lease{Name: "scheduler", Holder: "a", Expires: t0.Add(ttl)}
	f.eq(want, l, "a's lease")
	got, err := f.s.GetLease(f.ctx, "scheduler")
	f.ok(err, "get")
	f.eq(want, got, "stored lease")

	l, err = f.s.AcquireLease(f.ctx, "scheduler", "b", t0.Add(ttl-time.Microsecond), ttl)
	f.is(err, lab.ErrConflict, "b while a holds it")
	f.eq(want, l, "b is told the lease as held")

	l, err = f.s.AcquireLease(f.ctx, "scheduler", "a", t0.Add(5*time.Second), ttl)
	f.ok(err, "a renews")
	want.Expires = t0.Add(5*time.Second + ttl)
	f.eq(want, l, "renewed lease")
	l, err = f.s.AcquireLease(f.ctx, "scheduler", "b", t0.Add(ttl), ttl)
	f.is(err, lab.ErrConflict, "b at a's first expiry, after a renewed")
	f.eq(want, l, "b is told the renewed lease")

	// a renews late, after its lease expired, while nobody took it.
	late := want.Expires.Add(time.Second)
	l, err = f.s.AcquireLease(f.ctx, "scheduler", "a", late, ttl)
	f.ok(err, "a renews an expired lease nobody took")
	want.Expires = late.Add(ttl)
	f.eq(want, l, "late renewal")

	// At its expiry exactly, the lease is free: b takes it over.
	l, err = f.s.AcquireLease(f.ctx, "scheduler", "b", want.Expires, 2*ttl)
	f.ok(err, "b takes the expired lease")
	want = lab.Lease{Name: "scheduler", Holder: "b", Expires: want.Expires.Add(2 * ttl)}
	f.eq(want, l, "b's lease")
	l, err = f.s.AcquireLease(f.ctx, "scheduler", "a", want.Expires.Add(-time.Second), ttl)
	f.is(err, lab.ErrConflict, "a after b took over")
	f.eq(want, l, "a is told b's lease")

	// Leases are independent of one another.
	_, err = f.s.AcquireLease(f.ctx, "other", "a", t0, ttl)
	f.ok(err, "a takes another lease")
	got, err = f.s.GetLease(f.ctx, "scheduler")
	f.ok(err, "get after another lease")
	f.eq(want, got, "the first lease is untouched")
}

// testLeaseRelease: the holder's release frees the lease at once; a
// release by anyone else, or of a lease never taken, changes nothing and
// is no error.
func testLeaseRelease(f *fx) {
	const ttl = time.Minute
	f.ok(f.s.ReleaseLease(f.ctx, "scheduler", "a"), "release a lease never taken")
	_, err := f.s.AcquireLease(f.ctx, "scheduler", "a", t0, ttl)
	f.ok(err, "a takes")
	f.ok(f.s.ReleaseLease(f.ctx, "scheduler", "b"), "b releases a's lease")
	l, err := f.s.GetLease(f.ctx, "scheduler")
	f.ok(err, "get after b's release")
	f.eq(lab.Lease{Name: "scheduler", Holder: "a", Expires: t0.Add(ttl)}, l, "a still holds it")
	_, err = f.s.AcquireLease(f.ctx, "scheduler", "b", t0.Add(time.Second), ttl)
	f.is(err, lab.ErrConflict, "b after its release attempt")

	f.ok(f.s.ReleaseLease(f.ctx, "scheduler", "a"), "a releases")
	_, err = f.s.GetLease(f.ctx, "scheduler")
	f.is(err, lab.ErrNotFound, "get after a's release")
	l, err = f.s.AcquireLease(f.ctx, "scheduler", "b", t0.Add(time.Second), ttl)
	f.ok(err, "b takes the released lease before it would have expired")
	f.eq(lab.Lease{Name: "scheduler", Holder: "b", Expires: t0.Add(time.Second + ttl)}, l, "b's lease")
	f.ok(f.s.ReleaseLease(f.ctx, "scheduler", "a"), "a releases again")
	l, err = f.s.GetLease(f.ctx, "scheduler")
	f.ok(err, "get after a's second release")
	f.eq("b", l.Holder, "holder after a's second release")
}

// testLeaseErrors: an empty name or holder, a zero time or a duration not
// above 0 is ErrInvalid, and nothing is stored.
func testLeaseErrors(f *fx) {
	for _, c := range []struct {
		name, holder string
		now          time.Time
		ttl          time.Duration
	}{
		{"", "a", t0, time.Second},
		{"scheduler", "", t0, time.Second},
		{"scheduler", "a", time.Time{}, time.Second},
		{"scheduler", "a", t0, 0},
		{"scheduler", "a", t0, -time.Second},
	} {
		_, err := f.s.AcquireLease(f.ctx, c.name, c.holder, c.now, c.ttl)
		f.is(err, lab.ErrInvalid, fmt.Sprintf("acquire %q %q %v %v", c.name, c.holder, c.now, c.ttl))
	}
	_, err := f.s.GetLease(f.ctx, "scheduler")
	f.is(err, lab.ErrNotFound, "get after refused acquisitions")
}

// testLeaseInTx: an acquisition inside a transaction that rolls back
// leaves the lease free.
func testLeaseInTx(f *fx) {
	boom := errors.New("boom")
	err := f.s.InTx(f.ctx, func(q store.Queries) error {
		if _, err := q.AcquireLease(f.ctx, "scheduler", "a", t0, time.Minute); err != nil {
			return err
		}
		return boom
	})
	f.is(err, boom, "rolled back transaction")
	_, err = f.s.GetLease(f.ctx, "scheduler")
	f.is(err, lab.ErrNotFound, "lease after rollback")
}

func testRaceLeases(f *fx) { RaceLeases(f.t, f.s) }

// RaceLeases has goroutines on stores (the same database) race for one
// lease, as server replicas do, round after round: in each round every
// goroutine asks for it at the same instant, later than the expiry of the
// previous round's lease, so that it is free for all; exactly one takes
// it, and every other is refused with that holder's lease.
func RaceLeases(t *testing.T, stores ...store.Store) {
	ctx := context.Background()
	const perStore, rounds, ttl = 6, 25, 10 * time.Second
	n := perStore * len(stores)
	for r := range rounds {
		now := t0.Add(time.Duration(r) * 2 * ttl)
		type result struct {
			l   lab.Lease
			err error
		}
		res := make([]result, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				// Holders recur across rounds: the previous winner's
				// late renewal races the others' takeover.
				l, err := stores[i%len(stores)].AcquireLease(ctx, "scheduler", fmt.Sprintf("h%d", i), now, ttl)
				res[i] = result{l, err}
			})
		}
		close(start)
		wg.Wait()
		var winners []string
		for i, x := range res {
			switch {
			case x.err == nil:
				winners = append(winners, fmt.Sprintf("h%d", i))
			case !errors.Is(x.err, lab.ErrConflict):
				t.Fatalf("round %d: h%d: %v", r, i, x.err)
			}
		}
		if len(winners) != 1 {
			t.Fatalf("round %d: %d holders %v, want exactly one", r, len(winners), winners)
		}
		want := lab.Lease{Name: "scheduler", Holder: winners[0], Expires: now.Add(ttl)}
		for i, x := range res {
			if !sameLease(x.l, want) {
				t.Errorf("round %d: h%d was told %+v, want %+v", r, i, x.l, want)
			}
		}
		got, err := stores[0].GetLease(ctx, "scheduler")
		if err != nil || !sameLease(got, want) {
			t.Fatalf("round %d: stored lease %+v, %v; want %+v", r, got, err, want)
		}
	}
}
