package dispatcher

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// TestBridgeWithOverlayScripts runs the overlay's multinode helpers under
// busybox ash on a "console" that is the shell's standard input and
// output, read by a Conn with a test run's bridge: the real scripts
// against the real bridge, with an in-memory coordinator whose other
// member (the server) is played by the test.
func TestBridgeWithOverlayScripts(t *testing.T) {
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox-static is needed (make test installs it): %v", err)
	}
	root := t.TempDir()
	tree, err := overlay.Build(overlay.Options{JobID: 13, Root: root, ShCmd: bb + " sh",
		Multinode: &overlay.MultinodeGroup{Role: "client", Self: "13", Members: []overlay.GroupMember{{ID: "12", Role: "server"}, {ID: "13", Role: "client"}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.WriteDir(root); err != nil {
		t.Fatal(err)
	}

	g := newFakeGroup(2)
	server, client := g.client("12", "server"), g.client("13", "client")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []Coordinator{client, server} {
		if _, err := c.Call(ctx, workerproto.MultinodeRequest{Request: "group_data"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := server.Call(ctx, workerproto.MultinodeRequest{Request: "lava_send", MessageID: "ipaddr", Message: map[string]any{"ip": "10.0.0.1", "motd": "hello world"}}); err != nil {
		t.Fatal(err)
	}
	serverSync := make(chan workerproto.MultinodeResponse, 1)
	go func() {
		resp, _ := server.Call(ctx, workerproto.MultinodeRequest{Request: "lava_sync", MessageID: "done", Hold: 30 * time.Second})
		serverSync <- resp
	}()

	cache := filepath.Join(t.TempDir(), "cache.txt")
	script := strings.Join([]string{
		`echo "<LAVA_SIGNAL_STARTRUN 0_mn 13_1.1>"`,
		"$B/lava-wait ipaddr",
		`cat "$LAVA_MULTI_NODE_CACHE"`,
		`$B/lava-send reply got="$(lava_ip=$(cut -d= -f2 "$LAVA_MULTI_NODE_CACHE" | head -n1); echo "$lava_ip")"`,
		"$B/lava-sync done",
		`echo "<LAVA_SIGNAL_ENDRUN 0_mn 13_1.1>"`,
	}, "\n")
	cmd := exec.CommandContext(ctx, bb, "sh", "-c", script)
	cmd.Env = []string{"B=" + root + "/bin", "LAVA_MULTI_NODE_CACHE=" + cache, "PATH=" + filepath.Dir(bb) + ":/usr/bin:/bin"}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	jpath := filepath.Join(t.TempDir(), JournalFile)
	log, err := journal.Create(jpath)
	if err != nil {
		t.Fatal(err)
	}
	env := &Env{JobID: 13, Log: log, Session: &Session{}, node: &node{level: "1"},
		Conn: NewConn(struct {
			io.Reader
			io.Writer
		}{stdout, stdin}, log),
		mn: &multinode{coord: client, group: "g", role: "client", timeout: 30 * time.Second, system: MultinodeSystemTimeout}}
	// The hook reads the console from its first line: set it before the
	// script can print one.
	run := newTestRun(env, "")
	rctx, end := run.startBridge(ctx)
	env.Conn.SetLineHook(run.line)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	_, err = env.Conn.Expect(rctx, "ENDRUN", regexp.MustCompile(`<LAVA_SIGNAL_ENDRUN [^>]*>`))
	if err := end(err); err != nil {
		t.Fatal(err)
	}
	env.Conn.SetLineHook(nil)
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("the script: %v", err)
	}
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := journal.ReadFile(jpath)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]workerproto.ResultMsg{
		{Definition: "0_mn", Case: "multinode-wait-ipaddr", Result: "pass"},
		{Definition: "0_mn", Case: "multinode-send-reply", Result: "pass"},
		{Definition: "0_mn", Case: "multinode-sync-done", Result: "pass"},
	}, results(t, recs, "0_mn")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	msgs := messages(recs)
	for _, want := range []string{
		"target <LAVA_MULTI_NODE> <LAVA_WAIT ipaddr>",
		"input <LAVA_WAIT_COMPLETE 12:ip=10.0.0.1 12:motd=hello world>",
		"target 12:ip=10.0.0.1",
		"target 12:motd=hello world",
		"target <LAVA_MULTI_NODE> <LAVA_SEND reply got=10.0.0.1>",
		"input <LAVA_SYNC_COMPLETE>",
	} {
		if !slices.Contains(msgs, want) {
			t.Errorf("journal lacks %q:\n%s", want, strings.Join(msgs, "\n"))
		}
	}
	if resp := <-serverSync; resp.Response != "ack" {
		t.Errorf("the server's sync: %+v", resp)
	}
	if !slices.Contains(g.calls("12"), "lava_sync done → ack") {
		t.Errorf("calls %q", g.calls(""))
	}
	// The client's reply reached the group.
	resp, err := server.Call(ctx, workerproto.MultinodeRequest{Request: "lava_wait", MessageID: "reply"})
	if err != nil || string(resp.Message) != `{"13":{"got":"10.0.0.1"}}` {
		t.Errorf("the server's wait: %+v, %v", resp, err)
	}
	if _, err := os.Stat(cache); !os.IsNotExist(err) {
		t.Errorf("lava-sync left the cache: %v", err)
	}
}

// TestBridgeKeepsTheShellsError: when the console ends while a call is
// pending, the test shell fails with the console's error, not with the
// abandoned call's.
func TestBridgeKeepsTheShellsError(t *testing.T) {
	jpath := filepath.Join(t.TempDir(), JournalFile)
	log, err := journal.Create(jpath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	out, dev := io.Pipe()
	g := newFakeGroup(1)
	env := &Env{JobID: 1, Log: log, Session: &Session{}, node: &node{level: "1"},
		Conn: NewConn(struct {
			io.Reader
			io.Writer
		}{out, io.Discard}, log),
		mn: &multinode{coord: g.client("1", "solo"), group: "g", role: "solo", timeout: time.Minute, system: MultinodeSystemTimeout}}
	run := newTestRun(env, "")
	ctx, end := run.startBridge(context.Background())
	env.Conn.SetLineHook(run.line)
	io.WriteString(dev, "<LAVA_SIGNAL_STARTRUN 0_x 1_1.1>\n<LAVA_MULTI_NODE> <LAVA_WAIT never>\n")
	for !g.registered("1") { // the wait is pending
		time.Sleep(10 * time.Millisecond)
	}
	dev.Close()
	_, err = env.Conn.Expect(ctx, "ENDRUN", regexp.MustCompile("ENDRUN"))
	err = end(err)
	if ErrorTypeOf(err) != "Infrastructure" || !strings.Contains(err.Error(), "console closed") {
		t.Errorf("err %v (%s), want the console's Infrastructure error", err, ErrorTypeOf(err))
	}
}
