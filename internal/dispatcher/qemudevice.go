package dispatcher

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/dispatcher/qemu"
)

// imageArgNames are the images QEMU knows how to boot without an
// image_arg, and the option each gets.
var imageArgNames = map[string]string{
	"kernel":  "-kernel",
	"initrd":  "-initrd",
	"ramdisk": "-initrd",
	"dtb":     "-dtb",
}

// checkQEMUImages refuses, at validation, deploy images QEMU could not be
// given: an image that is neither one of imageArgNames nor has an
// image_arg, or whose image_arg does not split like a shell command line.
func checkQEMUImages(names []string, imageArgs map[string]string) []string {
	var problems []string
	for _, name := range names {
		arg := imageArgs[name]
		if arg == "" {
			if _, ok := imageArgNames[name]; !ok {
				problems = append(problems, fmt.Sprintf("image %q has no image_arg: QEMU would not know how to attach it (give image_arg, e.g. \"-drive format=raw,file={%s}\")", name, name))
			}
			continue
		}
		if _, err := qemu.SplitArgs(arg); err != nil {
			problems = append(problems, fmt.Sprintf("image %q: image_arg %q: %v", name, arg, err))
		}
	}
	return problems
}

// qemuImageArgs returns the QEMU arguments that boot the deployed images:
// each image's image_arg split like a shell command line with {name}
// replaced by the image's file (for every deployed image, as LAVA does), or
// -kernel/-initrd/-dtb for images without one, and — when a kernel is
// booted and no image_arg gives -append — the kernel command line
// "console=<boot console> <extra kernel args>" (either part left out when
// empty; no -append when both are).
func qemuImageArgs(images []DeployedImage, console, extraKernelArgs string) ([]string, error) {
	var args []string
	kernel, appendGiven := false, false
	for _, im := range images {
		if im.Image == nil || im.Image.ImageArg == "" {
			opt, ok := imageArgNames[im.Name]
			if !ok {
				return nil, JobError("image %q has no image_arg", im.Name)
			}
			kernel = kernel || opt == "-kernel"
			args = append(args, opt, im.Path)
			continue
		}
		parts, err := qemu.SplitArgs(im.Image.ImageArg)
		if err != nil {
			return nil, JobError("image %q: image_arg %q: %v", im.Name, im.Image.ImageArg, err)
		}
		for i, p := range parts {
			for _, other := range images {
				p = strings.ReplaceAll(p, "{"+other.Name+"}", other.Path)
			}
			parts[i] = p
		}
		kernel = kernel || slices.Contains(parts, "-kernel")
		appendGiven = appendGiven || slices.Contains(parts, "-append")
		args = append(args, parts...)
	}
	if kernel && !appendGiven {
		var cmdline []string
		if console != "" {
			cmdline = append(cmdline, "console="+console)
		}
		if extraKernelArgs != "" {
			cmdline = append(cmdline, extraKernelArgs)
		}
		if len(cmdline) > 0 {
			args = append(args, "-append", strings.Join(cmdline, " "))
		}
	}
	return args, nil
}

// prepareQEMU is the boot action's first step on a QEMU device: it tells
// the device what the deployed images are.
func prepareQEMU(cfg *deviceConfig) func(ctx context.Context, env *Env) error {
	return func(ctx context.Context, env *Env) error {
		qd, ok := env.Device.(*qemu.Device)
		if !ok {
			return fmt.Errorf("boot-qemu-image on a %s device", env.Device.Kind())
		}
		if len(env.Session.Deployed) == 0 {
			return JobError("nothing to boot: no deploy action deployed images before this boot")
		}
		args, err := qemuImageArgs(env.Session.Deployed, cfg.BootConsole, cfg.ExtraKernelArgs)
		if err != nil {
			return err
		}
		qd.SetBoot(qemu.Boot{Args: args})
		return nil
	}
}
