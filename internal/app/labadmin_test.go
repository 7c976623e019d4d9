package app_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

const qemuDict = "{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n"

// TestDeleteDevice: admins delete devices no job refers to; others are
// refused, and so is a device jobs ran on (it is retired instead).
func TestDeleteDevice(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "used", "free")
		f.online("w1")
		id := f.submit(definition("job", "qemu", "device: used"))
		f.pass()
		for _, tc := range []struct {
			name string
			p    auth.Principal
			host string
			want error
		}{
			{"anonymous", auth.Anonymous(), "free", lab.ErrUnauthenticated},
			{"user", f.user, "free", lab.ErrForbidden},
			{"missing", f.admin, "nope", lab.ErrNotFound},
			{"jobs ran on it", f.admin, "used", lab.ErrConflict},
		} {
			if err := f.app.DeleteDevice(f.ctx, tc.p, tc.host); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			} else if tc.want == lab.ErrConflict && !strings.Contains(err.Error(), "set the device's health to Retired instead") {
				t.Errorf("%s: %v does not say what to do", tc.name, err)
			}
		}
		if j := f.job(id); j.ActualDevice != "used" {
			t.Fatalf("job on %q", j.ActualDevice)
		}
		must(t, f.app.DeleteDevice(f.ctx, f.admin, "free"))
		if _, err := f.app.GetDevice(f.ctx, f.admin, "free"); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("deleted device: %v", err)
		}
	})
}

// TestDeleteWorker: the worker goes with its token; its devices stay,
// attached to no worker.
func TestDeleteWorker(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "d1")
		f.lab("qemu", "w2", "d2")
		f.online("w2")
		f.submit(definition("job", "qemu", "device: d2"))
		f.pass()
		for _, tc := range []struct {
			name   string
			p      auth.Principal
			worker string
			want   error
		}{
			{"anonymous", auth.Anonymous(), "w1", lab.ErrUnauthenticated},
			{"user", f.user, "w1", lab.ErrForbidden},
			{"missing", f.admin, "nope", lab.ErrNotFound},
			{"busy device", f.admin, "w2", lab.ErrConflict},
		} {
			if err := f.app.DeleteWorker(f.ctx, tc.p, tc.worker); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
		}
		must(t, f.app.DeleteWorker(f.ctx, f.admin, "w1"))
		if _, err := f.app.GetWorker(f.ctx, "w1"); !errors.Is(err, lab.ErrNotFound) {
			t.Errorf("deleted worker: %v", err)
		}
		if d := f.device("d1"); d.Worker != "" {
			t.Errorf("device of the deleted worker on %q", d.Worker)
		}
	})
}

// TestRenderDeviceConfig: the dictionary rendered with its template and
// the job context, for admins only.
func TestRenderDeviceConfig(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1", "bare")
		for _, d := range []lab.Device{
			{Hostname: "q1", Dictionary: qemuDict},
			{Hostname: "sim", Dictionary: "simulated:\n  prompt: '# '\n"},
		} {
			d.DeviceType, d.Worker = "qemu", "w1"
			must(t, f.app.CreateDevice(f.ctx, f.admin, d, "test"))
		}
		out, err := f.app.RenderDeviceConfig(f.ctx, f.admin, "q1", nil)
		must(t, err)
		if !strings.Contains(out, "hostname: 'q1'") || !strings.Contains(out, "qemu-system-x86_64") || !strings.Contains(out, "- -m 1024") {
			t.Errorf("rendered without context:\n%s", out)
		}
		out, err = f.app.RenderDeviceConfig(f.ctx, f.admin, "q1", map[string]any{"arch": "arm64"})
		must(t, err)
		if !strings.Contains(out, "qemu-system-aarch64") {
			t.Errorf("rendered with arch arm64:\n%s", out)
		}
		for _, tc := range []struct {
			name string
			p    auth.Principal
			host string
			want error
			msg  string
		}{
			{"anonymous", auth.Anonymous(), "q1", lab.ErrUnauthenticated, ""},
			{"user", f.user, "q1", lab.ErrForbidden, ""},
			{"missing", f.admin, "nope", lab.ErrNotFound, ""},
			{"no dictionary", f.admin, "bare", app.ErrNoDictionary, "device bare: the device has no dictionary"},
			{"simulated", f.admin, "sim", lab.ErrInvalid, "device sim is a simulated device"},
		} {
			_, err := f.app.RenderDeviceConfig(f.ctx, tc.p, tc.host, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("%s: %v, want %v with %q", tc.name, err, tc.want, tc.msg)
			}
		}
		has, err := f.app.DeviceHasDictionary(f.ctx, "q1")
		must(t, err)
		hasNot, err := f.app.DeviceHasDictionary(f.ctx, "bare")
		must(t, err)
		if !has || hasNot {
			t.Errorf("DeviceHasDictionary: q1 %v, bare %v", has, hasNot)
		}
		must(t, f.app.CheckDeviceDictionary(f.ctx, f.admin, "q1"))
		if err := f.app.CheckDeviceDictionary(f.ctx, f.admin, "bare"); !errors.Is(err, app.ErrNoDictionary) {
			t.Errorf("check without dictionary: %v", err)
		}
		if err := f.app.CheckDeviceDictionary(f.ctx, f.user, "q1"); !errors.Is(err, lab.ErrForbidden) {
			t.Errorf("check as a user: %v", err)
		}
	})
}

