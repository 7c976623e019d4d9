package board

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dut"
)

// uBootBootCommands are LAVA's u-boot tftp commands for this board, with
// the ramdisk's size kept for zboot.
func uBootBootCommands(serverIP, kernel, ramdisk string) []string {
	return []string{
		"setenv autoload no",
		"setenv initrd_high 0xffffffff",
		"setenv fdt_high 0xffffffff",
		"dhcp",
		"setenv serverip " + serverIP,
		"tftp " + UBootKernelAddr + " " + kernel,
		"tftp " + UBootRamdiskAddr + " " + ramdisk,
		"setenv initrd_size ${filesize}",
		"setenv bootargs " + KernelCommandLine,
	}
}

func fileSize(t testing.TB, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// TestUBootBoard powers a U-Boot board on with its power command, stops
// autoboot on the ser2net console, loads Debian's kernel and a busybox
// initramfs over TFTP from a loopback server, boots them with zboot to a
// shell, then power-cycles it and finds U-Boot again on the same telnet
// session.
func TestUBootBoard(t *testing.T) {
	t.Parallel()
	img := buildImages(t)
	srv := serveTFTP(t, ListenTFTP(t), img.Kernel, img.Ramdisk)
	serverIP := srv.conn.LocalAddr().(*net.UDPAddr).IP.String()
	b := Start(t, Options{Name: "uboot-test"})
	if b.On() {
		t.Fatal("a new board is on")
	}

	con := dialLine(t, b.TelnetAddr())
	if out := mustSh(t, b.PowerOnCommand()); out != "board uboot-test: on\n" {
		t.Errorf("power on said %q", out)
	}
	if !b.On() {
		t.Fatal("board off after its power on command")
	}
	// The whole boot log is on the line, from the first line U-Boot prints.
	con.expect("U-Boot 2023.01")
	con.expect(UBootInterruptPrompt)
	con.send(UBootInterruptChar)
	con.expect(UBootPrompt)

	for _, c := range uBootBootCommands(serverIP, "vmlinuz", "initramfs.cpio.gz") {
		con.send(c + "\r")
		switch {
		case strings.HasPrefix(c, "tftp "+UBootKernelAddr):
			con.expect(fmt.Sprintf("Bytes transferred = %d ", fileSize(t, img.Kernel)))
		case strings.HasPrefix(c, "tftp "+UBootRamdiskAddr):
			con.expect(fmt.Sprintf("Bytes transferred = %d ", fileSize(t, img.Ramdisk)))
		case c == "dhcp":
			con.expect("DHCP client bound to address " + GuestIP)
		}
		con.expect(UBootPrompt)
	}
	con.send(UBootBootCommand + "\r")
	con.expect("Linux version ")
	con.expect(dut.Prompt)
	con.send("echo board-$((6*7))\r")
	con.expect("board-42")
	con.expect(dut.Prompt)

	// Both transfers came from a new port each (RFC 1350's TID), not 69.
	reqs := srv.requests()
	if len(reqs) != 2 {
		t.Fatalf("TFTP requests: %+v", reqs)
	}
	for i, want := range []string{"vmlinuz", "initramfs.cpio.gz"} {
		r := reqs[i]
		if r.File != want || r.Err != "" || r.TIDPort == TFTPPort || r.TIDPort == 0 || r.Sent != fileSize(t, filepath.Join(filepath.Dir(img.Kernel), want)) {
			t.Errorf("request %d: %+v, want %s sent whole from a new port", i, r, want)
		}
	}

	// Power off: QEMU gone, the telnet session stays.
	if out := mustSh(t, b.PowerOffCommand()); out != "board uboot-test: off\n" {
		t.Errorf("power off said %q", out)
	}
	if b.On() {
		t.Fatal("board on after its power off command")
	}
	// Power on again: U-Boot on the same session.
	mustSh(t, b.PowerOnCommand())
	con.expect("U-Boot 2023.01")
	con.expect(UBootInterruptPrompt)
	con.send(UBootInterruptChar)
	con.expect(UBootPrompt)
	con.send(`echo "again-""after-power-cycle"` + "\r")
	con.expect("again-after-power-cycle")
	con.expect(UBootPrompt)
	// Hard reset: U-Boot starts over, still on the same session.
	mustSh(t, b.HardResetCommand())
	con.expect(UBootInterruptPrompt)
	con.send(UBootInterruptChar)
	con.expect(UBootPrompt)
}

// TestSer2netRestart restarts ser2net under a connected client: the client
// is cut, a new connection on the same port reaches the still running
// board.
func TestSer2netRestart(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{Name: "restart-test"})
	con := dialLine(t, b.TelnetAddr())
	mustSh(t, b.PowerOnCommand())
	con.expect(UBootInterruptPrompt)
	con.send(UBootInterruptChar)
	con.expect(UBootPrompt)
	// A client leaving and coming back finds the board too.
	con.c.Close()
	waitLine(t, b, false) // ser2net has ended the session
	con = dialLine(t, b.TelnetAddr())
	con.cmd("version", UBootPrompt)
	if !strings.Contains(con.tail(), "U-Boot 2023.01") {
		t.Fatalf("no U-Boot version after reconnecting:\n%s", con.tail())
	}

	port := b.TelnetPort()
	if err := b.RestartSer2net(); err != nil {
		t.Fatal(err)
	}
	if err := readUntilClosed(con.c, 30*time.Second); err != nil {
		t.Fatalf("old client not cut by the restart: %v", err)
	}
	if b.TelnetPort() != port || !b.On() {
		t.Fatalf("after restart: port %d (was %d), on %v", b.TelnetPort(), port, b.On())
	}
	con2 := dialLine(t, b.TelnetAddr())
	con2.cmd("version", UBootPrompt)
	if !strings.Contains(con2.tail(), "U-Boot 2023.01") {
		t.Fatalf("no U-Boot version after reconnecting:\n%s", con2.tail())
	}
	// This U-Boot has no HTTP client: boot files come over TFTP only.
	con2.cmd("wget", UBootPrompt)
	if !strings.Contains(con2.tail(), "Unknown command 'wget'") {
		t.Fatalf("wget exists in this U-Boot?\n%s", con2.tail())
	}
}

