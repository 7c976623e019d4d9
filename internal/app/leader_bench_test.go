package app_test

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// benchLeaseTTL is the scheduler lease of the failover benchmark: short,
// so that an iteration lasts a few seconds.
const benchLeaseTTL = 2 * time.Second

// BenchmarkLeaderFailover measures, on PostgreSQL with the real clock
// and a 2 s lease, the time from the scheduler leader's end until the
// other replica leads: "crash" stops the leader's Run without releasing
// the lease (a process that died: the other waits for the lease to
// lapse, then for its next renewal, every lease/3), "stop" stops it
// cleanly (it releases: the other's next renewal takes it). The leader
// ends at a random point of its renewal period. Metrics: the mean
// (failover-ms) and the longest (max-ms) over the iterations; ns/op
// counts the setup too.
func BenchmarkLeaderFailover(b *testing.B) {
	for _, mode := range []string{"crash", "stop"} {
		b.Run(mode, func(b *testing.B) {
			st := labtest.OpenDSN(b, pgtest.DSN(b))
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			cfg := app.Config{LeaseTTL: benchLeaseTTL, Logger: quiet, SweepInterval: time.Hour}
			var took []time.Duration
			for b.Loop() {
				leader, follower := app.New(st, cfg), app.New(st, cfg)
				lctx, stopLeader := context.WithCancel(context.Background())
				ldone := make(chan struct{})
				go func() { defer close(ldone); leader.Run(lctx) }()
				waitFor(b, leader.Leader)
				fctx, stopFollower := context.WithCancel(context.Background())
				fdone := make(chan struct{})
				go func() { defer close(fdone); follower.Run(fctx) }()
				time.Sleep(rand.N(benchLeaseTTL / 3))
				if mode == "crash" {
					app.SimulateCrash(leader)
				}
				start := time.Now()
				stopLeader()
				<-ldone
				waitFor(b, follower.Leader)
				took = append(took, time.Since(start))
				stopFollower()
				<-fdone
			}
			var sum time.Duration
			for _, d := range took {
				sum += d
			}
			b.ReportMetric(float64(sum.Milliseconds())/float64(len(took)), "failover-ms")
			b.ReportMetric(float64(slices.Max(took).Milliseconds()), "max-ms")
		})
	}
}

// waitFor polls cond every millisecond until it holds (a safety bound of
// a minute, not a measure).
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
