package dispatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/basalt-lab/basalt/internal/console"
	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// BoardKind is the kind of a physical board: a console reached through
// its connection command (ser2net over telnet, a console server, a local
// serial port) and power through shell commands run on the worker host
// (a PDU's client), as its rendered configuration gives them.
const BoardKind = devicedict.KindBoard

// Power command defaults: each command line gets PowerCommandTimeout
// (the device's power-off or pdu-reboot action timeout when it has one)
// and PowerCommandAttempts tries, PowerRetryDelay apart.
const (
	PowerCommandTimeout  = 30 * time.Second
	PowerCommandAttempts = 3
	PowerRetryDelay      = time.Second
)

// deviceLog is how a device writes into the job log.
type deviceLog func(level workerproto.Level, format string, args ...any)

// board is a physical board.
type board struct {
	hostname string
	cmds     deviceconfig.Commands
	timeouts deviceconfig.Timeouts
	log      deviceLog
	spec     console.Spec // its consoles
	primary  string       // the primary console's connection name ("" for commands.connect)
	con      *console.Reconnecting

	// powerOutput is the level of a power command's output lines and exit
	// status: debug in a pipeline, info in a console session (where a
	// person asked for it).
	powerOutput workerproto.Level
	// linkState, when set, hears when the primary console is lost (false)
	// and back (true): a console session drops input meanwhile.
	linkState atomic.Pointer[func(up bool)]

	mu     sync.Mutex
	closed bool
}

// openBoard opens the board's primary console (kept connected across
// drops: a lost console is redialled with back-off and the gap logged)
// and returns the board. The console is opened before the board is
// powered, so that its whole boot is seen.
func openBoard(ctx context.Context, hostname string, cfg *deviceconfig.Config, log deviceLog) (*board, error) {
	spec := console.Spec{Connect: cfg.Commands.Connect}
	for name, c := range cfg.Commands.Connections {
		if spec.Connections == nil {
			spec.Connections = map[string]console.Connection{}
		}
		spec.Connections[name] = console.Connection{Connect: c.Connect, Tags: c.Tags}
	}
	name, connect, err := spec.Primary()
	if err != nil {
		return nil, ConfigurationError("device %s: %w", hostname, err)
	}
	b := &board{hostname: hostname, cmds: cfg.Commands, timeouts: cfg.Timeouts, log: log, spec: spec, primary: name, powerOutput: workerproto.LevelDebug}
	con, err := b.keep(ctx, ctx, consoleName(name), connect, true)
	if err != nil {
		return nil, err
	}
	b.con = con
	return b, nil
}

// consoleName names a console of the board in messages: "console" for
// commands.connect, else `console "uart1"`.
func consoleName(connection string) string {
	if connection == "" {
		return "console"
	}
	return fmt.Sprintf("console %q", connection)
}

// keep dials the console what (consoleName) with its connection command
// and keeps it connected until it is closed or ctx ends: a lost console is
// redialled with back-off and the gap logged. dialCtx bounds the first
// dial. primary says it is the primary console (whose losses linkState
// hears of).
func (b *board) keep(ctx, dialCtx context.Context, what, connect string, primary bool) (*console.Reconnecting, error) {
	hostname, log := b.hostname, b.log
	log(workerproto.LevelInfo, "%s: connecting the %s: %s", hostname, what, connect)
	var dialled atomic.Bool
	con, err := console.Keep(ctx, func(ctx context.Context) (io.ReadWriteCloser, error) {
		if !dialled.Swap(true) {
			ctx = dialCtx
		}
		return console.Dial(ctx, connect)
	}, console.KeepOptions{
		OnLost: func(at time.Time, cause error) {
			if f := b.linkState.Load(); primary && f != nil {
				(*f)(false)
			}
			log(workerproto.LevelWarning, "%s: the %s was lost at %s: %v; reconnecting (output of the board until it is back is lost)", hostname, what, at.UTC().Format("15:04:05.000"), cause)
		},
		OnBack: func(g console.Gap) {
			if f := b.linkState.Load(); primary && f != nil {
				(*f)(true)
			}
			log(workerproto.LevelWarning, "%s: the %s is back after %s (at %s, %d attempts); output of the board during the gap is lost", hostname, what, g.Down.Round(time.Millisecond), g.Back.UTC().Format("15:04:05.000"), g.Attempts)
		},
		OnDialError: func(attempt int, err error) {
			if attempt == 1 || attempt%10 == 0 {
				log(workerproto.LevelDebug, "%s: reconnecting the %s: attempt %d: %v", hostname, what, attempt, err)
			}
		},
	})
	if err != nil {
		return nil, InfrastructureError("device %s: cannot open its %s (%s): %w", hostname, what, connect, err)
	}
	return con, nil
}

// openConnection opens the board's secondary connection name (one of
// commands.connections not tagged primary: LAVA's connect-shell), kept
// connected like the primary console until it is closed. ctx bounds the
// first dial only.
func (b *board) openConnection(ctx context.Context, name string) (io.ReadWriteCloser, error) {
	connect, err := b.spec.Secondary(name)
	if err != nil {
		return nil, ConfigurationError("device %s: %w", b.hostname, err)
	}
	return b.keep(context.WithoutCancel(ctx), ctx, consoleName(name), connect, false)
}

// primaryConnection is the name of the board's primary connection ("" for
// commands.connect).
func (b *board) primaryConnection() string { return b.primary }

// Kind is BoardKind.
func (b *board) Kind() string { return BoardKind }

