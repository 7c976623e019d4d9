package board

import (
	"net"
	"testing"

	"github.com/basalt-lab/basalt/internal/dut"
)

// BenchmarkUBootPrompt measures power on (the power command through
// /bin/sh -c) to U-Boot's "=> " prompt on the ser2net console, autoboot
// interrupted.
func BenchmarkUBootPrompt(b *testing.B) {
	brd := Start(b, Options{Name: "bench-prompt"})
	con := dialLine(b, brd.TelnetAddr())
	for b.Loop() {
		mustSh(b, brd.PowerOnCommand())
		con.expect(UBootInterruptPrompt)
		con.send(UBootInterruptChar)
		con.expect(UBootPrompt)
		b.StopTimer()
		mustSh(b, brd.PowerOffCommand())
		b.StartTimer()
	}
}

// BenchmarkBootToShell measures power on to the busybox shell prompt:
// U-Boot interrupted, DHCP, kernel and ramdisk over TFTP from a loopback
// server, zboot, Debian's kernel booting the initramfs.
func BenchmarkBootToShell(b *testing.B) {
	img := buildImages(b)
	srv := serveTFTP(b, ListenTFTP(b), img.Kernel, img.Ramdisk)
	serverIP := srv.conn.LocalAddr().(*net.UDPAddr).IP.String()
	brd := Start(b, Options{Name: "bench-shell"})
	con := dialLine(b, brd.TelnetAddr())
	for b.Loop() {
		mustSh(b, brd.PowerOnCommand())
		con.expect(UBootInterruptPrompt)
		con.send(UBootInterruptChar)
		con.expect(UBootPrompt)
		for _, c := range uBootBootCommands(serverIP, "vmlinuz", "initramfs.cpio.gz") {
			con.cmd(c, UBootPrompt)
		}
		con.send(UBootBootCommand + "\r")
		con.expect(dut.Prompt)
		b.StopTimer()
		mustSh(b, brd.PowerOffCommand())
		b.StartTimer()
	}
}
