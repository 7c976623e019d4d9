package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// BenchmarkUpload measures a job's journal going from the job process to
// the fake server: assignment to accepted finish, for a 32 MiB journal
// (the job process writes it at disk speed; uploads of at most 1 MiB).
func BenchmarkUpload(b *testing.B) {
	const size = 32 << 20
	for _, mode := range []string{"h2c", "http1"} {
		b.Run(mode, func(b *testing.B) {
			fs := newFakeServer(b)
			cfg := testConfig(fs.URL, b.TempDir())
			cfg.HTTP1 = mode == "http1"
			cfg.KeepJobs = false
			startWorker(b, cfg)
			b.SetBytes(size)
			id := int64(0)
			for b.Loop() {
				id++
				fs.assign(id, "dev1", fmt.Sprintf("blob %d\nresult pass", size))
				waitFinished(b, fs, id)
				b.StopTimer()
				if n := fs.logSize(id); n < size {
					b.Fatalf("stored %d bytes", n)
				}
				fs.mu.Lock()
				delete(fs.jobs, id) // keep the fake server's memory flat
				fs.mu.Unlock()
				eventually(b, "job dropped", func() bool {
					return len(fs.heartbeats()) > 0 && !fileExists(filepath.Join(cfg.DataDir, "jobs", strconv.FormatInt(id, 10)))
				})
				b.StartTimer()
			}
		})
	}
}

// idleStats is what runIdleWorkers reports.
type idleStats struct {
	Workers          int     `json:"workers"`
	HeapPerWorker    float64 `json:"heap_bytes_per_worker"`
	RSSPerWorker     float64 `json:"rss_bytes_per_worker"`
	GoroutinesPer    float64 `json:"goroutines_per_worker"`
	CPUPerInterval   float64 `json:"cpu_us_per_worker_per_interval"`
	IntervalSeconds  float64 `json:"interval_seconds"`
	CPUPercentAt1000 float64 `json:"cpu_percent_1000_workers_10s"`
}

// BenchmarkIdleWorkers runs 200 connected, idle Worker values in a child
// process (so the fake server's side does not count) and reports the
// client side's memory per worker and its CPU per heartbeat interval (one
// heartbeat and one ping each), extrapolated to 1000 workers at the
// default 10 s interval. Run with -benchtime=1x.
func BenchmarkIdleWorkers(b *testing.B) {
	const n = 200
	for b.Loop() {
		fs := newFakeServer(b)
		fs.interval = time.Second
		cmd := exec.Command(testBinary(b), idleArg, fs.URL, strconv.Itoa(n), b.TempDir())
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		var st idleStats
		if err := json.Unmarshal(out, &st); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
		b.ReportMetric(st.HeapPerWorker/1024, "heap-KiB/worker")
		b.ReportMetric(st.RSSPerWorker/1024, "RSS-KiB/worker")
		b.ReportMetric(st.GoroutinesPer, "goroutines/worker")
		b.ReportMetric(st.CPUPerInterval, "CPU-µs/worker/interval")
		b.ReportMetric(st.CPUPercentAt1000, "CPU-%/1000-workers@10s")
	}
}

// runIdleWorkers is the child process of BenchmarkIdleWorkers: args are
// the server URL, the number of workers and a scratch directory. It prints
// idleStats as JSON.
func runIdleWorkers(args []string) int {
	url, dir := args[0], args[2]
	n, _ := strconv.Atoi(args[1])
	heap0, rss0, g0 := memNow()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	ws := make([]*Worker, n)
	for i := range ws {
		cfg := testConfig(url, filepath.Join(dir, strconv.Itoa(i)))
		cfg.Name = "idle-" + strconv.Itoa(i)
		cfg.Heartbeat = time.Second
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		w, err := New(cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ws[i] = w
		wg.Go(func() { _ = w.Run(ctx) })
	}
	for _, w := range ws {
		for w.connected.Load() == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	time.Sleep(2 * time.Second) // settle: first heartbeats and pings done
	heap1, rss1, g1 := memNow()
	const window = 5 * time.Second
	cpu0 := cpuTime()
	time.Sleep(window)
	cpu := cpuTime() - cpu0
	intervals := float64(n) * window.Seconds() / time.Second.Seconds()
	perInterval := float64(cpu.Microseconds()) / intervals
	st := idleStats{Workers: n,
		HeapPerWorker: float64(heap1-heap0) / float64(n), RSSPerWorker: float64(rss1-rss0) / float64(n),
		GoroutinesPer: float64(g1-g0) / float64(n), CPUPerInterval: perInterval, IntervalSeconds: 1,
		CPUPercentAt1000: perInterval * 1000 / 10e6 * 100}
	cancel()
	wg.Wait()
	json.NewEncoder(os.Stdout).Encode(st)
	return 0
}

func memNow() (heap, rss uint64, goroutines int) {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b, _ := os.ReadFile("/proc/self/status")
	if mm := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b); mm != nil {
		kb, _ := strconv.ParseUint(string(mm[1]), 10, 64)
		rss = kb << 10
	}
	return m.HeapInuse, rss, runtime.NumGoroutine()
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