// Hostname is the board's name.
func (b *board) Hostname() string { return b.hostname }

// Console is the board's primary console.
func (b *board) Console() io.ReadWriter { return b.con }

// PowerOn boots the board as LAVA's reset does: hard_reset when the
// board has one; else (Basalt) power_off then power_on when it has
// power_on. A board with neither is reset by the boot action with soft
// reboot commands on its console (canPowerCycle); PowerOn alone leaves it
// to boot by itself, and says so.
func (b *board) PowerOn(ctx context.Context) error {
	switch {
	case len(b.cmds.HardReset) > 0:
		return b.power(ctx, "hard_reset", b.cmds.HardReset)
	case len(b.cmds.PowerOn) > 0:
		if err := b.power(ctx, "power_off", b.cmds.PowerOff); err != nil {
			return err
		}
		return b.power(ctx, "power_on", b.cmds.PowerOn)
	}
	b.log(workerproto.LevelWarning, "%s: the board has no power commands (hard_reset_command, power_on_command): it cannot be power-cycled", b.hostname)
	return nil
}

// canPowerCycle says whether the board has a command that resets it
// (hard_reset or power_on); without one LAVA resets it with soft reboot
// commands typed on its console.
func (b *board) canPowerCycle() bool {
	return len(b.cmds.HardReset) > 0 || len(b.cmds.PowerOn) > 0
}

// builtinCommands are the device commands a job's command action may name
// instead of a user command (LAVA's builtin_commands), as their lines.
func (b *board) builtinCommands() map[string][]string {
	return map[string][]string{
		"pre_power_command": b.cmds.PrePower, "pre_os_command": b.cmds.PreOS,
		"hard_reset": b.cmds.HardReset, "power_on": b.cmds.PowerOn, "power_off": b.cmds.PowerOff,
		"recovery_mode": b.cmds.RecoveryMode, "recovery_exit": b.cmds.RecoveryExit,
	}
}

// runNamed runs one of the board's builtin commands; a command the board
// does not have is a Configuration error.
func (b *board) runNamed(ctx context.Context, name string) error {
	lines := b.builtinCommands()[name]
	if len(lines) == 0 {
		return ConfigurationError("%s: the device has no %s", b.hostname, name)
	}
	return b.power(ctx, name, lines)
}

// PowerOff runs power_off (nothing when the board has none).
func (b *board) PowerOff(ctx context.Context) error {
	return b.power(ctx, "power_off", b.cmds.PowerOff)
}

// Close ends the console.
func (b *board) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	b.closed = true
	return b.con.Close()
}

// power runs the command lines of one power command in order, each with
// its timeout and attempts. A line that fails every attempt is an
// Infrastructure error naming the command, the line and its output.
func (b *board) power(ctx context.Context, which string, lines []string) error {
	timeout := PowerCommandTimeout
	if d := b.timeouts.Actions[powerTimeoutAction(which)]; d > 0 {
		timeout = d
	}
	for _, line := range lines {
		var err error
		for attempt := 1; attempt <= PowerCommandAttempts; attempt++ {
			if attempt > 1 {
				b.log(workerproto.LevelWarning, "%s: %s: attempt %d of %d in %s", b.hostname, which, attempt, PowerCommandAttempts, PowerRetryDelay)
				select {
				case <-ctx.Done():
					return context.Cause(ctx)
				case <-time.After(PowerRetryDelay):
				}
			}
			if err = b.run(ctx, which, line, timeout); err == nil || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return InfrastructureError("%s: power command %s failed: %w", b.hostname, which, err)
		}
	}
	return nil
}

// powerTimeoutAction is the device timeout that bounds a power command.
func powerTimeoutAction(which string) string {
	if which == "power_off" {
		return "power-off"
	}
	return "pdu-reboot"
}

// run runs one command line with Shell -c on the worker host, its output
// logged line by line, killed (with everything it started) after timeout.
func (b *board) run(ctx context.Context, which, line string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	b.log(workerproto.LevelInfo, "%s: %s: %s", b.hostname, which, line)
	cmd := exec.CommandContext(ctx, Shell, "-c", line)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = CommandWaitDelay
	var tail tailBuffer
	level := cmp.Or(b.powerOutput, workerproto.LevelDebug)
	out := &lineLogger{log: func(s string) {
		tail.add(s)
		b.log(level, ">> %s", s)
	}}
	cmd.Stdout, cmd.Stderr = out, out
	start := time.Now()
	err := cmd.Run()
	out.flush()
	took := time.Since(start).Round(time.Millisecond)
	var exit *exec.ExitError
	switch {
	case err == nil, errors.Is(err, exec.ErrWaitDelay):
		b.log(level, "%s: %s: exited 0 in %s", b.hostname, which, took)
		return nil
	case ctx.Err() == context.DeadlineExceeded:
		return fmt.Errorf("%q did not finish within %s%s", line, timeout, tail.suffix())
	case errors.As(err, &exit):
		return fmt.Errorf("%q: %s%s", line, exit.ProcessState, tail.suffix())
	}
	return fmt.Errorf("%q could not run: %w", line, err)
}

// tailBuffer keeps the last lines of a command's output for its error.
type tailBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (t *tailBuffer) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > 3 {
		t.lines = t.lines[len(t.lines)-3:]
	}
}

// suffix is "; output: …" with the last lines, or "".
func (t *tailBuffer) suffix() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) == 0 {
		return ""
	}
	return "; output: " + quoteConsole(strings.Join(t.lines, " | "), 300)
}
