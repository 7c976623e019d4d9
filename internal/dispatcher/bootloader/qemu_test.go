package bootloader

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/console"
)

// Tests against Debian's real bootloaders in QEMU (TCG: no KVM needed):
// U-Boot (u-boot-qemu) and iPXE (ipxe-qemu), with QEMU's user network and
// its built-in TFTP server on 10.0.2.2.

const (
	// Debian's 32-bit build: the 64-bit one (qemu-x86_64) triple-faults in
	// zboot of Debian's 6.1 kernel (seen with u-boot-qemu 2023.01+dfsg-2+deb12u3).
	ubootROM  = "/usr/lib/u-boot/qemu-x86/u-boot.rom"
	ipxeROM   = "/usr/lib/ipxe/qemu/pxe-e1000.rom"
	qemuX86   = "/usr/bin/qemu-system-x86_64"
	qemuSlirp = "10.0.2.2"
)

func (c *streamConsole) typedText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.typed.String()
}

// need fails the test when a file from a Debian package is missing.
func need(t *testing.T, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("%s is missing: install the Debian package %s", path, pkg)
	}
}

// startQEMU starts an x86_64 machine with its serial console on the
// returned console, QEMU's TFTP serving tftpDir.
//
// typeDelay is the pause between typed characters (the device type's
// boot_character_delay). iPXE typed at line speed lost the end of a
// command line once, while the host's two cores ran several test
// processes (its console read by SeaBIOS's serial redirection, whose
// small key buffer is the likely place); real boards need such delays
// too, which is why LAVA has them.
func startQEMU(t *testing.T, tftpDir string, typeDelay time.Duration, args ...string) *streamConsole {
	t.Helper()
	need(t, qemuX86, "qemu-system-x86")
	base := []string{"-m", "512", "-nographic", "-monitor", "none", "-no-reboot",
		"-netdev", "user,id=n0,tftp=" + tftpDir, "-device", "e1000,netdev=n0,mac=52:54:00:12:34:5a"}
	cmd := exec.Command(qemuX86, append(base, args...)...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", qemuX86, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return newStreamConsole(stdout, console.NewDelayWriter(stdin, typeDelay))
}

// TestQEMUUBoot boots Debian's kernel with Debian's U-Boot through the
// engine: the qemu-uboot-x86_64 device type's ramdisk command set (without
// a ramdisk, so its tftp line is dropped), zboot, "Starting kernel", then
// the kernel's own start message.
func TestQEMUUBoot(t *testing.T) {
	need(t, ubootROM, "u-boot-qemu")
	tftp := kernelTFTP(t)
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	set, err := m.Commands("ramdisk")
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Substitutions(Inputs{Method: UBoot, ServerIP: qemuSlirp, Kernel: "7/bzImage", KernelType: "bzimage",
		RamdiskFormat: "raw", BootAddresses: map[string]Addresses{"zboot": {Kernel: "0x1000000", Ramdisk: "0x4000000"}}})
	if err != nil {
		t.Fatal(err)
	}
	cmds := Substitute(set, subs)
	want := []string{"setenv autoload no", "dhcp", "setenv serverip 10.0.2.2", "tftp 0x1000000 7/bzImage",
		"setenv initrd_size ${filesize}", "setenv bootargs 'console=ttyS0,115200n8 root=/dev/ram0  ip=dhcp'", "zboot 0x1000000"}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands %q\nwant %q", cmds, want)
	}
	console := startQEMU(t, tftp, 0, "-bios", ubootROM)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := Run(ctx, console, m, cmds, Options{ExpectFinal: true, InterruptTimeout: 2 * time.Minute, PromptTimeout: 2 * time.Minute}); err != nil {
		t.Fatalf("Run: %v\nconsole:\n%s", err, console.output())
	}
	if _, err := console.Expect(ctx, "the kernel", regexp.MustCompile(`Linux version [0-9]`)); err != nil {
		t.Fatalf("no kernel start message: %v\nconsole:\n%s", err, console.output())
	}
	if got := console.typedText(); got != "\n"+strings.Join(want, "\n")+"\n" {
		t.Errorf("typed %q", got)
	}
}

