package worker

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// virtualClock replaces the waits of one of the worker's loops (what:
// "job", "stream") with virtual time once started says so: each wait
// returns at once and moves the clock on by its duration, until the clock
// reaches horizon; from then on waits park until release. Other loops wait
// for real.
type virtualClock struct {
	what    string
	started func() bool // virtual time runs once this holds
	horizon time.Duration
	// instantAfter: once released, waits return at once (else for real)
	instantAfter bool

	mu       sync.Mutex
	now      time.Duration
	parked   bool
	released bool
	release  chan struct{}
}

func newVirtualClock(what string, horizon time.Duration, started func() bool) *virtualClock {
	return &virtualClock{what: what, started: started, horizon: horizon, release: make(chan struct{})}
}

func (c *virtualClock) sleep(ctx context.Context, what string, d time.Duration, kick <-chan struct{}) bool {
	if what != c.what || !c.started() {
		return sleep(ctx, d, kick)
	}
	c.mu.Lock()
	if c.released {
		c.mu.Unlock()
		if c.instantAfter {
			return ctx.Err() == nil
		}
		return sleep(ctx, d, kick)
	}
	if c.now >= c.horizon {
		c.parked = true
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-c.release:
			return true
		}
	}
	c.now += d
	c.mu.Unlock()
	return ctx.Err() == nil
}

func (c *virtualClock) isParked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.parked
}

func (c *virtualClock) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = true
	close(c.release)
}

// TestRefusedReportsBackOff: while the server cannot store a job's finish
// or its log (its disk is full: 507), the worker retries with the
// exponential back-off of every other retry, not in a loop, and logs the
// episode once when it starts and once when it ends; once the server
// recovers, the job is reported and its log is the journal, byte for byte.
// Ten minutes of failures are simulated with a virtual clock.
func TestRefusedReportsBackOff(t *testing.T) {
	const horizon = 10 * time.Minute
	tests := []struct {
		name     string
		fail     func(fs *fakeServer, status int)
		attempts func(fs *fakeServer) int
	}{
		{"finish", func(fs *fakeServer, status int) { fs.finishFail = status }, func(fs *fakeServer) int { return fs.job(1).finishes }},
		{"log upload", func(fs *fakeServer, status int) { fs.logFail = status }, func(fs *fakeServer) int { return fs.job(1).uploads }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := newFakeServer(t)
			fs.mu.Lock()
			tt.fail(fs, http.StatusInsufficientStorage)
			fs.mu.Unlock()
			cfg := testConfig(fs.URL, t.TempDir())
			cfg.BackoffMin, cfg.BackoffMax = DefaultBackoffMin, DefaultBackoffMax
			clock := newVirtualClock("job", horizon, func() bool { return tt.attempts(fs) > 0 })
			r := startWorker(t, cfg, func(w *Worker) { w.sleepHook = clock.sleep })
			fs.assign(1, "dev1", "log 20\nresult pass")
			eventually(t, "ten virtual minutes of failures", clock.isParked)

			// Full jitter: the n-th delay is uniform in (0, min(30 s,
			// 250 ms·2ⁿ)], about 15 s on average once at the cap, so ten
			// minutes hold about 45 attempts. Without back-off (a delay of
			// at most 250 ms) they would hold thousands.
			n := tt.attempts(fs)
			t.Logf("%d attempts in %s of failures", n, horizon)
			if n < 5 || n > 150 {
				t.Errorf("%d attempts in %s of failures, want about 45 (back-off from %s to %s)", n, horizon, cfg.BackoffMin, cfg.BackoffMax)
			}
			logs := r.logs.String()
			if c := strings.Count(logs, "job report failed;"); c != 1 {
				t.Errorf("the failing episode was logged %d times at warning level, want once", c)
			}
			if strings.Contains(logs, "job reports resumed") {
				t.Errorf("recovery logged while every report failed")
			}

			fs.mu.Lock()
			tt.fail(fs, 0)
			fs.mu.Unlock()
			clock.resume()
			waitFinished(t, fs, 1)
			checkLog(t, fs, cfg.DataDir, 1)
			eventually(t, "the end of the episode logged", func() bool { return strings.Contains(r.logs.String(), "job reports resumed") })
			if c := strings.Count(r.logs.String(), "job reports resumed"); c != 1 {
				t.Errorf("recovery logged %d times, want once", c)
			}
		})
	}
}

