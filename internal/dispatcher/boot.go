package dispatcher

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// bootNames are the pipeline names of the boot methods.
var bootNames = map[string]string{
	"qemu":       "boot-qemu-image",
	"minimal":    "minimal-boot",
	"u-boot":     "uboot-action",
	"ipxe":       "bootloader-action",
	"grub":       "grub-main-action",
	"barebox":    "barebox-action",
	"bootloader": "bootloader-action",
	// new_connection is secondaryShell's (connections.go).
	"new_connection": "secondary-shell-action",
}

// kernelPanic is what makes a boot an Infrastructure failure.
var kernelPanic = regexp.MustCompile(`Kernel panic - not syncing`)

// panicTailQuiet and panicTailMax bound how long a boot that saw a kernel
// panic waits for the rest of the panic output before it fails.
const (
	panicTailQuiet = 500 * time.Millisecond
	panicTailMax   = 3 * time.Second
)

// kernelPanicked lets the panic's message and trace reach the log (they
// follow the matched words), then returns the error of a boot that ended
// in a kernel panic, so the log reads in order: the panic, then the error.
func kernelPanicked(ctx context.Context, c *Conn) error {
	c.Settle(ctx, panicTailQuiet, panicTailMax)
	return errKernelPanic()
}

// errKernelPanic is the error of a boot that ended in a kernel panic.
func errKernelPanic() error {
	return InfrastructureError("kernel panic: the kernel printed %q while booting", "Kernel panic - not syncing")
}

// compilePrompts compiles prompts (regular expressions, as in LAVA).
func compilePrompts(what string, prompts []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(prompts))
	for _, p := range prompts {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not a valid regular expression: %w", what, p, err)
		}
		out = append(out, re)
	}
	return out, nil
}

// withPanic returns patterns followed by kernelPanic, in a new slice.
func withPanic(patterns ...*regexp.Regexp) []*regexp.Regexp {
	return append(append(make([]*regexp.Regexp, 0, len(patterns)+1), patterns...), kernelPanic)
}

// bootAction boots the device: prepare it (a QEMU device learns what to
// boot), power on, then wait for the kernel's start message (when there is
// one to wait for) and the shell prompt (after logging in when the job has
// auto_login), watching for a kernel panic.
type bootAction struct {
	name        string
	boot        *jobdef.Boot
	prompts     []*regexp.Regexp
	kernelStart *regexp.Regexp // nil: not awaited
	login       *autoLogin     // nil without auto_login
	// defaultPrompt is the device's default-shell-prompt: the shell
	// prompt of a boot without prompts, not awaited (nil with prompts).
	defaultPrompt *regexp.Regexp
	// kernelWhat and promptWhat say what the waits are for (Expect).
	kernelWhat, promptWhat string
	// prepare runs before power on; nil for devices that need nothing.
	prepare func(ctx context.Context, env *Env) error
	// ignored explains why boot commands and transfer_overlay are not
	// used on this device ("" when they are not given).
	ignored string
	// bootloader, when set, interrupts the bootloader after power on and
	// types the boot commands (the bootloader methods on boards).
	bootloader *bootloaderStep
}

// newBootAction builds the boot action; defaultKernelStart is awaited when
// the job's parameters.kernel-start-message does not override it ("" for
// none); defaultPrompt (the device's default-shell-prompt) is the shell
// prompt after a boot without prompts, as in LAVA.
func newBootAction(b *jobdef.Boot, defaultKernelStart, defaultPrompt string) (*bootAction, error) {
	sb := &bootAction{name: bootNames[b.Method], boot: b}
	var err error
	if sb.prompts, err = compilePrompts("prompt", b.Prompts); err != nil {
		return nil, err
	}
	if len(sb.prompts) == 0 && defaultPrompt != "" {
		if sb.defaultPrompt, err = regexp.Compile(defaultPrompt); err != nil {
			return nil, fmt.Errorf("the device's default-shell-prompt %q is not a valid regular expression: %w", defaultPrompt, err)
		}
	}
	sb.promptWhat = waitingFor("prompt", sb.prompts...)
	start := defaultKernelStart
	if p := b.Parameters; p != nil && p.KernelStartMessage != "" {
		start = p.KernelStartMessage
	}
	if start != "" {
		if sb.kernelStart, err = regexp.Compile(start); err != nil {
			return nil, fmt.Errorf("kernel-start-message %q is not a valid regular expression: %w", start, err)
		}
		sb.kernelWhat = waitingFor("kernel start message", sb.kernelStart)
	}
	if al := b.AutoLogin; al != nil {
		sb.login = &autoLogin{cfg: al, prompts: sb.prompts, promptWhat: sb.promptWhat}
		if sb.login.login, err = regexp.Compile(al.LoginPrompt); err != nil {
			return nil, fmt.Errorf("login_prompt %q is not a valid regular expression: %w", al.LoginPrompt, err)
		}
		sb.login.loginWhat = waitingFor("login prompt", sb.login.login)
		if al.PasswordPrompt != "" {
			if sb.login.password, err = regexp.Compile(al.PasswordPrompt); err != nil {
				return nil, fmt.Errorf("password_prompt %q is not a valid regular expression: %w", al.PasswordPrompt, err)
			}
			sb.login.passwordWhat = waitingFor("password prompt", sb.login.password)
		}
	}
	return sb, nil
}