// TestQEMUUBootError: a kernel missing on the TFTP server makes Debian's
// U-Boot print "File not found", one of LAVA's U-Boot error messages.
func TestQEMUUBootError(t *testing.T) {
	need(t, ubootROM, "u-boot-qemu")
	m := loadMethod(t, "uboot-x86-01.yaml", UBoot)
	console := startQEMU(t, t.TempDir(), 0, "-bios", ubootROM)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmds := []string{"setenv autoload no", "dhcp", "setenv serverip 10.0.2.2", "tftp 0x1000000 missing/bzImage", "version"}
	err := Run(ctx, console, m, cmds, Options{ExpectFinal: true, InterruptTimeout: 2 * time.Minute, PromptTimeout: 2 * time.Minute})
	var e *Error
	if !errors.As(err, &e) || e.Kind != Infrastructure || e.Matched != "File not found" || e.Command != cmds[3] {
		t.Fatalf("Run: %v, want the error message File not found after %q\nconsole:\n%s", err, cmds[3], console.output())
	}
	if got := console.typedText(); got != "\n"+strings.Join(cmds[:4], "\n")+"\n" {
		t.Errorf("typed %q", got)
	}
}

// TestQEMUIPXE boots Debian's kernel with QEMU's iPXE ROM through the
// engine: Ctrl-B at "Press Ctrl-B", then the qemu-ipxe-x86_64 device type's
// ramdisk command set (no ramdisk: its initrd line is dropped); ipxe has no
// final message, so Run returns after "boot" and the test waits for the
// kernel's start message.
func TestQEMUIPXE(t *testing.T) {
	need(t, ipxeROM, "ipxe-qemu")
	tftp := kernelTFTP(t)
	m := loadMethod(t, "ipxe-01.yaml", IPXE)
	set, err := m.Commands("ramdisk")
	if err != nil {
		t.Fatal(err)
	}
	subs, err := Substitutions(Inputs{Method: IPXE, ServerIP: qemuSlirp, Kernel: "7/bzImage", LavaMac: m.LavaMac})
	if err != nil {
		t.Fatal(err)
	}
	cmds := Substitute(set, subs)
	want := []string{"dhcp net0", "set console console=ttyS0,115200n8 lava_mac=52:54:00:12:34:5a", "set extraargs  ip=dhcp",
		"kernel tftp://10.0.2.2/7/bzImage ${extraargs} ${console}", "boot"}
	if strings.Join(cmds, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands %q\nwant %q", cmds, want)
	}
	// 50 ms a character, as the qemu-ipxe-x86_64 device type types
	console := startQEMU(t, tftp, 50*time.Millisecond, "-boot", "n")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := Run(ctx, console, m, cmds, Options{ExpectFinal: true, InterruptTimeout: 2 * time.Minute, PromptTimeout: 2 * time.Minute}); err != nil {
		t.Fatalf("Run: %v\nconsole:\n%q", err, console.output())
	}
	if _, err := console.Expect(ctx, "the kernel", regexp.MustCompile(`Linux version [0-9]`)); err != nil {
		t.Fatalf("no kernel start message: %v\nconsole:\n%s", err, console.output())
	}
	if got := console.typedText(); got != "\x02"+strings.Join(want, "\n")+"\n" {
		t.Errorf("typed %q", got)
	}
}

// kernelTFTP makes a TFTP directory holding Debian's kernel as 7/bzImage.
func kernelTFTP(t *testing.T) string {
	t.Helper()
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Fatal("no /boot/vmlinuz-*: install the Debian package linux-image-amd64")
	}
	tftp := t.TempDir()
	if err := os.MkdirAll(filepath.Join(tftp, "7"), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kernels[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tftp, "7", "bzImage"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return tftp
}
