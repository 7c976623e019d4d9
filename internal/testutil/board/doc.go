// Package board is a physical test board on loopback, for the end-to-end
// tests of Basalt's physical-board support (LAVA's "deploy to: tftp" and
// "boot method: u-boot" or "ipxe").
//
// A Board is QEMU (x86, software emulation, no KVM) whose firmware is
// either Debian's U-Boot for QEMU (u-boot-qemu, qemu-x86/u-boot.rom as
// the BIOS) or SeaBIOS network-booting Debian's iPXE ROM for QEMU's e1000
// (ipxe-qemu). Both fetch a kernel and ramdisk over QEMU's user network
// (no tap device), from servers the test runs on the host's loopback.
//
// The package owns what a lab owns around a real board:
//
//   - the serial line: a pseudo-terminal served by Debian's ser2net
//     (telnet with RFC 2217 on a free 127.0.0.1 port, connector
//     "serialdev,/dev/pts/N,115200n81,local"), relayed to the running
//     QEMU through a unix socket each powered-on QEMU connects to, so
//     the telnet port and a connected client survive power cycles as with
//     a USB-serial adapter; RestartSer2net restarts ser2net on the same
//     port while the board keeps running;
//   - the power: shell scripts in the board's directory, run like a PDU's
//     commands by any process (/bin/sh -c): power on starts QEMU
//     daemonized with a pid file (a no-op when on), power off kills it and
//     waits until it is gone, hard reset is off then on; FailPower makes
//     them all fail with a message, like an unreachable PDU;
//   - the device dictionary: Dictionary renders LAVA's variables
//     (connection_command, power commands, prompts, load addresses).
//
// The firmware facts (prompts, interrupt characters, zboot addresses, the
// user network's addresses) are constants here; ListenTFTP gives a test's
// TFTP server the loopback address U-Boot can reach (this U-Boot always
// uses port 69). docs/boards-testing.md has the recipe.
package board
