package dispatcher

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// A console session (a reservation's job: workerproto.Assign.Console) runs
// no pipeline. The job process opens the board's console with its
// connection command and keeps it (a lost console is redialled with
// back-off, the gap marked in the log), listens on the console socket for
// the input the worker brings from the server, and records everything in
// its journal:
//
//   - info "console session of DEVICE for HOLDER until T: REASON" first;
//   - every byte the board prints, as "target" records whose messages,
//     concatenated, give back the console's bytes (line terminators kept:
//     "\r\n" ends a line's message; a partial line, such as a prompt or an
//     echoed key, is flushed after ConsoleIdleFlush of silence, or
//     ConsoleMaxHold after it started);
//   - every input typed, as an "input" record "USER: 'TEXT'" with control
//     characters escaped (\r, \x03, …);
//   - every power action, as info records: who asked, which command, its
//     command lines, output and exit status (warning when it failed);
//   - dropped input as warnings "input typed at T by U was dropped: WHY";
//   - "session ended: WHY" when it is canceled or its time is up, then the
//     board's power_off.
//
// The session passes unless its console could not be opened at all (an
// Infrastructure error).

// ConsoleIdleFlush is how long a console session waits for more output
// before it records a partial line (a prompt, the echo of a key);
// ConsoleMaxHold bounds how long a partial line is held while output keeps
// coming without a newline (a progress bar).
const (
	ConsoleIdleFlush = 3 * time.Millisecond
	ConsoleMaxHold   = 100 * time.Millisecond
)

// consoleWriteLimit bounds writing one input to the console;
// consolePowerOffLimit the power off at the end of a session (each of its
// command lines has its own timeout and attempts too), within the
// worker's default cancel grace (30 s) before it kills the job process.
const (
	consoleWriteLimit    = 10 * time.Second
	consolePowerOffLimit = 20 * time.Second
)

// consoleSession is one running console session.
type consoleSession struct {
	log *journal.Writer
	a   workerproto.Assign
	b   *board
	// lost is closed while the console is lost (being redialled), and
	// replaced by an open one when it is back.
	linkMu  sync.Mutex
	lost    chan struct{}
	ctx     context.Context
	written sync.WaitGroup // the console reader
}

// runConsoleSession runs the console session of assignment a until ctx
// ends or its timeout, and returns the job's result.
func runConsoleSession(ctx context.Context, dir string, log *journal.Writer, a workerproto.Assign) Result {
	c := a.Console
	reason := c.Reason
	if reason == "" {
		reason = "(no reason given)"
	}
	log.Logf(workerproto.LevelInfo, "console session of %s for %s until %s: %s", a.Device.Hostname, c.Holder, c.Until.UTC().Format(time.RFC3339), reason)
	err := consoleSessionRun(ctx, dir, log, a)
	if err != nil {
		log.Logf(workerproto.LevelError, "%s: %s", exceptionName(ErrorTypeOf(err)), err)
		return Result{Result: ResultFail, ErrorType: ErrorTypeOf(err), ErrorMsg: log.MaskString(err.Error())}
	}
	return Result{Result: ResultPass}
}

