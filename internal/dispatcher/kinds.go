package dispatcher

import (
	"github.com/basalt-lab/basalt/internal/devicedict"
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

// kinds are the device kinds the dispatcher drives, with what each runs
// (devicedict.KindMethods, which the server's submission checks use too).
var kinds = map[string]deviceKind{
	simdevice.Kind: kindOf(devicedict.KindSimulated),
	qemu.Kind:      kindOf(devicedict.KindQEMU),
	BoardKind:      kindOf(devicedict.KindBoard),
}

func kindOf(name string) deviceKind {
	d, b := devicedict.KindMethods(name)
	return deviceKind{deploys: d, boots: b}
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
