package events

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// BenchmarkFanout measures the events per second the stream delivers to N
// listeners over loopback WebSockets (each listener reads in a goroutine
// of its own, as a client process would), on SQLite: worker events, which
// read nothing, and job events on a device, which read the device once per
// event (for its worker) and check each listener's right to see the job.
// Events go out in batches of half a queue, the next once every listener
// has the last: the sustained rate without a listener falling behind.
//
//	go test -run '^$' -bench Fanout -benchtime 20000x ./internal/api/events/
func BenchmarkFanout(b *testing.B) {
	for _, kind := range []string{"worker", "job"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("%s/listeners=%d", kind, n), func(b *testing.B) { benchFanout(b, kind, n) })
		}
	}
}

func benchFanout(b *testing.B, kind string, listeners int) {
	const queue = 1024
	e := newEnv(b, labtest.Backends()[0], Config{QueueLen: queue, MaxConns: listeners})
	var remaining atomic.Int64
	batchDone := make(chan struct{}, 1)
	for i := range listeners {
		c := e.dial(i % nIdent)
		go func() {
			for {
				if _, _, err := c.c.Read(context.Background()); err != nil {
					return
				}
				if remaining.Add(-1) == 0 {
					batchDone <- struct{}{}
				}
			}
		}()
	}
	j := &lab.Job{ID: 1, Description: "bench", Submitter: "alice", Visibility: lab.VisibilityPublic, State: lab.JobRunning,
		Priority: 50, RequestedType: "qemu", ActualDevice: "qemu-01", SubmitTime: time.Now().UTC(), StartTime: time.Now().UTC()}
	ev := func(i int) app.Event {
		if kind == "worker" {
			return workerEvent(i)
		}
		return app.Event{Kind: "job", JobID: 1, State: "Running", Health: "Unknown", Device: "qemu-01", Job: j}
	}
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(queue/2, b.N-sent)
		remaining.Store(int64(n * listeners))
		for range n {
			e.ev.onEvent(ev(sent))
			sent++
		}
		select {
		case <-batchDone:
		case <-time.After(waitFor):
			b.Fatalf("listeners stalled with %d messages to go (overflows %d)", remaining.Load(), e.ev.Overflows())
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if e.ev.Overflows() != 0 || e.ev.Dropped() != 0 {
		b.Fatalf("%d listeners overflowed, %d events dropped", e.ev.Overflows(), e.ev.Dropped())
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(b.N*listeners)/elapsed.Seconds(), "msgs/s")
}
