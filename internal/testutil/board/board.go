package board

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Firmware is what the board runs at power on.
type Firmware int

const (
	// UBoot is Debian's U-Boot for 32-bit x86 QEMU (u-boot-qemu,
	// qemu-x86/u-boot.rom) as the board's BIOS: it counts down
	// "Hit any key to stop autoboot", then gives the "=> " prompt, and
	// boots Debian's x86 kernel with zboot.
	UBoot Firmware = iota
	// IPXE is SeaBIOS network-booting the e1000's iPXE option ROM (Debian's
	// ipxe-qemu): "Press Ctrl-B for the iPXE command line", then "iPXE> ".
	IPXE
)

// String names the firmware.
func (f Firmware) String() string {
	switch f {
	case UBoot:
		return "u-boot"
	case IPXE:
		return "ipxe"
	}
	return "firmware(" + strconv.Itoa(int(f)) + ")"
}

// Facts of the boards' firmware, as a device template needs them.
const (
	// UBootPrompt is U-Boot's command prompt.
	UBootPrompt = "=> "
	// UBootInterruptPrompt is printed while U-Boot counts down its
	// bootdelay (2 s in this build) before autobooting.
	UBootInterruptPrompt = "Hit any key to stop autoboot"
	// UBootInterruptChar stops the countdown (any key does).
	UBootInterruptChar = " "
	// UBootKernelAddr is where to tftp the bzImage for zboot (U-Boot's own
	// kernel_addr_r).
	UBootKernelAddr = "0x1000000"
	// UBootRamdiskAddr is where to tftp the initramfs for zboot (U-Boot's
	// own ramdisk_addr_r).
	UBootRamdiskAddr = "0x4000000"
	// UBootBootCommand boots the bzImage at UBootKernelAddr with the
	// ramdisk at UBootRamdiskAddr, once "setenv initrd_size ${filesize}"
	// followed the ramdisk's tftp (as LAVA's u-boot commands do).
	UBootBootCommand = "zboot " + UBootKernelAddr + " 0 " + UBootRamdiskAddr + " ${initrd_size}"

	// IPXEPrompt is iPXE's command prompt.
	IPXEPrompt = "iPXE> "
	// IPXEInterruptPrompt is printed for about 2 s before iPXE boots on
	// its own (LAVA's default). Match all of it: the option ROM prints
	// "Press Ctrl-B to configure iPXE" earlier.
	IPXEInterruptPrompt = "Press Ctrl-B for the iPXE command line"
	// IPXEInterruptChar is Ctrl-B.
	IPXEInterruptChar = "\x02"
	// IPXECharDelay is the pause to make after each character typed to
	// iPXE (LAVA's boot_character_delay). iPXE reads the serial line
	// through SeaBIOS's serial console, which at each poll moves every
	// byte waiting in the UART into a small buffer and then into the BIOS
	// keyboard buffer (15 keys), dropping what does not fit: typed at full
	// speed, a command line lost its end once on a loaded host, and at
	// 20 ms two characters went under make test's race step. U-Boot and
	// Linux read the UART themselves and need no delay.
	IPXECharDelay = 50 * time.Millisecond

	// GuestIP is the board's address on QEMU's user network (from DHCP).
	GuestIP = "10.0.2.15"
	// GatewayIP is the user network's gateway: TCP and UDP to it reach the
	// host's 127.0.0.1 (except UDP port 69, which QEMU answers itself with
	// its own TFTP server). Packets for any other 127.A.B.C are routed
	// through it to that host loopback address, port 69 included.
	GatewayIP = "10.0.2.2"
	// Netmask is the user network's.
	Netmask = "255.255.255.0"
	// KernelCommandLine puts the kernel's console on the board's UART.
	KernelCommandLine = "console=ttyS0,115200"
)

// Default firmware and emulator paths (Debian packages u-boot-qemu,
// ipxe-qemu, qemu-system-x86).
const (
	DefaultUBootROM = "/usr/lib/u-boot/qemu-x86/u-boot.rom"
	DefaultIPXEROM  = "/usr/lib/ipxe/qemu/pxe-e1000.rom"
	DefaultQEMU     = "qemu-system-x86_64"
)