// TestHelloLostJobWarning: the warning that the server places a job on
// this worker that it does not have is for jobs truly lost (the server
// holds them Running here), not for the Scheduled jobs whose assignments
// follow the hello — which every connection to a busy lab has — nor for
// jobs the worker has or has queued for a busy device.
func TestHelloLostJobWarning(t *testing.T) {
	const warning = "that it does not have (data directory lost?)"
	t.Run("intact data directory", func(t *testing.T) {
		fs := newFakeServer(t)
		// assigned while the worker is away: the hello lists it, its
		// assignment follows
		fs.assign(1, "dev1", "log 2\nwait go\nresult pass")
		cfg := testConfig(fs.URL, t.TempDir())
		r := startWorker(t, cfg)
		eventually(t, "job 1 uploading", func() bool { return len(journalLines(t, fs.job(1).log)) == 2 })
		eventually(t, "first hello checked", func() bool { return r.w.helloChecked.Load() >= 1 })
		fs.assign(2, "dev1", "log 1\nresult pass") // dev1 is busy: queued on the worker
		eventually(t, "job 2 queued", func() bool { return strings.Contains(r.logs.String(), "device still busy: assignment queued") })
		fs.dropStreams() // the hello lists job 1 (Running here) and job 2 (Scheduled, queued here)
		eventually(t, "second hello checked", func() bool { return r.w.helloChecked.Load() >= 2 })
		if strings.Contains(r.logs.String(), warning) {
			t.Errorf("false alarm about a lost job:\n%s", r.logs.String())
		}
		os.WriteFile(filepath.Join(cfg.DataDir, "jobs", "1", "go"), nil, 0o600)
		waitFinished(t, fs, 2)
		checkLog(t, fs, cfg.DataDir, 1)
	})
	t.Run("job lost", func(t *testing.T) {
		fs := newFakeServer(t)
		fs.assign(1, "dev1", "log 1\nresult pass")
		fs.mu.Lock()
		fs.jobs[1].state = "Running" // started here by a worker whose data directory is gone
		fs.mu.Unlock()
		r := startWorker(t, testConfig(fs.URL, t.TempDir()))
		eventually(t, "hello checked", func() bool { return r.w.helloChecked.Load() >= 1 })
		if c := strings.Count(r.logs.String(), warning); c != 1 {
			t.Errorf("lost job reported %d times, want once:\n%s", c, r.logs.String())
		}
	})
}

// TestStreamRefusedLoggedOnce: while the server refuses the stream (503:
// its database is down) the worker reconnects with back-off and logs it
// once, not at every attempt; once connected again, the next time the
// stream ends is a new episode, logged again.
func TestStreamRefusedLoggedOnce(t *testing.T) {
	const ended = "stream to the server ended"
	fs := newFakeServer(t)
	fs.connectFail = http.StatusServiceUnavailable
	cfg := testConfig(fs.URL, t.TempDir())
	cfg.BackoffMin, cfg.BackoffMax = DefaultBackoffMin, DefaultBackoffMax
	clock := newVirtualClock("stream", 10*time.Minute, func() bool { return true })
	clock.instantAfter = true // the back-off is long by then: do not wait for it
	r := startWorker(t, cfg, func(w *Worker) { w.sleepHook = clock.sleep })
	eventually(t, "ten virtual minutes of refusals", clock.isParked)
	if n := fs.connectCount(); n < 5 || n > 150 {
		t.Errorf("%d stream attempts in ten minutes, want about 45 (back-off)", n)
	}
	if c := strings.Count(r.logs.String(), ended); c != 1 {
		t.Errorf("the refused stream was logged %d times, want once", c)
	}

	fs.mu.Lock()
	fs.connectFail = 0
	fs.mu.Unlock()
	clock.resume()
	eventually(t, "connected", func() bool { return r.w.connected.Load() == 1 })
	fs.dropStreams()
	eventually(t, "reconnected", func() bool { return r.w.connected.Load() == 2 })
	if c := strings.Count(r.logs.String(), ended); c != 2 {
		t.Errorf("the stream ending after the recovery was logged %d times in all, want twice (a new episode)", c)
	}
}
