package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/basalt-lab/basalt/internal/dispatcher/bootloader"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// SendRaw logs s as an "input" record and types it as it is, without a
// newline (a bootloader's interrupt character, control characters).
func (c *Conn) SendRaw(ctx context.Context, s string) error {
	if err := ctx.Err(); err != nil {
		return context.Cause(ctx)
	}
	c.log.Log(workerproto.LevelInput, quoteConsole(s, quotedMax))
	return c.write(ctx, s)
}

// bootloaderStep is the part of a bootloader boot (u-boot, ipxe, grub,
// barebox, bootloader) between power on and the kernel: interrupt the
// bootloader, type the device's commands for the job's deployment, wait
// for the bootloader to hand over (LAVA's bootloader-overlay,
// bootloader-interrupt and bootloader-commands).
type bootloaderStep struct {
	boot   *jobdef.Boot
	method bootloader.Method
	// choice is the job's commands: a command set's name or a list.
	choice any
}

// newBootloaderStep reads the boot method from the device's rendered
// configuration and checks the job's command choice against it.
func newBootloaderStep(b *jobdef.Boot, cfg *deviceConfig) (*bootloaderStep, error) {
	name := b.Method
	if name == "bootloader" {
		name = b.Bootloader
	}
	m, err := bootloader.ParseMethod(cfg.Rendered.Raw, name)
	if err != nil {
		return nil, err
	}
	// The console types with the boot phase's character delay
	// (Conn.SetCharacterDelay): one input record per command in the log.
	m.CharacterDelay = 0
	s := &bootloaderStep{boot: b, method: m}
	switch {
	case b.CommandSet != "":
		s.choice = b.CommandSet
	case len(b.Commands) > 0:
		s.choice = b.Commands
	}
	if s.choice != nil {
		if _, err := m.Commands(s.choice); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// run interrupts the bootloader and types the commands.
func (s *bootloaderStep) run(ctx context.Context, env *Env) error {
	var cmds []string
	if s.choice != nil {
		var err error
		if cmds, err = s.method.Commands(s.choice); err != nil {
			return JobError("%s: %w", s.boot.Method, err)
		}
	}
	rc := env.DeviceConfig.Rendered
	in := bootloader.Inputs{
		Method: s.method.Name, ServerIP: env.run.bootServerIP, JobID: strconv.FormatInt(env.JobID, 10),
		Kernel: env.Session.BootFiles["kernel"], Ramdisk: env.Session.BootFiles["ramdisk"],
		DTB: env.Session.BootFiles["dtb"], Tee: env.Session.BootFiles["tee"], Preseed: env.Session.BootFiles["preseed"],
		KernelType: env.Session.KernelType, BootAddresses: map[string]bootloader.Addresses{},
		LavaMac: s.method.LavaMac,
	}
	in.RamdiskFormat, _ = rc.DeployParameters["add_header"].(string)
	for _, kind := range []string{"bootm", "booti", "bootz", "zboot", "uimage", "image", "zimage", "bzimage"} {
		if a, ok := rc.Addresses(kind); ok {
			in.BootAddresses[kind] = bootloader.Addresses{Kernel: a.Kernel, Ramdisk: a.Ramdisk, DTB: a.DTB, Tee: a.TEE, DTBO: a.DTBO}
		}
	}
	subs, err := bootloader.Substitutions(in)
	if err != nil {
		return JobError("%s: %w", s.boot.Method, err)
	}
	cmds = bootloader.Substitute(cmds, subs)
	opts := bootloader.Options{
		InterruptTimeout: firstPositive(env.DeviceConfig.Timeouts["bootloader-interrupt"], env.DeviceConfig.Timeouts["u-boot-interrupt"]),
		PromptTimeout:    env.DeviceConfig.Connections["bootloader-commands"],
		ExpectFinal:      s.boot.Method != "bootloader",
		Logf:             env.Info,
	}
	if p := s.boot.Parameters; p != nil {
		opts.FinalMessage = p.BootloaderFinalMessage
	}
	err = bootloader.Run(ctx, env.Conn, s.method, cmds, opts)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	var e *bootloader.Error
	if errors.As(err, &e) && e.Kind == bootloader.Job {
		return JobError("%w", err)
	}
	// A console or prompt failure, or an error message of the
	// bootloader: the board or the lab failed, as LAVA counts it.
	var de *Error
	if errors.As(err, &de) {
		return err
	}
	return InfrastructureError("%w", err)
}

// firstPositive returns the first positive duration, or 0.
func firstPositive[T ~int64](ds ...T) T {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// describe names the step for the log.
func (s *bootloaderStep) String() string {
	return fmt.Sprintf("%s (%s)", s.boot.Method, s.method.Name)
}
