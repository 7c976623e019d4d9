package dispatcher

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// twoUARTBoard is a board with two serial consoles, as shell scripts: the
// primary one (uart0, a connection command on a pseudo-terminal) boots on
// "reboot" and runs a shell with the prompt "/ # "; the secondary one
// (uart1, reached over telnet) has a getty asking for a login when it gets
// an empty line (nothing is seen on connecting, as with ser2net), then a
// shell with the prompt "uart1$ ". Both run what they are typed. On the
// secondary, "kmsg TEXT" makes the primary print TEXT (as the kernel
// prints on its console), and returns once the job's journal has it, so
// that the test knows which action was running when it was logged.
type twoUARTBoard struct {
	dir          string
	primary      string // uart0's connection command
	telnet       string // uart1's address
	wg           sync.WaitGroup
	ln           net.Listener
	mu           sync.Mutex
	shells       int // uart1 sessions served
	shellsClosed int
}

const uart0Script = `kmsg=%[1]q ack=%[2]q journal=%[3]q
( while :; do
    if IFS= read -r l < "$kmsg"; then
      printf '%%s\n' "$l"
      until grep -qF "$l" "$journal"; do sleep 0.01; done
      echo ok > "$ack"
    fi
  done ) &
printf 'fake board up\n/ # '
while IFS= read -r line; do
  case "$line" in
    reboot*) printf 'The system is going down for reboot NOW\nLinux version 6.1.0 (fake)\n/ # ' ;;
    *) eval "$line"; printf '/ # ' ;;
  esac
done
`

const uart1Script = `kmsg=%[1]q ack=%[2]q journal=%[3]q
while IFS= read -r user && [ -z "$user" ]; do printf 'uart1 login: '; done
printf 'Welcome, %%s\nuart1$ ' "$user"
while IFS= read -r line; do
  case "$line" in
    kmsg\ *) printf '%%s\n' "${line#kmsg }" > "$kmsg"; read -r _ < "$ack" ;;
    *) eval "$line" ;;
  esac
  printf 'uart1$ '
done
`

// newTwoUARTBoard serves uart1 over telnet on loopback (each connection
// runs the script with the connection as its standard input and output,
// as ser2net would connect the port). The scripts are written by
// forJob.
func newTwoUARTBoard(t *testing.T) *twoUARTBoard {
	t.Helper()
	b := &twoUARTBoard{dir: t.TempDir()}
	for _, f := range []string{"kmsg", "ack"} {
		if err := syscall.Mkfifo(filepath.Join(b.dir, f), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b.primary = "sh " + filepath.Join(b.dir, "uart0.sh")
	uart1 := filepath.Join(b.dir, "uart1.sh")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b.ln, b.telnet = ln, ln.Addr().String()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.shells++
			b.mu.Unlock()
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				cmd := exec.Command("sh", uart1)
				cmd.Stdin, cmd.Stdout, cmd.Stderr = c, c, c
				_ = cmd.Run() // ends when the dispatcher closes the connection
				b.mu.Lock()
				b.shellsClosed++
				b.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		b.wg.Wait()
	})
	return b
}

