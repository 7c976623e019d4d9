package devicedict

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// KVMMode says whether a QEMU device runs with KVM.
type KVMMode int

// KVM modes.
const (
	// KVMAuto uses KVM when /dev/kvm can be opened (no_kvm not set, on an
	// x86 guest).
	KVMAuto KVMMode = iota
	// KVMOn always uses KVM (no_kvm: false).
	KVMOn
	// KVMOff never uses KVM (no_kvm: true, or an architecture the template
	// never runs under KVM).
	KVMOff
)

// String names the mode.
func (m KVMMode) String() string {
	switch m {
	case KVMOn:
		return "on"
	case KVMOff:
		return "off"
	}
	return "auto"
}

// QEMU is how to run a qemu device, from its effective variables (LAVA's
// qemu.jinja2 with the template's defaults filled in).
type QEMU struct {
	// Binary is the QEMU program for Arch (qemu-system-x86_64, …).
	Binary string
	// Arch is the guest architecture (arch; DefaultArch when unset).
	Arch string
	// Machine is -machine ("" for the binary's default); CPU is -cpu when
	// not under KVM ("" for the default).
	Machine, CPU string
	// MemoryMiB is -m (memory, default 512); CPUs is -smp (cpus; 0 leaves
	// QEMU's default).
	MemoryMiB, CPUs int
	// KVM is whether to use KVM.
	KVM KVMMode
	// NetDevice is the -net backend (netdevice, default "user"); Model the
	// NIC option after "-net nic," (model, default "model=virtio"); MAC the
	// NIC's address (mac_addr, default 52:54:00:12:34:58).
	NetDevice, Model, MAC string
	// Monitor is -monitor (monitor, default "none").
	Monitor string
	// VGA and Serial are extra option strings of the template (vga,
	// serial), split like a shell by the caller.
	VGA, Serial string
	// ExtraOptions are more QEMU options (extra_options), each split like a
	// shell by the caller.
	ExtraOptions []string
	// BootConsole is the kernel's console= (boot_console; ttyS0,115200,
	// or ttyAMA0,115200 on Arm); BootRoot its root= (boot_root; /dev/sda1,
	// or /dev/vda2 on arm64, none on arm); ConsoleDevice the console of
	// NFS boots (console_device, default ttyAMA0).
	BootConsole, BootRoot, ConsoleDevice string
	// ExtraKernelArgs are appended to the kernel command line
	// (extra_kernel_args, and loglevel=N for kernel_loglevel).
	ExtraKernelArgs string
	// GuestFS is the empty disk image deploys can create (guestfs_size in
	// MiB, default 512; guestfs_interface, ide on x86 and virtio
	// elsewhere; guestfs_driveid, default lavatest).
	GuestFSSizeMiB                   int
	GuestFSInterface, GuestFSDriveID string
}

// Defaults of qemu.jinja2 (and Basalt's arch default).
const (
	// DefaultArch is the architecture when neither the dictionary nor the
	// job's context sets arch. LAVA's template has none; Basalt's is amd64.
	DefaultArch      = "amd64"
	DefaultMemoryMiB = 512
	DefaultMAC       = "52:54:00:12:34:58"
	DefaultNetDevice = "user"
	DefaultModel     = "model=virtio"
	DefaultMonitor   = "none"
	DefaultGuestFS   = 512
	DefaultDriveID   = "lavatest"
)

// x86Archs are the architectures LAVA runs under KVM by default and gives
// an ide guest disk.
var x86Archs = []string{"amd64", "x86_64", "i386"}

// QEMUBinary returns the QEMU program for a guest architecture, as
// qemu.jinja2's table (qemu-system-<arch> for the ones it does not name).
func QEMUBinary(arch string) string {
	switch arch {
	case "arm64", "aarch64":
		return "qemu-system-aarch64"
	case "amd64", "x86_64":
		return "qemu-system-x86_64"
	}
	return "qemu-system-" + arch
}

// defaultMachine is the -machine qemu.jinja2 passes for an architecture.
func defaultMachine(arch string) string {
	switch arch {
	case "hppa":
		return "hppa"
	case "m68k":
		return "mcf5208evb"
	case "mips", "mips64":
		return "malta"
	case "nios2":
		return "10m50-ghrd"
	case "ppc":
		return "g3beige"
	case "ppc64":
		return "pseries"
	case "riscv64", "arm64", "aarch64", "arm":
		return "virt"
	case "sparc":
		return "SS-5"
	case "sparc64":
		return "sun4u"
	case "xtensa":
		return "sim"
	}
	return ""
}

