package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/console"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// consoleEscape is the key that starts a console command (Ctrl-], as
// telnet's).
const consoleEscape = 0x1d

// consoleHelp lists the console's commands.
const consoleHelp = "Ctrl-] then: 1 power on, 0 power off, r hard reset, q quit, ? this help, Ctrl-] a Ctrl-] itself"

// consoleCommand is `basalt console DEVICE|ID`: a live, two-way console of
// a reserved board through the server.
func (e *clientEnv) consoleCommand() *cobra.Command {
	var (
		send    string
		power   string
		history int
	)
	c := command("console DEVICE|RESERVATION", "The live console of a reserved board: its holder types, others watch ("+consoleHelp+")", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		id, err := consoleReservation(ctx, cl, args[0])
		if err != nil {
			return err
		}
		switch {
		case power != "":
			_, err := cl.ConsoleInput(ctx, id, wire.ConsoleInput{Power: power})
			return err
		case send != "":
			text, err := strconv.Unquote(`"` + strings.ReplaceAll(send, `"`, `\"`) + `"`)
			if err != nil {
				return usageError{fmt.Errorf("--send %q: %w (Go escapes such as \\r, \\x03 are allowed)", send, err)}
			}
			_, err = cl.ConsoleInput(ctx, id, wire.ConsoleInput{Data: text})
			return err
		}
		me, err := cl.Whoami(ctx)
		if err != nil {
			return err
		}
		j, err := cl.GetJob(ctx, id)
		if err != nil {
			return err
		}
		s := &consoleSession{cl: cl, id: id, out: cmd.OutOrStdout(), holder: me.User != "" && me.User == j.Submitter,
			device: firstNonEmpty(j.ActualDevice, j.RequestedDevice), by: j.Submitter}
		if j.State == "Submitted" || j.State == "Scheduled" {
			s.say("reservation %d of %s is %s: waiting for it to start", id, s.device, strings.ToLower(j.State))
		}
		return s.run(ctx, cmd.InOrStdin(), history)
	})
	c.Flags().StringVar(&send, "send", "", `type this text and exit (Go escapes: "version\r")`)
	c.Flags().StringVar(&power, "power", "", "run a power action and exit: on, off or reset")
	c.Flags().IntVar(&history, "history", 100, "lines of the session so far to show first (-1: all)")
	return c
}

// consoleReservation returns the reservation named by arg: its id, or a
// device: the reservation running on it, else the caller's own queued
// one (the console then waits for it to start).
func consoleReservation(ctx context.Context, cl *client.Client, arg string) (int64, error) {
	if id, err := strconv.ParseInt(arg, 10, 64); err == nil && id > 0 {
		r, err := cl.GetReservation(ctx, id)
		return r.ID, err
	}
	if _, err := cl.GetDevice(ctx, arg); err != nil {
		return 0, err
	}
	page, err := cl.ListReservations(ctx, client.ReservationFilter{Device: arg})
	if err != nil {
		return 0, err
	}
	me, err := cl.Whoami(ctx)
	if err != nil {
		return 0, err
	}
	for _, r := range page.Results {
		if r.State == "Running" || r.State == "Scheduled" {
			return r.ID, nil
		}
	}
	if mine := ownReservation(page.Results, me.User); mine != nil {
		return mine.ID, nil
	}
	return 0, fmt.Errorf("no reservation of %s is running, and you have none queued (basalt devices reserve %s --for 1h)", arg, arg)
}

// consoleSession is one `basalt console`: it prints the reservation's log
// as the board's console and sends what is typed.
type consoleSession struct {
	cl     *client.Client
	id     int64
	out    io.Writer
	holder bool   // the caller holds the reservation: it may type
	device string // the board
	by     string // its holder

	mu sync.Mutex // serialises writes to out
}

// say prints a line of the console itself (not the board's).
func (s *consoleSession) say(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.out, "\r\n[basalt] "+format+"\r\n", args...)
}

