package bootloader_test

import (
	"fmt"

	"github.com/basalt-lab/basalt/internal/dispatcher/bootloader"
)

// The dispatcher's side of a u-boot boot: the job chose the device's
// ramdisk command set, the tftp deployment gives the files.
func ExampleSubstitute() {
	m := bootloader.Method{Name: bootloader.UBoot, BootloaderPrompt: "=>", CommandSets: map[string][]string{
		"ramdisk": {"setenv serverip {SERVER_IP}", "tftp {KERNEL_ADDR} {KERNEL}", "tftp {RAMDISK_ADDR} {RAMDISK}",
			"setenv initrd_size ${filesize}", "tftp {DTB_ADDR} {DTB}", "{BOOTX}"},
	}}
	set, err := m.Commands("ramdisk")
	if err != nil {
		fmt.Println(err)
		return
	}
	subs, err := bootloader.Substitutions(bootloader.Inputs{
		Method: bootloader.UBoot, ServerIP: "10.0.0.1",
		Kernel: "12/tftp-deploy-abc/kernel/Image", DTB: "12/tftp-deploy-abc/dtb/board.dtb",
		KernelType: "image", RamdiskFormat: "u-boot",
		BootAddresses: map[string]bootloader.Addresses{"booti": {Kernel: "0x80000000", Ramdisk: "0x82000000", DTB: "0x81000000"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range bootloader.Substitute(set, subs) {
		fmt.Println(c)
	}
	// Output:
	// setenv serverip 10.0.0.1
	// tftp 0x80000000 12/tftp-deploy-abc/kernel/Image
	// setenv initrd_size ${filesize}
	// tftp 0x81000000 12/tftp-deploy-abc/dtb/board.dtb
	// booti 0x80000000 - 0x81000000
}