func consoleSessionRun(ctx context.Context, dir string, log *journal.Writer, a workerproto.Assign) error {
	timeout := a.Timeout
	if timeout <= 0 && !a.Console.Until.IsZero() {
		// the server cancels the session at Until; this is a safety net
		timeout = time.Until(a.Console.Until) + time.Hour
	}
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if timeout > 0 {
		var stop context.CancelFunc
		sctx, stop = context.WithTimeoutCause(sctx, timeout, &jobTimeout{timeout: timeout})
		defer stop()
		log.Logf(workerproto.LevelInfo, "job %d: timeout %s", a.JobID, clock(timeout))
	}

	dev, err := openSessionDevice(sctx, a, log)
	if err != nil {
		return err
	}
	b, ok := dev.(*board)
	if !ok {
		_ = dev.Close()
		return ConfigurationError("device %s: console sessions need a board (a device with a connection command and power commands); it is a %s device", a.Device.Hostname, dev.Kind())
	}
	s := &consoleSession{log: log, a: a, b: b, ctx: sctx, lost: make(chan struct{})}
	b.powerOutput = workerproto.LevelInfo
	up := s.linkState
	b.linkState.Store(&up)
	log.Log(workerproto.LevelInfo, describeDevice(dev))

	s.written.Add(1)
	go s.record(b.con)

	srv, err := ListenConsole(dir, s.apply, func(format string, args ...any) {
		log.Logf(workerproto.LevelWarning, format, args...)
	})
	if err != nil {
		_ = b.Close()
		s.written.Wait()
		return InfrastructureError("%w", err)
	}
	log.OnWrite(srv.Appended)
	log.Logf(workerproto.LevelInfo, "console session open: input goes to %s's console", a.Device.Hostname)

	<-sctx.Done()
	why := "canceled"
	var jt *jobTimeout
	switch cause := context.Cause(sctx); {
	case errors.As(cause, &jt):
		why = fmt.Sprintf("its time limit (%s) is up", clock(jt.timeout))
	case cause != nil && !errors.Is(cause, context.Canceled):
		why = "canceled: " + cause.Error()
	}
	// No input is applied from here on.
	_ = srv.Close()
	log.Logf(workerproto.LevelInfo, "session ended: %s", why)
	if len(b.cmds.PowerOff) > 0 {
		log.Logf(workerproto.LevelInfo, "%s: powering the board off (power_off_command)", a.Device.Hostname)
		pctx, stop := context.WithTimeout(context.WithoutCancel(ctx), consolePowerOffLimit)
		if err := b.PowerOff(pctx); err != nil {
			log.Logf(workerproto.LevelWarning, "%s: power off failed: %v", a.Device.Hostname, err)
		} else {
			log.Logf(workerproto.LevelInfo, "%s: powered off", a.Device.Hostname)
		}
		stop()
	} else {
		log.Logf(workerproto.LevelInfo, "%s: the device has no power_off_command: the board is left as it is", a.Device.Hostname)
	}
	cerr := b.Close()
	s.written.Wait()
	log.OnWrite(nil)
	if cerr != nil {
		log.Logf(workerproto.LevelWarning, "%s: closing the console: %v", a.Device.Hostname, cerr)
	}
	return nil
}

// consoleOpenPatience is how long a session tries to open a console that
// refuses (ser2net restarting) before it fails.
var consoleOpenPatience = time.Minute