func (b *bootAction) Name() string { return b.name }

func (b *bootAction) Run(ctx context.Context, env *Env) error {
	if b.bootloader == nil && (len(b.boot.Commands) > 0 || b.boot.CommandSet != "") {
		env.Info("%s: boot commands are not sent (there is no bootloader)", env.Device.Kind())
	}
	if b.boot.TransferOverlay != nil {
		env.Info("%s: transfer_overlay is not used (%s)", env.Device.Kind(), b.ignored)
	}
	if b.prepare != nil {
		if err := b.prepare(ctx, env); err != nil {
			return err
		}
	}
	if bd, ok := env.Device.(*board); ok {
		// minimal's pre_power_command and pre_os_command switches (LAVA's
		// PrePower and PreOs actions).
		for _, c := range []struct {
			on   bool
			name string
		}{{b.boot.PrePowerCommand, "pre_power_command"}, {b.boot.PreOSCommand, "pre_os_command"}} {
			if c.on {
				if err := bd.runNamed(ctx, c.name); err != nil {
					return err
				}
			}
		}
	}
	switch bd, isBoard := env.Device.(*board); {
	case b.boot.Reset != nil && !*b.boot.Reset:
		env.Info("%s: reset: false: the device is not reset", env.Device.Hostname())
	case isBoard && !bd.canPowerCycle():
		if err := softReboot(ctx, env, b.boot); err != nil {
			return err
		}
	default:
		env.Info("%s: power on", env.Device.Hostname())
		if err := env.Device.PowerOn(ctx); err != nil {
			return InfrastructureError("%w", err)
		}
	}
	env.SetPrompts(nil)
	if b.bootloader != nil {
		if err := b.bootloader.run(ctx, env); err != nil {
			return err
		}
	}
	if len(b.prompts) == 0 && !slices.Contains(jobdef.BootloaderMethods, b.boot.Method) {
		// LAVA's qemu and minimal boots without prompts end once the
		// device runs: nothing waits for the kernel or a shell (an
		// interactive test or a monitor reads the console next).
		env.Info("no prompts: the boot ends once the device is started; %s", b.promptless())
		env.SetPrompts(b.noPrompts())
		return nil
	}
	if b.kernelStart != nil {
		i, err := env.Conn.Expect(ctx, b.kernelWhat, withPanic(b.kernelStart)...)
		if err != nil {
			return err
		}
		if i == 1 {
			return kernelPanicked(ctx, env.Conn)
		}
	}
	if b.login != nil {
		if err := env.RunChild(ctx, b.login); err != nil {
			return err
		}
	} else if len(b.prompts) == 0 {
		// A bootloader boot without prompts ends when the kernel started
		// (LAVA's prompts are optional there).
		env.Info("no prompts: the boot ends when the kernel has started; %s", b.promptless())
		env.SetPrompts(b.noPrompts())
		return nil
	} else {
		i, err := env.Conn.Expect(ctx, b.promptWhat, withPanic(b.prompts...)...)
		if err != nil {
			return err
		}
		if i == len(b.prompts) {
			return kernelPanicked(ctx, env.Conn)
		}
	}
	env.SetPrompts(b.prompts)
	return nil
}

// noPrompts is the console's shell prompt after a boot without prompts:
// the device's default-shell-prompt, which LAVA's test shell falls back on.
func (b *bootAction) noPrompts() []*regexp.Regexp {
	if b.defaultPrompt == nil {
		return []*regexp.Regexp{}
	}
	return []*regexp.Regexp{b.defaultPrompt}
}

// promptless says what a boot without prompts leaves for the tests.
func (b *bootAction) promptless() string {
	if b.defaultPrompt == nil {
		return "no shell prompt is known"
	}
	return "a test shell waits for the device's default-shell-prompt " + quotePattern(b.defaultPrompt.String())
}

// login(1)'s messages for refused credentials and a login that took too
// long, which LAVA's auto-login watches for.
const (
	loginIncorrectMsg = "Login incorrect"
	loginTimedOutMsg  = "Login timed out"
)

var (
	loginIncorrect = regexp.MustCompile(regexp.QuoteMeta(loginIncorrectMsg))
	loginTimedOut  = regexp.MustCompile(regexp.QuoteMeta(loginTimedOutMsg))
)