// TestPowerCommands runs the power scripts as the dispatcher does
// (/bin/sh -c) in every state, with the power controller failing and not.
func TestPowerCommands(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{Name: "power-test"})
	steps := []struct {
		name    string
		fail    bool
		cmd     string
		wantErr bool
		stdout  string
		stderr  string
		wantOn  bool
	}{
		{"off when off", false, b.PowerOffCommand(), false, "board power-test: already off\n", "", false},
		{"on failing", true, b.PowerOnCommand(), true, "", "board power-test: power on failed: power controller unreachable (test flag " + b.Dir() + "/power-fail)\n", false},
		{"reset failing", true, b.HardResetCommand(), true, "", "board power-test: hard reset failed: power controller unreachable (test flag " + b.Dir() + "/power-fail)\n", false},
		{"on", false, b.PowerOnCommand(), false, "board power-test: on\n", "", true},
		{"on when on", false, b.PowerOnCommand(), false, "board power-test: already on\n", "", true},
		{"off failing", true, b.PowerOffCommand(), true, "", "board power-test: power off failed: power controller unreachable (test flag " + b.Dir() + "/power-fail)\n", true},
		{"reset", false, b.HardResetCommand(), false, "board power-test: off\nboard power-test: on\n", "", true},
		{"off", false, b.PowerOffCommand(), false, "board power-test: off\n", "", false},
	}
	for _, s := range steps {
		if err := b.FailPower(s.fail); err != nil {
			t.Fatal(err)
		}
		before := b.qemuPID()
		o, e, err := sh(s.cmd)
		if (err != nil) != s.wantErr || o != s.stdout || e != s.stderr {
			t.Errorf("%s: err %v stdout %q stderr %q; want error %v stdout %q stderr %q", s.name, err, o, e, s.wantErr, s.stdout, s.stderr)
		}
		if b.On() != s.wantOn {
			t.Errorf("%s: on %v, want %v", s.name, b.On(), s.wantOn)
		}
		if s.name == "on when on" && b.qemuPID() != before {
			t.Errorf("%s: QEMU replaced (%d then %d)", s.name, before, b.qemuPID())
		}
		if s.name == "reset" && (b.qemuPID() == before || before == 0) {
			t.Errorf("%s: QEMU not replaced (%d then %d)", s.name, before, b.qemuPID())
		}
	}
}

