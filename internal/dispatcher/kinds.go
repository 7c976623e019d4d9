package dispatcher

import (
	"fmt"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/dispatcher/qemu"
	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// deviceKind is what the pipeline builder knows of one kind of device:
// the deploy targets and boot methods it runs. A device whose rendered
// configuration lists its methods (a board) offers only those of them
// (offers), as LAVA's validation checks a job against the device.
type deviceKind struct {
	deploys, boots []string
}

// kinds are the device kinds the dispatcher drives.
var kinds = map[string]deviceKind{
	simdevice.Kind: {deploys: []string{"download", "downloads", "tmpfs"}, boots: []string{"minimal", "qemu"}},
	qemu.Kind:      {deploys: []string{"download", "downloads", "tmpfs"}, boots: []string{"minimal", "qemu"}},
	BoardKind:      {deploys: []string{"tftp"}, boots: append([]string{"minimal"}, jobdef.BootloaderMethods...)},
}

// checkDeploy says why the device cannot run a deploy to target ("" when
// it can).
func checkDeploy(kind string, cfg *deviceConfig, target string) string {
	k := kinds[kind]
	if !slices.Contains(k.deploys, target) {
		return fmt.Sprintf("deploy to %s is not available on %s devices (they run: %s)", target, kind, strings.Join(k.deploys, ", "))
	}
	if rc := cfg.Rendered; rc != nil {
		if _, ok := rc.DeployMethods[target]; !ok {
			return fmt.Sprintf("deploy to %s is not available on device %s: its device type offers %s", target, cfg.Hostname, orNone(rc.DeployMethodNames()))
		}
	}
	return ""
}

// checkBoot says why the device cannot run a boot with method (and, for
// the generic bootloader method, bootloader) ("" when it can).
func checkBoot(kind string, cfg *deviceConfig, b *jobdef.Boot) string {
	k := kinds[kind]
	if !slices.Contains(k.boots, b.Method) {
		return fmt.Sprintf("boot method %s is not available on %s devices (they run: %s)", b.Method, kind, strings.Join(k.boots, ", "))
	}
	rc := cfg.Rendered
	if rc == nil || b.Method == "minimal" {
		return ""
	}
	method := b.Method
	if method == "bootloader" {
		method = b.Bootloader
	}
	if _, ok := rc.BootMethods[method]; !ok {
		return fmt.Sprintf("boot method %s is not available on device %s: its device type offers %s", method, cfg.Hostname, orNone(rc.BootMethodNames()))
	}
	return ""
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
