package deviceconfig_test

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/deviceconfig"
)

func TestReadBoard(t *testing.T) {
	src, err := os.ReadFile("testdata/board.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := deviceconfig.Read(string(src))
	if err != nil {
		t.Fatal(err)
	}
	if c.Hostname != "board01" || c.DeviceType != "qemu-uboot-x86_64" {
		t.Errorf("hostname %q type %q", c.Hostname, c.DeviceType)
	}
	want := deviceconfig.Commands{
		Connect:   "telnet 127.0.0.1 7001",
		PowerOn:   []string{"pdu on 1", "sleep 1"},
		PowerOff:  []string{"pdu off 1"},
		HardReset: []string{"pdu reset 1"},
		Users:     map[string]deviceconfig.UserCommand{"led": {Do: "led on", Undo: "led off"}},
	}
	if !reflect.DeepEqual(c.Commands, want) {
		t.Errorf("commands\n got %+v\nwant %+v", c.Commands, want)
	}
	if c.CharacterDelays.Boot != 5*time.Millisecond || c.CharacterDelays.Test != 0 {
		t.Errorf("delays %+v", c.CharacterDelays)
	}
	k := c.Constants
	if k.ShCmd != "/bin/ash" || k.ShellFile != deviceconfig.DefaultShellFile || k.FailureRetry != 2 || k.BootRetry != 0 {
		t.Errorf("constants %+v", k)
	}
	ub := k.Bootloaders["u-boot"]
	if ub.InterruptPrompt != "Hit any key to stop autoboot" || ub.InterruptCharacter != " " || !ub.InterruptNewline ||
		ub.FinalMessage != "Starting kernel" || !reflect.DeepEqual(ub.ErrorMessages, []string{"Retry count exceeded", "File not found"}) {
		t.Errorf("u-boot constants %+v", ub)
	}
	if ip := k.Bootloaders["ipxe"]; !reflect.DeepEqual(ip.InterruptCtrlList, []string{"b"}) || !ip.InterruptNewline {
		t.Errorf("ipxe constants %+v", ip)
	}
	if _, ok := k.Bootloaders["posix"]; ok {
		t.Error("posix read as a bootloader")
	}
	if got := c.DeployMethodNames(); !reflect.DeepEqual(got, []string{"image", "tftp"}) {
		t.Errorf("deploy methods %v", got)
	}
	if got := c.BootMethodNames(); !reflect.DeepEqual(got, []string{"minimal", "u-boot"}) {
		t.Errorf("boot methods %v", got)
	}
	ubm := c.BootMethods["u-boot"]
	if ubm.Parameters["bootloader_prompt"] != "=>" || ubm.Parameters["needs_interrupt"] != "yes" {
		t.Errorf("u-boot parameters %v", ubm.Parameters)
	}
	if got := ubm.CommandSets["ramdisk"]; !reflect.DeepEqual(got, []string{"dhcp", "setenv serverip {SERVER_IP}", "tftp {KERNEL_ADDR} {KERNEL}", "{BOOTX}"}) {
		t.Errorf("ramdisk commands %q", got)
	}
	if c.DeployParameters["add_header"] != "u-boot" || c.DeployParameters["append_dtb"] != false {
		t.Errorf("deploy parameters %v", c.DeployParameters)
	}
	if a, ok := c.Addresses("zboot"); !ok || a.Kernel != "0x1000000" || a.Ramdisk != "0x4000000" {
		t.Errorf("zboot addresses %+v %v", a, ok)
	}
	if _, ok := c.Addresses("booti"); ok {
		t.Error("booti addresses without a booti block")
	}
	if c.Timeouts.Actions["bootloader-commands"] != 3*time.Minute || c.Timeouts.Connections["bootloader-commands"] != 30*time.Second {
		t.Errorf("timeouts %+v", c.Timeouts)
	}
	if c.Environment["BOARD"] != "one" {
		t.Errorf("environment %v", c.Environment)
	}
}

func TestReadConnections(t *testing.T) {
	src := `commands:
  connections:
    uart0:
      connect: telnet localhost 7001
      tags: [primary, telnet]
    uart1:
      connect: telnet localhost 7002
      tags:
      - telnet
`
	c, err := deviceconfig.Read(src)
	if err != nil {
		t.Fatal(err)
	}
	if c.Commands.Connect != "telnet localhost 7001" || len(c.Commands.Connections) != 2 ||
		!reflect.DeepEqual(c.Commands.Connections["uart1"].Tags, []string{"telnet"}) {
		t.Errorf("commands %+v", c.Commands)
	}
}

// A key rendered twice keeps its last value, as PyYAML reads it.
func TestReadDuplicateKeyLastWins(t *testing.T) {
	c, err := deviceconfig.Read("commands:\n  connect: a\n  connect: b\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Commands.Connect != "b" {
		t.Errorf("connect %q, want b", c.Commands.Connect)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ name, src, want string }{
		{"not a mapping", "- a\n", "1:1: the rendered device configuration must be a mapping, got a list"},
		{"empty", "", "1:1: the rendered device configuration must be a mapping, got nothing"},
		{"syntax", "a: [\n", "the rendered device configuration is not valid YAML"},
		{"power list of maps", "commands:\n  power_on:\n    - {a: 1}\n", "3:7: commands.power_on[0]: expected a string, got a mapping"},
		{"no primary", "commands:\n  connections:\n    a: {connect: x, tags: [telnet]}\n", "3:5: commands.connections: no connection is tagged primary: tag exactly one"},
		{"two primaries", "commands:\n  connections:\n    a: {connect: x, tags: [primary]}\n    b: {connect: y, tags: [primary]}\n", "2 connections are tagged primary (a, b)"},
		{"connection without connect", "commands:\n  connections:\n    a: {tags: [primary]}\n", "3:8: commands.connections.a: the connection has no connect: command"},
		{"user without do", "commands:\n  users:\n    x: {undo: y}\n", "commands.users.x: the user command has no do: command"},
		{"bad delay", "character_delays:\n  boot: slow\n", `2:9: character_delays.boot: expected milliseconds from 0 to 10000, got the string "slow"`},
		{"bad timeout unit", "timeouts:\n  actions:\n    power-off: {weeks: 1}\n", `timeouts.actions.power-off: unknown timeout unit "weeks"`},
		{"bad timeout", "timeouts:\n  actions:\n    power-off: 10\n", "3:16: timeouts.actions.power-off: expected a timeout such as {minutes: 2}, got a number"},
		{"actions not a map", "actions: [1]\n", "1:10: actions: expected a mapping, got a list"},
		{"commands list", "actions:\n  boot:\n    methods:\n      u-boot:\n        ramdisk:\n          commands: dhcp\n", "actions.boot.methods.u-boot.ramdisk.commands: expected a list of commands"},
		{"bad bool", "constants:\n  u-boot:\n    interrupt-prompt: x\n    interrupt-newline: maybe\n", "4:24: constants.u-boot.interrupt-newline: expected a boolean"},
		{"environment map", "environment:\n  A: {b: 1}\n", "2:6: environment.A: expected a string, got a mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := deviceconfig.Read(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	for _, s := range []string{"", "a: 1\n", "commands:\n  connections:\n    a: {connect: x, tags: [primary]}\n", "timeouts:\n  actions:\n    x: {minutes: 1}\n"} {
		f.Add(s)
	}
	if b, err := os.ReadFile("testdata/board.yaml"); err == nil {
		f.Add(string(b))
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := deviceconfig.Read(src)
		if (c == nil) == (err == nil) {
			t.Fatalf("config %v and error %v", c, err)
		}
	})
}
