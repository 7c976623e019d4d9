package lavacoord

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/store/sqlstore"
)

// BenchmarkBarrierTCP measures one lava_sync barrier between two clients
// speaking LAVA's protocol over loopback TCP, each on its own connection
// per request as LAVA's client does, polling again at once after "wait"
// (LAVA's client sleeps poll_delay, 1 to 3 s, instead): ns/op is the time
// for both to pass one barrier. "memory" keeps the groups in memory;
// "sqlite" saves each change to a SQLite file before answering, as the
// server does.
func BenchmarkBarrierTCP(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchBarrierTCP(b, &coordinator.MemPersister{})
	})
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlstore.Open(context.Background(), filepath.Join(b.TempDir(), "basalt.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchBarrierTCP(b, store.CoordinatorGroups{Q: st})
	})
}

func benchBarrierTCP(b *testing.B, p coordinator.Persister) {
	c, err := coordinator.New(context.Background(), p, coordinator.Options{Logger: quietLog})
	if err != nil {
		b.Fatal(err)
	}
	addr, _ := serve(b, c, Options{})
	a := client{t: b, addr: addr, name: "1", group: "bench", role: "r", size: 2}
	z := a
	z.name = "2"
	a.call("group_data")
	z.call("group_data")
	ids := []string{"b0", "b1"} // an ID is free again once both passed it
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, cl := range []client{a, z} {
		wg.Go(func() {
			for i := range b.N {
				if got := cl.poll("lava_sync", "messageID", ids[i%2]); got["response"] != "ack" {
					panic(fmt.Sprintf("%s round %d: %v", cl.name, i, got))
				}
			}
		})
	}
	wg.Wait()
}
