//go:build linux

package console

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// tailKept is how many of a command's last output bytes its exit error
// quotes.
const tailKept = 256

// killGrace is how long Close waits after SIGTERM before it kills a
// connection command's process group with SIGKILL.
const killGrace = 2 * time.Second

// Command opens the console a LAVA connection command gives: a shell
// command line whose standard input and output are the console.
//
// When cmdline is "telnet [options] HOST [PORT]" (a plain command, no
// shell syntax, only options of the usual telnet clients), Basalt connects
// itself with its telnet client (DialTelnet, without RFC 2217): no telnet
// program is needed and none is run. Like the telnet program, the client
// starts no option negotiation when a port is given (Passive: a raw TCP
// port gets no stray bytes) and answers the server's. The telnet
// program's options are accepted and ignored (the native client is 8-bit
// clean and has no escape character). A telnet command line with options
// Basalt does not know, or with shell syntax, runs as any other command.
//
// Any other command line runs as /bin/sh -c cmdline on a new
// pseudo-terminal in raw mode (no echo, no CR/LF translation), as the
// leader of its own session and process group. Reading returns its output;
// when it exits, its process group is killed and, once the output is
// drained, Read returns io.EOF for exit status 0 or a *CommandExitError
// naming the status and quoting the last output. Close kills the whole
// process group (SIGTERM, then SIGKILL after 2 s) and waits for the
// command.
//
// ctx bounds the start (and the telnet dial), not the console's life.
func Command(ctx context.Context, cmdline string) (io.ReadWriteCloser, error) {
	if len(cmdline) > maxCommandLine {
		return nil, fmt.Errorf("connection command: %d bytes long (limit %d)", len(cmdline), maxCommandLine)
	}
	if addr, port, err := parseTelnetCommand(cmdline); err == nil {
		t, err := DialTelnet(ctx, addr, TelnetOptions{Passive: port})
		if err != nil {
			return nil, fmt.Errorf("connection command %q: %w", cmdline, err)
		}
		return t, nil
	}
	return startCommand(ctx, cmdline)
}

// CommandExitError is the end of a connection command that exited with a
// non-zero status or was killed by a signal.
type CommandExitError struct {
	Command string
	Err     error  // from exec.Cmd.Wait: the exit status
	Tail    []byte // the last output bytes (at most 256)
}

// Error names the command, its status and its last output.
func (e *CommandExitError) Error() string {
	return fmt.Sprintf("connection command %q ended: %v; last output: %q", e.Command, e.Err, e.Tail)
}

// Unwrap returns the exit status error.
func (e *CommandExitError) Unwrap() error { return e.Err }

// commandConsole is a connection command running on a pty.
type commandConsole struct {
	cmdline string
	master  *os.File
	cmd     *exec.Cmd
	pgid    int

	waited  chan struct{} // closed when cmd.Wait returned
	waitErr error

	mu     sync.Mutex
	tail   []byte
	closed bool
	once   sync.Once
}

func startCommand(ctx context.Context, cmdline string) (*commandConsole, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("connection command %q: %w", cmdline, context.Cause(ctx))
	}
	master, slave, err := openPTY(false)
	if err != nil {
		return nil, fmt.Errorf("connection command %q: %w", cmdline, err)
	}
	defer slave.Close()
	if err := makeRaw(int(slave.Fd())); err != nil {
		master.Close()
		return nil, fmt.Errorf("connection command %q: raw pty: %w", cmdline, err)
	}
	cmd := exec.Command("/bin/sh", "-c", cmdline)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		master.Close()
		return nil, fmt.Errorf("connection command %q: %w", cmdline, err)
	}
	c := &commandConsole{cmdline: cmdline, master: master, cmd: cmd, pgid: cmd.Process.Pid, waited: make(chan struct{})}
	go func() {
		c.waitErr = cmd.Wait()
		// The command is gone: end what it left in its group so that the
		// pty closes and Read sees the end.
		_ = unix.Kill(-c.pgid, unix.SIGKILL)
		close(c.waited)
	}()
	return c, nil
}

// Pid returns the process id of the command's shell, which is also its
// process group id.
func (c *commandConsole) Pid() int { return c.pgid }

func (c *commandConsole) Read(b []byte) (int, error) {
	n, err := c.master.Read(b)
	if n > 0 {
		c.mu.Lock()
		c.tail = append(c.tail, b[:n]...)
		if len(c.tail) > tailKept {
			c.tail = append(c.tail[:0], c.tail[len(c.tail)-tailKept:]...)
		}
		c.mu.Unlock()
		return n, nil
	}
	if err == nil {
		return 0, nil
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return 0, io.EOF
	}
	if !errors.Is(err, syscall.EIO) && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("connection command %q: read: %w", c.cmdline, err)
	}
	// EIO: every process holding the pty is gone.
	<-c.waited
	if c.waitErr == nil {
		return 0, io.EOF
	}
	c.mu.Lock()
	tail := append([]byte(nil), c.tail...)
	c.mu.Unlock()
	return 0, &CommandExitError{Command: c.cmdline, Err: c.waitErr, Tail: tail}
}

func (c *commandConsole) Write(b []byte) (int, error) {
	n, err := c.master.Write(b)
	if err != nil {
		return n, fmt.Errorf("connection command %q: write: %w", c.cmdline, err)
	}
	return n, nil
}

// Close kills the command's process group and waits for the command.
func (c *commandConsole) Close() error {
	c.once.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		select {
		case <-c.waited:
		default:
			_ = unix.Kill(-c.pgid, unix.SIGTERM)
			select {
			case <-c.waited:
			case <-time.After(killGrace):
				_ = unix.Kill(-c.pgid, unix.SIGKILL)
				<-c.waited
			}
		}
		c.master.Close()
	})
	return nil
}