// forJob writes the consoles' scripts for the job in directory jobDir.
func (b *twoUARTBoard) forJob(t *testing.T, jobDir string) string {
	t.Helper()
	for name, text := range map[string]string{"uart0.sh": uart0Script, "uart1.sh": uart1Script} {
		script := fmt.Sprintf(text, filepath.Join(b.dir, "kmsg"), filepath.Join(b.dir, "ack"), filepath.Join(jobDir, JournalFile))
		if err := os.WriteFile(filepath.Join(b.dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return jobDir
}

// config is the board's rendered configuration: uart0 primary, uart1 a
// second connection.
func (b *twoUARTBoard) config() string {
	host, port, _ := net.SplitHostPort(b.telnet)
	return fmt.Sprintf(`commands:
  connections:
    uart0:
      connect: %s
      tags: [primary]
    uart1:
      connect: telnet %s %s
      tags: [telnet]
`, b.primary, host, port)
}

// TestNewConnection: a new_connection boot opens the board's second
// console (over telnet) in its own namespace and logs in there; a test in
// the primary's namespace still runs on the primary console with the
// primary's prompt, a test with connection-namespace runs on the second
// console, while what the primary prints meanwhile is logged as feedback
// of its namespace, and the primary is used again after it. Finalize
// closes the second console.
func TestNewConnection(t *testing.T) {
	b := newTwoUARTBoard(t)
	def := `job_name: two uarts
device_type: fake-board
visibility: public
timeouts:
  job: {minutes: 2}
actions:
- boot:
    namespace: board
    method: minimal
    soft_reboot: [reboot]
    prompts: ['/ # ']
- boot:
    namespace: isolation
    method: new_connection
    connection: uart1
    prompts: ['uart1\$ ']
    auto_login:
      login_prompt: 'login: '
      username: root
- test:
    namespace: board
    definitions:
    - name: on-primary
      from: inline
      path: inline/on-primary.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: on-primary}
        run:
          steps:
          - echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=primary-prompt RESULT=pass>"
- test:
    namespace: board
    connection-namespace: isolation
    definitions:
    - name: on-uart1
      from: inline
      path: inline/on-uart1.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: on-uart1}
        run:
          steps:
          - echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=login-user RESULT=$(whoami >/dev/null && echo pass)>"
          - 'kmsg usb 1-1: new high-speed USB device number 2'
          - echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=after-kmsg RESULT=pass>"
- test:
    namespace: board
    definitions:
    - name: primary-again
      from: inline
      path: inline/primary-again.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: primary-again}
        run:
          steps:
          - echo "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=primary-prompt RESULT=pass>"
`
	res, recs := runDir(t, context.Background(), b.forJob(t, boardJobDir(t, def, b.config())))
	log := strings.Join(messages(recs), "\n")
	if res.Result != ResultPass {
		t.Fatalf("job failed: %+v\n%s", res, log)
	}

	var got []string
	for _, r := range results(t, recs, "") {
		if r.Definition != "lava" || strings.Contains(r.Case, "shell") || r.Case == "auto-login-action" {
			got = append(got, r.Definition+"/"+r.Case+" "+r.Result)
		}
	}
	want := []string{
		"lava/connect-shell pass", "lava/auto-login-action pass", "lava/secondary-shell-action pass",
		"0_on-primary/primary-prompt pass", "lava/lava-test-shell pass",
		"1_on-uart1/login-user pass", "1_on-uart1/after-kmsg pass", "lava/lava-test-shell pass",
		"2_primary-again/primary-prompt pass", "lava/lava-test-shell pass",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s\n%s", diff, log)
	}

	// Each console's lines are target records while an action uses it;
	// the primary's output during the test on uart1 is feedback of the
	// primary's namespace, and uart1's last prompt, logged when finalize
	// closed it, feedback of its namespace.
	var feedback []string
	for _, r := range recs {
		if r.Level == workerproto.LevelFeedback {
			feedback = append(feedback, r.NS+": "+textOf(r))
		}
	}
	// (The kernel message comes after the primary's prompt.)
	if diff := cmp.Diff([]string{"board: / # usb 1-1: new high-speed USB device number 2", "isolation: uart1$ "}, feedback); diff != "" {
		t.Errorf("feedback records (-want +got):\n%s\n%s", diff, log)
	}
	for _, want := range []string{
		"info [isolation] connecting to the shell on connection \"uart1\"",
		"info board-01: connecting the console \"uart1\": telnet 127.0.0.1 ",
		"target uart1 login: ",
		"input root",
		"target uart1 login: Welcome, root",
		// Each test ran on its console, after that console's prompt.
		"target / # <LAVA_SIGNAL_STARTRUN 0_on-primary 42_3.1>",
		"target uart1$ <LAVA_SIGNAL_STARTRUN 1_on-uart1 42_4.1>",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	// Finalize closed the second console: its shell saw the end.
	b.ln.Close()
	b.wg.Wait()
	if b.shells != 1 || b.shellsClosed != 1 {
		t.Errorf("uart1 sessions: %d opened, %d ended; want 1 and 1", b.shells, b.shellsClosed)
	}
}

// TestNewConnectionRefused: the job process refuses, before anything
// runs, a new_connection to a connection the board does not have or to
// its primary one, and a connection-namespace that is no namespace of the
// job.
func TestNewConnectionRefused(t *testing.T) {
	b := newTwoUARTBoard(t)
	for _, tc := range []struct {
		name, actions, want string
	}{
		{"unknown connection", `
- boot: {namespace: a, method: new_connection, connection: uart7}`,
			`action 1: connection "uart7": device board-01 has no such connection (its connections: uart0, uart1)`},
		{"primary connection", `
- boot: {namespace: a, method: new_connection, connection: uart0}`,
			`action 1: connection "uart0": it is the primary connection of device board-01, open for the whole job; new_connection opens one of the others (uart1)`},
		{"unknown connection-namespace", `
- boot: {namespace: a, method: new_connection, connection: uart1}
- test: {namespace: a, connection-namespace: b, monitors: [{name: m, start: s, end: e, pattern: p}]}`,
			`action 2: connection-namespace "b" is not the namespace of any action of the job (namespaces: a)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			def := "job_name: x\ndevice_type: fake-board\nvisibility: public\ntimeouts:\n  job: {minutes: 1}\nactions:" + tc.actions + "\n"
			if _, err := jobdef.Parse([]byte(def)); err != nil {
				t.Fatalf("the definition does not parse: %v", err)
			}
			res, _ := runDir(t, context.Background(), b.forJob(t, boardJobDir(t, def, b.config())))
			if res.ErrorType != "Job" || !strings.Contains(res.ErrorMsg, tc.want) {
				t.Errorf("result %+v, want a Job error with %q", res, tc.want)
			}
		})
	}
	b.ln.Close()
	b.wg.Wait()
	if b.shells != 0 {
		t.Errorf("uart1 was opened %d times by jobs refused at validation", b.shells)
	}
}

// TestConnectionsOf: which connection each action uses, by namespace, as
// LAVA looks connections up.
func TestConnectionsOf(t *testing.T) {
	boot := func(ns, conn string) jobdef.Action {
		b := &jobdef.Boot{Method: "minimal"}
		if conn != "" {
			b = &jobdef.Boot{Method: jobdef.NewConnection, Connection: conn}
		}
		return jobdef.Action{Kind: jobdef.KindBoot, Namespace: ns, Boot: b}
	}
	test := func(ns, cns string) jobdef.Action {
		return jobdef.Action{Kind: jobdef.KindTest, Namespace: ns, ConnectionNamespace: cns, Test: &jobdef.Test{}}
	}
	for _, tc := range []struct {
		name      string
		actions   []jobdef.Action
		want      []linkRef
		primaryNS string
	}{
		{"no namespaces", []jobdef.Action{boot("", ""), test("", "")},
			[]linkRef{{ns: "common"}, {ns: "common"}}, "common"},
		{"isolation", []jobdef.Action{boot("bbb", ""), boot("iso", "uart1"), test("bbb", ""), test("bbb", "iso"), test("iso", "")},
			[]linkRef{{ns: "bbb"}, {conn: "uart1", ns: "iso", opens: true}, {ns: "bbb"}, {conn: "uart1", ns: "iso"}, {conn: "uart1", ns: "iso"}}, "bbb"},
		{"secondary first", []jobdef.Action{boot("iso", "uart1"), boot("dut", ""), test("iso", "iso")},
			[]linkRef{{conn: "uart1", ns: "iso", opens: true}, {ns: "dut"}, {conn: "uart1", ns: "iso"}}, "dut"},
		{"before its boot", []jobdef.Action{test("iso", ""), boot("iso", "uart1")},
			[]linkRef{{ns: "iso"}, {conn: "uart1", ns: "iso", opens: true}}, "iso"},
		{"without namespaces, the new connection takes over", []jobdef.Action{boot("", ""), boot("", "uart1"), test("", "")},
			[]linkRef{{ns: "common"}, {conn: "uart1", ns: "common", opens: true}, {conn: "uart1", ns: "common"}}, "common"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refs, primaryNS := connectionsOf(&jobdef.Job{Actions: tc.actions})
			if diff := cmp.Diff(tc.want, refs, cmp.AllowUnexported(linkRef{})); diff != "" {
				t.Errorf("refs (-want +got):\n%s", diff)
			}
			if primaryNS != tc.primaryNS {
				t.Errorf("primary namespace %q, want %q", primaryNS, tc.primaryNS)
			}
		})
	}
}