// Options configure a board. The zero value is a U-Boot board.
type Options struct {
	Firmware Firmware
	// Name is the board's name in logs, ser2net's alias and its scripts;
	// letters, digits, '-' and '_'. Default "board".
	Name string
	// MemoryMB is the board's RAM; default 256.
	MemoryMB int
	// MAC is its e1000's address; default 52:54:00:12:34:56.
	MAC string
	// ROM overrides the firmware image (DefaultUBootROM or DefaultIPXEROM).
	ROM string
	// QEMU overrides the emulator; default qemu-system-x86_64 from PATH.
	QEMU string
	// TelnetPort is ser2net's port on 127.0.0.1; default a free one.
	TelnetPort int
	// KickOldUser lets a new telnet client take the line from the current
	// one (ser2net's kickolduser) instead of being refused.
	KickOldUser bool
	// Dir holds the board's files (scripts, sockets, pid files, logs);
	// default a new directory os.TempDir()/board-*, removed by Close (and,
	// if the process dies first, by the next New: its QEMU and ser2net are
	// killed then). Unix socket paths are limited to 108 bytes: keep it
	// short.
	Dir string
}

// Board is a running test board: its serial line served by ser2net on a
// telnet port, and shell commands that switch it on and off. It starts
// powered off.
type Board struct {
	opts    Options
	dir     string
	ownDir  bool
	port    int
	uart    *uart
	s2nConf string

	mu  sync.Mutex
	s2n *ser2net
}

var nameOK = func(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != "" && len(s) <= 64
}

// Start is New for a test: it fails t on error and closes the board (QEMU
// killed, ser2net stopped, files removed) in t.Cleanup.
func Start(t testing.TB, opts Options) *Board {
	t.Helper()
	b, err := New(opts)
	if err != nil {
		t.Fatalf("start board: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("close board: %v", err)
		}
	})
	return b
}

