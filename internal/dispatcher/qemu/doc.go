// Package qemu is the QEMU device under test: a Device of the dispatcher
// whose power switch starts and stops a qemu-system-<arch> process and
// whose serial console is that process's emulated first serial port,
// connected to its standard input and output.
//
// The command line follows LAVA's qemu device type (qemu.jinja2): the
// binary chosen by arch, -machine/-cpu where the architecture needs them,
// KVM (-cpu host -enable-kvm) unless it is off, -net nic,… -net user,
// -m, -monitor none, the dictionary's extra options, and then the job's
// image arguments (image_arg with {name} replaced by the deployed file, or
// -kernel/-initrd/-dtb/-append built from the deployed images). Instead of
// LAVA's -nographic the console is an explicit stdio chardev with
// signal=off, so a ^C typed on the console reaches the guest.
//
// KVM has three modes. On and Off are what the device dictionary's no_kvm
// says; Auto (no_kvm not set) uses KVM when /dev/kvm can be opened and, if
// QEMU then fails within its first seconds, powers on again under TCG and
// says so in the log: some hosts expose /dev/kvm but cannot run guests.
//
// QEMU processes stay in the job process's process group and get SIGKILL
// when the job process dies (Pdeathsig), so a canceled or killed job never
// leaves a running guest behind.
package qemu