// autoLogin answers the login (and password) prompt, waits for the shell
// prompt and runs the login commands: LAVA's auto-login-action.
type autoLogin struct {
	cfg      *jobdef.AutoLogin
	login    *regexp.Regexp
	password *regexp.Regexp // nil: no password prompt
	prompts  []*regexp.Regexp
	// What the waits are for (Expect).
	loginWhat, passwordWhat, promptWhat string
}

func (a *autoLogin) Name() string { return "auto-login-action" }

func (a *autoLogin) Run(ctx context.Context, env *Env) error {
	env.Info("waiting for the login prompt %q", a.cfg.LoginPrompt)
	i, err := env.Conn.Expect(ctx, a.loginWhat, withPanic(a.login)...)
	if err != nil {
		return err
	}
	if i == 1 {
		return kernelPanicked(ctx, env.Conn)
	}
	if err := env.Conn.Send(ctx, a.cfg.Username); err != nil {
		return err
	}
	if a.password != nil {
		// login(1) gives up with "Login timed out" when the password
		// prompt never matched (a misspelt password_prompt).
		i, err := env.Conn.Expect(ctx, a.passwordWhat+" after the user name", a.password, loginTimedOut)
		if err != nil {
			return err
		}
		if i == 1 {
			return JobError("auto_login: %s: the password prompt %q was not matched; correct it in the job definition", loginTimedOutMsg, a.cfg.PasswordPrompt)
		}
		if err := env.Conn.SendHidden(ctx, a.cfg.Password, journal.Masked); err != nil {
			return err
		}
	}
	// login(1)'s own messages say the credentials were refused (as LAVA
	// reads them; the login prompt alone proves nothing: "Last login: …"
	// matches "login:").
	i, err = env.Conn.Expect(ctx, a.promptWhat+" after the login", append(withPanic(a.prompts...), loginIncorrect, loginTimedOut)...)
	if err != nil {
		return err
	}
	switch i {
	case len(a.prompts):
		return kernelPanicked(ctx, env.Conn)
	case len(a.prompts) + 1:
		return JobError("auto_login: %s: the login as %q was refused", loginIncorrectMsg, a.cfg.Username)
	case len(a.prompts) + 2:
		return JobError("auto_login: %s after the login as %q", loginTimedOutMsg, a.cfg.Username)
	}
	if len(a.cfg.LoginCommands) == 0 {
		return nil
	}
	// As in LAVA, the prompt after each login command is awaited for the
	// connection timeout at most.
	ct, from := env.ConnectionTimeout()
	env.Info("%s: connection timeout %s from %s: the prompt after each login command must come within it", a.Name(), clock(ct), from)
	for _, cmd := range a.cfg.LoginCommands {
		if err := env.Conn.Send(ctx, cmd); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeoutCause(ctx, ct, &connectionTimeout{action: a.Name(), timeout: ct, from: from})
		_, err := env.Conn.Expect(cctx, a.promptWhat+" after the login command "+quoteConsole(cmd, quotedMax), a.prompts...)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				return connectionError(err)
			}
			return err
		}
	}
	return nil
}

// rebootCommands are typed to reboot a device without power commands when
// neither the job (soft_reboot) nor the device (soft_reboot_command) gives
// others (LAVA's REBOOT_COMMAND_LIST).
var rebootCommands = []string{"reboot", "reboot -n", "reboot -nf"}

// softReboot resets a device that has no power commands as LAVA does:
// types the soft reboot commands on its console and waits for the
// shutdown message. A device that does not answer fails the job.
func softReboot(ctx context.Context, env *Env, boot *jobdef.Boot) error {
	cmds := boot.SoftReboot
	if len(cmds) == 0 && env.DeviceConfig.Rendered != nil {
		cmds = env.DeviceConfig.Rendered.Commands.SoftReboot
	}
	if len(cmds) == 0 {
		env.Warning("no soft reboot command in the job or the device: typing %q", rebootCommands)
		cmds = rebootCommands
	}
	msg := env.DeviceConfig.Constants.ShutdownMessage
	if p := boot.Parameters; p != nil && p.ShutdownMessage != "" {
		msg = p.ShutdownMessage
	}
	re, err := regexp.Compile(msg)
	if err != nil {
		return JobError("shutdown-message %q is not a valid regular expression: %w", msg, err)
	}
	for _, c := range cmds {
		if err := env.Conn.Send(ctx, c); err != nil {
			return err
		}
	}
	ct, _ := env.ConnectionTimeout()
	cctx, cancel := context.WithTimeout(ctx, ct)
	defer cancel()
	if _, err := env.Conn.Expect(cctx, waitingFor("shutdown message", re), re); err != nil {
		if ctx.Err() != nil {
			return err
		}
		return JobError("soft reboot failed: %v", err)
	}
	return nil
}