// New sets up a board, powered off: its pty, ser2net listening on
// TelnetAddr, and the power scripts. Close it when done.
func New(opts Options) (_ *Board, err error) {
	if opts.Name == "" {
		opts.Name = "board"
	}
	if !nameOK(opts.Name) {
		return nil, fmt.Errorf("board name %q: use 1-64 letters, digits, '-' or '_'", opts.Name)
	}
	if opts.MemoryMB == 0 {
		opts.MemoryMB = 256
	}
	if opts.MemoryMB < 64 || opts.MemoryMB > 4096 {
		return nil, fmt.Errorf("board memory %d MiB: want 64-4096", opts.MemoryMB)
	}
	if opts.MAC == "" {
		opts.MAC = "52:54:00:12:34:56"
	}
	if _, err := net.ParseMAC(opts.MAC); err != nil {
		return nil, fmt.Errorf("board MAC: %w", err)
	}
	switch opts.Firmware {
	case UBoot:
		if opts.ROM == "" {
			opts.ROM = DefaultUBootROM
		}
	case IPXE:
		if opts.ROM == "" {
			opts.ROM = DefaultIPXEROM
		}
	default:
		return nil, fmt.Errorf("unknown firmware %d", int(opts.Firmware))
	}
	if _, err := os.Stat(opts.ROM); err != nil {
		pkg := "u-boot-qemu"
		if opts.Firmware == IPXE {
			pkg = "ipxe-qemu"
		}
		return nil, fmt.Errorf("%s firmware (install Debian's %s): %w", opts.Firmware, pkg, err)
	}
	if opts.QEMU == "" {
		opts.QEMU = DefaultQEMU
	}
	qemu, err := exec.LookPath(opts.QEMU)
	if err != nil {
		return nil, fmt.Errorf("QEMU (install Debian's qemu-system-x86): %w", err)
	}
	opts.QEMU = qemu

	if strings.Contains(opts.Dir, ",") {
		return nil, fmt.Errorf("board directory %q: QEMU options cannot hold a ','", opts.Dir)
	}
	b := &Board{opts: opts, dir: opts.Dir}
	if b.dir == "" {
		reapStale()
		if b.dir, err = os.MkdirTemp("", "board-"); err != nil {
			return nil, fmt.Errorf("board directory: %w", err)
		}
		b.ownDir = true
		owner := strconv.Itoa(os.Getpid()) + "\n"
		if err := os.WriteFile(filepath.Join(b.dir, ownerFile), []byte(owner), 0o644); err != nil {
			os.RemoveAll(b.dir)
			return nil, fmt.Errorf("board directory: %w", err)
		}
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("board directory: %w", err)
	}
	if b.dir, err = filepath.Abs(b.dir); err != nil {
		return nil, fmt.Errorf("board directory: %w", err)
	}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.uart, err = newUART(filepath.Join(b.dir, "serial.sock")); err != nil {
		return nil, err
	}
	if err := b.writeScripts(); err != nil {
		return nil, err
	}
	b.port = opts.TelnetPort
	for try := 0; ; try++ {
		if opts.TelnetPort == 0 {
			if b.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		b.s2nConf = filepath.Join(b.dir, "ser2net.yaml")
		conf := ser2netConfig(opts.Name, b.port, b.uart.ptsPath, opts.KickOldUser)
		if err := os.WriteFile(b.s2nConf, []byte(conf), 0o644); err != nil {
			return nil, fmt.Errorf("write ser2net config: %w", err)
		}
		b.s2n, err = startSer2net(b.dir, b.s2nConf, b.port)
		// A free port taken by someone else in the meantime: pick again.
		if err == nil || opts.TelnetPort != 0 || try == 3 {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Dir is the board's directory (scripts, logs, sockets).
func (b *Board) Dir() string { return b.dir }

// Firmware is what the board boots.
func (b *Board) Firmware() Firmware { return b.opts.Firmware }

// Name is the board's name.
func (b *Board) Name() string { return b.opts.Name }

// TelnetAddr is ser2net's telnet address for the board's serial line.
func (b *Board) TelnetAddr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

// TelnetPort is ser2net's telnet port on 127.0.0.1.
func (b *Board) TelnetPort() int { return b.port }

// SerialDevice is the pty slave ser2net serves (what a lab's
// /dev/ttyUSB0 would be).
func (b *Board) SerialDevice() string { return b.uart.ptsPath }

// ConnectionCommand is the device dictionary's connection_command.
func (b *Board) ConnectionCommand() string { return fmt.Sprintf("telnet 127.0.0.1 %d", b.port) }

// PowerOnCommand is the device dictionary's power_on_command: it starts
// the board (a no-op when it is already on, as for a PDU outlet).
func (b *Board) PowerOnCommand() string { return shellQuote(b.script(powerOn)) }

// PowerOffCommand is the device dictionary's power_off_command: it cuts the
// board's power (kills its QEMU) and returns once it is off.
func (b *Board) PowerOffCommand() string { return shellQuote(b.script(powerOff)) }

// HardResetCommand is the device dictionary's hard_reset_command: off,
// then on.
func (b *Board) HardResetCommand() string { return shellQuote(b.script(hardReset)) }

// FailPower makes every power command fail (exit 1 with a message on
// stderr, board left as it is) while on, like an unreachable PDU.
func (b *Board) FailPower(on bool) error {
	flag := filepath.Join(b.dir, failFlag)
	if on {
		if err := os.WriteFile(flag, []byte("power controller unreachable\n"), 0o644); err != nil {
			return fmt.Errorf("set power failure: %w", err)
		}
		return nil
	}
	if err := os.Remove(flag); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear power failure: %w", err)
	}
	return nil
}

// On reports whether the board is powered on (its QEMU runs).
func (b *Board) On() bool { return b.qemuPID() > 0 }

// qemuPID is the running QEMU's pid from its pid file, or 0.
func (b *Board) qemuPID() int {
	pidFile := filepath.Join(b.dir, "qemu.pid")
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), pidFile) {
		return 0
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if i := strings.LastIndexByte(string(stat), ')'); err != nil || i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
		return 0
	}
	return pid
}

// RestartSer2net kills ser2net (dropping its telnet client, as a lab's
// ser2net restart does) and starts it again on the same port; the board
// keeps running.
func (b *Board) RestartSer2net() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s2n.stop()
	b.s2n = nil
	var err error
	// The port can take a moment to be free again.
	for try := 0; try < 5; try++ {
		if b.s2n, err = startSer2net(b.dir, b.s2nConf, b.port); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("restart ser2net: %w", err)
}

// StopSer2net kills ser2net and leaves it down (until RestartSer2net).
func (b *Board) StopSer2net() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.s2n.stop()
	b.s2n = nil
}

// Close powers the board off, stops ser2net and the serial relay, and
// removes the board's directory if New made it.
func (b *Board) Close() error {
	var errs []error
	if pid := b.qemuPID(); pid > 0 {
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			errs = append(errs, fmt.Errorf("kill QEMU %d: %w", pid, err))
		}
		for i := 0; i < 100 && b.qemuPID() > 0; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}
	b.mu.Lock()
	b.s2n.stop()
	b.s2n = nil
	b.mu.Unlock()
	if b.uart != nil {
		b.uart.close()
		b.uart = nil
	}
	if b.ownDir {
		if err := os.RemoveAll(b.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", b.dir, err))
		}
	}
	return errors.Join(errs...)
}

// shellQuote quotes s for /bin/sh when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-=:,+@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
