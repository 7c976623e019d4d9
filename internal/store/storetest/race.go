package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Assignment races: the invariant that no job is assigned twice and no
// device holds two jobs, under concurrency.

const (
	raceWidth  = 8 // contenders per race
	raceRounds = 5 // races per test
)

func testRaceOneJobManyDevices(f *fx) { RaceOneJobManyDevices(f.t, f.s) }
func testRaceManyJobsOneDevice(f *fx) { RaceManyJobsOneDevice(f.t, f.s) }

// race runs fn(0…n-1) in n goroutines released together and returns their
// errors by index.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// winner checks that exactly one contender succeeded and every other one
// failed with ErrConflict, and returns the winner's index (-1 if none).
func winner(t *testing.T, what string, errs []error) int {
	t.Helper()
	win := -1
	for i, err := range errs {
		switch {
		case err == nil && win >= 0:
			t.Errorf("%s: contenders %d and %d both won", what, win, i)
		case err == nil:
			win = i
		case !errors.Is(err, lab.ErrConflict):
			t.Errorf("%s: contender %d failed with %v, want ErrConflict", what, i, err)
		}
	}
	if win < 0 {
		t.Errorf("%s: nobody won", what)
	}
	return win
}

// raceSetup creates a device type and n devices on stores[0], and returns
// their hostnames.
func raceSetup(t *testing.T, ctx context.Context, s store.Store, n int) []string {
	t.Helper()
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "race"}); err != nil {
		t.Fatalf("create device type: %v", err)
	}
	hosts := make([]string, n)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("race-%02d", i)
		if err := s.CreateDevice(ctx, lab.Device{Hostname: hosts[i], DeviceType: "race"}); err != nil {
			t.Fatalf("create device: %v", err)
		}
	}
	return hosts
}

func newJob(t *testing.T, ctx context.Context, s store.Store) int64 {
	t.Helper()
	id, err := s.CreateJob(ctx, lab.Job{Submitter: "alice", SubmitTime: base, RequestedType: "race", Priority: 50})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	return id
}

func assignOn(ctx context.Context, s store.Store, job int64, device string) error {
	_, err := s.TransitionJob(ctx, store.JobTransition{ID: job, From: from(lab.JobSubmitted), To: lab.JobScheduled, Device: device})
	return err
}

func finishOn(t *testing.T, ctx context.Context, s store.Store, job int64) {
	t.Helper()
	if _, err := s.TransitionJob(ctx, store.JobTransition{ID: job, From: from(lab.JobScheduled), To: lab.JobFinished,
		Health: lab.JobHealthComplete}); err != nil {
		t.Fatalf("finish job %d: %v", job, err)
	}
}

// checkHolders checks every device against want (hostname → job, absent =
// idle) in the database as seen by s.
func checkHolders(t *testing.T, ctx context.Context, s store.Store, hosts []string, want map[string]int64) {
	t.Helper()
	for _, h := range hosts {
		d, err := s.GetDevice(ctx, h)
		if err != nil {
			t.Fatalf("get device %s: %v", h, err)
		}
		job := want[h]
		wantState := lab.DeviceIdle
		if job != 0 {
			wantState = lab.DeviceReserved
		}
		if d.CurrentJob != job || d.State != wantState {
			t.Errorf("device %s is %s with job %d, want %s with job %d", h, d.State, d.CurrentJob, wantState, job)
		}
	}
}

// RaceOneJobManyDevices makes contenders try to assign one Submitted job to
// different devices at once, several times, and checks that exactly one
// wins each time and the losers changed nothing. The stores (one, or
// several opened on the same empty database to stand for several servers)
// are used in turn by the contenders.
func RaceOneJobManyDevices(t *testing.T, stores ...store.Store) {
	ctx := t.Context()
	s0 := stores[0]
	hosts := raceSetup(t, ctx, s0, raceWidth)
	for round := range raceRounds {
		job := newJob(t, ctx, s0)
		errs := race(raceWidth, func(i int) error {
			return assignOn(ctx, stores[i%len(stores)], job, hosts[i])
		})
		win := winner(t, fmt.Sprintf("round %d", round), errs)
		if win < 0 {
			return
		}
		j, err := s0.GetJob(ctx, job)
		if err != nil {
			t.Fatalf("get job: %v", err)
		}
		if j.State != lab.JobScheduled || j.ActualDevice != hosts[win] {
			t.Errorf("round %d: job is %s on %q, want Scheduled on %s", round, j.State, j.ActualDevice, hosts[win])
		}
		checkHolders(t, ctx, stores[len(stores)-1], hosts, map[string]int64{hosts[win]: job})
		finishOn(t, ctx, s0, job)
	}
}

// RaceManyJobsOneDevice makes contenders try to assign different Submitted
// jobs to one device at once, several times, and checks that exactly one
// wins each time and the other jobs stay queued. Stores are used as in
// RaceOneJobManyDevices.
func RaceManyJobsOneDevice(t *testing.T, stores ...store.Store) {
	ctx := t.Context()
	s0 := stores[0]
	hosts := raceSetup(t, ctx, s0, 1)
	for round := range raceRounds {
		jobs := make([]int64, raceWidth)
		for i := range jobs {
			jobs[i] = newJob(t, ctx, s0)
		}
		errs := race(raceWidth, func(i int) error {
			return assignOn(ctx, stores[i%len(stores)], jobs[i], hosts[0])
		})
		win := winner(t, fmt.Sprintf("round %d", round), errs)
		if win < 0 {
			return
		}
		checkHolders(t, ctx, stores[len(stores)-1], hosts, map[string]int64{hosts[0]: jobs[win]})
		for i, id := range jobs {
			j, err := s0.GetJob(ctx, id)
			if err != nil {
				t.Fatalf("get job: %v", err)
			}
			if i != win && (j.State != lab.JobSubmitted || j.ActualDevice != "") {
				t.Errorf("round %d: losing job %d is %s on %q", round, id, j.State, j.ActualDevice)
			}
		}
		finishOn(t, ctx, s0, jobs[win])
		// Clear the losers out of the queue for the next round.
		for i, id := range jobs {
			if i == win {
				continue
			}
			if _, err := s0.TransitionJob(ctx, store.JobTransition{ID: id, From: from(lab.JobSubmitted), To: lab.JobFinished,
				Health: lab.JobHealthCanceled}); err != nil {
				t.Fatalf("cancel job %d: %v", id, err)
			}
		}
	}
}
