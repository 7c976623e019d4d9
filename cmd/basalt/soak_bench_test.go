package main_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
)

// BenchmarkSoak runs 10,000 short jobs through the real server binary on
// SQLite (20 simulated workers with 5 devices each, every job starting,
// logging a chunk and finishing) and samples the server's resident memory
// while it works and after it: memory must come back down, not keep what
// the work used (issue 10: an idle server grew from 32 to 85 MB after
// about a thousand jobs).
//
//	go test -run '^$' -bench Soak -benchtime 1x -timeout 60m ./cmd/basalt
func BenchmarkSoak(b *testing.B) {
	const (
		workers, perWorker = 20, 5
		jobs               = 10000
		batch              = 500 // submitted at a time, so the queue stays short
	)
	for range b.N {
		b.StopTimer()
		s := startServer(b, "--max-conns-per-client", "0")
		l := attachLab(b, s)
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := l.api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: "sim"}); err != nil {
			b.Fatal(err)
		}
		hb := &latencies{}
		var running atomic.Int64
		var wg sync.WaitGroup
		for w := range workers {
			name := fmt.Sprintf("sw%02d", w)
			nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: name})
			if err != nil {
				b.Fatal(err)
			}
			for d := range perWorker {
				dict := simDictionary("0s", 1)
				good := "GOOD"
				if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: fmt.Sprintf("%s-d%d", name, d), DeviceType: ptr("sim"),
					Worker: ptr(name), Health: &good, Dictionary: &dict}); err != nil {
					b.Fatal(err)
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				busyWorker(ctx, []string{s.url}, name, nw.Token, hb, &running, 0, nil)
			}()
		}
		pid := s.cmd.Process.Pid
		time.Sleep(3 * time.Second)
		idleBefore := rssKB(b, pid)
		var peak atomic.Int64
		sampling, stop := context.WithCancel(ctx)
		go func() {
			for sampling.Err() == nil {
				if kb := int64(rssKB(b, pid)); kb > peak.Load() {
					peak.Store(kb)
				}
				time.Sleep(time.Second)
			}
		}()
		b.StartTimer()
		t0 := time.Now()
		def := quickJob("soak")
		unfinished := client.JobFilter{States: []string{"Submitted", "Scheduling", "Scheduled", "Running", "Canceling"}, Limit: 1}
		for done := 0; done < jobs; done += batch {
			for range batch {
				l.submit(b, def)
			}
			deadline := time.Now().Add(10 * time.Minute)
			for {
				page, err := l.api.ListJobs(ctx, unfinished)
				if err == nil && page.Count == 0 {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("jobs still unfinished after 10 minutes: %v %+v", err, page)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
		failed, err := l.api.ListJobs(ctx, client.JobFilter{Health: []string{"Incomplete", "Canceled"}, Limit: 1})
		if err != nil || failed.Count != 0 {
			b.Fatalf("%d jobs did not complete (%v)", failed.Count, err)
		}
		elapsed := time.Since(t0)
		b.StopTimer()
		stop()
		afterWork := rssKB(b, pid)
		time.Sleep(60 * time.Second) // idle: the runtime gives memory back by itself
		idleAfter := rssKB(b, pid)
		cancel()
		wg.Wait()
		b.ReportMetric(float64(jobs)/elapsed.Minutes(), "jobs/min")
		b.ReportMetric(float64(idleBefore)/1024, "MB-idle-before")
		b.ReportMetric(float64(peak.Load())/1024, "MB-peak")
		b.ReportMetric(float64(afterWork)/1024, "MB-after-work")
		b.ReportMetric(float64(idleAfter)/1024, "MB-idle-after-60s")
	}
}
