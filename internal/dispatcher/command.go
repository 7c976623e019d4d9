package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// UserCommand is one of a device's user commands: the device dictionary's
// user_commands = {name: {do, undo}} (LAVA's commands.users.<name>). Do is
// run by a command action; Undo, when not empty, at the end of the job.
// Both are shell command lines run on the worker host, not on the device.
type UserCommand struct {
	Do, Undo string
}

// Shell is the shell that runs user commands (as Shell -c LINE).
const Shell = "/bin/sh"

// CommandWaitDelay bounds how long a user command's output is read after
// the command exited (a background process it started may keep the output
// open) and how long a killed command may take to go.
const CommandWaitDelay = 2 * time.Second

// commandAction is the command: action (LAVA's user-command): it runs a
// user command of the device on the worker host, logs its output, and
// registers its undo to run at the end of the job.
type commandAction struct {
	name string
	cmd  UserCommand
	// undoRegistered keeps a retried or repeated action from registering
	// its undo twice.
	undoRegistered bool
}

// newCommandAction returns the action running the user command name of a
// device whose user commands are cmds. An unknown name, a device without
// user commands and a command without do are errors (the caller reports
// them as a Job error at validation).
func newCommandAction(name string, cmds map[string]UserCommand) (Action, error) {
	if len(cmds) == 0 {
		return nil, fmt.Errorf("unknown user command %q: the device has no user commands", name)
	}
	c, ok := cmds[name]
	if !ok {
		names := make([]string, 0, len(cmds))
		for n := range cmds {
			names = append(names, n)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("unknown user command %q (the device has: %s)", name, strings.Join(names, ", "))
	}
	if strings.TrimSpace(c.Do) == "" {
		return nil, fmt.Errorf("user command %q has no do command", name)
	}
	return &commandAction{name: name, cmd: c}, nil
}

func (a *commandAction) Name() string { return "user-command" }

// Run runs the command's do line. As in LAVA, the undo line is registered
// before do runs, so it runs at the end of the job even when do failed.
func (a *commandAction) Run(ctx context.Context, env *Env) error {
	if a.cmd.Undo != "" && !a.undoRegistered {
		a.undoRegistered = true
		env.Session.AddCleanup("user-command "+a.name, func(ctx context.Context, env *Env) error {
			env.Info("running the undo of user command %q", a.name)
			return runHostCommand(ctx, env, a.name, "undo", a.cmd.Undo)
		})
	}
	env.Info("running user command %q", a.name)
	return runHostCommand(ctx, env, a.name, "do", a.cmd.Do)
}

// runHostCommand runs line with Shell -c on the worker host, in the job
// directory, with no input. Every line of its output (stdout and stderr
// together) is logged as a debug record ">> line". It is an Infrastructure
// error when the command cannot start or exits non-zero. When ctx ends the
// command's whole process group is killed and the context's cause is
// returned.
func runHostCommand(ctx context.Context, env *Env, name, which, line string) error {
	env.Debug("user command %s %s: %s -c %q", name, which, Shell, line)
	cmd := exec.CommandContext(ctx, Shell, "-c", line)
	cmd.Dir = env.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The shell and everything it started: they share its group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = CommandWaitDelay
	out := &lineLogger{log: func(s string) { env.Debug(">> %s", s) }}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	out.flush()
	took := time.Since(start).Round(time.Millisecond)
	if ctx.Err() != nil {
		env.Warning("user command %s %s: stopped after %s: %v", name, which, took, context.Cause(ctx))
		return context.Cause(ctx)
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.Is(err, exec.ErrWaitDelay):
		// Exited zero, but something it started keeps the output open.
		env.Warning("user command %s %s: stopped reading its output %s after it exited (a process it started keeps it open)", name, which, CommandWaitDelay)
	case errors.As(err, &exit):
		return InfrastructureError("user command %s %s (%q) failed: %s", name, which, line, exit.ProcessState)
	default:
		return InfrastructureError("user command %s %s (%q) could not run: %w", name, which, line, err)
	}
	env.Debug("user command %s %s: exited 0 in %s", name, which, took)
	return nil
}

// lineLogger is an io.Writer that hands on each complete line written to
// it (without its line ending), cutting lines longer than MaxLineLength.
// os/exec writes to it from one goroutine at a time.
type lineLogger struct {
	mu      sync.Mutex
	log     func(string)
	partial []byte
}

func (l *lineLogger) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			for len(l.partial) >= MaxLineLength {
				l.emit(l.partial[:MaxLineLength])
				l.partial = append(l.partial[:0], l.partial[MaxLineLength:]...)
			}
			break
		}
		l.partial = append(l.partial, p[:i]...)
		l.emit(l.partial)
		l.partial = l.partial[:0]
		p = p[i+1:]
	}
	return n, nil
}

// flush hands on a last line that has no newline.
func (l *lineLogger) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.partial) > 0 {
		l.emit(l.partial)
		l.partial = l.partial[:0]
	}
}

func (l *lineLogger) emit(b []byte) {
	for len(b) > MaxLineLength {
		l.log(string(b[:MaxLineLength]))
		b = b[MaxLineLength:]
	}
	l.log(string(bytes.TrimRight(b, "\r")))
}
