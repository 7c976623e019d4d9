package board

import (
	"fmt"
	"strings"
)

// jinjaString quotes s as a single-quoted Jinja2 string literal.
func jinjaString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return "'" + r.Replace(s) + "'"
}

// Dictionary is a LAVA-style device dictionary for the board, extending
// template (e.g. "u-boot-x86.jinja2"): its connection and power commands,
// and the firmware's prompts and load addresses under LAVA's variable
// names (bootloader_prompt, interrupt_prompt, interrupt_char,
// bootz_kernel_addr, ...; uboot_bootx_cmd boots with zboot, and
// ipxe_interrupt_ctrl_list is iPXE's Ctrl-B, boot_character_delay its
// typing pace in milliseconds).
func (b *Board) Dictionary(template string) string {
	var d strings.Builder
	set := func(name, value string) { fmt.Fprintf(&d, "{%% set %s = %s %%}\n", name, value) }
	fmt.Fprintf(&d, "{# Test board %s (internal/testutil/board): QEMU with %s, its serial on ser2net. #}\n", b.opts.Name, b.opts.Firmware)
	fmt.Fprintf(&d, "{%% extends %s %%}\n", jinjaString(template))
	set("connection_command", jinjaString(b.ConnectionCommand()))
	set("power_on_command", jinjaString(b.PowerOnCommand()))
	set("power_off_command", jinjaString(b.PowerOffCommand()))
	set("hard_reset_command", jinjaString(b.HardResetCommand()))
	set("console_device", jinjaString("ttyS0"))
	set("baud_rate", "115200")
	switch b.opts.Firmware {
	case UBoot:
		set("bootloader_prompt", jinjaString(strings.TrimSpace(UBootPrompt)))
		set("interrupt_prompt", jinjaString(UBootInterruptPrompt))
		set("interrupt_char", jinjaString(UBootInterruptChar))
		set("bootz_kernel_addr", jinjaString(UBootKernelAddr))
		set("bootz_ramdisk_addr", jinjaString(UBootRamdiskAddr))
		set("uboot_bootx_cmd", jinjaString("zboot {KERNEL_ADDR} 0 {RAMDISK_ADDR} ${initrd_size}"))
	case IPXE:
		set("bootloader_prompt", jinjaString(strings.TrimSpace(IPXEPrompt)))
		set("ipxe_autoboot_prompt", jinjaString(IPXEInterruptPrompt))
		set("ipxe_interrupt_ctrl_list", "['b']")
		set("boot_interface", jinjaString("net0"))
		set("boot_character_delay", fmt.Sprint(IPXECharDelay.Milliseconds()))
	}
	return d.String()
}
