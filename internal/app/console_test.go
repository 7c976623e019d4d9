package app_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// reservation creates a reservation of device d (type qemu) held by the
// fixture's user, schedules it and, with run, starts it on worker w1.
func (f *fixture) reservation(d string, run bool) int64 {
	f.t.Helper()
	id, err := f.app.Store().CreateJob(f.ctx, lab.Job{Description: "reservation of " + d, Submitter: f.user.Username,
		Priority: lab.PriorityMedium, RequestedType: "qemu", RequestedDevice: d, SubmitTime: f.clk.Now(),
		Definition: definition("reservation", "qemu", ""), Reservation: &lab.Reservation{Duration: time.Hour}})
	must(f.t, err)
	if r := f.pass(); len(r.Assigned) != 1 || r.Assigned[0].Job != id {
		f.t.Fatalf("reservation %d not scheduled: %+v", id, r.Assigned)
	}
	if run {
		_, err := f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), id)
		must(f.t, err)
	}
	return id
}

// consoleCall is the outcome of a worker's console call.
type consoleCall struct {
	in  []app.ConsoleDelivery
	err error
}

// held makes the worker's console call of job id after seq in the
// background, held up to hold.
func held(a *app.App, id, seq int64, hold time.Duration) <-chan consoleCall {
	ch := make(chan consoleCall, 1)
	go func() {
		in, err := a.WorkerConsoleInput(context.Background(), auth.WorkerPrincipal("w1"), id, seq, hold)
		ch <- consoleCall{in, err}
	}()
	return ch
}

// answered waits for a held call's answer; a call the awaited change
// did not wake answers empty at its hold, which the callers reject.
func answered(t *testing.T, ch <-chan consoleCall, what string) consoleCall {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(app.MaxConsoleHold + replicaFailAfter):
		t.Fatalf("%s: the console call never answered", what)
		return consoleCall{}
	}
}

