package dispatcher

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/dispatcher/qemu"
	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Device is a device under test as the pipeline drives it: a console
// stream and power control.
//
// The console lives from OpenDevice to Close, across power cycles, like a
// serial line: Read blocks until output arrives and returns io.EOF after
// Close once everything was read; Write types on the console (bytes sent
// while the device is off may be lost). PowerOn boots the device,
// power-cycling it if it is on, and returns once the boot has started;
// PowerOff stops it. Close releases the device and ends the console; it is
// called once, by the finalize action.
type Device interface {
	// Kind names the implementation ("simulated", "qemu"); pipeline
	// builders pick deploy and boot methods by it.
	Kind() string
	Hostname() string
	Console() io.ReadWriter
	PowerOn(ctx context.Context) error
	PowerOff(ctx context.Context) error
	Close() error
}

// deviceConfig is what the pipeline knows about the device besides the
// Device itself: settings from its dictionary, resolved with the job's
// context.
type deviceConfig struct {
	Hostname, DeviceType string
	// BootConsole is the kernel's console= argument on QEMU devices.
	BootConsole string
	// ExtraKernelArgs are appended to the kernel command line.
	ExtraKernelArgs string
	// KernelStart is the kernel start message boot actions wait for (""
	// for none).
	KernelStart string
	// Environment is the dictionary's environment, exported on the device.
	Environment map[string]string
	// UserCommands are the dictionary's user_commands.
	UserCommands map[string]UserCommand
	// Constants are base.jinja2's constants (test shell, overlay root, …).
	Constants devicedict.Constants
	// Timeouts and Connections are the device's timeouts.actions and
	// timeouts.connections by pipeline action name: base.jinja2's
	// defaults, replaced by the dictionary's action_timeout_* and
	// connection_timeout_* variables.
	Timeouts    map[string]time.Duration
	Connections map[string]time.Duration
	// Rendered is the device's rendered configuration, when the device
	// came with one (boards); nil for devices read from their dictionary.
	Rendered *deviceconfig.Config
}

// OpenDevice returns the device an assignment names, from its device
// dictionary resolved with the job's context. A dictionary that does not
// parse or validate, or names a device this worker cannot drive (no QEMU
// binary, no dictionary at all), is a Configuration error. logf receives
// the device's own messages (QEMU command lines, QEMU errors).
func OpenDevice(ctx context.Context, d workerproto.Device, jobContext map[string]any, log deviceLog) (Device, *deviceConfig, error) {
	if d.ConfigError != "" {
		return nil, nil, ConfigurationError("%s", d.ConfigError)
	}
	src := deviceSource{dev: d, jobContext: jobContext, log: log}
	var name string
	if d.Config != "" {
		rc, err := deviceconfig.Read(d.Config)
		if err != nil {
			return nil, nil, ConfigurationError("device %s: its rendered configuration: %w", d.Hostname, err)
		}
		if rc.Commands.Connect == "" && len(rc.Commands.Connections) == 0 {
			return nil, nil, ConfigurationError("device %s: %s", d.Hostname, devicedict.NoConsole)
		}
		src.rendered, name = rc, devicedict.KindBoard
	} else {
		dict, err := devicedict.Parse(d.Dictionary)
		if err != nil {
			return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
		}
		if err := dict.Validate(d.DeviceType); err != nil {
			return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
		}
		src.dict, name = dict, devicedict.Kind(dict, d.DeviceType)
		if name == "" {
			if strings.TrimSpace(d.Dictionary) == "" {
				return nil, nil, ConfigurationError("device %s has no device dictionary: set one (see docs/device-dictionaries.md)", d.Hostname)
			}
			return nil, nil, ConfigurationError("device %s: device dictionaries of template %q cannot run jobs in this release", d.Hostname, dict.Template)
		}
	}
	k, ok := kinds[name]
	if !ok {
		return nil, nil, ConfigurationError("device %s: devices of kind %q cannot run jobs in this release", d.Hostname, name)
	}
	return k.open(ctx, src)
}

// deviceSource is what opening a device starts from: the assignment's
// device, and either its rendered configuration or its parsed dictionary.
type deviceSource struct {
	dev        workerproto.Device
	jobContext map[string]any
	log        deviceLog
	rendered   *deviceconfig.Config // a board's
	dict       *devicedict.Dict     // devices read from their dictionary
}

