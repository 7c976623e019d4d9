package sqlstore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/logstore/logstoretest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// TestLogs runs the job-log conformance suite on SQLite and PostgreSQL.
func TestLogs(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			logstoretest.Run(t, func(t *testing.T) logstore.Logs { return open(t, d.dsn(t)).Logs() })
		})
	}
}

// TestLogsTwoReplicas opens one PostgreSQL database twice, as two server
// replicas would: what one appends the other reads, and uploads of one
// journal racing through both keep the log exact.
func TestLogsTwoReplicas(t *testing.T) {
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn).Logs(), open(t, dsn).Logs()
	ref := logstoretest.Log("first line\nsecond line\nthird, incomplete")
	if n, err := a.Append(t.Context(), 1, 0, ref[:15]); err != nil || n != 15 {
		t.Fatalf("append through a: %d, %v", n, err)
	}
	if n, err := b.Append(t.Context(), 1, 11, ref[11:]); err != nil || n != int64(len(ref)) {
		t.Fatalf("append through b: %d, %v", n, err)
	}
	logstoretest.Check(t, a, 1, ref)
	logstoretest.Check(t, b, 1, ref)

	var journal logstoretest.Log
	for i := range 30_000 {
		journal = fmt.Appendf(journal, "{\"lvl\":\"target\",\"msg\":\"line %d\"}\n", i)
	}
	logstoretest.Concurrent(t, []logstore.Logs{a, b}, 2, journal)

	// Removals through one replica racing appends through both (a log
	// removed while still written): every call succeeds or is refused
	// as a conflict (ErrGap: start again where the store says), and the
	// log written afterwards is exact.
	ctx := t.Context()
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		defer stop.Store(true)
		for range 40 {
			if err := b.Remove(ctx, 3); err != nil {
				t.Errorf("Remove: %v", err)
				return
			}
		}
	})
	for _, s := range []*LogStore{a, b} {
		wg.Go(func() {
			have := int64(0)
			for !stop.Load() {
				n, err := s.Append(ctx, 3, have, journal[have:min(int64(len(journal)), have+4096)])
				if err != nil && !errors.Is(err, lab.ErrConflict) {
					t.Errorf("Append at %d racing Remove: %v", have, err)
					return
				}
				if have = n; have == int64(len(journal)) {
					have = 0
				}
			}
		})
	}
	wg.Wait()
	if err := a.Remove(ctx, 3); err != nil {
		t.Fatal(err)
	}
	logstoretest.Upload(t, b, 3, journal, rand.New(rand.NewPCG(3, 3)))
	logstoretest.Check(t, a, 3, journal)
}