// TestDeviceTypeTemplateText: templates as rendering finds them: stored,
// then the server's directory, then shipped.
func TestDeviceTypeTemplateText(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.WriteFile(filepath.Join(dir, "mine.jinja2"), []byte("{# from the directory #}\n"), 0o644))
			must(t, os.WriteFile(filepath.Join(dir, "qemu.jinja2"), []byte("{# qemu from the directory #}\n"), 0o644))
			a := app.New(b.Open(t), app.Config{TemplatesDir: dir})
			ctx := t.Context()
			must(t, a.Bootstrap(ctx))
			adm, err := a.CreateSuperuser(ctx, "admin", "", "")
			must(t, err)
			admin := principalOf(t, adm)
			must(t, a.CreateDeviceType(ctx, admin, lab.DeviceType{Name: "bbb"}))
			must(t, a.SetDeviceTypeTemplate(ctx, admin, "bbb", "{% extends 'base-uboot.jinja2' %}\n"))

			for _, tc := range []struct {
				name, text string
				from       app.TemplateSource
				want       error
			}{
				{"bbb", "{% extends 'base-uboot.jinja2' %}\n", app.TemplateStored, nil},
				{"bbb.jinja2", "{% extends 'base-uboot.jinja2' %}\n", app.TemplateStored, nil},
				{"qemu", "{# qemu from the directory #}\n", app.TemplateDirectory, nil},
				{"mine", "{# from the directory #}\n", app.TemplateDirectory, nil},
				{"base-uboot", "", app.TemplateShipped, nil},
				{"nothing", "", "", lab.ErrNotFound},
				{"../etc/passwd", "", "", lab.ErrInvalid},
				{".hidden", "", "", lab.ErrInvalid},
				{"", "", "", lab.ErrInvalid},
			} {
				text, from, err := a.DeviceTypeTemplateText(ctx, tc.name)
				switch {
				case tc.want != nil:
					if !errors.Is(err, tc.want) {
						t.Errorf("%q: %v, want %v", tc.name, err, tc.want)
					}
				case err != nil:
					t.Errorf("%q: %v", tc.name, err)
				case from != tc.from || (tc.text != "" && text != tc.text) || text == "":
					t.Errorf("%q: %q from %s, want %q from %s", tc.name, text, from, tc.text, tc.from)
				}
			}
			names, err := a.DeviceTypeTemplateNames(ctx)
			must(t, err)
			for _, n := range []string{"bbb", "mine", "qemu", "base-uboot", "beaglebone-black"} {
				if !slices.Contains(names, n) {
					t.Errorf("template names %v lack %s", names, n)
				}
			}
			if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
				t.Errorf("template names not sorted or repeated: %v", names)
			}
		})
	}
}
