package coordinator

import (
	"fmt"
	"sync"
	"testing"
)

// BenchmarkBarrier measures one lava_sync barrier between two clients of
// a group, each calling Wait in its own goroutine (in process, over a
// memory persister): ns/op is the time for both to pass one barrier.
// LAVA's clients re-poll every poll_delay (1 to 3 s) instead.
func BenchmarkBarrier(b *testing.B) {
	c, _ := newCoord(b, Limits{})
	ctx := b.Context()
	for _, me := range []string{"11", "12"} {
		if _, err := c.Handle(ctx, gd(me, 2)); err != nil {
			b.Fatal(err)
		}
	}
	// Two IDs in turn: an ID is free again once both passed it, which
	// they did before either reaches it again.
	ids := []string{"b0", "b1"}
	b.ResetTimer()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, me := range []string{"11", "12"} {
		wg.Go(func() {
			for i := range b.N {
				r, err := c.Wait(ctx, syncOn(me, ids[i%2]), forever)
				if err != nil || r.Response != RespAck {
					errs <- fmt.Errorf("%s round %d: %+v %v", me, i, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}
