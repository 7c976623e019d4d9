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
` + boardActions

// boardActions are boardTemplate's deploy and boot methods.
const boardActions = `actions:
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

// newConnection is a boot that opens the board's connection NAME.
const newConnection = `- boot:
    method: new_connection
    connection: NAME
    prompts: ['# ']
`

// uartsTemplate is boardTemplate with its connections rendered from
// connection_list, connection_commands and connection_tags, as LAVA's
// base.jinja2 renders them.
const uartsTemplate = `commands:
  connections:
{% for name in connection_list %}
    {{ name }}:
      connect: {{ connection_commands.get(name) }}
      tags:
{% for tag in connection_tags.get(name) %}
      - {{ tag }}
{% endfor %}
{% endfor %}
` + boardActions

// uartsDict is a board with two serial connections, uart0 the primary one
// (LAVA's connection_list).
const uartsDict = `{% extends 'uarts.jinja2' %}
{% set connection_list = ['uart0', 'uart1'] %}
{% set connection_commands = {'uart0': 'telnet localhost 7001', 'uart1': 'telnet localhost 7002'} %}
{% set connection_tags = {'uart0': ['primary', 'telnet'], 'uart1': ['telnet']} %}
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
		f.lab("uarts", "w1")
		must(t, f.app.SetDeviceTypeTemplate(f.ctx, f.admin, "uarts", uartsTemplate))
		must(t, f.app.CreateDevice(f.ctx, f.admin, lab.Device{Hostname: "bbb1", DeviceType: "uarts", Worker: "w1", Health: lab.DeviceGood,
			Dictionary: uartsDict}, "test"))
		nc := func(name string) string { return tftpUBoot + strings.Replace(newConnection, "NAME", name, 1) }

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
			{"new_connection on a board", "uarts", nc("uart1"), "", ""},
			{"new_connection to an unknown connection", "uarts", nc("uart2"), "$.actions[2].boot.connection", `connection "uart2": device bbb1 has no such connection (its connections: uart0, uart1)`},
			{"new_connection to the primary", "uarts", nc("uart0"), "$.actions[2].boot.connection", `connection "uart0": it is the primary connection of device bbb1, open for the whole job; new_connection opens one of the others (uart1)`},
			{"new_connection without connections", "acme", nc("uart1"), "$.actions[2].boot.connection", `connection "uart1": device b1 has no named connections (set connection_list, connection_commands and connection_tags in its dictionary)`},
			{"new_connection on qemu", "qemu", tmpfsQEMU + strings.Replace(newConnection, "NAME", "uart1", 1), "$.actions[2].boot.method", "boot method new_connection is not available on qemu devices (they run: minimal, qemu)"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				def := "job_name: " + tc.name + "\ndevice_type: " + tc.typ + "\nvisibility: public\ntimeouts:\n  job: {minutes: 10}\n" + tc.actions
				_, err := f.app.ValidateJob(f.ctx, f.user, def, false)
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
				if je.Items[0].Line == 0 {
					t.Errorf("no position: %v", je.Items[0])
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
			_, err := f.app.ValidateJob(f.ctx, f.user, "job_name: q\ndevice_type: qemu\nvisibility: public\ntimeouts:\n  job: {minutes: 10}\n"+tmpfsQEMU, false)
			var je *jobdef.Errors
			if !errors.As(err, &je) || len(je.Items) != 1 || je.Items[0].Path != "$.actions[1].boot.method" ||
				je.Items[0].Msg != "boot method qemu is not available on device q1: its device type offers minimal" {
				t.Fatalf("error %v", err)
			}
		})
	})
}
