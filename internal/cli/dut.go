package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/dut"
)

// defaultDUTDir is where `basalt dut build` and `basalt dut serve` put the
// images unless told otherwise.
const defaultDUTDir = "basalt-dut"

// newDUTCommand builds `basalt dut build` and `basalt dut serve`: Basalt's
// own QEMU device under test (Debian's kernel and a busybox initramfs made
// here), and a read-only web server for its images.
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
	build.Flags().StringVar(&o.OutDir, "out", defaultDUTDir, "directory for the images")
	build.Flags().StringVar(&o.Busybox, "busybox", "/bin/busybox", "a statically linked busybox (Debian: busybox-static)")
	build.Flags().StringVar(&o.Kernel, "kernel", "", "kernel image (default: the newest /boot/vmlinuz-*)")
	cmd := &cobra.Command{Use: "dut", Short: "Build Basalt's own device under test for QEMU, and serve its images"}
	cmd.AddCommand(build, newDUTServeCommand())
	return cmd
}

// newDUTServeCommand builds `basalt dut serve`.
func newDUTServeCommand() *cobra.Command {
	var dir, listen string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the device under test's images over HTTP on loopback (building them first if missing)",
		Long: `Serve the files of --out read-only over HTTP on a loopback address, for the
deploy actions of jobs on a worker of this host (examples/qemu-smoke.yaml
downloads http://127.0.0.1:8080/vmlinuz and /initramfs.cpio.gz).

When --out holds no images yet, they are built first, as by
` + "`basalt dut build`" + ` (from /bin/busybox and the newest /boot/vmlinuz-*).
Only the files directly in --out are served: no directory listing, no
dot files, no subdirectories, GET and HEAD only. It runs until Ctrl-C or
SIGTERM.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serveDUT(ctx, cmd.OutOrStdout(), dir, listen)
		},
	}
	cmd.Flags().StringVar(&dir, "out", defaultDUTDir, "directory of the images (built there when missing)")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8080", "loopback address to serve on (port 0 picks a free one)")
	return cmd
}

// serveDUT listens on listen (a loopback address), builds the images into
// dir unless they are there, and serves dir until ctx ends. It listens
// before building, so that a download started meanwhile waits instead of
// being refused.
func serveDUT(ctx context.Context, out io.Writer, dir, listen string) error {
	if err := checkLoopback(listen); err != nil {
		return usageError{err}
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("dut serve: %w", err)
	}
	defer ln.Close()
	imgs, err := dut.Existing(dir)
	if err != nil {
		fmt.Fprintf(out, "building the device under test into %s\n", dir)
		if imgs, err = dut.Build(dut.Options{OutDir: dir}); err != nil {
			return fmt.Errorf("build the device under test (apt-get install busybox-static linux-image-amd64): %w", err)
		}
	}
	fsrv, err := dut.NewFileServer(dir)
	if err != nil {
		return err
	}
	defer fsrv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "serving %s on %s/ (read-only; Ctrl-C stops)\n", dir, base)
	fmt.Fprintf(out, "  kernel   %s/%s  sha256:%s\n", base, filepath.Base(imgs.Kernel), imgs.KernelSHA256)
	fmt.Fprintf(out, "  ramdisk  %s/%s  sha256:%s\n", base, filepath.Base(imgs.Ramdisk), imgs.RamdiskSHA256)
	return dut.Serve(ctx, ln, fsrv)
}

// checkLoopback refuses a listen address that is not on loopback: the
// images are for workers of this host, and the server has no access
// control.
func checkLoopback(listen string) error {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("--listen %q: %w", listen, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--listen %q: not a loopback address (127.0.0.1, ::1, localhost); for workers on other hosts serve the images with a web server of your own", listen)
}
