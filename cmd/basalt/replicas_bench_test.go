package main_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// The figures of issue 14 (several server replicas on one PostgreSQL),
// against the real server binary and a private PostgreSQL cluster, job
// logs in the database:
// BenchmarkReplicaScale connects 1,000 simulated workers with 10 devices
// each (10,000 devices; the workers of load_bench_test.go, in this
// process) to one server and to three replicas, worker i to replica i%n,
// and reports per replica its CPU and memory, the memory per worker
// connection, the submit → Running latency and the throughput of trivial
// jobs; BenchmarkReplicaFailover kills the scheduler leader of three
// replicas with SIGKILL and reports how long until scheduling resumes and
// until every worker whose stream was on it streams from another.
//
//	go test -run '^$' -bench 'Replica(Scale|Failover)' -benchtime 1x -timeout 60m ./cmd/basalt
//
// With -short (how a smoke run would use them) both run at a small scale.

// replicaScale is the size of one BenchmarkReplicaScale run.
type replicaScale struct {
	workers, perWorker int
	probes             int           // jobs submitted one by one for the latency
	jobs               int           // at most this many trivial jobs submitted for the throughput
	window             time.Duration // the throughput's window
	idle               time.Duration // the window of idle CPU
}

func replicaScaleOf() replicaScale {
	if testing.Short() {
		return replicaScale{workers: 20, perWorker: 2, probes: 40, jobs: 2000, window: 10 * time.Second, idle: 3 * time.Second}
	}
	return replicaScale{workers: 1000, perWorker: 10, probes: 500, jobs: 20000, window: 3 * time.Minute, idle: 30 * time.Second}
}

// raiseFileLimit raises this process's open-file limit to its hard limit
// (the servers started after inherit it): each simulated worker holds a
// connection.
func raiseFileLimit(b *testing.B) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		b.Fatal(err)
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
			b.Fatal(err)
		}
	}
}

// startReplicas starts n server processes on the PostgreSQL database dsn
// with job logs in it (--log-store database, as replicas are run), each
// with its own data directory; the first bootstraps the admin, whose
// credentials file the others are given (as an operator copies it), so
// that every replica's token is the admin's.
func startReplicas(t testing.TB, n int, dsn string, args ...string) []*server {
	t.Helper()
	args = append([]string{"--database", dsn, "--log-store", "database"}, args...)
	out := []*server{startServer(t, args...)}
	for len(out) < n {
		out = append(out, startReplica(t, out[0], args...))
	}
	return out
}

// scaleLab is a lab of n replicas, with its workers and their devices.
type scaleLab struct {
	servers []*server
	labs    []*lab   // one API client per replica
	names   []string // the workers
	tokens  []string
}

