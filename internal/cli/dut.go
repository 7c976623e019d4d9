package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/dut"
)

// newDUTCommand builds `basalt dut build`: Basalt's own QEMU device under
// test (Debian's kernel and a busybox initramfs made here).
func newDUTCommand() *cobra.Command {
	var o dut.Options
	build := &cobra.Command{
		Use:   "build",
		Short: "Build the QEMU device under test: kernel + busybox initramfs with a shell on ttyS0",
		Long: `Build Basalt's own device under test for QEMU into --out:

  vmlinuz            a copy of Debian's kernel (linux-image-amd64)
  initramfs.cpio.gz  Debian's busybox-static and an init that respawns a
                     login shell on ttyS0 with the prompt "/ # "

Boot it with, for example:
  qemu-system-x86_64 -accel tcg -m 256 -display none -serial stdio \
    -kernel OUT/vmlinuz -initrd OUT/initramfs.cpio.gz -append console=ttyS0`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			img, err := dut.Build(o)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kernel   %s  sha256:%s\nramdisk  %s  sha256:%s\n",
				img.Kernel, img.KernelSHA256, img.Ramdisk, img.RamdiskSHA256)
			return nil
		},
	}
	build.Flags().StringVar(&o.OutDir, "out", "basalt-dut", "directory for the images")
	build.Flags().StringVar(&o.Busybox, "busybox", "/bin/busybox", "a statically linked busybox (Debian: busybox-static)")
	build.Flags().StringVar(&o.Kernel, "kernel", "", "kernel image (default: the newest /boot/vmlinuz-*)")
	cmd := &cobra.Command{Use: "dut", Short: "Build Basalt's own device under test for QEMU"}
	cmd.AddCommand(build)
	return cmd
}
