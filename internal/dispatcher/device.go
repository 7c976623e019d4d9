package dispatcher

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/dispatcher/qemu"
	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
	"github.com/basalt-lab/basalt/internal/jinja"
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

// OpenDevice returns the device an assignment names: a board or a qemu
// device from its rendered configuration (the server's, or for a qemu
// device of an older server that sent none, rendered here with Basalt's
// templates and the job's context), a simulated device from its
// dictionary resolved with the job's context. A dictionary or
// configuration that does not parse or validate, or names a device this
// worker cannot drive (no QEMU binary, no dictionary at all), is a
// Configuration error. log receives the device's own messages (QEMU
// command lines, QEMU errors).
func OpenDevice(ctx context.Context, d workerproto.Device, jobContext map[string]any, log deviceLog) (Device, *deviceConfig, error) {
	if d.ConfigError != "" {
		return nil, nil, ConfigurationError("%s", d.ConfigError)
	}
	src := deviceSource{dev: d, jobContext: jobContext, log: log}
	dict, err := devicedict.Parse(d.Dictionary)
	if err != nil && d.Config == "" {
		return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
	}
	name := devicedict.Kind(dict, d.DeviceType)
	config := d.Config
	switch {
	case config == "" && name == devicedict.KindQEMU:
		if err := dict.Validate(d.DeviceType); err != nil {
			return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
		}
		r := &devicedict.Renderer{Templates: jinja.FSLoader(devicetypes.FS())}
		if config, err = r.Render(d.Dictionary, d.Hostname, d.DeviceType, jobContext); err != nil {
			return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
		}
	case config == "":
		if err := dict.Validate(d.DeviceType); err != nil {
			return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
		}
		if name == "" {
			if strings.TrimSpace(d.Dictionary) == "" {
				return nil, nil, ConfigurationError("device %s has no device dictionary: set one (see docs/device-dictionaries.md)", d.Hostname)
			}
			return nil, nil, ConfigurationError("device %s: device dictionaries of template %q cannot run jobs in this release", d.Hostname, dict.Template)
		}
	case name != devicedict.KindQEMU:
		name = devicedict.KindBoard
	}
	src.dict = dict
	if config != "" {
		rc, err := deviceconfig.Read(config)
		if err != nil {
			return nil, nil, ConfigurationError("device %s: its rendered configuration: %w", d.Hostname, err)
		}
		if name == devicedict.KindBoard && rc.Commands.Connect == "" && len(rc.Commands.Connections) == 0 {
			return nil, nil, ConfigurationError("device %s: %s", d.Hostname, devicedict.NoConsole)
		}
		src.rendered = rc
	}
	k, ok := kinds[name]
	if !ok {
		return nil, nil, ConfigurationError("device %s: devices of kind %q cannot run jobs in this release", d.Hostname, name)
	}
	return k.open(ctx, src)
}

// deviceSource is what opening a device starts from: the assignment's
// device, its parsed dictionary and, for boards and qemu devices, its
// rendered configuration.
type deviceSource struct {
	dev        workerproto.Device
	jobContext map[string]any
	log        deviceLog
	rendered   *deviceconfig.Config // boards' and qemu devices'
	dict       *devicedict.Dict     // nil when it does not parse (a board's rendered configuration is enough)
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

// renderedConfig is the configuration of a device read from its rendered
// configuration: base.jinja2's timeouts replaced name by name by the
// rendered ones, its constants, environment and user commands.
func (s deviceSource) renderedConfig() *deviceConfig {
	d, rc := s.dev, s.rendered
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
	return cfg
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

// openQEMU opens a QEMU device from its rendered configuration's qemu
// boot method and its dictionary's variables; log receives its own
// messages (QEMU command lines, QEMU errors).
func openQEMU(_ context.Context, src deviceSource) (Device, *deviceConfig, error) {
	cfg := src.renderedConfig()
	q, err := devicedict.QEMUConfig(src.rendered, src.dict.Resolve(src.jobContext))
	if err != nil {
		return nil, nil, ConfigurationError("device %s: %w", src.dev.Hostname, err)
	}
	qc := qemu.Config{Binary: q.Binary, Options: q.Options, KVM: q.KVM}
	if err := qc.Validate(); err != nil {
		return nil, nil, ConfigurationError("device %s: %w", src.dev.Hostname, err)
	}
	cfg.BootConsole, cfg.ExtraKernelArgs = q.BootConsole, q.ExtraKernelArgs
	logf := func(format string, args ...any) { src.log(workerproto.LevelDebug, format, args...) }
	return qemu.New(src.dev.Hostname, qc, logf), cfg, nil
}

// openBoardDevice opens a board from its rendered configuration.
func openBoardDevice(ctx context.Context, src deviceSource) (Device, *deviceConfig, error) {
	cfg := src.renderedConfig()
	b, err := openBoard(ctx, src.dev.Hostname, src.rendered, src.log)
	if err != nil {
		return nil, nil, err
	}
	return b, cfg, nil
}

// describeDevice is the log line naming an opened device.
func describeDevice(dev Device) string {
	return fmt.Sprintf("%s: %s device", dev.Hostname(), dev.Kind())
}
