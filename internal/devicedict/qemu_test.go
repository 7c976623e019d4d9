package devicedict_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/jinja"
)

// qemuConfig renders dict (a qemu device's dictionary) with Basalt's
// shipped templates and the job context ctx, and reads how to run it.
func qemuConfig(t *testing.T, dict string, ctx map[string]any) (devicedict.QEMU, error) {
	t.Helper()
	r := &devicedict.Renderer{Templates: jinja.FSLoader(devicetypes.FS())}
	out, err := r.Render(dict, "qemu01", "qemu", ctx)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	rc, err := deviceconfig.Read(out)
	if err != nil {
		t.Fatalf("read: %v\n%s", err, out)
	}
	d, err := devicedict.Parse(dict)
	if err != nil {
		t.Fatal(err)
	}
	return devicedict.QEMUConfig(rc, d.Resolve(ctx))
}

func TestQEMUConfig(t *testing.T) {
	const extends = "{% extends 'qemu.jinja2' %}\n"
	net := []string{"-net", "nic,model=virtio,macaddr=52:54:00:12:34:58", "-net", "user", "-m", "512", "-monitor", "none"}
	x86 := append([]string{"-cpu", "host", "-enable-kvm", "-nographic"}, net...)
	amd64 := devicedict.QEMU{Binary: "qemu-system-x86_64", Arch: "amd64", Options: x86, KVM: devicedict.KVMAuto, BootConsole: "ttyS0,115200"}
	with := func(f func(*devicedict.QEMU)) devicedict.QEMU {
		q := amd64
		q.Options = slices.Clone(q.Options)
		f(&q)
		return q
	}
	tests := []struct {
		name string
		dict string
		ctx  map[string]any
		want devicedict.QEMU
		err  string
	}{
		{"defaults: Basalt's arch amd64", extends, nil, amd64, ""},
		{"YAML form", "extends: qemu\n", nil, amd64, ""},
		// LAVA's template writes console: ttyS0,115200 in a YAML flow
		// mapping off amd64, where the comma ends the value.
		{"x86_64 context", extends, map[string]any{"arch": "x86_64"}, with(func(q *devicedict.QEMU) { q.Arch, q.BootConsole = "x86_64", "ttyS0" }), ""},
		{"i386", extends, map[string]any{"arch": "i386"}, with(func(q *devicedict.QEMU) {
			q.Arch, q.Binary, q.BootConsole = "i386", "qemu-system-i386", "ttyS0"
			q.Options = append([]string{"-cpu", "core2duo", "-machine", "pc"}, x86...)
		}), ""},
		{"arm64", extends, map[string]any{"arch": "arm64"}, with(func(q *devicedict.QEMU) {
			q.Arch, q.Binary, q.KVM, q.BootConsole = "arm64", "qemu-system-aarch64", devicedict.KVMOff, "ttyAMA0,115200"
			q.Options = append([]string{"-cpu", "cortex-a57", "-machine", "virt", "-nographic"}, net...)
		}), ""},
		{"riscv64: KVM options, but not an x86 guest", extends, map[string]any{"arch": "riscv64"}, with(func(q *devicedict.QEMU) {
			q.Arch, q.Binary, q.KVM, q.BootConsole = "riscv64", "qemu-system-riscv64", devicedict.KVMOff, "ttyS0"
			q.Options = append([]string{"-machine", "virt", "-cpu", "rv64"}, x86...)
		}), ""},
		{"no_kvm true", extends + "{% set no_kvm = true %}", nil, with(func(q *devicedict.QEMU) {
			q.KVM, q.Options = devicedict.KVMOff, x86[3:]
		}), ""},
		{"no_kvm false forces KVM", "no_kvm: false\n", nil, with(func(q *devicedict.QEMU) { q.KVM = devicedict.KVMOn }), ""},
		{"dictionary variables", extends + `{% set memory = '2G' %}{% set cpus = 4 %}{% set netdevice = 'tap' %}
{% set model = 'model=e1000' %}{% set mac_addr = '52:54:00:00:00:01' %}{% set monitor = 'stdio' %}
{% set extra_options = ['-device virtio-rng-pci', '-global isa-debugcon.iobase=0x402'] %}
{% set boot_console = 'ttyS1,9600' %}{% set extra_kernel_args = 'quiet' %}{% set kernel_loglevel = 3 %}`, nil, with(func(q *devicedict.QEMU) {
			q.Options = []string{"-cpu", "host", "-enable-kvm", "-nographic", "-net", "nic,model=e1000,macaddr=52:54:00:00:00:01", "-net", "tap",
				"-m", "2G", "-smp", "4", "-monitor", "stdio", "-device", "virtio-rng-pci", "-global", "isa-debugcon.iobase=0x402"}
			q.BootConsole, q.ExtraKernelArgs = "ttyS1,9600", "quiet loglevel=3"
		}), ""},
		{"no_network", extends + "{% set no_network = true %}", nil, with(func(q *devicedict.QEMU) {
			q.Options = []string{"-cpu", "host", "-enable-kvm", "-nographic", "-net", "none", "-m", "512", "-monitor", "none"}
		}), ""},
		{"context through default", extends + "{% set memory = memory | default(768) %}", map[string]any{"memory": 4096},
			with(func(q *devicedict.QEMU) { q.Options[9] = "4096" }), ""},
		{"bad context values", extends, map[string]any{"memory": "lots", "no_kvm": "yes"}, devicedict.QEMU{},
			`qemu device: memory:`},
		{"an option that does not split", extends + `{% set extra_options = ['-append "unterminated'] %}`, nil, devicedict.QEMU{},
			`qemu device: actions.boot.methods.qemu.parameters.extra[0]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := qemuConfig(t, tt.dict, tt.ctx)
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q…", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// A configuration rendered from another qemu template (a lab's own) is
// read as LAVA reads it: its command and options, whatever they are.
func TestQEMUConfigFromLabTemplate(t *testing.T) {
	r := &devicedict.Renderer{Templates: jinja.DirLoader("testdata/lab-templates")}
	out, err := r.Render("{% extends 'qemu.jinja2' %}\n{% set memory = 1024 %}\n", "q", "qemu", nil)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := deviceconfig.Read(out)
	if err != nil {
		t.Fatal(err)
	}
	q, err := devicedict.QEMUConfig(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"-nographic", "-m", "1024", "-device", "virtio-rng-pci"}
	if !slices.Equal(q.Options, want) || q.KVM != devicedict.KVMOff || q.Binary != "qemu-system-x86_64" {
		t.Errorf("got %+v, want options %q, KVM off", q, want)
	}
	delete(rc.BootMethods, "qemu")
	if _, err := devicedict.QEMUConfig(rc, nil); err == nil || !strings.Contains(err.Error(), "no qemu boot method") {
		t.Errorf("without a qemu method: %v", err)
	}
}

func TestWithoutKVM(t *testing.T) {
	got := devicedict.WithoutKVM([]string{"-machine", "virt", "-cpu", "host", "-enable-kvm", "-cpu", "rv64", "-m", "512"})
	want := []string{"-machine", "virt", "-cpu", "rv64", "-m", "512"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestKVMModeString(t *testing.T) {
	for m, want := range map[devicedict.KVMMode]string{devicedict.KVMAuto: "auto", devicedict.KVMOn: "on", devicedict.KVMOff: "off"} {
		if m.String() != want {
			t.Errorf("%d: %q", m, m.String())
		}
	}
}

// BenchmarkQEMURender measures what a qemu device costs the server at
// assignment and the worker at start: rendering a dictionary with Basalt's
// qemu.jinja2, reading the configuration and its QEMU command.
func BenchmarkQEMURender(b *testing.B) {
	dict, err := os.ReadFile("testdata/valid/qemu01.jinja2")
	if err != nil {
		b.Fatal(err)
	}
	r := &devicedict.Renderer{Templates: jinja.FSLoader(devicetypes.FS())}
	d, err := devicedict.Parse(string(dict))
	if err != nil {
		b.Fatal(err)
	}
	ctx := map[string]any{"arch": "amd64"}
	for b.Loop() {
		out, err := r.Render(string(dict), "qemu01", "qemu", ctx)
		if err != nil {
			b.Fatal(err)
		}
		rc, err := deviceconfig.Read(out)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := devicedict.QEMUConfig(rc, d.Resolve(ctx)); err != nil {
			b.Fatal(err)
		}
	}
}