// openSessionDevice opens the session's device, trying again for
// consoleOpenPatience, with back-off, while its console cannot be opened
// (an Infrastructure error); other errors are returned at once.
func openSessionDevice(ctx context.Context, a workerproto.Assign, log *journal.Writer) (Device, error) {
	deadline := time.Now().Add(consoleOpenPatience)
	wait := time.Second
	for {
		// The console lives until the session closes it, past the
		// session's end: what the board prints while it is powered off
		// is recorded too.
		dev, _, err := OpenDevice(context.WithoutCancel(ctx), a.Device, nil, log.Logf)
		if err == nil || ErrorTypeOf(err) != lab.ErrorInfrastructure || ctx.Err() != nil {
			return dev, err
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, InfrastructureError("%w (tried for %s)", err, consoleOpenPatience)
		}
		log.Logf(workerproto.LevelWarning, "%v; trying again in %s", err, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// apply applies one input of the holder (called by the console socket, one
// at a time, in order).
func (s *consoleSession) apply(in workerproto.ConsoleInput) {
	if in.Expired {
		s.dropped(in, "it waited on the server longer than it may (the worker could not fetch it in time)")
		return
	}
	if in.Power != "" {
		s.power(in)
		return
	}
	s.linkMu.Lock()
	lost := s.lost
	s.linkMu.Unlock()
	select {
	case <-lost:
		s.dropped(in, "the console is lost (reconnecting)")
		return
	default:
	}
	s.log.Logf(workerproto.LevelInput, "%s: %s", cmp.Or(in.User, "?"), quoteConsole(string(in.Data), math.MaxInt))
	// A console lost while the input is typed drops the rest of it:
	// keys are not kept for later.
	ctx, cancel := context.WithTimeout(s.ctx, consoleWriteLimit)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	n, err := s.b.con.WriteContext(ctx, in.Data)
	if err != nil {
		why := "the console was lost while it was typed"
		if s.ctx.Err() != nil {
			why = "the session ended while it was typed"
		} else if errors.Is(err, context.DeadlineExceeded) {
			why = fmt.Sprintf("the console took it in for %s", consoleWriteLimit)
		}
		s.dropped(in, fmt.Sprintf("%s (%d of %d bytes typed)", why, n, len(in.Data)))
	}
}

// linkState hears that the console is lost (up false) or back.
func (s *consoleSession) linkState(up bool) {
	s.linkMu.Lock()
	defer s.linkMu.Unlock()
	select {
	case <-s.lost:
		if up {
			s.lost = make(chan struct{})
		}
	default:
		if !up {
			close(s.lost)
		}
	}
}

// dropped records an input that is not applied.
func (s *consoleSession) dropped(in workerproto.ConsoleInput, why string) {
	what := quoteConsole(string(in.Data), quotedMax)
	if in.Power != "" {
		what = "power " + in.Power
	}
	s.log.Logf(workerproto.LevelWarning, "input typed at %s by %s was dropped: %s: %s", in.Time.UTC().Format("15:04:05.000"), in.User, why, what)
}

// power runs the device command of a power action: on runs power_on
// (hard_reset when there is none), off power_off, reset hard_reset
// (power_off then power_on when there is none).
func (s *consoleSession) power(in workerproto.ConsoleInput) {
	host, cmds := s.a.Device.Hostname, s.b.cmds
	type step struct {
		name  string
		lines []string
	}
	var steps []step
	switch in.Power {
	case workerproto.PowerOn:
		switch {
		case len(cmds.PowerOn) > 0:
			steps = []step{{"power_on", cmds.PowerOn}}
		case len(cmds.HardReset) > 0:
			steps = []step{{"hard_reset", cmds.HardReset}}
		}
	case workerproto.PowerOff:
		if len(cmds.PowerOff) > 0 {
			steps = []step{{"power_off", cmds.PowerOff}}
		}
	case workerproto.PowerReset:
		switch {
		case len(cmds.HardReset) > 0:
			steps = []step{{"hard_reset", cmds.HardReset}}
		case len(cmds.PowerOn) > 0:
			steps = []step{{"power_off", cmds.PowerOff}, {"power_on", cmds.PowerOn}}
		}
	}
	if len(steps) == 0 {
		s.log.Logf(workerproto.LevelWarning, "%s: power %s asked by %s: the device has no command for it (power_on_command, power_off_command, hard_reset_command)", host, in.Power, in.User)
		return
	}
	names := make([]string, len(steps))
	for i, st := range steps {
		names[i] = st.name
	}
	s.log.Logf(workerproto.LevelInfo, "%s: power %s asked by %s: running %s", host, in.Power, in.User, strings.Join(names, ", then "))
	start := time.Now()
	for _, st := range steps {
		if err := s.b.power(s.ctx, st.name, st.lines); err != nil {
			s.log.Logf(workerproto.LevelWarning, "%s: power %s asked by %s failed: %v", host, in.Power, in.User, err)
			return
		}
	}
	s.log.Logf(workerproto.LevelInfo, "%s: power %s asked by %s: done in %s", host, in.Power, in.User, time.Since(start).Round(time.Millisecond))
}

// record copies everything the console prints to the journal as target
// records until the console ends: each complete line at once, with its
// terminator; a partial line once the console was quiet for
// ConsoleIdleFlush, or has been held for ConsoleMaxHold (a UTF-8 sequence
// cut by a read waits for its end).
func (s *consoleSession) record(r io.Reader) {
	defer s.written.Done()
	chunks := make(chan []byte, 64)
	go func() {
		defer close(chunks)
		buf := make([]byte, readSize)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				chunks <- append([]byte(nil), buf[:n]...)
			}
			if err != nil {
				return
			}
		}
	}()
	var pending []byte
	var since time.Time // when the output pending started
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	emit := func(all bool) {
		s.log.Batch(func() {
			for len(pending) > 0 {
				i := bytes.IndexByte(pending[:min(len(pending), MaxLineLength)], '\n')
				var n int
				switch {
				case i >= 0:
					n = i + 1
				case len(pending) >= MaxLineLength:
					n = utf8Cut(pending, MaxLineLength)
				case all:
					n = utf8Cut(pending, len(pending))
				default:
					return
				}
				if n == 0 {
					return
				}
				s.log.Log(workerproto.LevelTarget, string(pending[:n]))
				pending = pending[n:]
			}
		})
	}
	for {
		select {
		case b, ok := <-chunks:
			if !ok {
				emit(true)
				if len(pending) > 0 { // a cut UTF-8 sequence at the very end
					s.log.Log(workerproto.LevelTarget, string(pending))
				}
				return
			}
			if len(pending) == 0 {
				since = time.Now()
			}
			pending = append(pending, b...)
			emit(false)
			switch {
			case len(pending) == 0:
			case time.Since(since) >= ConsoleMaxHold:
				emit(true)
				since = time.Now()
			default:
				idle.Reset(ConsoleIdleFlush)
			}
		case <-idle.C:
			emit(true)
		}
	}
}

// utf8Cut returns where to cut b at n bytes or before, so that a valid
// UTF-8 sequence cut short at the end waits for its end: n, or n minus the
// start of such a sequence (0 when b is only that).
func utf8Cut(b []byte, n int) int {
	for k := 1; k <= utf8.UTFMax-1 && k <= n; k++ {
		c := b[n-k]
		if c < utf8.RuneSelf {
			return n
		}
		if utf8.RuneStart(c) {
			if !utf8.FullRune(b[n-k : n]) {
				return n - k
			}
			return n
		}
	}
	return n
}
