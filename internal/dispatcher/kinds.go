package dispatcher

import (
	"context"
	"errors"
	"slices"

	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// deviceKind is one kind of device the dispatcher drives, in one place:
// how a device of the kind is opened, the deploy targets and boot methods
// it runs (devicedict.KindMethods, which the server's submission checks
// use too; a board runs those its rendered configuration offers), and how
// its deploy and boot actions are built. Adding a kind is adding an entry
// here (CONTRIBUTING.md's checklist for a new device kind).
type deviceKind struct {
	// open opens a device of this kind.
	open func(ctx context.Context, src deviceSource) (Device, *deviceConfig, error)
	// deploy returns the deploy action for a target the kind runs, and
	// whether it puts the LAVA overlay on the device. problems collects
	// what the job cannot do (validation).
	deploy func(job *jobdef.Job, d *jobdef.Deploy, cfg *deviceConfig, problems func(format string, args ...any)) (act Action, overlay bool)
	// boot completes a boot action for the kind (what to prepare before
	// power on, a bootloader to drive); deployed says a deploy action
	// came before. It returns why the boot cannot run, if it cannot.
	boot func(b *bootAction, a *jobdef.Boot, cfg *deviceConfig, deployed bool) error
}

// kinds are the device kinds, by devicedict's kind names.
var kinds = map[string]deviceKind{
	devicedict.KindSimulated: {open: openSimulated, deploy: simulatedDeploy, boot: noBootSetup},
	devicedict.KindQEMU:      {open: openQEMU, deploy: qemuDeploy, boot: qemuBoot},
	devicedict.KindBoard:     {open: openBoardDevice, deploy: boardDeploy, boot: boardBoot},
}

// checkDeploy says why the device cannot run a deploy to target ("" when
// it can).
func checkDeploy(kind string, cfg *deviceConfig, target string) string {
	return devicedict.DeployProblem(kind, cfg.Rendered, cfg.Hostname, target)
}

// checkBoot says why the device cannot run boot b ("" when it can).
func checkBoot(kind string, cfg *deviceConfig, b *jobdef.Boot) string {
	return devicedict.BootProblem(kind, cfg.Rendered, cfg.Hostname, b)
}

// simulatedDeploy records what a job deploys on a simulated device.
func simulatedDeploy(_ *jobdef.Job, d *jobdef.Deploy, _ *deviceConfig, _ func(string, ...any)) (Action, bool) {
	return &simDeploy{name: deployNames[d.To], deploy: d}, false
}

// qemuDeploy downloads the images QEMU boots (their qemu arguments
// checked); the overlay goes into a ramdisk that asks for it.
func qemuDeploy(_ *jobdef.Job, d *jobdef.Deploy, _ *deviceConfig, problems func(string, ...any)) (Action, bool) {
	var names []string
	args := map[string]string{}
	overlay := false
	for n, img := range d.Images {
		names = append(names, n)
		args[n] = img.ImageArg
		if img.Overlays != nil && img.Overlays.Lava {
			overlay = true
		}
	}
	slices.Sort(names)
	if d.To != "download" {
		for _, msg := range checkQEMUImages(names, args) {
			problems("deploy: %s", msg)
		}
	}
	return &imageDeploy{name: deployNames[d.To], deploy: d}, overlay
}

// boardDeploy publishes a board's boot files (deploy to: tftp).
func boardDeploy(job *jobdef.Job, d *jobdef.Deploy, cfg *deviceConfig, _ func(string, ...any)) (Action, bool) {
	overlay := false
	for _, img := range d.Images {
		overlay = overlay || overlayWanted(job, &img)
	}
	return newTFTPDeploy(d, cfg), overlay
}

// noBootSetup is the boot of a device that needs nothing before power
// on.
func noBootSetup(*bootAction, *jobdef.Boot, *deviceConfig, bool) error { return nil }

// qemuBoot tells QEMU what to boot before it is powered on.
func qemuBoot(b *bootAction, _ *jobdef.Boot, cfg *deviceConfig, deployed bool) error {
	if !deployed {
		return errNothingToBoot
	}
	b.prepare = prepareQEMU(cfg)
	b.ignored = "the overlay goes into the ramdisk"
	return nil
}

// boardBoot drives the board's bootloader for the bootloader methods.
func boardBoot(b *bootAction, a *jobdef.Boot, cfg *deviceConfig, _ bool) error {
	if !slices.Contains(jobdef.BootloaderMethods, a.Method) {
		return nil
	}
	var err error
	if b.bootloader, err = newBootloaderStep(a, cfg); err != nil {
		return err
	}
	b.ignored = "the overlay goes into the ramdisk"
	return nil
}

// errNothingToBoot refuses a QEMU boot with no deploy before it.
var errNothingToBoot = errors.New("nothing to boot: no deploy action before this boot deploys images")
