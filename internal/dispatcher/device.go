package dispatcher

import (
	"context"
	"fmt"
	"io"

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
	// ShCmd is the test shell (lava_test_sh_cmd); ResultsDir the overlay's
	// root on the device (lava_test_results_dir, %s → job id).
	ShCmd, ResultsDir string
}

// OpenDevice returns the device an assignment names, from its device
// dictionary resolved with the job's context. Until device dictionaries
// are parsed in full, only simulated devices open.
func OpenDevice(d workerproto.Device, jobContext map[string]any, logf func(format string, args ...any)) (Device, *deviceConfig, error) {
	cfg := &deviceConfig{Hostname: d.Hostname, DeviceType: d.DeviceType, ShCmd: "/bin/sh", ResultsDir: "/lava-%s"}
	sc, ok, err := simdevice.ParseDictionary(d.Dictionary)
	if err != nil {
		return nil, nil, ConfigurationError("device %s: %w", d.Hostname, err)
	}
	if !ok {
		return nil, nil, ConfigurationError("device %s: the device dictionary has no %s: mapping; only simulated devices can run jobs in this release", d.Hostname, simdevice.Key)
	}
	return simdevice.New(d.Hostname, sc), cfg, nil
}

// describeDevice is the log line naming an opened device.
func describeDevice(dev Device) string {
	return fmt.Sprintf("%s: %s device", dev.Hostname(), dev.Kind())
}
