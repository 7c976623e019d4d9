package app_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
)

// boardTemplate is a device-type template in LAVA's form, written for this
// test: a board offering deploy to tftp and the u-boot boot method.
const boardTemplate = `commands:
  connect: {{ connection_command }}
actions:
  deploy:
    methods:
      tftp:
  boot:
    methods:
      u-boot:
        parameters:
          bootloader_prompt: '=>'
        ramdisk:
          commands: [dhcp, '{BOOTX}']
`

const tftpUBoot = `actions:
- deploy:
    to: tftp
    kernel: {url: http://example.org/vmlinuz}
- boot:
    method: u-boot
    commands: ramdisk
    prompts: ['# ']
`

const tmpfsQEMU = `actions:
- deploy:
    to: tmpfs
    images:
      kernel: {url: http://example.org/vmlinuz}
- boot:
    method: qemu
    prompts: ['# ']
`

// TestSubmitChecksMethods: a job is refused at submission when no device
// of its type runs its deploy and boot methods, as the device's kind and
// rendered configuration say, with the action's position.
func TestSubmitChecksMethods(t *testing.T) {
	eachBackend(t, func(t *testing.T, f *fixture) {
		f.lab("qemu", "w1")
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "q1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood,
			Dictionary: "{% extends 'qemu.jinja2' %}\n"}, "test"))
		f.lab("quiet", "w1")
		must(t, f.app.SetDeviceTypeTemplate(f.ctx, f.admin, "quiet", "actions:\n  deploy:\n    methods:\n      tftp:\n"))
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "n1", DeviceType: "quiet", Worker: "w1", Health: lab.DeviceGood,
			Dictionary: "{% extends 'quiet.jinja2' %}\n"}, "test"))
		f.lab("acme", "w1")
		must(t, f.app.SetDeviceTypeTemplate(f.ctx, f.admin, "acme", boardTemplate))
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "b1", DeviceType: "acme", Worker: "w1", Health: lab.DeviceGood,
			Dictionary: "{% extends 'acme.jinja2' %}\n{% set connection_command = 'telnet localhost 7001' %}\n"}, "test"))

		for _, tc := range []struct {
			name, typ, actions string
			wantPath, wantMsg  string
		}{
			{"qemu job on qemu", "qemu", tmpfsQEMU, "", ""},
			{"board job on board", "acme", tftpUBoot, "", ""},
			{"tftp on qemu", "qemu", tftpUBoot, "$.actions[0].deploy.to", "deploy to tftp is not available on qemu devices (they run: download, downloads, tmpfs)"},
			{"tmpfs on a board", "acme", tmpfsQEMU, "$.actions[0].deploy.to", "deploy to tmpfs is not available on board devices (they run: tftp)"},
			{"board without a console", "quiet", tftpUBoot, "$.device_type", "device n1: its rendered configuration names no console (commands.connect): set connection_command in its dictionary (or connection_list and connection_commands)"},
			{"grub not offered", "acme", strings.Replace(tftpUBoot, "u-boot", "grub", 1), "$.actions[1].boot.method", "boot method grub is not available on device b1: its device type offers u-boot"},
			{"qemu arch the template does not offer", "qemu", "context:\n  arch: vax\n" + tmpfsQEMU, "$.context.arch", `architecture "vax" is not available on device q1 (context arch; its device type offers arm64, arm, aarch64, amd64, x86_64, hppa, i386, mips, mipsel, mips64, mips64el, nios2, ppc, ppc64, ppc64le, riscv32, riscv64, sparc, sparc64, alpha, cris, lm32, m68k, microblaze, microblazeel, moxie, or32, s390x, sh4, sh4eb, tricore, unicore32, xtensa, xtensaeb)`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				def := "job_name: " + tc.name + "\ndevice_type: " + tc.typ + "\nvisibility: public\ntimeouts:\n  job: {minutes: 10}\n" + tc.actions
				err := f.app.ValidateJob(f.ctx, f.user, def)
				if tc.wantMsg == "" {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				var je *jobdef.Errors
				if !errors.As(err, &je) || len(je.Items) != 1 || je.Items[0].Path != tc.wantPath || je.Items[0].Msg != tc.wantMsg {
					t.Fatalf("error %v, want %s: %s", err, tc.wantPath, tc.wantMsg)
				}
				if !errors.Is(err, lab.ErrInvalid) {
					t.Errorf("not lab.ErrInvalid: %v", err)
				}
			})
		}
		// A lab's own qemu template decides what its qemu devices offer.
		t.Run("a lab's qemu template without the qemu method", func(t *testing.T) {
			must(t, f.app.SetDeviceTypeTemplate(f.ctx, f.admin, "qemu", "actions:\n  boot:\n    methods:\n      minimal:\n"))
			defer func() { must(t, f.app.DeleteDeviceTypeTemplate(f.ctx, f.admin, "qemu")) }()
			err := f.app.ValidateJob(f.ctx, f.user, "job_name: q\ndevice_type: qemu\nvisibility: public\ntimeouts:\n  job: {minutes: 10}\n"+tmpfsQEMU)
			var je *jobdef.Errors
			if !errors.As(err, &je) || len(je.Items) != 1 || je.Items[0].Path != "$.actions[1].boot.method" ||
				je.Items[0].Msg != "boot method qemu is not available on device q1: its device type offers minimal" {
				t.Fatalf("error %v", err)
			}
		})
	})
}
