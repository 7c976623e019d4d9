package cli_test

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/cli"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// runningReservation makes a running reservation of d1 held by holder.
func (l *clientLab) runningReservation(holder string) int64 {
	l.t.Helper()
	ctx := context.Background()
	st := l.app.Store()
	id, err := st.CreateJob(ctx, lab.Job{Description: "reservation of d1", Submitter: holder, Priority: lab.PriorityMedium,
		RequestedType: "qemu", RequestedDevice: "d1", SubmitTime: time.Now(), Definition: smokeJob,
		Reservation: &lab.Reservation{Duration: time.Hour}})
	if err == nil {
		_, err = st.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobScheduled, Device: "d1"})
	}
	if err == nil {
		_, err = st.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobScheduled}, To: lab.JobRunning, At: time.Now()})
	}
	if err != nil {
		l.t.Fatal(err)
	}
	return id
}

// inputs returns what the worker would be handed of reservation id.
func (l *clientLab) inputs(id int64) []app.ConsoleDelivery {
	l.t.Helper()
	in, err := l.app.WorkerConsoleInput(context.Background(), auth.WorkerPrincipal("w1"), id, 0, 0)
	if err != nil {
		l.t.Fatal(err)
	}
	return in
}

// TestClientConsole: `basalt console` types for its holder (--send with
// escapes, --power, keys with the Ctrl-] commands), by device or by
// reservation id, refuses others, and ends with the reservation.
func TestClientConsole(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	id := l.runningReservation("admin")

	l.ok("console", "d1", "--send", `ls -l\r`)
	l.ok("console", fmt.Sprint(id), "--power", "reset")
	in := l.inputs(id)
	if len(in) != 2 || string(in[0].Data) != "ls -l\r" || in[1].Power != lab.PowerReset {
		t.Fatalf("inputs after --send and --power: %+v", in)
	}
	l.expect(cli.ExitUsage, "console", "d1", "--power", "explode")
	l.expect(cli.ExitNotFound, "console", "nosuchdevice", "--send", "x")

	// Keys: text, a power action, a literal Ctrl-], and quit.
	pr, pw := io.Pipe()
	var stdout, stderr syncbuf.Buffer
	root := cli.NewRoot(&stdout, &stderr)
	root.SetIn(pr)
	root.SetArgs([]string{"--config", l.cfg, "console", "d1", "--history", "0"})
	done := make(chan error, 1)
	go func() { done <- root.Execute() }()
	io.WriteString(pw, "pwd\r")
	io.WriteString(pw, "\x1d1")
	io.WriteString(pw, "a\x1d\x1db")
	waitUntil(t, "the keys reach the server", func() bool { return len(l.inputs(id)) >= 5 })
	in = l.inputs(id)
	if string(in[2].Data) != "pwd\r" || in[3].Power != lab.PowerOn || string(in[4].Data) != "a\x1db" {
		t.Errorf("inputs from the keys: %+v", in[2:])
	}
	io.WriteString(pw, "\x1dq")
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("console: %v\n%s", err, stderr.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("Ctrl-] q did not end the console")
	}
	if !strings.Contains(stdout.String(), "[basalt] console of d1, reservation") {
		t.Errorf("console output:\n%s", stdout.String())
	}

	// Another user watches read-only and may not type.
	l.ok("users", "add", "bob")
	tok := decode[wire.Token](t, l.ok("tokens", "add", "--owner", "bob", "--json")).Secret
	if _, errOut := l.expect(cli.ExitAuth, "--token", tok, "console", "d1", "--send", "x"); !strings.Contains(errOut, "held by admin") {
		t.Errorf("bob typing: %s", errOut)
	}

	// The end of the reservation ends the console.
	if _, err := l.app.Store().TransitionJob(context.Background(), store.JobTransition{ID: id, From: []lab.JobState{lab.JobRunning},
		To: lab.JobFinished, Health: lab.JobHealthComplete}); err != nil {
		t.Fatal(err)
	}
	out := l.ok("console", fmt.Sprint(id))
	if !strings.Contains(out, "the reservation of d1 ended (Complete)") {
		t.Errorf("console of an ended reservation:\n%s", out)
	}
}

// waitUntil polls cond until it holds, failing t after a minute.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
