package main_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// The burst of the independent load test (issue 10), against the real
// server binary on SQLite: 20 workers with 10 busy devices each (simulated
// in this process: they speak the worker protocol, run each assigned job
// for busyJobTime while uploading its log, then finish it and take the
// next), 500 clients following live job pages, then 10,000 submissions
// from 32 concurrent clients. It reports the heartbeat latency the workers
// see, the latency of admitted submissions, how many were shed (503/429),
// the overview's and /healthz's latency during the burst, and how often a
// working worker was marked Offline.
//
//	go test -run '^$' -bench LoadBurst -benchtime 1x -timeout 30m ./cmd/basalt
const (
	burstWorkers     = 20
	burstPerWorker   = 10
	burstFollowers   = 500
	burstSubmissions = 10000
	burstClients     = 32
	busyJobTime      = 30 * time.Second
	busyLogEvery     = 200 * time.Millisecond
	busyLogLines     = 20
)

func BenchmarkLoadBurst(b *testing.B) {
	for range b.N { // run with -benchtime 1x: one burst is minutes of work
		runBurst(b)
	}
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) { l.mu.Lock(); l.d = append(l.d, d); l.mu.Unlock() }

// pct returns the p-th percentile (0–100) in milliseconds, and the count.
func (l *latencies) pct(p float64) (float64, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	i := min(len(s)-1, int(float64(len(s))*p/100))
	return float64(s[i].Microseconds()) / 1000, len(s)
}

func runBurst(b *testing.B) {
	b.StopTimer()
	// The default heartbeats (every 10 s, Offline after 30 s of silence);
	// the 500 followers come from one address here.
	s := startServer(b, "--max-conns-per-client", "0")
	l := attachLab(b, s)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := l.api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: "sim"}); err != nil {
		b.Fatal(err)
	}
	tokens := map[string]string{}
	for w := range burstWorkers {
		name := fmt.Sprintf("bw%02d", w)
		nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: name})
		if err != nil {
			b.Fatal(err)
		}
		tokens[name] = nw.Token
		for d := range burstPerWorker {
			dict := simDictionary("0s", 1)
			good := "GOOD"
			if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: fmt.Sprintf("%s-d%d", name, d), DeviceType: ptr("sim"),
				Worker: ptr(name), Health: &good, Dictionary: &dict}); err != nil {
				b.Fatal(err)
			}
		}
	}
	hb := &latencies{}
	var running atomic.Int64
	var wg sync.WaitGroup
	for name, tok := range tokens {
		wg.Add(1)
		go func() {
			defer wg.Done()
			busyWorker(ctx, []string{s.url}, name, tok, hb, &running, busyJobTime, nil)
		}()
	}
	defer wg.Wait()
	defer cancel()

	// Fill the devices, then follow their jobs' pages.
	var first []int64
	for i := range burstWorkers * burstPerWorker {
		first = append(first, l.submit(b, quickJob(fmt.Sprintf("fill-%d", i))))
	}
	deadline := time.Now().Add(2 * time.Minute)
	for running.Load() < burstWorkers*burstPerWorker {
		if time.Now().After(deadline) {
			states := map[string]int{}
			for _, id := range first {
				j, err := l.api.GetJob(ctx, id)
				if err != nil {
					b.Fatal(err)
				}
				states[j.State]++
			}
			ws, _ := l.api.ListWorkers(ctx)
			online := 0
			for _, w := range ws.Results {
				if w.State == "Online" {
					online++
				}
			}
			b.Fatalf("only %d of %d devices running; the jobs: %v; %d workers Online", running.Load(), burstWorkers*burstPerWorker, states, online)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var followers atomic.Int64
	for i := range burstFollowers {
		go follow(ctx, s.url, first[i%len(first)], int64(len(first)), &followers)
	}
	for followers.Load() < burstFollowers && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}

	// The burst, with the overview and /healthz sampled meanwhile.
	overview, health := &latencies{}, &latencies{}
	var healthBad atomic.Int64
	sampleCtx, stopSampling := context.WithCancel(ctx)
	go sample(sampleCtx, s.url+"/", overview, nil)
	go sample(sampleCtx, s.url+"/healthz", health, &healthBad)
	hb.mu.Lock()
	hb.d = nil // only the heartbeats during the burst
	hb.mu.Unlock()
	sub := &latencies{}
	var shed, failed, next atomic.Int64
	def := quickJob("burst")
	body, _ := json.Marshal(wire.DefinitionInput{Definition: def})
	b.StartTimer()
	t0 := time.Now()
	var cw sync.WaitGroup
	for range burstClients {
		cw.Add(1)
		go func() {
			defer cw.Done()
			hc := &http.Client{Timeout: 2 * time.Minute}
			for next.Add(1) <= burstSubmissions {
				req, _ := http.NewRequestWithContext(ctx, "POST", s.url+wire.Prefix+"/jobs", strings.NewReader(string(body)))
				req.Header.Set("Authorization", "Token "+s.token)
				req.Header.Set("Content-Type", "application/json")
				start := time.Now()
				resp, err := hc.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == http.StatusCreated:
					sub.add(time.Since(start))
				case resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusTooManyRequests:
					shed.Add(1)
					if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && ra > 0 {
						time.Sleep(time.Duration(ra) * time.Second)
					}
					next.Add(-1) // try it again
				default:
					failed.Add(1)
				}
			}
		}()
	}
	cw.Wait()
	elapsed := time.Since(t0)
	b.StopTimer()
	stopSampling()

	offline := 0
	for name := range tokens {
		h, err := l.api.WorkerHistory(ctx, name, 100)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range h.Results {
			if t.NewState == "Offline" {
				offline++
			}
		}
	}
	_, admitted := sub.pct(50)
	p50, _ := sub.pct(50)
	p99, _ := sub.pct(99)
	hb50, nhb := hb.pct(50)
	hb99, _ := hb.pct(99)
	hbMax, _ := hb.pct(100)
	ov99, _ := overview.pct(99)
	ovMax, _ := overview.pct(100)
	h99, _ := health.pct(99)
	b.ReportMetric(float64(admitted)/elapsed.Seconds(), "submissions/s")
	b.ReportMetric(p50, "submit-p50-ms")
	b.ReportMetric(p99, "submit-p99-ms")
	b.ReportMetric(float64(shed.Load()), "shed")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(hb50, "heartbeat-p50-ms")
	b.ReportMetric(hb99, "heartbeat-p99-ms")
	b.ReportMetric(hbMax, "heartbeat-max-ms")
	b.ReportMetric(float64(nhb), "heartbeats")
	b.ReportMetric(ov99, "overview-p99-ms")
	b.ReportMetric(ovMax, "overview-max-ms")
	b.ReportMetric(h99, "healthz-p99-ms")
	b.ReportMetric(float64(healthBad.Load()), "healthz-not-200")
	b.ReportMetric(float64(offline), "marked-offline")
}