// dictConfig is the configuration of a device read from its dictionary's
// variables (resolved with the job's context), and the variables.
func (s deviceSource) dictConfig() (*deviceConfig, map[string]any) {
	d := s.dev
	vars := s.dict.Resolve(s.jobContext)
	cfg := &deviceConfig{
		Hostname: d.Hostname, DeviceType: d.DeviceType,
		Environment: devicedict.Environment(vars),
		Constants:   devicedict.ReadConstants(vars),
	}
	dt := devicedict.Timeouts(vars)
	cfg.Timeouts, cfg.Connections = dt.Actions, dt.Connections
	if uc := devicedict.UserCommands(vars); len(uc) > 0 {
		cfg.UserCommands = map[string]UserCommand{}
		for name, c := range uc {
			cfg.UserCommands[name] = UserCommand{Do: c.Do, Undo: c.Undo}
		}
	}
	return cfg, vars
}

// openSimulated opens a simulated device from its dictionary.
func openSimulated(_ context.Context, src deviceSource) (Device, *deviceConfig, error) {
	cfg, vars := src.dictConfig()
	// Either form: YAML's simulated: mapping or Jinja2's
	// {% set simulated = {…} %}, resolved like every variable.
	m, _ := vars[devicedict.SimulatedVar].(map[string]any)
	sc, err := simdevice.ParseConfig(m)
	if err != nil {
		return nil, nil, ConfigurationError("device %s: %w", src.dev.Hostname, err)
	}
	// A simulated console prints a kernel banner only when told to: wait
	// for one only when the dictionary names it.
	if _, ok := vars["kernel_start_message"]; ok {
		cfg.KernelStart = cfg.Constants.KernelStartMessage
	}
	return simdevice.New(src.dev.Hostname, sc), cfg, nil
}

// openQEMU opens a QEMU device from its dictionary; log receives its own
// messages (QEMU command lines, QEMU errors).
func openQEMU(_ context.Context, src deviceSource) (Device, *deviceConfig, error) {
	cfg, vars := src.dictConfig()
	q, err := devicedict.QEMUConfig(vars)
	if err != nil {
		return nil, nil, ConfigurationError("device %s: %w", src.dev.Hostname, err)
	}
	qc := qemu.Config{
		Binary: q.Binary, Machine: q.Machine, CPU: q.CPU, MemoryMiB: q.MemoryMiB, CPUs: q.CPUs,
		NetDevice: q.NetDevice, Model: q.Model, MAC: q.MAC, VGA: q.VGA, Serial: q.Serial,
		ExtraOptions: q.ExtraOptions, KVM: q.KVM,
	}
	if err := qc.Validate(); err != nil {
		return nil, nil, ConfigurationError("device %s: %w", src.dev.Hostname, err)
	}
	cfg.BootConsole, cfg.ExtraKernelArgs = q.BootConsole, q.ExtraKernelArgs
	cfg.KernelStart = cfg.Constants.KernelStartMessage
	logf := func(format string, args ...any) { src.log(workerproto.LevelDebug, format, args...) }
	return qemu.New(src.dev.Hostname, qc, logf), cfg, nil
}

// openBoardDevice opens a board from its rendered configuration.
func openBoardDevice(ctx context.Context, src deviceSource) (Device, *deviceConfig, error) {
	d, rc, log := src.dev, src.rendered, src.log
	k := rc.Constants
	cfg := &deviceConfig{
		Hostname: d.Hostname, DeviceType: d.DeviceType,
		Environment: rc.Environment,
		Constants: devicedict.Constants{
			ShCmd: k.ShCmd, ResultsDir: k.ResultsDir, ShellFile: k.ShellFile,
			DefaultShellPrompt: k.DefaultShellPrompt, KernelStartMessage: k.KernelStartMessage,
			ShutdownMessage: k.ShutdownMessage, FailureRetry: k.FailureRetry, BootRetry: k.BootRetry,
		},
		KernelStart: k.KernelStartMessage,
		Timeouts:    devicedict.Timeouts(nil).Actions, Connections: devicedict.Timeouts(nil).Connections,
		Rendered: rc,
	}
	// The rendered timeouts replace base.jinja2's defaults name by name.
	for name, d := range rc.Timeouts.Actions {
		cfg.Timeouts[name] = d
	}
	for name, d := range rc.Timeouts.Connections {
		cfg.Connections[name] = d
	}
	if len(rc.Commands.Users) > 0 {
		cfg.UserCommands = map[string]UserCommand{}
		for name, c := range rc.Commands.Users {
			cfg.UserCommands[name] = UserCommand{Do: c.Do, Undo: c.Undo}
		}
	}
	b, err := openBoard(ctx, d.Hostname, rc, log)
	if err != nil {
		return nil, nil, err
	}
	return b, cfg, nil
}

// describeDevice is the log line naming an opened device.
func describeDevice(dev Device) string {
	return fmt.Sprintf("%s: %s device", dev.Hostname(), dev.Kind())
}
