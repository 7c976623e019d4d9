package main_test

import (
	"context"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/faultnet"
)

// TestLinkFaults runs 100 jobs on 20 simulated devices of one worker whose
// only connection to the server goes through a proxy that cuts, resets,
// stalls, refuses and delays at random. Every job must end Complete with
// its exact results (none lost, none doubled) and a stored log identical to
// the worker's journal, byte for byte.
func TestLinkFaults(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 20, simDictionary("2s", 400))
	proxy := faultnet.Start(t, l.url[len("http://"):])
	wdir := t.TempDir()
	startWorker(t, "http://"+proxy.Addr(), "w1", l.workers["w1"], wdir)

	var ids []int64
	for i := range 100 {
		ids = append(ids, l.submit(t, simJob("fault-"+string(rune('a'+i%26)), "minutes: 5")))
	}
	ctx, stop := context.WithCancel(context.Background())
	chaosDone := make(chan int)
	go func() {
		chaosDone <- proxy.Chaos(ctx, rand.New(rand.NewPCG(1, 2)), 50*time.Millisecond,
			faultnet.CutFault(), faultnet.ResetFault(), faultnet.StallFault(200*time.Millisecond),
			faultnet.RefuseFault(150*time.Millisecond), faultnet.DelayFault(20*time.Millisecond, 200*time.Millisecond))
	}()
	jobs := l.waitFinished(t, ids, 4*time.Minute)
	stop()
	faults := <-chaosDone
	if faults < 20 {
		t.Errorf("only %d faults were injected: the test proves little", faults)
	}
	for _, id := range ids {
		l.checkJob(t, jobs[id], wdir)
	}
	t.Logf("100 jobs through %d injected faults (%+v)", faults, proxy.Stats())
}

// TestKillServer: the server is killed with SIGKILL while a job runs and
// restarted on the same data and port; the job completes with its whole
// log and the device returns to Idle.
func TestKillServer(t *testing.T) {
	addr := freePort(t)
	s := startServer(t, "--listen", addr, "--heartbeat-interval", "500ms", "--sweep-interval", "500ms")
	l := attachLab(t, s)
	l.addDevices(t, "w1", 1, simDictionary("3s", 300))
	wdir := t.TempDir()
	startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("kill-server", "minutes: 2"))
	l.waitState(t, id, "Running", 30*time.Second)
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	time.Sleep(500 * time.Millisecond) // the job goes on writing its journal meanwhile
	s2 := restartServer(t, s, addr)
	l2 := attachLab(t, s2)
	jobs := l2.waitFinished(t, []int64{id}, 2*time.Minute)
	l2.checkJob(t, jobs[id], wdir)
	d, err := l2.api.GetDevice(context.Background(), "w1-00")
	if err != nil || d.State != "Idle" || d.Health != "GOOD" {
		t.Errorf("device after the job: %+v %v", d, err)
	}
}

// TestKillWorker: the worker is killed with SIGKILL mid-job and restarted on
// the same data directory; it reattaches to the still-running job process,
// and the job completes with its whole log.
func TestKillWorker(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 1, simDictionary("3s", 300))
	wdir := t.TempDir()
	w := startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("kill-worker", "minutes: 2"))
	l.waitState(t, id, "Running", 30*time.Second)
	time.Sleep(500 * time.Millisecond)
	w.kill9()
	time.Sleep(time.Second)
	startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	jobs := l.waitFinished(t, []int64{id}, 2*time.Minute)
	l.checkJob(t, jobs[id], wdir)
}

// TestLostWorker: a worker that dies with its job and stays away past the
// job's timeout plus the grace period: the server finishes the job
// Incomplete with an infrastructure error and the device goes Unknown.
func TestLostWorker(t *testing.T) {
	l := newLab(t, "--lost-job-grace", "1s")
	l.addDevices(t, "w1", 1, simDictionary("30s", 100))
	wdir := t.TempDir()
	w := startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("lost", "seconds: 4"))
	l.waitState(t, id, "Running", 30*time.Second)
	w.kill9()
	killJobProcesses(wdir)
	jobs := l.waitFinished(t, []int64{id}, time.Minute)
	j := jobs[id]
	if j.Health != "Incomplete" || j.ErrorType != "Infrastructure" {
		t.Errorf("lost job: %s %s %q", j.Health, j.ErrorType, j.FailureComment)
	}
	d, err := l.api.GetDevice(context.Background(), "w1-00")
	if err != nil || d.Health != "UNKNOWN" || d.State != "Idle" {
		t.Errorf("device after a lost job: %+v %v", d, err)
	}
	wk, err := l.api.GetWorker(context.Background(), "w1")
	if err != nil || wk.State != "Offline" {
		t.Errorf("worker %+v %v", wk, err)
	}
}

// TestCancelRunningJob: cancel during boot stops the job process and
// returns the device to Idle; the job ends Canceled.
func TestCancelRunningJob(t *testing.T) {
	l := newLab(t)
	l.addDevices(t, "w1", 1, simDictionary("60s", 100))
	wdir := t.TempDir()
	startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("cancel", "minutes: 5"))
	l.waitState(t, id, "Running", 30*time.Second)
	if _, err := l.api.CancelJob(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	jobs := l.waitFinished(t, []int64{id}, 30*time.Second)
	if j := jobs[id]; j.Health != "Canceled" {
		t.Errorf("canceled job: %s %s", j.State, j.Health)
	}
	d, err := l.api.GetDevice(context.Background(), "w1-00")
	if err != nil || d.State != "Idle" || d.Health != "GOOD" {
		t.Errorf("device after cancel: %+v %v", d, err)
	}
	if _, err := os.Stat(wdir); err != nil {
		t.Fatal(err)
	}
}

func (l *lab) waitState(t testing.TB, id int64, state string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j, err := l.api.GetJob(context.Background(), id)
		if err == nil && j.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d not %s within %s (%+v, %v)", id, state, within, j, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
