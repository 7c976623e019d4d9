package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/cli"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestClientQueueReasons: `jobs show` and `jobs queue` say why a queued job
// waits; `jobs wait` prints the reason when it starts waiting and again
// each time it changes, and only then; `devices list` calls a device on a
// worker that never connected offline, and idle once the worker is Online.
func TestClientQueueReasons(t *testing.T) {
	l := newClientLab(t)
	l.setup() // d1 (tag fast) on worker w1, which never sent a heartbeat
	ctx := context.Background()
	admin, err := l.app.Store().GetUser(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	ap, err := auth.UserPrincipal(admin)
	if err != nil {
		t.Fatal(err)
	}
	id := l.submit()
	offline := "0 of 1 qemu device usable: d1 is on worker w1, Offline (never connected)"

	out := l.ok("jobs", "show", "1")
	for _, re := range []string{
		`(?m)^State:\s+Submitted$`,
		`(?m)^Waiting:\s+` + regexp.QuoteMeta(offline) + `$`,
		`(?m)^DEVICE\s+WORKER\s+REASON\s+DETAIL\n^d1\s+w1\s+worker_offline\s+d1 is on worker w1, Offline \(never connected\)$`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("jobs show: no match for %s in\n%s", re, out)
		}
	}
	if j := decode[wire.Job](t, l.ok("jobs", "show", "1", "--json")); j.State != "Submitted" {
		t.Errorf("jobs show --json = %+v", j)
	}
	q := decode[wire.Queue](t, l.ok("jobs", "queue", "1", "--json"))
	if q.Verdict != "waiting" || q.Summary != offline || len(q.Devices) != 1 || q.Devices[0].Code != "worker_offline" {
		t.Errorf("jobs queue --json = %+v", q)
	}
	if out := l.ok("jobs", "queue", "1"); !strings.HasPrefix(out, "Waiting:  "+offline+"\n\nDEVICE") {
		t.Errorf("jobs queue:\n%s", out)
	}

	// jobs wait: each line in order, each reason once.
	pr, pw := io.Pipe()
	var errOut bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- cli.Main([]string{"--config", l.cfg, "jobs", "wait", "1", "--interval", "5ms"}, pw, &errOut)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	expect := func(want string) {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("jobs wait ended before printing %q (%v); stderr:\n%s", want, lines.Err(), errOut.String())
		}
		if got := lines.Text(); got != want {
			t.Fatalf("jobs wait printed %q, want %q", got, want)
		}
	}
	expect("job 1: Submitted")
	expect("job 1: waiting: " + offline)
	if _, err := l.app.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "test"); err != nil {
		t.Fatal(err)
	}
	expect("job 1: waiting: d1 is free: the next scheduling pass assigns the job to it")
	if _, err := l.app.SetDeviceHealth(ctx, ap, "d1", lab.DeviceMaintenance, "fan"); err != nil {
		t.Fatal(err)
	}
	expect("job 1: waiting: 0 of 1 qemu device usable: d1 is in Maintenance")
	if _, err := l.app.CancelJob(ctx, ap, id); err != nil {
		t.Fatal(err)
	}
	expect("job 1: Finished (Canceled)")
	if lines.Scan() {
		t.Errorf("jobs wait printed more: %q", lines.Text())
	}
	if c := <-code; c != cli.ExitJobFailed {
		t.Errorf("jobs wait: exit %d, want %d; stderr:\n%s", c, cli.ExitJobFailed, errOut.String())
	}

	// With the worker Online and the device Good again, d1 is idle.
	if _, err := l.app.SetDeviceHealth(ctx, ap, "d1", lab.DeviceGood, "fixed"); err != nil {
		t.Fatal(err)
	}
	if out := l.ok("devices", "list"); !regexp.MustCompile(`(?m)^d1\s+qemu\s+w1\s+Idle\s+GOOD\s+idle\s+-\s+fast$`).MatchString(out) {
		t.Errorf("devices list with the worker Online:\n%s", out)
	}
	if out := l.ok("devices", "show", "d1"); !regexp.MustCompile(`(?m)^Status:\s+idle$`).MatchString(out) {
		t.Errorf("devices show:\n%s", out)
	}
}
