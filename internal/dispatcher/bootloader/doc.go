// Package bootloader drives a bootloader on a device's console: the one
// engine behind the u-boot, ipxe, grub, grub-efi, barebox and generic
// bootloader boot methods, with LAVA's behaviour.
//
// A boot goes in three steps, as in LAVA's lava_dispatcher
// (BootloaderCommandOverlay, BootloaderInterruptAction,
// BootloaderCommandsAction):
//
//  1. The command list is chosen — a command set of the device's boot
//     method (the job's commands: ramdisk, nfs, …) or the job's inline
//     list (Method.Commands) — and its placeholders are replaced
//     (Substitutions builds the values from the deployment: {SERVER_IP},
//     {KERNEL}, {KERNEL_ADDR}, {BOOTX}, …; Substitute replaces them and
//     drops the lines whose placeholder has no value, as LAVA does).
//  2. Run interrupts the bootloader: it waits for the interrupt prompt
//     ("Hit any key to stop autoboot") and types the interrupt character,
//     or the control characters of interrupt_ctrl_list (Ctrl-B for iPXE),
//     then waits for the bootloader prompt. A method with needs_interrupt
//     false only waits for the prompt.
//  3. Run types each command and waits for the prompt again, watching the
//     bootloader's error messages (constants <method>.error-messages); after
//     the last command it waits for the method's final message ("Starting
//     kernel") when there is one.
//
// Errors are *Error values with a Kind the dispatcher maps to its error
// types: an error message seen on the console and a prompt that does not
// come in time are infrastructure errors, as in LAVA; a device or job
// configuration that cannot work (no prompt, an unknown command set, a
// placeholder left without a value) is a job error.
//
// The package depends on no other Basalt package: the dispatcher adapts its
// console to Console and reads the rendered device configuration into
// Method with ParseMethod.
package bootloader