func ptr[T any](v T) *T { return &v }

// sample GETs url every 500 ms until ctx ends, recording the latency of
// each answer and counting answers other than 200 in bad.
func sample(ctx context.Context, url string, l *latencies, bad *atomic.Int64) {
	hc := &http.Client{Timeout: 2 * time.Minute}
	for ctx.Err() == nil {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		resp, err := hc.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			l.add(time.Since(start))
			if resp.StatusCode != http.StatusOK && bad != nil {
				bad.Add(1)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// follow keeps a live job page's event stream open, as a browser on the
// job page does, reading what it pushes; when the job ends, it follows the
// job step ids later (one that runs next on some device).
func follow(ctx context.Context, url string, job, step int64, n *atomic.Int64) {
	counted := false
	for ; ctx.Err() == nil; job += step {
		req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/jobs/%d/events", url, job), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if resp.StatusCode != http.StatusOK { // not submitted yet, or shed: the same job again
			resp.Body.Close()
			job -= step
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if !counted {
			n.Add(1)
			counted = true
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}

// simHooks observe a simulated worker (busyWorker); nil fields are
// skipped. They are called from the worker's goroutines.
type simHooks struct {
	streaming func(server int) // a stream got its hello from urls[server]
	assigned  func(job int64)  // an assignment arrived on the stream
	started   func(job int64)  // the server took the job's start: it is Running
	finished  func(job int64)  // the server took the job's end
}

// busyWorker is a worker in the protocol's terms whose devices run every
// job they are given for busyJobTime, uploading log lines meanwhile. It
// records the latency of its heartbeats. Given several server URLs
// (replicas of one lab), it uses one at a time, starting with urls[0], and
// moves to the next when a request to it fails (no connection, a 5xx), as
// `basalt worker --server A,B,C` does; a stream that ends is opened again
// after the real worker's first back-off (250 ms, jittered).
func busyWorker(ctx context.Context, urls []string, name, token string, hb *latencies, running *atomic.Int64, jobTime time.Duration, hooks *simHooks) {
	if hooks == nil {
		hooks = &simHooks{}
	}
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	protos.SetHTTP1(true)
	tr := &http.Transport{Protocols: &protos, DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var cur atomic.Int32 // index of the current server in urls
	// doOn sends one request, moving to the next server on a failure (once
	// to each server), and says which server answered.
	doOn := func(method, path string, body []byte) (*http.Response, int, error) {
		for try := 1; ; try++ {
			i := int(cur.Load())
			req, _ := http.NewRequestWithContext(ctx, method, urls[i]+wp.Prefix+path, strings.NewReader(string(body)))
			req.Header.Set(wp.VersionHeader, strconv.Itoa(wp.Version))
			req.Header.Set("Authorization", "Token "+token)
			resp, err := hc.Do(req)
			if try >= len(urls) || ctx.Err() != nil || err == nil && resp.StatusCode < 500 {
				return resp, i, err
			}
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			cur.CompareAndSwap(int32(i), int32((i+1)%len(urls)))
		}
	}
	do := func(method, path string, body []byte) (*http.Response, error) {
		resp, _, err := doOn(method, path, body)
		return resp, err
	}
	var mu sync.Mutex
	jobs := map[int64]bool{}
	for ctx.Err() == nil {
		resp, srv, err := doOn("GET", wp.PathConnect+"?name="+name+"&version=bench", nil)
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var interval time.Duration
		beat := make(chan struct{})
		go func() {
			defer close(beat)
			for sc.Scan() {
				var f wp.Frame
				if json.Unmarshal(sc.Bytes(), &f) != nil {
					continue
				}
				switch {
				case f.Hello != nil && interval == 0:
					interval = f.Hello.HeartbeatInterval
					if hooks.streaming != nil {
						hooks.streaming(srv)
					}
					go heartbeats(ctx, do, name, interval, hb, &mu, jobs, beat)
				case f.Assign != nil:
					mu.Lock()
					have := jobs[f.Assign.JobID]
					jobs[f.Assign.JobID] = true
					mu.Unlock()
					if !have {
						if hooks.assigned != nil {
							hooks.assigned(f.Assign.JobID)
						}
						go runBusyJob(ctx, do, f.Assign.JobID, jobTime, running, hooks, func() {
							mu.Lock()
							delete(jobs, f.Assign.JobID)
							mu.Unlock()
						})
					}
				}
			}
		}()
		<-beat
		resp.Body.Close()
		if ctx.Err() == nil { // the stream ended: the real worker's first back-off
			time.Sleep(time.Duration(float64(250*time.Millisecond) * (0.5 + rand.Float64())))
		}
	}
}

// heartbeats posts a heartbeat every interval until stop closes.
func heartbeats(ctx context.Context, do func(string, string, []byte) (*http.Response, error), name string, interval time.Duration,
	hb *latencies, mu *sync.Mutex, jobs map[int64]bool, stop <-chan struct{}) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for first := true; ; first = false {
		if !first { // the first at once, as basalt worker does on connecting
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-tick.C:
			}
		}
		mu.Lock()
		local := []int64{}
		for id := range jobs {
			local = append(local, id)
		}
		mu.Unlock()
		body, _ := json.Marshal(wp.Heartbeat{Name: name, Version: "bench", Jobs: local})
		start := time.Now()
		r, err := do("POST", wp.PathHeartbeat, body)
		if err == nil {
			io.Copy(io.Discard, r.Body)
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				hb.add(time.Since(start))
			}
		}
	}
}

// runBusyJob starts a job, uploads busyLogLines lines every busyLogEvery
// for jobTime (at least one chunk), and finishes it (retrying each step
// until it is taken).
func runBusyJob(ctx context.Context, do func(string, string, []byte) (*http.Response, error), id int64, jobTime time.Duration, running *atomic.Int64,
	hooks *simHooks, done func()) {
	defer done()
	call := func(method, path string, body []byte) bool {
		for ctx.Err() == nil {
			r, err := do(method, path, body)
			if err == nil {
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode < 300 {
					return true
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		return false
	}
	if !call("POST", fmt.Sprintf(wp.PathStart, id), nil) {
		return
	}
	running.Add(1)
	defer running.Add(-1)
	if hooks.started != nil {
		hooks.started(id)
	}
	h := sha256.New()
	var size int64
	end := time.Now().Add(jobTime)
	for n := 0; n == 0 || time.Now().Before(end) && ctx.Err() == nil; n++ {
		var chunk []byte
		for i := range busyLogLines {
			rec, _ := wp.EncodeRecord(wp.Record{Time: time.Now().UTC(), Level: wp.LevelTarget,
				Msg: wp.TextMsg(fmt.Sprintf("job %d console line %d of a busy device", id, n*busyLogLines+i))})
			chunk = append(chunk, rec...)
		}
		if !call("PUT", fmt.Sprintf(wp.PathLog, id)+"?offset="+strconv.FormatInt(size, 10), chunk) {
			return
		}
		h.Write(chunk)
		size += int64(len(chunk))
		if time.Now().Add(busyLogEvery).Before(end) {
			time.Sleep(busyLogEvery)
		}
	}
	fin, _ := json.Marshal(wp.Finish{Result: "pass", LogSize: size, LogSHA256: hex.EncodeToString(h.Sum(nil))})
	if call("POST", fmt.Sprintf(wp.PathFinish, id), fin) && hooks.finished != nil {
		hooks.finished(id)
	}
}
