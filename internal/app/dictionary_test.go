package app_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestDeviceDictionaryValidation: dictionaries are validated for the
// device's type when a device is created, when its dictionary is set, and
// when an update changes its dictionary or type; refused changes leave
// the device as it was.
func TestDeviceDictionaryValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.lab("bbb", "w1")
		bad := "{% extends 'qemu.jinja2' %}\n{% set memory = 'lots' %}\n{% set cpus = 0 %}\n"
		wantItems := []devicedict.Error{
			{Line: 2, Column: 17, Path: "$.memory", Msg: `expected a number of MiB (1024) or a size like "2G", got the string "lots"`},
			{Line: 3, Column: 15, Path: "$.cpus", Msg: "must be between 1 and 1024 CPUs, got 0"},
		}
		checkErr := func(what string, err error) {
			t.Helper()
			var de *devicedict.Errors
			if !errors.Is(err, lab.ErrInvalid) || !errors.As(err, &de) {
				t.Fatalf("%s: err = %v, want lab.ErrInvalid with *devicedict.Errors", what, err)
			}
			if len(de.Items) != len(wantItems) || de.Items[0] != wantItems[0] || de.Items[1] != wantItems[1] {
				t.Errorf("%s: problems %+v, want %+v", what, de.Items, wantItems)
			}
			if !strings.HasPrefix(err.Error(), "device ") || !strings.Contains(err.Error(), "device dictionary: 2:17: $.memory") {
				t.Errorf("%s: message %q", what, err)
			}
		}

		// create
		err := f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Dictionary: bad}, "test")
		checkErr("create", err)
		if _, err := f.app.GetDevice(f.ctx, f.admin, "d2"); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("d2 was created: %v", err)
		}
		good := "{% extends 'qemu.jinja2' %}\n{% set memory = 2048 %}\n"
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "d2", DeviceType: "qemu", Worker: "w1", Dictionary: good}, "test"))

		// set
		checkErr("set", f.app.SetDeviceDictionary(f.ctx, f.admin, "d2", bad))
		if d := f.device("d2"); d.Dictionary != good {
			t.Errorf("dictionary after a refused set: %q", d.Dictionary)
		}
		must(t, f.app.SetDeviceDictionary(f.ctx, f.admin, "d2", "memory: 1024\n"))
		must(t, f.app.SetDeviceDictionary(f.ctx, f.admin, "d2", ""))

		// update: dictionary changes are checked
		_, err = f.app.UpdateDeviceWith(f.ctx, f.admin, "d2", func(d *lab.Device) error {
			d.Description = "edited"
			d.Dictionary = bad
			return nil
		})
		checkErr("update", err)
		if d := f.device("d2"); d.Description == "edited" || d.Dictionary != "" {
			t.Errorf("device after a refused update: %+v", d)
		}

		// update: a type change is checked against the dictionary
		must(t, f.app.SetDeviceDictionary(f.ctx, f.admin, "d2", "memory: 1024\n"))
		_, err = f.app.UpdateDeviceWith(f.ctx, f.admin, "d2", func(d *lab.Device) error { d.DeviceType = "bbb"; return nil })
		var de *devicedict.Errors
		if !errors.As(err, &de) || len(de.Items) != 1 || !strings.HasPrefix(de.Items[0].Msg, "rendering with the device-type template: bbb.jinja2: bbb.jinja2: template not found (load it with `basalt device-types template set") {
			t.Errorf("type change: %v", err)
		}
		if d := f.device("d2"); d.DeviceType != "qemu" {
			t.Errorf("type changed to %s", d.DeviceType)
		}

		// a simulated device may be of any type
		sim := "simulated:\n  boot_time: 1s\n"
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "sim1", DeviceType: "bbb", Worker: "w1", Dictionary: sim}, "test"))
		_, err = f.app.UpdateDeviceWith(f.ctx, f.admin, "sim1", func(d *lab.Device) error { d.DeviceType = "qemu"; return nil })
		must(t, err)

		// an old dictionary stored before validation does not block other edits
		d1 := f.device("d1")
		d1.Dictionary = "not: [a, valid dictionary"
		must(t, f.app.Store().UpdateDevice(f.ctx, d1))
		if _, err := f.app.UpdateDeviceWith(f.ctx, f.admin, "d1", func(d *lab.Device) error { d.Description = "kept"; return nil }); err != nil {
			t.Errorf("editing the description of a device with an old dictionary: %v", err)
		}
	})
}