// newScaleLab starts n replicas on dsn and creates, through them in
// turn, device type sim and workers rw0000… with perWorker devices each.
func newScaleLab(b *testing.B, n int, dsn string, workers, perWorker int, args ...string) *scaleLab {
	b.Helper()
	rl := &scaleLab{servers: startReplicas(b, n, dsn, args...)}
	for _, s := range rl.servers {
		rl.labs = append(rl.labs, attachLab(b, s))
	}
	ctx := context.Background()
	if _, err := rl.labs[0].api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: "sim"}); err != nil {
		b.Fatal(err)
	}
	rl.names, rl.tokens = make([]string, workers), make([]string, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for w := int(next.Add(1) - 1); w < workers; w = int(next.Add(1) - 1) {
				api := rl.labs[w%n].api
				name := fmt.Sprintf("rw%04d", w)
				nw, err := api.CreateWorker(ctx, wire.WorkerInput{Name: name})
				if err != nil {
					errs <- fmt.Errorf("worker %s: %w", name, err)
					return
				}
				rl.names[w], rl.tokens[w] = name, nw.Token
				for d := range perWorker {
					dict, good := simDictionary("0s", 1), "GOOD"
					if _, err := api.CreateDevice(ctx, wire.DeviceInput{Hostname: fmt.Sprintf("%s-d%02d", name, d), DeviceType: ptr("sim"),
						Worker: ptr(name), Health: &good, Dictionary: &dict}); err != nil {
						errs <- fmt.Errorf("device of %s: %w", name, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	return rl
}

// urlsFrom is every replica's URL, starting with replica i: worker i's
// --server list.
func (rl *scaleLab) urlsFrom(i int) []string {
	var out []string
	for k := range rl.servers {
		out = append(out, rl.servers[(i+k)%len(rl.servers)].url)
	}
	return out
}

// jobTimes records, per job, when something happened to it.
type jobTimes struct{ m sync.Map } // int64 → time.Time

func (jt *jobTimes) mark(id int64) { jt.m.LoadOrStore(id, time.Now()) }

func (jt *jobTimes) at(id int64) (time.Time, bool) {
	v, ok := jt.m.Load(id)
	if !ok {
		return time.Time{}, false
	}
	return v.(time.Time), true
}

// postJob submits def through url with token, as a client of the REST
// API: the job's id, or 0 and how long to wait when the server shed the
// request (503, 429), or an error.
func postJob(ctx context.Context, hc *http.Client, url, token string, body []byte) (int64, time.Duration, error) {
	req, _ := http.NewRequestWithContext(ctx, "POST", url+wire.Prefix+"/jobs", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusCreated:
		var sub wire.Submitted
		if err := json.NewDecoder(resp.Body).Decode(&sub); err != nil || len(sub.JobIDs) == 0 {
			return 0, 0, fmt.Errorf("submit: bad answer: %v", err)
		}
		return sub.JobIDs[0], 0, nil
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		io.Copy(io.Discard, resp.Body)
		wait := 100 * time.Millisecond
		if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
			wait = time.Duration(ra) * time.Second
		}
		return 0, wait, nil
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return 0, 0, fmt.Errorf("submit: %s: %s", resp.Status, msg)
	}
}

// submitAll submits count copies of def from clients concurrent clients,
// submission k through replica k%len(urls), retrying shed ones; before is
// called with each job's id and the time its successful request was sent.
func submitAll(ctx context.Context, urls []string, token string, def string, count, clients int, pace time.Duration,
	before func(id int64, sent time.Time)) error {
	body, _ := json.Marshal(wire.DefinitionInput{Definition: def})
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hc := &http.Client{Timeout: 2 * time.Minute}
			for k := next.Add(1) - 1; k < int64(count); k = next.Add(1) - 1 {
				for {
					sent := time.Now()
					id, wait, err := postJob(ctx, hc, urls[k%int64(len(urls))], token, body)
					if err != nil {
						errs <- err
						return
					}
					if id != 0 {
						before(id, sent)
						break
					}
					time.Sleep(wait)
				}
				if pace > 0 {
					time.Sleep(pace)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// procSampler samples the resident memory of some processes every 250 ms
// and keeps each one's peak.
type procSampler struct {
	mu   sync.Mutex
	peak []int
	stop chan struct{}
	done chan struct{}
}

func sampleProcs(pids []int) *procSampler {
	ps := &procSampler{peak: make([]int, len(pids)), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(ps.done)
		for {
			for i, pid := range pids {
				if kb, ok := rssKBOf(pid); ok {
					ps.mu.Lock()
					ps.peak[i] = max(ps.peak[i], kb)
					ps.mu.Unlock()
				}
			}
			select {
			case <-ps.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return ps
}

// end stops the sampling and returns the peaks in kB.
func (ps *procSampler) end() []int {
	close(ps.stop)
	<-ps.done
	return ps.peak
}

// progress prints what a long benchmark is doing, with -v.
func progress(format string, args ...any) {
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

func mean(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// BenchmarkReplicaScale: see the top of this file. Run with -benchtime 1x:
// one run of each sub-benchmark is minutes of work.
func BenchmarkReplicaScale(b *testing.B) {
	raiseFileLimit(b)
	cl := pgtest.NewCluster(b)
	for _, n := range []int{1, 3} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			for range b.N {
				runReplicaScale(b, cl.DSN(b), n, replicaScaleOf())
			}
		})
	}
}

func runReplicaScale(b *testing.B, dsn string, n int, sc replicaScale) {
	b.StopTimer()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The default heartbeats (every 10 s) and sweeps; every client comes
	// from 127.0.0.1.
	rl := newScaleLab(b, n, dsn, sc.workers, sc.perWorker, "--max-conns-per-client", "0")
	pids := make([]int, n)
	urls := make([]string, n)
	for i, s := range rl.servers {
		pids[i], urls[i] = s.cmd.Process.Pid, s.url
	}
	token := rl.servers[0].token
	rssAll := func() []int {
		out := make([]int, n)
		for i, pid := range pids {
			out[i] = rssKB(b, pid)
		}
		return out
	}
	cpuAll := func() []int64 {
		out := make([]int64, n)
		for i, pid := range pids {
			out[i] = cpuTicks(b, pid)
		}
		return out
	}
	progress("replicas=%d: %d workers and %d devices created", n, sc.workers, sc.workers*sc.perWorker)
	time.Sleep(3 * time.Second) // let the set-up's work settle
	rssBefore := rssAll()

	// 1. The workers connect, worker i to replica i%n (and the others after
	// it, should it fail); then they idle, heartbeating.
	var streams atomic.Int64
	assigned, started := &jobTimes{}, &jobTimes{}
	var finished atomic.Int64
	hooks := &simHooks{
		streaming: func(int) { streams.Add(1) },
		assigned:  assigned.mark,
		started:   started.mark,
		finished:  func(int64) { finished.Add(1) },
	}
	hb := &latencies{}
	var running atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for w := range sc.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			busyWorker(ctx, rl.urlsFrom(w%n), rl.names[w], rl.tokens[w], hb, &running, 0, hooks)
		}()
	}
	waitFor(b, "every worker streaming", 5*time.Minute, func() bool { return streams.Load() >= int64(sc.workers) })
	time.Sleep(5 * time.Second) // the first heartbeats, the workers' Online
	rssIdle := rssAll()
	progress("replicas=%d: workers connected; idle for %s", n, sc.idle)
	cpu0, t0 := cpuAll(), time.Now()
	time.Sleep(sc.idle)
	cpu1, idleWindow := cpuAll(), time.Since(t0)
	if got := streams.Load(); got != int64(sc.workers) {
		b.Fatalf("%d streams opened for %d workers: some were lost while idle", got, sc.workers)
	}

	// 2. Latency: probes submitted one at a time per client, 8 clients
	// spread over the replicas, each pausing 80 ms after a submission:
	// about 100 submissions/s into an idle lab of sc.workers*sc.perWorker
	// devices.
	progress("replicas=%d: idle measured; %d probes", n, sc.probes)
	sent := sync.Map{} // id → time.Time
	var probeIDs []int64
	var probeMu sync.Mutex
	if err := submitAll(ctx, urls, token, quickJob("probe"), sc.probes, 8, 80*time.Millisecond, func(id int64, at time.Time) {
		sent.Store(id, at)
		probeMu.Lock()
		probeIDs = append(probeIDs, id)
		probeMu.Unlock()
	}); err != nil {
		b.Fatal(err)
	}
	waitFor(b, "the probes finished", 5*time.Minute, func() bool { return finished.Load() >= int64(sc.probes) })
	toAssign, toRunning := &latencies{}, &latencies{}
	for _, id := range probeIDs {
		v, _ := sent.Load(id)
		s := v.(time.Time)
		a, ok1 := assigned.at(id)
		r, ok2 := started.at(id)
		if !ok1 || !ok2 {
			b.Fatalf("probe job %d finished but was not seen assigned and started", id)
		}
		toAssign.add(a.Sub(s))
		toRunning.add(r.Sub(s))
	}

	// 3. Throughput: trivial jobs (a start, one log chunk of 20 lines, an
	// end) submitted by 32 clients spread over the replicas, as fast as
	// the replicas take them (at most sc.jobs), for sc.window: the jobs
	// that end within the window.
	progress("replicas=%d: probes done; trivial jobs for %s", n, sc.window)
	finished.Store(0)
	sampler := sampleProcs(pids)
	cpu2, self0 := cpuAll(), cpuTicks(b, os.Getpid())
	b.StartTimer()
	t1 := time.Now()
	subCtx, stopSubmitting := context.WithTimeout(ctx, sc.window)
	defer stopSubmitting()
	var nsub atomic.Int64
	subDone := make(chan error, 1)
	go func() {
		subDone <- submitAll(subCtx, urls, token, quickJob("trivial"), sc.jobs, 32, 0, func(int64, time.Time) { nsub.Add(1) })
	}()
	for time.Since(t1) < sc.window && finished.Load() < int64(sc.jobs) {
		time.Sleep(100 * time.Millisecond)
		if s := time.Since(t1); s%(30*time.Second) < 100*time.Millisecond {
			progress("replicas=%d: %s: %d submitted, %d finished", n, s.Round(time.Second), nsub.Load(), finished.Load())
		}
	}
	busyWindow, done := time.Since(t1), finished.Load()
	b.StopTimer()
	cpu3, self1 := cpuAll(), cpuTicks(b, os.Getpid())
	peaks := sampler.end()
	stopSubmitting()
	if err := <-subDone; err != nil && subCtx.Err() == nil {
		b.Fatal(err)
	}
	submitted := nsub.Load()

	// Per replica: CPU (USER_HZ = 100 ticks a second) and memory.
	var idleCPU, busyCPU, busySec, idleMB, peakMB, connKB []float64
	for i := range n {
		idleCPU = append(idleCPU, float64(cpu1[i]-cpu0[i])/100/idleWindow.Seconds()*100)
		busySec = append(busySec, float64(cpu3[i]-cpu2[i])/100)
		busyCPU = append(busyCPU, busySec[i]/busyWindow.Seconds()*100)
		idleMB = append(idleMB, float64(rssIdle[i])/1024)
		peakMB = append(peakMB, float64(peaks[i])/1024)
		connKB = append(connKB, float64(rssIdle[i]-rssBefore[i]))
	}
	connTotal := 0.0
	for _, kb := range connKB {
		connTotal += kb
	}
	p50a, _ := toAssign.pct(50)
	p99a, _ := toAssign.pct(99)
	p50, _ := toRunning.pct(50)
	p95, _ := toRunning.pct(95)
	p99, _ := toRunning.pct(99)
	pmax, _ := toRunning.pct(100)
	hb99, _ := hb.pct(99)
	b.ReportMetric(float64(sc.workers), "workers")
	b.ReportMetric(float64(sc.workers*sc.perWorker), "devices")
	b.ReportMetric(connTotal/float64(sc.workers), "KB/worker-conn")
	b.ReportMetric(mean(idleMB), "rss-idle-MB/replica")
	b.ReportMetric(slices.Max(peakMB), "rss-peak-MB/replica")
	b.ReportMetric(mean(idleCPU), "%cpu-idle/replica")
	b.ReportMetric(mean(busySec), "cpu-s/replica")
	b.ReportMetric(mean(busyCPU), "%cpu-busy/replica")
	b.ReportMetric(float64(self1-self0)/100, "cpu-s-bench-process")
	b.ReportMetric(p50a, "p50-submit-assign-ms")
	b.ReportMetric(p99a, "p99-submit-assign-ms")
	b.ReportMetric(p50, "p50-submit-running-ms")
	b.ReportMetric(p95, "p95-submit-running-ms")
	b.ReportMetric(p99, "p99-submit-running-ms")
	b.ReportMetric(pmax, "max-submit-running-ms")
	b.ReportMetric(float64(done)/busyWindow.Minutes(), "jobs/min")
	b.ReportMetric(float64(submitted)/busyWindow.Seconds(), "submissions/s")
	b.ReportMetric(hb99, "heartbeat-p99-ms")
	for i := range n {
		b.Logf("replica %d: RSS %.0f MB before the workers, %.0f MB with them idle (%.1f KB per connection), peak %.0f MB; idle CPU %.1f %%; %.1f s CPU over the %.1f s of trivial jobs (%.0f %%)",
			i, float64(rssBefore[i])/1024, idleMB[i], connKB[i]/float64(sc.workers/n), peakMB[i], idleCPU[i], busySec[i], busyWindow.Seconds(), busyCPU[i])
	}
}

// failoverWorkers is the number of simulated workers (2 devices each) of
// BenchmarkReplicaFailover.
func failoverWorkers() int {
	if testing.Short() {
		return 12
	}
	return 100
}

// healthzLeader reports whether the server at url answers /healthz as the
// scheduler leader.
func healthzLeader(hc *http.Client, url string) bool {
	resp, err := hc.Get(url + "/healthz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		SchedulerLeader bool `json:"scheduler_leader"`
	}
	return json.NewDecoder(resp.Body).Decode(&h) == nil && h.SchedulerLeader
}

// BenchmarkReplicaFailover runs three replicas on one PostgreSQL with
// --leader-lease 2s and failoverWorkers simulated workers, worker i
// streaming to replica i%3 and given the others' URLs after it. Each
// iteration (a new lab) kills the scheduler leader with SIGKILL at a
// random point of its renewal period, submits a job through a survivor at
// once, and reports the time from the kill until: a survivor's /healthz
// says it leads; the job is Scheduled (the API); it is Running (its
// worker's start taken); every worker whose stream was on the dead
// replica has a stream open on another.
//
//	go test -run '^$' -bench ReplicaFailover -benchtime 5x -timeout 30m ./cmd/basalt
func BenchmarkReplicaFailover(b *testing.B) {
	raiseFileLimit(b)
	cl := pgtest.NewCluster(b)
	var lease, sched, run, moved []float64
	for range b.N {
		l, s, r, m := runFailover(b, cl.DSN(b))
		lease, sched, run, moved = append(lease, l), append(sched, s), append(run, r), append(moved, m)
	}
	b.ReportMetric(mean(lease), "new-leader-mean-s")
	b.ReportMetric(slices.Max(lease), "new-leader-max-s")
	b.ReportMetric(mean(sched)*1000, "scheduled-mean-ms")
	b.ReportMetric(slices.Max(sched)*1000, "scheduled-max-ms")
	b.ReportMetric(mean(run)*1000, "running-mean-ms")
	b.ReportMetric(slices.Max(run)*1000, "running-max-ms")
	b.ReportMetric(mean(moved), "workers-moved-mean-s")
	b.ReportMetric(slices.Max(moved), "workers-moved-max-s")
}

// runFailover is one iteration of BenchmarkReplicaFailover; it returns its
// four times in seconds.
func runFailover(b *testing.B, dsn string) (leader, scheduled, running, moved float64) {
	b.StopTimer()
	defer b.StartTimer()
	const n = 3
	workers := failoverWorkers()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rl := newScaleLab(b, n, dsn, workers, 2, "--leader-lease", "2s", "--max-conns-per-client", "0")
	hc := &http.Client{Timeout: 5 * time.Second}

	// Which replica each worker streams from, and since when.
	type streamAt struct {
		server int
		since  time.Time
	}
	var mu sync.Mutex
	on := make([]streamAt, workers)
	started := &jobTimes{}
	var busy atomic.Int64
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for w := range workers {
		urls := rl.urlsFrom(w % n)
		hooks := &simHooks{
			streaming: func(srv int) {
				mu.Lock()
				on[w] = streamAt{server: (w%n + srv) % n, since: time.Now()}
				mu.Unlock()
			},
			started: started.mark,
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			busyWorker(ctx, urls, rl.names[w], rl.tokens[w], &latencies{}, &busy, 0, hooks)
		}()
	}
	waitFor(b, "every worker streaming", 2*time.Minute, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return !slices.ContainsFunc(on, func(s streamAt) bool { return s.since.IsZero() })
	})
	dead := -1
	waitFor(b, "one scheduler leader", time.Minute, func() bool {
		dead = -1
		for i, s := range rl.servers {
			if healthzLeader(hc, s.url) {
				if dead >= 0 {
					return false
				}
				dead = i
			}
		}
		return dead >= 0
	})
	// A random point of the leader's renewal period (a third of the lease).
	time.Sleep(time.Duration(rand.Float64() * float64(2*time.Second/3)))
	mu.Lock()
	var orphans []int // the workers streaming from the leader
	for w, s := range on {
		if s.server == dead {
			orphans = append(orphans, w)
		}
	}
	mu.Unlock()

	victim := rl.servers[dead]
	if err := victim.cmd.Process.Kill(); err != nil {
		b.Fatal(err)
	}
	t0 := time.Now()
	go victim.cmd.Wait() // reaped meanwhile (Wait also drains its output pipes)
	survivor := (dead + 1) % n
	id, err := rl.labs[survivor].api.SubmitJob(ctx, quickJob("after-the-kill"))
	if err != nil {
		b.Fatal(err)
	}
	job, tSubmit := id.JobIDs[0], time.Since(t0)
	var tLeader, tSched, tRun, tMoved time.Duration
	deadline := t0.Add(2 * time.Minute)
	for tLeader == 0 || tSched == 0 || tRun == 0 || tMoved == 0 {
		if time.Now().After(deadline) {
			b.Fatalf("two minutes after the kill: new leader %v, job scheduled %v, running %v, workers moved %v", tLeader, tSched, tRun, tMoved)
		}
		if tLeader == 0 {
			for i, s := range rl.servers {
				if i != dead && healthzLeader(hc, s.url) {
					tLeader = time.Since(t0)
				}
			}
		}
		if tSched == 0 {
			if j, err := rl.labs[survivor].api.GetJob(ctx, job); err == nil && j.State != "Submitted" {
				tSched = time.Since(t0)
			}
		}
		if at, ok := started.at(job); ok && tRun == 0 {
			tRun = at.Sub(t0)
		}
		if tMoved == 0 {
			mu.Lock()
			last, all := time.Duration(0), true
			for _, w := range orphans {
				if on[w].server == dead || on[w].since.Before(t0) {
					all = false
					break
				}
				last = max(last, on[w].since.Sub(t0))
			}
			mu.Unlock()
			if all {
				tMoved = last
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.Logf("killed replica %d (leader, %d of %d workers streaming from it): new leader after %v, job %d submitted after %v, scheduled after %v, running after %v, its workers streaming elsewhere after %v",
		dead, len(orphans), workers, tLeader.Round(time.Millisecond), job, tSubmit.Round(time.Millisecond), tSched.Round(time.Millisecond), tRun.Round(time.Millisecond), tMoved.Round(time.Millisecond))
	return tLeader.Seconds(), tSched.Seconds(), tRun.Seconds(), tMoved.Seconds()
}
