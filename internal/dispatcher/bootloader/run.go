package bootloader

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Console is the device console as Run needs it. The dispatcher's Conn
// provides Send and Expect; SendRaw types s without a newline.
type Console interface {
	// Send types line followed by a newline.
	Send(ctx context.Context, line string) error
	// SendRaw types s as it is.
	SendRaw(ctx context.Context, s string) error
	// Expect waits until one of patterns matches the console output not
	// yet consumed, consumes it up to the end of the match and returns the
	// pattern's index; what describes the wait for messages.
	Expect(ctx context.Context, what string, patterns ...*regexp.Regexp) (int, error)
}

// Options tune Run.
type Options struct {
	// InterruptTimeout bounds the wait for the interrupt prompt (LAVA's
	// bootloader-interrupt timeout, 30 s by default). Zero: ctx only.
	InterruptTimeout time.Duration
	// PromptTimeout bounds each wait for the prompt or the final message
	// (LAVA's bootloader-commands connection timeout). Zero: ctx only.
	PromptTimeout time.Duration
	// ExpectFinal waits for the method's final message after the last
	// command (true for the u-boot, ipxe, grub, barebox methods; false for
	// the generic bootloader method, which stays at the prompt).
	ExpectFinal bool
	// FinalMessage replaces the method's final message when not empty
	// (the job's bootloader-final-message).
	FinalMessage string
	// AtPrompt says the bootloader already shows its prompt: Run types
	// the commands without interrupting.
	AtPrompt bool
	// Sleep waits between typed characters when the method has a
	// character delay; nil uses a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logf, when set, receives one line per step.
	Logf func(format string, args ...any)
}

// compiled holds a method's regular expressions.
type compiled struct {
	prompt, interrupt, final *regexp.Regexp
	errors                   []*regexp.Regexp
}

func compile(m Method, final string) (compiled, error) {
	var c compiled
	var err error
	re := func(what, p string) (*regexp.Regexp, error) {
		if len(p) > MaxPatternLength {
			return nil, jobErrorf("%s is %d bytes long (at most %d)", what, len(p), MaxPatternLength)
		}
		r, err := regexp.Compile(p)
		if err != nil {
			return nil, jobErrorf("%s %s is not a valid regular expression: %v", what, quote(p), err)
		}
		return r, nil
	}
	if m.BootloaderPrompt == "" {
		return c, jobErrorf("boot method %s: missing bootloader prompt", m.Name)
	}
	if c.prompt, err = re("the bootloader prompt", m.BootloaderPrompt); err != nil {
		return c, err
	}
	if m.NeedsInterrupt {
		if m.InterruptPrompt == "" {
			return c, jobErrorf("boot method %s: missing interrupt prompt", m.Name)
		}
		if c.interrupt, err = re("the interrupt prompt", m.InterruptPrompt); err != nil {
			return c, err
		}
	}
	if final != "" {
		if c.final, err = re("the final message", final); err != nil {
			return c, err
		}
	}
	for _, e := range m.ErrorMessages {
		r, err := re("the error message", e)
		if err != nil {
			return c, err
		}
		c.errors = append(c.errors, r)
	}
	return c, nil
}

// Run interrupts the bootloader of m on console (unless opts.AtPrompt) and
// types commands, waiting for the prompt after each one and, after the
// last, for the final message when opts.ExpectFinal and the method has
// one. commands must be substituted already (see Substitute); a command
// still holding a placeholder is refused before anything is typed.
func Run(ctx context.Context, console Console, m Method, commands []string, opts Options) error {
	if len(commands) == 0 {
		return jobErrorf("no bootloader commands for boot method %s", m.Name)
	}
	if _, err := checkCommands(commands); err != nil {
		return err
	}
	if left := Unresolved(commands); len(left) > 0 {
		return jobErrorf("placeholder %s has no value in the bootloader commands (%d left; is the deployment or the kernel type missing?)", left[0], len(left))
	}
	final := m.FinalMessage
	if opts.FinalMessage != "" {
		final = opts.FinalMessage
	}
	c, err := compile(m, final)
	if err != nil {
		return err
	}
	for _, ch := range m.InterruptCtrl {
		if _, err := controlChar(ch); err != nil {
			return err
		}
	}
	r := runner{console: console, m: m, c: c, opts: opts}
	atPrompt := opts.AtPrompt
	if !atPrompt {
		if atPrompt, err = r.interrupt(ctx); err != nil {
			return err
		}
	}
	return r.commands(ctx, commands, atPrompt)
}

type runner struct {
	console Console
	m       Method
	c       compiled
	opts    Options
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Logf != nil {
		r.opts.Logf(format, args...)
	}
}