// TestIPXEBoard stops iPXE on the serial console, loads the kernel over
// HTTP and the ramdisk over TFTP from servers on one loopback address
// (127.A.B.C, reached through the user network's gateway), and boots to
// the shell.
func TestIPXEBoard(t *testing.T) {
	t.Parallel()
	img := buildImages(t)
	srv := serveTFTP(t, ListenTFTP(t), img.Ramdisk)
	tftpIP := srv.conn.LocalAddr().(*net.UDPAddr).IP.String()
	// One server address for both, as a worker has one SERVER_IP.
	ln, err := net.Listen("tcp", net.JoinHostPort(tftpIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.FileServer(http.Dir(filepath.Dir(img.Kernel)))}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	httpPort := ln.Addr().(*net.TCPAddr).Port

	b := Start(t, Options{Name: "ipxe-test", Firmware: IPXE})
	con := dialLine(t, b.TelnetAddr())
	mustSh(t, b.PowerOnCommand())
	con.expect(IPXEInterruptPrompt)
	con.send(IPXEInterruptChar)
	con.expect(IPXEPrompt)
	// iPXE reads the serial line through SeaBIOS, which drops keys typed
	// faster than it polls: type as LAVA does, one character at a time.
	con.typ = IPXECharDelay
	con.cmd("dhcp net0", IPXEPrompt)
	kernelURL := fmt.Sprintf("http://%s:%d/vmlinuz", tftpIP, httpPort)
	con.send("kernel " + kernelURL + " " + KernelCommandLine + "\r")
	con.expect(kernelURL + "...") // then a progress count
	con.expect("ok")
	con.expect(IPXEPrompt)
	rdURL := "tftp://" + tftpIP + "/initramfs.cpio.gz"
	con.send("initrd " + rdURL + "\r")
	con.expect(rdURL + "...")
	con.expect("ok")
	con.expect(IPXEPrompt)
	con.send("boot\r")
	con.expect("Linux version ")
	con.expect(dut.Prompt)
	con.typ = 0 // the kernel's own UART driver takes keys at any speed
	con.send("echo ipxe-$((6*7))\r")
	con.expect("ipxe-42")

	reqs := srv.requests()
	if len(reqs) != 1 || reqs[0].File != "initramfs.cpio.gz" || reqs[0].Err != "" || reqs[0].Sent != fileSize(t, img.Ramdisk) {
		t.Errorf("TFTP requests: %+v", reqs)
	}
}

// TestLineLosesUnheardOutput checks the line behaves as a UART: what the
// board prints while no telnet client has the line open is lost, not
// delivered late to the next client.
func TestLineLosesUnheardOutput(t *testing.T) {
	t.Parallel()
	b := Start(t, Options{Name: "unheard-test"})
	mustSh(t, b.PowerOnCommand())
	// Wait until the first lines of the boot (banner, CPU, DRAM: about 130
	// bytes) have been printed to nobody.
	for deadline := time.Now().Add(expectTimeout); b.uart.dropped.Load() < 300; {
		if time.Now().After(deadline) {
			t.Fatalf("board output with no client on the line: %d bytes dropped, want all", b.uart.dropped.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	con := dialLine(t, b.TelnetAddr())
	mustSh(t, b.HardResetCommand())
	con.expect("U-Boot 2023.01")
	seen := con.seen.String()
	before := seen[:strings.Index(seen, "U-Boot 2023.01")]
	con.expect(UBootInterruptPrompt)
	con.send(UBootInterruptChar)
	con.expect(UBootPrompt)
	if strings.Contains(before, "DRAM:") {
		t.Fatalf("output of the first boot, printed to nobody, reached the client:\n%s", before)
	}
}

// waitLine waits until ser2net has the board's pty open (it opens it for
// a client) or closed (when the client's session has ended).
func waitLine(t *testing.T, b *Board, open bool) {
	t.Helper()
	closed := func() (c bool) {
		b.uart.rc.Control(func(fd uintptr) { c = lineClosed(fd) })
		return c
	}
	for deadline := time.Now().Add(expectTimeout); closed() == open; {
		if time.Now().After(deadline) {
			t.Fatalf("ser2net's serial line: want open %v", open)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
