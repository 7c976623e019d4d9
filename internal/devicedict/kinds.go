package devicedict

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// KindBoard is the kind of a device whose dictionary renders through a
// device-type template into connection and power commands: a physical
// board (or anything driven like one).
const KindBoard = "board"

// kindMethods are the deploy targets and boot methods each kind of device
// runs in this release; a board runs those of them its rendered
// configuration offers.
var kindMethods = map[string]struct{ deploys, boots []string }{
	KindSimulated: {deploys: []string{"download", "downloads", "tmpfs"}, boots: []string{"minimal", "qemu"}},
	KindQEMU:      {deploys: []string{"download", "downloads", "tmpfs"}, boots: []string{"minimal", "qemu"}},
	KindBoard:     {deploys: []string{"tftp"}, boots: []string{"barebox", "bootloader", "grub", "ipxe", "minimal", "new_connection", "u-boot"}},
}

// KindMethods returns the deploy targets and boot methods a kind of device
// runs (nil for an unknown kind).
func KindMethods(kind string) (deploys, boots []string) {
	m, ok := kindMethods[kind]
	if !ok {
		return nil, nil
	}
	return slices.Clone(m.deploys), slices.Clone(m.boots)
}

// deviceMethodTargets are the deploy targets that need a deploy method of
// the same name in the device's configuration; the others (download,
// downloads, tmpfs) run on any device of a kind that has them, as in LAVA.
var deviceMethodTargets = map[string]bool{"tftp": true}

// DeployProblem says why a device of kind, whose rendered configuration is
// rc (nil for devices without one), cannot run a deploy to target; "" when
// it can. hostname names the device in the message.
func DeployProblem(kind string, rc *deviceconfig.Config, hostname, target string) string {
	deploys, _ := KindMethods(kind)
	if !slices.Contains(deploys, target) {
		return fmt.Sprintf("deploy to %s is not available on %s devices (they run: %s)", target, kindName(kind), orNone(deploys))
	}
	if rc != nil && deviceMethodTargets[target] {
		if _, ok := rc.DeployMethods[target]; !ok {
			return fmt.Sprintf("deploy to %s is not available on device %s: its device type offers %s", target, hostname, orNone(rc.DeployMethodNames()))
		}
	}
	return ""
}

// BootProblem says why a device of kind with rendered configuration rc
// (nil for none) cannot run boot b; "" when it can. The generic bootloader
// method needs the boot method it names (b.Bootloader); new_connection
// needs a secondary connection of that name (ConnectionProblem).
func BootProblem(kind string, rc *deviceconfig.Config, hostname string, b *jobdef.Boot) string {
	_, why := bootProblemAt(kind, rc, hostname, b)
	return why
}

// bootProblemAt is BootProblem, with the key of the boot action the
// problem is about (method or connection).
func bootProblemAt(kind string, rc *deviceconfig.Config, hostname string, b *jobdef.Boot) (key, why string) {
	_, boots := KindMethods(kind)
	if !slices.Contains(boots, b.Method) {
		return "method", fmt.Sprintf("boot method %s is not available on %s devices (they run: %s)", b.Method, kindName(kind), orNone(boots))
	}
	if b.Method == jobdef.NewConnection {
		// Like LAVA's, the method is not one of the device type's boot
		// methods: any board with connections runs it.
		return "connection", ConnectionProblem(rc, hostname, b.Connection)
	}
	if rc == nil || b.Method == "minimal" {
		return "", ""
	}
	method := b.Method
	if method == "bootloader" {
		method = b.Bootloader
	}
	if _, ok := rc.BootMethods[method]; !ok {
		return "method", fmt.Sprintf("boot method %s is not available on device %s: its device type offers %s", method, hostname, orNone(rc.BootMethodNames()))
	}
	return "", ""
}

// ConnectionProblem says why a device with rendered configuration rc
// (nil: not known here) cannot open the secondary connection name for a
// new_connection boot; "" when it can. The connection must be one of its
// commands.connections (a dictionary's connection_list) and not the one
// tagged primary, which the job has open already.
func ConnectionProblem(rc *deviceconfig.Config, hostname, name string) string {
	if rc == nil {
		return ""
	}
	conns := rc.Commands.Connections
	c, ok := conns[name]
	switch {
	case len(conns) == 0:
		return fmt.Sprintf("connection %q: device %s has no named connections (set connection_list, connection_commands and connection_tags in its dictionary)", name, hostname)
	case !ok:
		return fmt.Sprintf("connection %q: device %s has no such connection (its connections: %s)", name, hostname, strings.Join(slices.Sorted(maps.Keys(conns)), ", "))
	case slices.Contains(c.Tags, "primary"):
		return fmt.Sprintf("connection %q: it is the primary connection of device %s, open for the whole job; new_connection opens one of the others (%s)", name, hostname, orNone(secondaryNames(conns)))
	}
	return ""
}

// secondaryNames are the names of the connections not tagged primary,
// sorted.
func secondaryNames(conns map[string]deviceconfig.Connection) []string {
	var out []string
	for name, c := range conns {
		if !slices.Contains(c.Tags, "primary") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// NoConsole says why a device whose dictionary renders through a template
// cannot run jobs when its configuration names no console.
const NoConsole = "its rendered configuration names no console (commands.connect): set connection_command in its dictionary (or connection_list and connection_commands)"

// JobProblem checks every deploy and boot action of job against a device
// and returns the path of the first action it cannot run and why ("" when
// it can run them all).
func JobProblem(kind string, rc *deviceconfig.Config, hostname string, job *jobdef.Job) (path, why string) {
	if kind == KindBoard && rc != nil && rc.Commands.Connect == "" && len(rc.Commands.Connections) == 0 {
		return "$.device_type", fmt.Sprintf("device %s: %s", hostname, NoConsole)
	}
	if kind == KindQEMU && rc != nil {
		if why := archProblem(rc, hostname, job.Context); why != "" {
			return "$.context.arch", why
		}
	}
	for i := range job.Actions {
		a := &job.Actions[i]
		switch {
		case a.Kind == jobdef.KindDeploy && a.Deploy != nil:
			if why := DeployProblem(kind, rc, hostname, a.Deploy.To); why != "" {
				return fmt.Sprintf("$.actions[%d].deploy.to", i), why
			}
		case a.Kind == jobdef.KindBoot && a.Boot != nil:
			if key, why := bootProblemAt(kind, rc, hostname, a.Boot); why != "" {
				return fmt.Sprintf("$.actions[%d].boot.%s", i, key), why
			}
		}
	}
	return "", ""
}

// archProblem says why a qemu device cannot run a job whose context is ctx:
// the context's arch must be one of the configuration's
// available_architectures when it lists them, as LAVA checks; "" when it
// can (or the context sets no arch: the dictionary's or Basalt's default
// applies).
func archProblem(rc *deviceconfig.Config, hostname string, ctx map[string]any) string {
	list, ok := rc.Raw["available_architectures"].([]any)
	v, set := ctx["arch"]
	if !ok || !set || v == nil {
		return ""
	}
	arch := fmt.Sprint(v)
	var names []string
	for _, a := range list {
		if a != nil {
			names = append(names, fmt.Sprint(a))
		}
	}
	if slices.Contains(names, arch) {
		return ""
	}
	return fmt.Sprintf("architecture %q is not available on device %s (context arch; its device type offers %s)", arch, hostname, strings.Join(names, ", "))
}

func kindName(kind string) string {
	if kind == "" {
		return "unconfigured"
	}
	return kind
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