// interrupt is LAVA's bootloader-interrupt: it reports whether the prompt
// was already seen (a method that needs no interrupt waits for it).
func (r *runner) interrupt(ctx context.Context) (bool, error) {
	const action = "bootloader-interrupt"
	if !r.m.NeedsInterrupt {
		r.logf("not interrupting %s, waiting for the bootloader prompt", r.m.Name)
		if _, err := r.wait(ctx, action, "", r.opts.InterruptTimeout, "the bootloader prompt "+quote(r.m.BootloaderPrompt), r.c.prompt); err != nil {
			return false, err
		}
		return true, nil
	}
	r.logf("waiting for the interrupt prompt %s", quote(r.m.InterruptPrompt))
	if _, err := r.wait(ctx, action, "", r.opts.InterruptTimeout, "the interrupt prompt "+quote(r.m.InterruptPrompt), r.c.interrupt); err != nil {
		return false, err
	}
	var err error
	switch {
	case len(r.m.InterruptCtrl) > 0:
		for _, ch := range r.m.InterruptCtrl {
			b, _ := controlChar(ch)
			r.logf("sending Ctrl-%s", ch)
			if err = r.console.SendRaw(ctx, string([]byte{b})); err != nil {
				break
			}
		}
	case r.m.InterruptNewline:
		r.logf("sending the interrupt %s and a newline", quote(r.m.InterruptChar))
		err = r.console.Send(ctx, r.m.InterruptChar)
	default:
		r.logf("sending the interrupt %s", quote(r.m.InterruptChar))
		err = r.console.SendRaw(ctx, r.m.InterruptChar)
	}
	if err != nil {
		return false, &Error{Kind: Infrastructure, Action: action, Msg: "type the interrupt", Err: err}
	}
	return false, nil
}

// commands is LAVA's bootloader-commands.
func (r *runner) commands(ctx context.Context, commands []string, atPrompt bool) error {
	const action = "bootloader-commands"
	promptWhat := "the bootloader prompt " + quote(r.m.BootloaderPrompt)
	if !atPrompt {
		if _, err := r.wait(ctx, action, "", r.opts.PromptTimeout, promptWhat, r.c.prompt); err != nil {
			return err
		}
	}
	for i, line := range commands {
		if err := r.send(ctx, line); err != nil {
			return &Error{Kind: Infrastructure, Action: action, Command: line, Msg: "type " + quote(line), Err: err}
		}
		what, first := promptWhat, r.c.prompt
		if i == len(commands)-1 {
			if r.c.final == nil || !r.opts.ExpectFinal {
				return nil
			}
			what, first = "the final message "+quote(r.c.final.String()), r.c.final
		}
		idx, err := r.wait(ctx, action, line, r.opts.PromptTimeout, what, append([]*regexp.Regexp{first}, r.c.errors...)...)
		if err != nil {
			return err
		}
		if idx != 0 {
			p := r.m.ErrorMessages[idx-1]
			return &Error{Kind: Infrastructure, Action: action, Command: line, Matched: p,
				Msg: fmt.Sprintf("matched a bootloader error message: %s (after %s)", quote(p), quote(line))}
		}
	}
	return nil
}

// send types line, one character at a time when the method has a
// character delay.
func (r *runner) send(ctx context.Context, line string) error {
	r.logf("typing %s", quote(line))
	if r.m.CharacterDelay <= 0 {
		return r.console.Send(ctx, line)
	}
	sleep := r.opts.Sleep
	if sleep == nil {
		sleep = sleepCtx
	}
	for _, ch := range line + "\n" {
		if err := r.console.SendRaw(ctx, string(ch)); err != nil {
			return err
		}
		if err := sleep(ctx, r.m.CharacterDelay); err != nil {
			return err
		}
	}
	return nil
}

// wait expects patterns within timeout (when not zero) and turns a
// failure into an *Error.
func (r *runner) wait(ctx context.Context, action, after string, timeout time.Duration, what string, patterns ...*regexp.Regexp) (int, error) {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeoutCause(ctx, timeout, errTimeout)
		defer cancel()
	}
	idx, err := r.console.Expect(wctx, what, patterns...)
	if err == nil {
		return idx, nil
	}
	msg := "waiting for " + what
	if after != "" {
		msg += " after " + quote(after)
	}
	if ctx.Err() == nil && wctx.Err() != nil {
		msg += fmt.Sprintf(" (gave up after %s)", timeout)
	}
	return -1, &Error{Kind: Infrastructure, Action: action, Command: after, Msg: msg, Err: err}
}

// errTimeout is the cause of a wait that ran out of its own time.
var errTimeout = errors.New("bootloader wait timed out")

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
