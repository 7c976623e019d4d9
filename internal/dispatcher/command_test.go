package dispatcher

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

func TestCommandAction(t *testing.T) {
	tests := []struct {
		name      string
		cmd       UserCommand
		timeout   time.Duration
		wantErr   lab.ErrorType
		wantMsg   string   // substring of the error
		wantDebug []string // debug records, in order
		wantFile  string   // content of the job directory's file "log" after the action
		wantAfter string   // its content after the cleanups
	}{
		{
			name:      "output logged",
			cmd:       UserCommand{Do: `echo hello; echo "to stderr" >&2; printf 'no newline'`},
			wantDebug: []string{">> hello", ">> to stderr", ">> no newline"},
		},
		{
			name:      "runs on the host in the job directory",
			cmd:       UserCommand{Do: `echo do >> log; pwd`, Undo: `echo undo >> log`},
			wantFile:  "do\n",
			wantAfter: "do\nundo\n",
		},
		{
			name:      "failure is an infrastructure error, undo still runs",
			cmd:       UserCommand{Do: `echo do >> log; echo broken; exit 3`, Undo: `echo undo >> log`},
			wantErr:   lab.ErrorInfrastructure,
			wantMsg:   `user command relay do ("echo do >> log; echo broken; exit 3") failed: exit status 3`,
			wantDebug: []string{">> broken"},
			wantFile:  "do\n",
			wantAfter: "do\nundo\n",
		},
		{
			name:    "timeout",
			cmd:     UserCommand{Do: `echo started; sleep 30`},
			timeout: time.Second,
			wantErr: lab.ErrorTimeout,
			wantMsg: "user-command timed out after 1 seconds",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newActionEnv(t, "")
			act, err := newCommandAction("relay", map[string]UserCommand{"relay": tt.cmd, "other": {Do: "true"}})
			if err != nil {
				t.Fatal(err)
			}
			if act.Name() != "user-command" {
				t.Errorf("Name() = %q", act.Name())
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			err = a.run(context.Background(), act, timeout)
			if ErrorTypeOf(err) != tt.wantErr || tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %v (type %q), want type %q with %q", err, ErrorTypeOf(err), tt.wantErr, tt.wantMsg)
			}
			logFile := filepath.Join(a.env.Dir, "log")
			if got := readOr(logFile); got != tt.wantFile {
				t.Errorf("after the action, log = %q, want %q", got, tt.wantFile)
			}
			if err := runCleanups(context.Background(), a.env); err != nil {
				t.Errorf("runCleanups: %v", err)
			}
			if got := readOr(logFile); got != tt.wantAfter && tt.wantAfter != "" {
				t.Errorf("after the cleanups, log = %q, want %q", got, tt.wantAfter)
			}
			recs := a.records()
			var debug []string
			for _, r := range recs {
				if r.Level == workerproto.LevelDebug && strings.HasPrefix(textOf(r), ">> ") {
					debug = append(debug, textOf(r))
				}
			}
			if tt.wantDebug != nil && strings.Join(debug, "\n") != strings.Join(tt.wantDebug, "\n") {
				t.Errorf("output records %q, want %q", debug, tt.wantDebug)
			}
			if tt.name == "runs on the host in the job directory" && !hasMessage(recs, workerproto.LevelDebug, ">> "+a.env.Dir) {
				t.Errorf("pwd did not print the job directory %s", a.env.Dir)
			}
		})
	}
}

// readOr returns a file's content, or "" when it cannot be read.
func readOr(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// TestCommandTimeoutKillsTheProcessGroup checks that a timeout kills the
// shell and what it started in the background, and that the action
// returns without waiting for them.
func TestCommandTimeoutKillsTheProcessGroup(t *testing.T) {
	a := newActionEnv(t, "")
	act, err := newCommandAction("hang", map[string]UserCommand{"hang": {Do: `sleep 60 & echo $! > child.pid; wait`}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = a.run(context.Background(), act, time.Second)
	took := time.Since(start)
	if ErrorTypeOf(err) != lab.ErrorTimeout {
		t.Errorf("error %v, want a timeout", err)
	}
	if took > time.Second+CommandWaitDelay+2*time.Second {
		t.Errorf("the action took %s after a 1 s timeout", took)
	}
	b, err := os.ReadFile(filepath.Join(a.env.Dir, "child.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !processGone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("the background child %d survived the timeout", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processGone reports whether pid no longer runs (gone, or a zombie
// waiting to be reaped by init).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// pid (comm) state ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

// TestCommandBackgroundProcessKeepsOutputOpen checks that a command that
// exits zero but leaves a process holding its output does not hang.
func TestCommandBackgroundProcessKeepsOutputOpen(t *testing.T) {
	a := newActionEnv(t, "")
	act, err := newCommandAction("daemon", map[string]UserCommand{"daemon": {Do: `sleep 30 & echo $! > bg.pid; echo started`}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(a.env.Dir, "bg.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	start := time.Now()
	if err := a.run(context.Background(), act, 20*time.Second); err != nil {
		t.Fatalf("run: %v", err)
	}
	if took := time.Since(start); took > CommandWaitDelay+3*time.Second {
		t.Errorf("the action took %s", took)
	}
	recs := a.records()
	if !hasMessage(recs, workerproto.LevelDebug, ">> started") || !hasMessage(recs, workerproto.LevelWarning, "stopped reading its output") {
		t.Errorf("missing output or warning in\n%s", strings.Join(messages(recs), "\n"))
	}
}

func TestCommandRetryRegistersUndoOnce(t *testing.T) {
	a := newActionEnv(t, "")
	act, err := newCommandAction("c", map[string]UserCommand{"c": {Do: "true", Undo: "echo undo >> log"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := a.run(context.Background(), act, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := runCleanups(context.Background(), a.env); err != nil {
		t.Fatal(err)
	}
	if got := readOr(filepath.Join(a.env.Dir, "log")); got != "undo\n" {
		t.Errorf("log = %q, want one undo", got)
	}
}

func TestNewCommandActionRefuses(t *testing.T) {
	cmds := map[string]UserCommand{"relay-on": {Do: "true"}, "usb-off": {Do: "true", Undo: "true"}, "broken": {Undo: "true"}}
	tests := []struct {
		name    string
		cmds    map[string]UserCommand
		wantErr string
	}{
		{"unknown", cmds, `unknown user command "nope" (the device has: broken, relay-on, usb-off)`},
		{"no user commands", nil, `unknown user command "nope": the device has no user commands`},
	}
	for _, tt := range tests {
		if _, err := newCommandAction("nope", tt.cmds); err == nil || err.Error() != tt.wantErr {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	if _, err := newCommandAction("broken", cmds); err == nil || !strings.Contains(err.Error(), `user command "broken" has no do command`) {
		t.Errorf("a command without do: error %v", err)
	}
}