// run follows the session until it ends, a quit (Ctrl-] q) or ctx ends;
// at the end of stdin it stops typing and goes on showing. With a
// terminal on stdin it is put in raw mode for the session.
func (s *consoleSession) run(ctx context.Context, in io.Reader, history int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if f, ok := in.(*os.File); ok {
		if restore, err := console.RawTerminal(int(f.Fd())); err == nil {
			defer restore()
		}
	}
	if s.holder {
		until := ""
		if r, err := s.cl.GetReservation(ctx, s.id); err == nil && r.Until != nil {
			until = " until " + r.Until.UTC().Format("15:04 UTC")
		}
		s.say("console of %s, reservation %d%s (%s)", s.device, s.id, until, consoleHelp)
	} else {
		s.say("watching the console of %s, held by %s (read-only; Ctrl-] q quits)", s.device, s.by)
	}
	done := make(chan error, 1)
	go func() { done <- s.follow(ctx, history) }()
	go func() {
		if s.keys(ctx, in) { // quit; at the end of the input, only stop typing
			cancel()
		}
	}()
	err := <-done
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// follow prints the session's log from history lines before its end,
// resuming where it was after a failed read, until the reservation ends.
func (s *consoleSession) follow(ctx context.Context, history int) error {
	next := 0
	if history >= 0 {
		_, total, err := s.cl.JobLogsWait(ctx, s.id, 0, 0, 0)
		if err != nil {
			return err
		}
		next = max(total-history, 0)
	}
	failing := false
	for {
		began := time.Now()
		j, err := s.cl.GetJob(ctx, s.id)
		var lines []string
		if err == nil {
			wait := 30 * time.Second
			if j.State == jobFinished {
				wait = 0
			}
			lines, _, err = s.cl.JobLogsWait(ctx, s.id, next, -1, wait)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ae *client.APIError
			if errors.As(err, &ae) && ae.Status < 500 && ae.Status != 429 {
				return err
			}
			if !failing {
				s.say("connection to the server lost (%v); retrying: nothing is missed", err)
			}
			failing = true
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
			continue
		}
		if failing {
			s.say("connection to the server back")
			failing = false
		}
		for _, l := range lines {
			s.print(l)
		}
		next += len(lines)
		if j.State == jobFinished && len(lines) == 0 {
			s.say("the reservation of %s ended (%s)", s.device, j.Health)
			return nil
		}
		if len(lines) == 0 && time.Since(began) < time.Second {
			// a server that answers a long poll at once (an older one)
			// is not asked again at once
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// print shows one record of the session: the board's output as it is,
// the session's own messages as [basalt] lines, typed input not at all
// (the board echoes it).
func (s *consoleSession) print(line string) {
	var r workerproto.Record
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return
	}
	var msg string
	if json.Unmarshal(r.Msg, &msg) != nil {
		return
	}
	switch r.Level {
	case workerproto.LevelTarget:
		s.mu.Lock()
		io.WriteString(s.out, msg)
		s.mu.Unlock()
	case workerproto.LevelInfo, workerproto.LevelWarning, workerproto.LevelError, workerproto.LevelException:
		s.say("%s", strings.TrimRight(msg, "\r\n"))
	}
}

// keys reads what is typed and sends it, with the Ctrl-] commands, until
// stdin ends or a quit (it then reports true).
func (s *consoleSession) keys(ctx context.Context, in io.Reader) (quit bool) {
	buf := make([]byte, 1024)
	escaped, warned := false, false
	for ctx.Err() == nil {
		n, err := in.Read(buf)
		var data []byte
		for _, b := range buf[:n] {
			if escaped {
				escaped = false
				var power string
				switch b {
				case consoleEscape:
					data = append(data, b)
					continue
				case '1':
					power = "on"
				case '0':
					power = "off"
				case 'r', 'R':
					power = "reset"
				case 'q', 'Q', '.':
					s.send(ctx, data, "")
					return true
				default:
					s.say("%s", consoleHelp)
					continue
				}
				s.send(ctx, data, "")
				data = nil
				s.send(ctx, nil, power)
				continue
			}
			if b == consoleEscape {
				escaped = true
				continue
			}
			data = append(data, b)
		}
		if len(data) > 0 && !s.holder {
			if !warned {
				s.say("read-only: %s is held by %s", s.device, s.by)
				warned = true
			}
			data = nil
		}
		s.send(ctx, data, "")
		if err != nil {
			return false
		}
	}
	return false
}

// send types data, or runs a power action; a failure is said, not fatal.
func (s *consoleSession) send(ctx context.Context, data []byte, power string) {
	if len(data) == 0 && power == "" {
		return
	}
	if !s.holder {
		s.say("read-only: %s is held by %s", s.device, s.by)
		return
	}
	for len(data) > 0 || power != "" {
		in := wire.ConsoleInput{Power: power}
		if power == "" {
			chunk := data[:min(len(data), 4096)]
			data = data[len(chunk):]
			in.Bytes = chunk
		}
		power = ""
		if _, err := s.cl.ConsoleInput(ctx, s.id, in); err != nil && ctx.Err() == nil {
			s.say("not sent: %v", err)
		}
	}
}
