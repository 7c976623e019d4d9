package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/cli"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
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

// TestClientMultinode: `jobs submit` of a multinode job prints every job
// it made; `jobs show` of a sub-job places it in its group and, while it
// is queued, says what each role waits for, as `jobs queue` does; `jobs
// list` marks sub-jobs and --group lists one group.
func TestClientMultinode(t *testing.T) {
	l := newClientLab(t)
	l.setup() // d1 (tag fast) on worker w1, which never sent a heartbeat
	l.ok("devices", "add", "d2", "--type", "qemu", "--worker", "w1", "--health", "Good")
	def := labtest.MultinodeJob("pair",
		labtest.Role{Name: "server", DeviceType: "qemu", Count: 1, Extra: "essential: true"},
		labtest.Role{Name: "client", DeviceType: "qemu", Count: 1})
	out := l.ok("jobs", "submit", l.file("pair.yaml", def))
	if out != "1\n2\n" {
		t.Fatalf("jobs submit of a group of 2 printed %q, want both ids", out)
	}
	j, err := l.app.Store().GetJob(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	group := j.Multinode.TargetGroup

	waits := "role client has no free qemu device; role server has no free qemu device"
	roles := []string{
		`(?m)^ROLE\s+JOBS\s+PLACEABLE\s+DETAIL\n` +
			`^client\s+2\s+0 of 1\s+role client has no free qemu device\n` +
			`^server\s+1\s+0 of 1\s+role server has no free qemu device$`,
		`(?m)^Group queued:\s+2 of 2 jobs: 1, 2$`,
	}
	out = l.ok("jobs", "show", "2")
	for _, re := range append([]string{
		`(?m)^Multinode group:\s+` + group + `$`,
		`(?m)^Role:\s+client$`,
		`(?m)^Sub-job:\s+1\.1 of 2$`,
		`(?m)^Waiting:\s+the job \(role client\) is part of group ` + group + `, which cannot be placed whole: ` + waits,
	}, roles...) {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("jobs show of a sub-job: no match for %s in\n%s", re, out)
		}
	}
	if out := l.ok("jobs", "show", "1"); !regexp.MustCompile(`(?m)^Role:\s+server \(essential\)$`).MatchString(out) {
		t.Errorf("jobs show of the essential role:\n%s", out)
	}
	out = l.ok("jobs", "queue", "2")
	for _, re := range roles {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("jobs queue of a sub-job: no match for %s in\n%s", re, out)
		}
	}
	q := decode[wire.Queue](t, l.ok("jobs", "queue", "2", "--json"))
	if q.Group == nil || q.Group.Name != group || q.Group.Role != "client" || len(q.Group.Roles) != 2 {
		t.Errorf("jobs queue --json of a sub-job: group %+v", q.Group)
	}

	single := l.submit() // job 3, not in a group
	out = l.ok("jobs", "list")
	for _, re := range []string{
		`(?m)^1 \(1\.0 server\)\s+Submitted\s`,
		`(?m)^2 \(1\.1 client\)\s+Submitted\s`,
		fmt.Sprintf(`(?m)^%d\s+Submitted\s`, single),
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("jobs list: no match for %s in\n%s", re, out)
		}
	}
	page := decode[wire.List[wire.Job]](t, l.ok("jobs", "list", "--group", group, "--json"))
	var ids []int64
	for _, j := range page.Results {
		ids = append(ids, j.ID)
		if j.Multinode == nil || j.Multinode.TargetGroup != group {
			t.Errorf("jobs list --group: job %d in %+v", j.ID, j.Multinode)
		}
	}
	if fmt.Sprint(ids) != "[2 1]" {
		t.Errorf("jobs list --group lists %v, want [2 1]", ids)
	}
}
