package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkLiveLogFollowers measures the server process while browsers
// follow a running job's log over the web UI's Server-Sent Events stream
// (GET /jobs/{id}/events). The real server and worker binaries run one
// simulated job whose device prints 20,000 boot lines over 20 s. With
// followers=100, 100 concurrent clients (the admin token in the
// Authorization header, as a script would send it) read the stream from the
// job's submission to its "end" event; followers=0 is the same job with no
// one watching, the baseline for what the job alone costs the server, and
// followers=1 gives the latency of the pipeline without the fan-out.
//
// The server's VmRSS is sampled every 100 ms. Every client must receive
// every stored line exactly once and in order (compared with the log the
// REST API returns). The delivery latency of a line is the time a client
// decoded it minus the line's own timestamp (set by the worker side when
// the device printed it, millisecond precision; same host, same clock).
func BenchmarkLiveLogFollowers(b *testing.B) {
	for _, n := range []int{0, 1, 100} {
		b.Run(fmt.Sprintf("followers=%d", n), func(b *testing.B) {
			for b.Loop() {
				benchLiveFollowers(b, n)
			}
		})
	}
}

// followResult is what one SSE client saw.
type followResult struct {
	lines int     // log lines received
	ended bool    // the "end" event arrived
	lat   []int32 // per-line delivery latency, ms
	err   error
}

func benchLiveFollowers(b *testing.B, followers int) {
	const bootLines, bootTime = 20000, "20s"
	l := newLab(b)
	l.addDevices(b, "w1", 1, simDictionary(bootTime, bootLines))
	startWorker(b, l.url, "w1", l.workers["w1"], b.TempDir())
	pid := l.cmd.Process.Pid
	time.Sleep(2 * time.Second) // worker connected, start-up settled
	rssBefore := rssKB(b, pid)

	id := l.submit(b, simJob("follow", "minutes: 3"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := fmt.Sprintf("%s/jobs/%d/events", l.url, id)
	results := make([]followResult, followers)
	var wg sync.WaitGroup
	for i := range followers {
		wg.Go(func() { results[i] = followLog(ctx, hc, url, l.token) })
	}
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()

	// Sample the server until the job has finished and every client is done.
	cpu0, self0, t0 := cpuTicks(b, pid), cpuTicks(b, os.Getpid()), time.Now()
	peak := rssBefore
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	finished := false
	for n := 0; !finished; n++ {
		select {
		case <-ctx.Done():
			b.Fatalf("job %d and its %d followers not done within 3 minutes", id, followers)
		case <-tick.C:
		}
		peak = max(peak, rssKB(b, pid))
		select {
		case <-clientsDone:
		default:
			continue
		}
		if n%10 == 0 { // once a second is enough to poll the job itself
			j, err := l.api.GetJob(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			finished = j.State == "Finished"
		}
	}
	cpu := float64(cpuTicks(b, pid)-cpu0) / 100 / time.Since(t0).Seconds() // USER_HZ = 100
	elapsed := time.Since(t0)
	self := float64(cpuTicks(b, os.Getpid())-self0) / 100 / elapsed.Seconds()

	j, err := l.api.GetJob(context.Background(), id)
	if err != nil {
		b.Fatal(err)
	}
	if j.Health != "Complete" {
		b.Fatalf("job %d: %s (%s)", id, j.Health, j.FailureComment)
	}
	stored, total, err := l.api.JobLogs(context.Background(), id, 0, -1)
	if err != nil {
		b.Fatal(err)
	}
	if total != len(stored) || total < bootLines {
		b.Fatalf("stored log: %d lines, total %d, want at least %d boot lines", len(stored), total, bootLines)
	}
	var lat []int32
	for i, r := range results {
		switch {
		case r.err != nil:
			b.Errorf("client %d: %v", i, r.err)
		case !r.ended:
			b.Errorf("client %d: no end event after %d lines", i, r.lines)
		case r.lines != total:
			b.Errorf("client %d received %d lines, the stored log has %d", i, r.lines, total)
		}
		lat = append(lat, r.lat...)
	}
	if b.Failed() {
		b.FailNow()
	}

	b.ReportMetric(float64(rssBefore)/1024, "MB-RSS-before")
	b.ReportMetric(float64(peak)/1024, "MB-RSS-peak")
	b.ReportMetric(float64(peak-rssBefore)/1024, "MB-RSS-growth")
	b.ReportMetric(float64(total), "lines/client")
	b.ReportMetric(cpu*100, "%cpu-server")
	b.ReportMetric(cpu*elapsed.Seconds(), "s-cpu-server")
	b.ReportMetric(self*100, "%cpu-clients")
	b.ReportMetric(elapsed.Seconds(), "s-run")
	if followers > 0 {
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2]), "p50-latency-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-latency-ms")
		b.ReportMetric(float64(lat[len(lat)-1]), "max-latency-ms")
	}
}

// followLog reads one job stream until its "end" event, checking that the
// lines arrive numbered 1, 2, 3… with ids that count them.
func followLog(ctx context.Context, hc *http.Client, url, token string) followResult {
	var r followResult
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		r.err = err
		return r
	}
	req.Header.Set("Authorization", "Token "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		r.err = fmt.Errorf("connect: %w", err)
		return r
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.err = fmt.Errorf("connect: %s", resp.Status)
		return r
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	var event, id string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "event":
				event = value
			case "id":
				id = value
			case "data":
				data = append(data, value)
			}
			continue
		}
		switch event { // a blank line dispatches the event
		case "lines":
			if r.err = r.addLines(strings.Join(data, "\n"), id); r.err != nil {
				return r
			}
		case "end":
			r.ended = true
			return r
		}
		event, id, data = "", "", nil
	}
	r.err = fmt.Errorf("stream closed without end after %d lines: %v", r.lines, sc.Err())
	return r
}

// addLines checks and counts one "lines" event and records the latency of
// each line.
func (r *followResult) addLines(data, id string) error {
	now := time.Now().UTC()
	var lines []struct {
		N    int    `json:"n"`
		Time string `json:"t"`
	}
	if err := json.Unmarshal([]byte(data), &lines); err != nil {
		return fmt.Errorf("lines event: %w", err)
	}
	midnight := now.Truncate(24 * time.Hour)
	for _, l := range lines {
		if l.N != r.lines+1 {
			return fmt.Errorf("line %d arrived after line %d", l.N, r.lines)
		}
		r.lines++
		at, err := time.Parse("15:04:05.000", l.Time)
		if err != nil {
			continue // a line that is not a record has no time
		}
		tod := time.Duration(at.Hour())*time.Hour + time.Duration(at.Minute())*time.Minute +
			time.Duration(at.Second())*time.Second + time.Duration(at.Nanosecond())
		d := now.Sub(midnight) - tod
		if d < -12*time.Hour { // printed before midnight, received after
			d += 24 * time.Hour
		}
		r.lat = append(r.lat, int32(d.Milliseconds()))
	}
	if n, err := strconv.Atoi(id); err != nil || n != r.lines {
		return fmt.Errorf("lines event id %q after %d lines", id, r.lines)
	}
	return nil
}
