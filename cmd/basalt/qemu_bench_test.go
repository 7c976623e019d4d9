package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// quickQEMUTest is a test action with one quick case.
const quickQEMUTest = `- test:
    definitions:
    - from: inline
      name: quick
      path: inline/quick.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: quick}
        run:
          steps:
          - lava-test-case uname --shell uname -r
`

// lavaDurations returns the lava suite's case durations (seconds) of a
// journal.
func lavaDurations(tb testing.TB, journal string) map[string]float64 {
	tb.Helper()
	f, err := os.Open(journal)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	out := map[string]float64{}
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		rec, err := wp.DecodeRecord(s.Bytes())
		if err != nil || rec.Level != wp.LevelResults {
			continue
		}
		var m wp.ResultMsg
		if json.Unmarshal(rec.Msg, &m) != nil || m.Definition != "lava" || m.Duration == "" {
			continue
		}
		d, err := strconv.ParseFloat(m.Duration, 64)
		if err == nil {
			out[m.Case] += d
		}
	}
	return out
}

// BenchmarkQEMUJobOverhead measures what a QEMU job costs beyond the
// device's own boot and test time: `basalt run` of a job whose images are
// in the download cache (a first, untimed run fills it), from the process
// start to its exit, minus the boot-qemu-image and lava-test-shell
// durations the job logs. So it covers process start, validation, deploy
// from the cache with the LAVA overlay added to the ramdisk, finalize
// (QEMU powered off) and process exit. LAVA, for the same busybox job on
// this machine: deploy 0.44 s, finalize 1.2 s.
func BenchmarkQEMUJobOverhead(b *testing.B) {
	d := serveDUT(b)
	dir := b.TempDir()
	jobFile, dictFile, cache := filepath.Join(dir, "job.yaml"), filepath.Join(dir, "qemu.jinja2"), filepath.Join(dir, "cache")
	if err := os.WriteFile(jobFile, []byte(d.qemuJob("overhead", "qemu", qemuBoot, quickQEMUTest)), 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(dictFile, []byte(qemuDictionary), 0o644); err != nil {
		b.Fatal(err)
	}
	run := func(i int) (wall time.Duration, durations map[string]float64) {
		jobDir := filepath.Join(dir, fmt.Sprintf("job-%d", i))
		start := time.Now()
		out, err := exec.Command(binary, "run", jobFile, "--device", dictFile, "--cache-dir", cache, "--job-dir", jobDir, "--quiet").CombinedOutput()
		wall = time.Since(start)
		if err != nil {
			b.Fatalf("basalt run: %v\n%s", err, out)
		}
		return wall, lavaDurations(b, filepath.Join(jobDir, "log.ndjson"))
	}
	run(-1) // fill the cache
	var overhead, deploy, finalize, total float64
	b.ResetTimer()
	for i := range b.N {
		wall, du := run(i)
		total += wall.Seconds()
		overhead += wall.Seconds() - du["boot-qemu-image"] - du["lava-test-shell"]
		deploy += du["tmpfs-deploy"]
		finalize += du["finalize"]
	}
	n := float64(b.N)
	b.ReportMetric(overhead/n, "overhead-s/op")
	b.ReportMetric(deploy/n, "deploy-s/op")
	b.ReportMetric(finalize/n, "finalize-s/op")
	b.ReportMetric(total/n, "job-s/op")
}

// BenchmarkEightQEMUJobs runs eight QEMU jobs at once on one worker with
// eight QEMU devices and reports the wall time of the batch and the
// largest resident memory seen, every 100 ms, of the worker daemon and of
// its job processes together (QEMU excluded).
func BenchmarkEightQEMUJobs(b *testing.B) {
	d := serveDUT(b)
	l := newLab(b)
	ctx := context.Background()
	nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: "qemu-host"})
	if err != nil {
		b.Fatal(err)
	}
	typ := "qemu"
	if _, err := l.api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: typ}); err != nil {
		b.Fatal(err)
	}
	for i := range 8 {
		worker, health, dict := "qemu-host", "GOOD", qemuDictionary
		if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: fmt.Sprintf("qemu-%02d", i), DeviceType: &typ, Worker: &worker, Health: &health, Dictionary: &dict}); err != nil {
			b.Fatal(err)
		}
	}
	wdir := b.TempDir()
	w := startWorker(b, l.url, "qemu-host", nw.Token, wdir)
	def := d.qemuJob("eight at once", "qemu", qemuBoot, quickQEMUTest)

	peaks := sampleRSS(w, wdir)
	b.ResetTimer()
	for range b.N {
		var ids []int64
		for range 8 {
			ids = append(ids, l.submit(b, def))
		}
		for id, j := range l.waitFinished(b, ids, 10*time.Minute) {
			if j.Health != "Complete" {
				b.Fatalf("job %d: %s (%s: %s)", id, j.Health, j.ErrorType, j.FailureComment)
			}
		}
	}
	b.StopTimer()
	maxWorker, maxJobs := peaks()
	b.ReportMetric(float64(maxWorker)/1024, "worker-MB")
	b.ReportMetric(float64(maxJobs)/1024, "job-processes-MB")
}

// sampleRSS samples, every 100 ms, the resident memory of the worker
// daemon w and the sum over its job processes (those of the data
// directory wdir; the devices' QEMU excluded), until the returned function
// is called; it returns the largest of each seen, in kB.
func sampleRSS(w *workerProc, wdir string) (peaks func() (worker, jobs int)) {
	var maxWorker, maxJobs int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if kb, ok := rssKBOf(w.cmd.Process.Pid); ok {
				maxWorker = max(maxWorker, kb)
			}
			sum := 0
			out, _ := exec.Command("pgrep", "-f", "run-job "+wdir).Output()
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					if kb, ok := rssKBOf(pid); ok {
						sum += kb
					}
				}
			}
			maxJobs = max(maxJobs, sum)
		}
	})
	return func() (int, int) {
		close(stop)
		wg.Wait()
		return maxWorker, maxJobs
	}
}

// rssKBOf is the VmRSS of pid in kB, if the process still exists.
func rssKBOf(pid int) (int, bool) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return kb, err == nil
		}
	}
	return 0, false
}
