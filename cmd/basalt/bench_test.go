package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// quickJob is a job whose own work is nearly nil: what remains is Basalt.
func quickJob(name string) string {
	return fmt.Sprintf(`job_name: %s
device_type: sim
visibility: public
timeouts:
  job: {minutes: 2}
actions:
- boot:
    method: minimal
    prompts: ["/ # "]
- test:
    definitions:
    - name: quick
      from: inline
      path: inline/quick.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: quick}
        run:
          steps:
          - lava-test-case ok --result pass
`, name)
}

func benchLab(b *testing.B, devices int, dict string) *lab {
	s := startServer(b, "--heartbeat-interval", "1s")
	l := attachLab(b, s)
	l.addDevices(b, "w1", devices, dict)
	startWorker(b, l.url, "w1", l.workers["w1"], b.TempDir())
	return l
}

// BenchmarkSubmitToRunning measures, in an idle lab (one worker, one
// simulated device), the time from a job's submission to its start on the
// worker, using the server's own timestamps (submit_time, start_time). Each
// job finishes before the next is submitted.
func BenchmarkSubmitToRunning(b *testing.B) {
	l := benchLab(b, 1, simDictionary("0s", 5))
	ctx := context.Background()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		id := l.submit(b, quickJob(fmt.Sprintf("lat-%d", i)))
		var j wire.Job
		deadline := time.Now().Add(time.Minute)
		for {
			if time.Now().After(deadline) {
				b.Fatalf("job %d not finished after a minute: %+v", id, j)
			}
			var err error
			if j, err = l.api.GetJob(ctx, id); err != nil {
				b.Fatal(err)
			}
			if j.State == "Finished" {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if j.Health != "Complete" || j.StartTime == nil {
			b.Fatalf("job %d: %s %s", id, j.Health, j.FailureComment)
		}
		lat = append(lat, j.StartTime.Sub(*j.SubmitTime))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
}

// BenchmarkThroughput submits 100 short jobs at once to 20 simulated
// devices on one worker and reports jobs per minute from the first
// submission to the last end (server timestamps).
func BenchmarkThroughput(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		l := benchLab(b, 20, simDictionary("0s", 5))
		b.StartTimer()
		var ids []int64
		for i := range 100 {
			ids = append(ids, l.submit(b, quickJob(fmt.Sprintf("tp-%d", i))))
		}
		jobs := l.waitFinished(b, ids, 5*time.Minute)
		var first, last time.Time
		for _, j := range jobs {
			if j.Health != "Complete" {
				b.Fatalf("job %d %s: %s", j.ID, j.Health, j.FailureComment)
			}
			if first.IsZero() || j.SubmitTime.Before(first) {
				first = *j.SubmitTime
			}
			if j.EndTime.After(last) {
				last = *j.EndTime
			}
		}
		b.ReportMetric(100/last.Sub(first).Minutes(), "jobs/min")
	}
}

// BenchmarkIdleWorkers connects 1,000 simulated workers (each its own TCP
// connection, a stream and a heartbeat every 10 s, as `basalt worker` does)
// to one server process and reports the server's CPU use over 30 s of idle
// heartbeats and its resident memory per connected worker.
func BenchmarkIdleWorkers(b *testing.B) {
	const n = 1000
	for b.Loop() {
		// the default 10 s heartbeat interval; 1,000 connections from one
		// address are beyond the default cap of connections per client
		s := startServer(b, "--max-conns-per-client", "0")
		l := attachLab(b, s)
		ctx, cancel := context.WithCancel(context.Background())
		tokens := make([]string, n)
		for i := range n {
			nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: fmt.Sprintf("idle-%04d", i)})
			if err != nil {
				b.Fatal(err)
			}
			tokens[i] = nw.Token
		}
		pid := s.cmd.Process.Pid
		time.Sleep(2 * time.Second)
		rssBefore := rssKB(b, pid)
		var wg sync.WaitGroup
		connected := make(chan struct{}, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				idleWorker(ctx, s.url, fmt.Sprintf("idle-%04d", i), tokens[i], connected)
			}()
		}
		for range n {
			select {
			case <-connected:
			case <-time.After(2 * time.Minute):
				b.Fatal("workers did not connect")
			}
		}
		time.Sleep(5 * time.Second) // let start-up work settle
		rssAfter := rssKB(b, pid)
		cpu0 := cpuTicks(b, pid)
		t0 := time.Now()
		time.Sleep(30 * time.Second)
		cpu := float64(cpuTicks(b, pid)-cpu0) / 100 / time.Since(t0).Seconds() // USER_HZ = 100
		ws, err := l.api.ListWorkers(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		online := 0
		for _, w := range ws.Results {
			if w.State == "Online" {
				online++
			}
		}
		if online != n {
			b.Fatalf("%d of %d workers Online", online, n)
		}
		cancel()
		wg.Wait()
		b.ReportMetric(cpu*100, "%cpu-idle")
		b.ReportMetric(float64(rssAfter-rssBefore)/n, "KB/worker")
		b.ReportMetric(float64(rssAfter)/1024, "MB-RSS")
	}
}

// idleWorker is a minimal protocol client: a stream and heartbeats.
func idleWorker(ctx context.Context, url, name, token string, connected chan<- struct{}) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos, DialContext: (&net.Dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	do := func(method, path, body string) (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, method, url+wp.Prefix+path, strings.NewReader(body))
		req.Header.Set(wp.VersionHeader, strconv.Itoa(wp.Version))
		req.Header.Set("Authorization", "Token "+token)
		return hc.Do(req)
	}
	resp, err := do("GET", wp.PathConnect+"?name="+name+"&version=bench", "")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		return
	}
	var hello wp.Frame
	json.Unmarshal(sc.Bytes(), &hello)
	connected <- struct{}{}
	go func() {
		for sc.Scan() {
		}
	}()
	tick := time.NewTicker(hello.Hello.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if r, err := do("POST", wp.PathHeartbeat, `{"name":"`+name+`","version":"bench","jobs":[]}`); err == nil {
				r.Body.Close()
			}
		}
	}
}

func rssKB(b *testing.B, pid int) int {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(st)
	kb, _ := strconv.Atoi(string(m[1]))
	return kb
}

// cpuTicks is utime+stime of pid in clock ticks.
func cpuTicks(b *testing.B, pid int) int64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}
