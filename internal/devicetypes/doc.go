// Package devicetypes holds the device-type templates Basalt ships,
// embedded in the binary.
//
// The templates are written for Basalt in the form of LAVA's device-type
// templates (Jinja2, rendered in LAVA's environment: sandboxed, autoescape
// off, trim_blocks on, with the filters shlex_quote, yaml_quote and
// qemu_guest_fs_interface), so that a device dictionary written for LAVA —
// {% extends 'beaglebone-black.jinja2' %} followed by {% set var = … %}
// lines — renders with them to the same configuration as with LAVA's
// templates of the same names: the same variables, the same defaults, the
// same rendered keys (constants, commands, parameters, actions.deploy,
// actions.boot.methods.<method>.parameters and command sets, timeouts)
// and the same bootloader command placeholders ({SERVER_IP}, {KERNEL_ADDR},
// {KERNEL}, {RAMDISK_ADDR}, {RAMDISK}, {DTB_ADDR}, {DTB}, {BOOTX},
// {NFSROOTFS}, …). No text was taken from LAVA: the templates were
// written from the facts of LAVA's (names, defaults, command lists).
//
// What ships (see README.md in this directory for every variable):
//
//   - base.jinja2: the blocks every type fills or replaces
//     (character_delays, scheduler_metadata, constants, commands, fastboot,
//     parameters, body, timeouts) and the bootloader constants
//     (posix, u-boot, barebox, grub, grub-efi, ipxe, depthcharge).
//   - base-uboot.jinja2, base-grub.jinja2, base-barebox.jinja2: the
//     u-boot, grub and barebox boot methods with their command sets.
//   - x86.jinja2: PCs booting with iPXE (the ipxe boot method).
//   - qemu.jinja2: QEMU started by the dispatcher (qemu, qemu-nfs).
//   - beaglebone-black.jinja2: a real U-Boot board, as an example.
//   - qemu-uboot-x86_64.jinja2: Basalt's U-Boot test board (QEMU x86_64
//     running Debian's U-Boot, booting a bzImage with zboot).
//   - qemu-ipxe-x86_64.jinja2: Basalt's iPXE test board (QEMU x86_64 with
//     QEMU's iPXE ROM).
//
// A generic U-Boot board needs no type of its own: as in LAVA, a device
// dictionary may extend base-uboot.jinja2 directly and set its addresses
// (bootz_kernel_addr, …), console_device and uboot_mkimage_arch.
//
// Administrators override or add templates by storing them through the
// API (searched first) or putting files in the server's templates
// directory (searched next); these embedded templates come last (so a
// site's base-uboot.jinja2 replaces Basalt's for every type that extends
// it). Names and FS give the
// embedded set.
//
// The package has no dependencies: rendering is the caller's (Basalt's
// Jinja2 engine); the tests render with Debian's python3-jinja2 as the
// reference.
package devicetypes