// QEMUConfig reads the effective variables of a qemu device (Dict.Resolve)
// and fills in qemu.jinja2's defaults. Values of the wrong type or range
// (possible from the job's context, which the upload check did not see)
// are errors; every problem is reported.
func QEMUConfig(vars map[string]any) (QEMU, error) {
	var errs errList
	c := &checkCtx{errs: &errs}
	for _, name := range sortedKeys(qemuVars) {
		if v, ok := vars[name]; ok && v != nil {
			qemuVars[name](c, fromValue(v, 0), varPath(name))
		}
	}
	for _, name := range []string{"extra_kernel_args", "kernel_loglevel"} {
		if v, ok := vars[name]; ok && v != nil {
			baseVars[name](c, fromValue(v, 0), varPath(name))
		}
	}
	if !errs.empty() {
		msgs := make([]string, 0, len(errs.items))
		for _, e := range errs.items {
			msgs = append(msgs, strings.TrimPrefix(e.Path, "$.")+": "+e.Msg)
		}
		return QEMU{}, errors.New("qemu device: " + strings.Join(msgs, "; "))
	}

	arch := strVar(vars, "arch", DefaultArch)
	q := QEMU{
		Arch:             arch,
		Binary:           QEMUBinary(arch),
		Machine:          strVar(vars, "machine", defaultMachine(arch)),
		MemoryMiB:        DefaultMemoryMiB,
		NetDevice:        strVar(vars, "netdevice", DefaultNetDevice),
		Model:            strVar(vars, "model", DefaultModel),
		MAC:              strVar(vars, "mac_addr", DefaultMAC),
		Monitor:          strVar(vars, "monitor", DefaultMonitor),
		VGA:              strVar(vars, "vga", ""),
		Serial:           strVar(vars, "serial", ""),
		ExtraOptions:     stringList(vars["extra_options"]),
		ConsoleDevice:    strVar(vars, "console_device", "ttyAMA0"),
		ExtraKernelArgs:  strVar(vars, "extra_kernel_args", ""),
		GuestFSSizeMiB:   DefaultGuestFS,
		GuestFSInterface: "virtio",
		GuestFSDriveID:   strVar(vars, "guestfs_driveid", DefaultDriveID),
	}
	x86 := slices.Contains(x86Archs, arch)
	arm := arch == "arm" || arch == "arm64" || arch == "aarch64"
	switch {
	case arm:
		q.CPU = "cortex-a57"
		q.BootConsole = "ttyAMA0,115200"
		if arch != "arm" {
			q.BootRoot = "/dev/vda2"
		}
	case arch == "riscv64":
		q.CPU = "rv64"
		q.BootConsole, q.BootRoot = "ttyS0,115200", "/dev/sda1"
	default:
		q.BootConsole, q.BootRoot = "ttyS0,115200", "/dev/sda1"
	}
	if x86 {
		q.GuestFSInterface = "ide"
	}
	q.CPU = strVar(vars, "cpu", q.CPU)
	q.BootConsole = strVar(vars, "boot_console", q.BootConsole)
	q.BootRoot = strVar(vars, "boot_root", q.BootRoot)
	q.GuestFSInterface = strVar(vars, "guestfs_interface", q.GuestFSInterface)
	if v, ok := vars["memory"]; ok && v != nil {
		q.MemoryMiB, _ = memoryMiB(fromValue(v, 0))
	}
	if n, ok := intVar(vars, "cpus"); ok {
		q.CPUs = n
	}
	if n, ok := intVar(vars, "guestfs_size"); ok {
		q.GuestFSSizeMiB = n
	}
	if n, ok := intVar(vars, "kernel_loglevel"); ok {
		q.ExtraKernelArgs = strings.TrimSpace(q.ExtraKernelArgs + fmt.Sprintf(" loglevel=%d", n))
	}
	switch noKVM, set := vars["no_kvm"].(bool); {
	case set && noKVM:
		q.KVM = KVMOff
	case set:
		q.KVM = KVMOn
	case x86:
		q.KVM = KVMAuto
	default:
		q.KVM = KVMOff
	}
	return q, nil
}
