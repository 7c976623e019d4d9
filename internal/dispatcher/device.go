package dispatcher

import (
	"context"
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
	// Kind names the implementation ("simulated"); pipeline builders pick
	// deploy and boot methods by it.
	Kind() string
	Hostname() string
	Console() io.ReadWriter
	PowerOn(ctx context.Context) error
	PowerOff(ctx context.Context) error
	Close() error
}

// OpenDevice returns the device an assignment names, chosen from its device
// dictionary. Today only simulated devices exist: a dictionary without a
// top-level simulated: mapping is a Configuration error.
func OpenDevice(d workerproto.Device) (Device, error) {
	cfg, ok, err := simdevice.ParseDictionary(d.Dictionary)
	if err != nil {
		return nil, ConfigurationError("device %s: %w", d.Hostname, err)
	}
	if !ok {
		return nil, ConfigurationError("device %s: the device dictionary has no %s: mapping; only simulated devices can run jobs in this release", d.Hostname, simdevice.Key)
	}
	return simdevice.New(d.Hostname, cfg), nil
}
