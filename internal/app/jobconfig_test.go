package app_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestJobConfiguration: a job's configuration is its definition and, for
// administrators only, its device's configuration rendered with the job's
// context; a job not yet on a device has none; a job p may not see is
// not found.
func TestJobConfiguration(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1")
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood,
			Dictionary: "{% extends 'qemu.jinja2' %}\n{% set memory = 2048 %}\n"}, "test"))
		f.online("w1")
		def := definition("configured", "qemu", "context:\n  arch: arm64")
		id := f.submit(def)
		bob, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob"})
		must(t, err)
		private := f.submit(definition("private", "qemu", "visibility: personal"))

		// queued: the definition, no device
		c, err := f.app.JobConfiguration(f.ctx, f.admin, id)
		must(t, err)
		if c.Job.ID != id || c.Job.Definition != def || c.Device != "" {
			t.Fatalf("queued job: %d %q %q", c.Job.ID, c.Job.Definition, c.Device)
		}

		f.pass()
		if _, err := f.app.StartJob(f.ctx, auth.WorkerPrincipal("w1"), id); err != nil {
			t.Fatal(err)
		}
		c, err = f.app.JobConfiguration(f.ctx, f.admin, id)
		must(t, err)
		// the job's context picks the ARM64 QEMU of the qemu template
		if !strings.Contains(c.Device, "qemu-system-aarch64") || !strings.Contains(c.Device, "2048") {
			t.Errorf("admin: device configuration %q, want qemu-system-aarch64 with 2048 MiB", c.Device)
		}
		c, err = f.app.JobConfiguration(f.ctx, principalOf(t, bob), id)
		must(t, err)
		if c.Job.Definition != def || c.Device != "" {
			t.Errorf("another user: %q %q, want the definition without the device's configuration", c.Job.Definition, c.Device)
		}
		if _, err := f.app.JobConfiguration(f.ctx, principalOf(t, bob), private); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("another user's personal job: %v, want not found", err)
		}
		if _, err := f.app.JobConfiguration(f.ctx, f.user, 999999); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("a missing job: %v, want not found", err)
		}
	})
}