// TestConsoleInput: only the holder types, only while the reservation
// runs; the worker gets the inputs in order after what it applied, its
// held call wakes at new input, old input is handed over expired, and
// the session's end answers the worker not found and forgets the input.
func TestConsoleInput(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.online("w1")
		bob, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob"})
		must(t, err)
		wp := auth.WorkerPrincipal("w1")

		plain := f.submit(definition("plain", "qemu", ""))
		f.pass()
		_, err = f.app.StartJob(f.ctx, wp, plain)
		must(t, err)
		if _, err := f.app.ConsoleInput(f.ctx, f.user, plain, []byte("x"), ""); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("input to a job that is no reservation: %v", err)
		}
		_, err = f.app.FinishJob(f.ctx, wp, plain, app.JobOutcome{})
		must(t, err)

		id := f.reservation("d1", false)
		if _, err := f.app.ConsoleInput(f.ctx, f.user, id, []byte("x"), ""); !errors.Is(err, lab.ErrConflict) {
			t.Errorf("input before the reservation runs: %v", err)
		}
		_, err = f.app.StartJob(f.ctx, wp, id)
		must(t, err)
		for _, c := range []struct {
			who  auth.Principal
			want error
		}{
			{principalOf(t, bob), lab.ErrForbidden},
			{f.admin, lab.ErrForbidden}, // admins end reservations; they do not type into others'
			{auth.Anonymous(), lab.ErrUnauthenticated},
			{wp, lab.ErrNotFound}, // a worker may not even see it as a user's
		} {
			if _, err := f.app.ConsoleInput(f.ctx, c.who, id, []byte("x"), ""); !errors.Is(err, c.want) {
				t.Errorf("input by %+v: %v, want %v", c.who, err, c.want)
			}
		}
		if _, err := f.app.ConsoleInput(f.ctx, f.user, id, nil, "explode"); !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("unknown power action: %v", err)
		}

		in, err := f.app.ConsoleInput(f.ctx, f.user, id, []byte("version\r"), "")
		must(t, err)
		if in.Seq != 1 {
			t.Errorf("first input numbered %d", in.Seq)
		}
		in, err = f.app.ConsoleInput(f.ctx, f.user, id, nil, lab.PowerReset)
		must(t, err)
		if in.Seq != 2 {
			t.Errorf("second input numbered %d", in.Seq)
		}
		got, err := f.app.WorkerConsoleInput(f.ctx, wp, id, 0, 0)
		must(t, err)
		if len(got) != 2 || string(got[0].Data) != "version\r" || got[1].Power != lab.PowerReset || got[0].Expired || got[0].User != "alice" {
			t.Errorf("inputs after 0: %+v", got)
		}
		if _, err := f.app.WorkerConsoleInput(f.ctx, auth.WorkerPrincipal("w2"), id, 0, 0); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("another worker's call: %v", err)
		}
		got, err = f.app.WorkerConsoleInput(f.ctx, wp, id, 2, 0)
		must(t, err)
		if len(got) != 0 {
			t.Errorf("inputs after the last, not held: %+v", got)
		}

		// A held call wakes at the next input.
		call := held(f.app, id, 2, app.MaxConsoleHold)
		_, err = f.app.ConsoleInput(f.ctx, f.user, id, []byte("ls\r"), "")
		must(t, err)
		c := answered(t, call, "held call, then input")
		if c.err != nil || len(c.in) != 1 || c.in[0].Seq != 3 {
			t.Errorf("held call: %+v %v", c.in, c.err)
		}

		// Input the worker fetches late is handed over expired.
		_, err = f.app.ConsoleInput(f.ctx, f.user, id, []byte("reboot\r"), "")
		must(t, err)
		f.clk.Add(app.ConsoleInputMaxAge + time.Second)
		got, err = f.app.WorkerConsoleInput(f.ctx, wp, id, 3, 0)
		must(t, err)
		if len(got) != 1 || !got[0].Expired {
			t.Errorf("late input: %+v", got)
		}

		// The end of the session ends a held call and the input.
		call = held(f.app, id, 4, app.MaxConsoleHold)
		time.Sleep(10 * time.Millisecond) // most often the call is held by now; either way it must end not found
		_, err = f.app.FinishJob(f.ctx, wp, id, app.JobOutcome{})
		must(t, err)
		if c := answered(t, call, "held call, then the end"); !errors.Is(c.err, lab.ErrNotFound) {
			t.Errorf("held call at the session's end: %+v %v", c.in, c.err)
		}
		if rest, err := f.app.Store().ConsoleInputAfter(f.ctx, id, 0, 10); err != nil || len(rest) != 0 {
			t.Errorf("input kept after the session: %d %v", len(rest), err)
		}
		if _, err := f.app.ConsoleInput(f.ctx, f.user, id, []byte("x"), ""); !errors.Is(err, lab.ErrConflict) {
			t.Errorf("input after the end: %v", err)
		}
	})
}

// TestReplicaConsole: input typed through one replica wakes the worker's
// console call held on the other.
func TestReplicaConsole(t *testing.T) {
	f, b, _, _ := replicaPair(t, app.Config{})
	runUntilEnd(t, f.app.RunReplicaEvents)
	runUntilEnd(t, b.RunReplicaEvents)
	f.lab("qemu", "w1", "d1")
	f.online("w1")
	id := f.reservation("d1", true)
	for seq := int64(0); seq < 3; seq++ {
		call := held(f.app, id, seq, app.MaxConsoleHold)
		if _, err := b.ConsoleInput(f.ctx, f.user, id, []byte{'a' + byte(seq)}, ""); err != nil {
			t.Fatal(err)
		}
		c := answered(t, call, "held on A, typed on B")
		if c.err != nil || len(c.in) != 1 || c.in[0].Seq != seq+1 {
			t.Fatalf("held call on A after input %d on B: %+v %v (a call B's input did not wake answers empty at its hold)", seq+1, c.in, c.err)
		}
	}
}
