package events

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// lavacliDT is the datetime lavacli prints first on each event line.
var lavacliDT = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?\+00:00 `)

// TestLavacliEventsListen runs Debian's lavacli, LAVA's own client,
// `lavacli --uri …/RPC2 events listen`: it asks system.version over
// XML-RPC, connects to ws://host/ws/ (anonymously, as it always does) and
// prints each event. Its lines are checked exactly while a public job runs
// (then a personal job of the same user, whose events it must not print,
// though it sees the device change state).
func TestLavacliEventsListen(t *testing.T) {
	bin, err := exec.LookPath("lavacli")
	if err != nil {
		t.Fatalf("lavacli (Debian's package lavacli, LAVA's own client) is not installed: %v", err)
	}
	e := newEnv(t, labtest.Backends()[0], Config{})
	home := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--uri", e.lavacliURI(), "events", "listen")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost", "PYTHONUNBUFFERED=1")
	out, err := cmd.StdoutPipe()
	must(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	defer func() {
		cancel() // kills lavacli, which listens until it is stopped
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("lavacli's standard error:\n%s", stderr.String())
		}
	}()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("lavacli exited")
			}
			return l
		case <-time.After(waitFor):
			t.Fatal("lavacli printed nothing more")
		}
		return ""
	}

	// (aiohttp connects to the http:// URL lavacli derives from --uri.)
	if l, want := next(), "Connecting to "+e.srv.URL+Path; l != want {
		t.Fatalf("lavacli printed %q, want %q", l, want)
	}
	// It prints that line just before it connects: wait until it has.
	deadline := time.Now().Add(waitFor)
	for e.ev.Listeners() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("lavacli did not connect to the event stream")
		}
		time.Sleep(10 * time.Millisecond)
	}

	e.heartbeat()
	pub := e.Submit(alice, labtest.Job("public job", "qemu", ""))
	e.runJob(pub)
	priv := e.Submit(alice, labtest.Job("secret job", "qemu", "visibility: personal"))
	e.runJob(priv)
	marker := e.Submit(bob, labtest.Job("marker", "qemu", ""))

	var got []string
	stop := fmt.Sprintf("org.lavasoftware.testjob bob - [%d] <??> state=Submitted health=Unknown (marker)", marker)
	for {
		l := next()
		if !lavacliDT.MatchString(l) {
			t.Errorf("line %q does not start with a datetime", l)
		}
		l = lavacliDT.ReplaceAllString(l, "")
		got = append(got, l)
		if l == stop {
			break
		}
	}
	want := []string{
		"org.lavasoftware.worker lavaserver - [w1] state=Online health=Active",
		fmt.Sprintf("org.lavasoftware.testjob alice - [%d] <??> state=Submitted health=Unknown (public job)", pub),
		fmt.Sprintf("org.lavasoftware.testjob alice - [%d] <qemu-01> state=Scheduled health=Unknown (public job)", pub),
		fmt.Sprintf("org.lavasoftware.device lavaserver - [qemu-01] <qemu> state=Reserved health=Good for %d", pub),
		fmt.Sprintf("org.lavasoftware.testjob alice - [%d] <qemu-01> state=Running health=Unknown (public job)", pub),
		fmt.Sprintf("org.lavasoftware.device lavaserver - [qemu-01] <qemu> state=Running health=Good for %d", pub),
		fmt.Sprintf(`org.lavasoftware.event lavaserver - [%d] message=ready "now"`, pub),
		fmt.Sprintf("org.lavasoftware.testjob alice - [%d] <qemu-01> state=Finished health=Complete (public job)", pub),
		"org.lavasoftware.device lavaserver - [qemu-01] <qemu> state=Idle health=Good",
		// alice's personal job: only its device, without its id
		"org.lavasoftware.device lavaserver - [qemu-01] <qemu> state=Reserved health=Good",
		"org.lavasoftware.device lavaserver - [qemu-01] <qemu> state=Running health=Good",
		"org.lavasoftware.device lavaserver - [qemu-01] <qemu> state=Idle health=Good",
		stop,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lavacli events listen (-want +got):\n%s", diff)
	}
}
