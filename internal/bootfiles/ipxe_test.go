package bootfiles

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/bootfiles/tftp"
)

// TestIPXEBoot boots a real bootloader against the Server: QEMU (x86, no
// disk) with Debian's iPXE ROM on a user-mode network, whose DHCP points
// iPXE at a script published for a job. The script fetches a file over
// HTTP and the Debian kernel over TFTP, then boots it; the kernel's banner
// on the serial console proves both arrived whole. QEMU's user-mode
// network forwards the guest's 10.0.2.2 to the host's 127.0.0.1, so the
// TFTP answers must come from 127.0.0.1, from a new port.
func TestIPXEBoot(t *testing.T) {
	const (
		qemu = "/usr/bin/qemu-system-x86_64"
		rom  = "/usr/lib/ipxe/qemu/efi-virtio.rom"
	)
	for path, pkg := range map[string]string{qemu: "qemu-system-x86", rom: "ipxe-qemu"} {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("%s is missing: install the Debian package %s: %v", path, pkg, err)
		}
	}
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	if len(kernels) == 0 {
		t.Fatal("no /boot/vmlinuz-*: install the Debian package linux-image-amd64")
	}
	kernel, err := os.ReadFile(kernels[0])
	if err != nil {
		t.Fatal(err)
	}

	s, _ := newServer(t)
	var mu sync.Mutex
	var recs []tftp.Transfer
	s.TFTP.Log = func(r tftp.Transfer) {
		mu.Lock()
		recs = append(recs, r)
		mu.Unlock()
	}
	tftpAddr := tftpServe(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: s}
	go hs.Serve(ln)
	defer hs.Close()
	tport := tftpAddr.(*net.UDPAddr).Port
	hport := ln.Addr().(*net.TCPAddr).Port

	dir, prefix, err := s.Publish("ipxe-1")
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`#!ipxe
echo basalt-script-%[1]s
imgfetch http://10.0.2.2:%[2]d/%[1]s/board.dtb
kernel tftp://10.0.2.2:%[3]d/%[1]s/kernel/vmlinuz console=ttyS0 panic=-1
boot
`, prefix, hport, tport)
	for name, data := range map[string][]byte{"boot.ipxe": []byte(script), "board.dtb": []byte("dtb"), "kernel/vmlinuz": kernel} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, qemu, "-nographic", "-nodefaults", "-serial", "stdio", "-m", "256", "-no-reboot",
		"-netdev", fmt.Sprintf("user,id=n0,bootfile=tftp://10.0.2.2:%d/%s/boot.ipxe", tport, prefix),
		// QEMU finds its default ROM for the NIC, Debian's efi-virtio.rom,
		// by name (an absolute romfile= path is not used by SeaBIOS here).
		"-device", "virtio-net-pci,netdev=n0", "-boot", "order=n")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	var console strings.Builder
	sc := bufio.NewScanner(io.TeeReader(out, &console))
	sawScript, sawLinux := false, false
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "basalt-script-"+prefix) {
			sawScript = true
		}
		if strings.Contains(line, "Linux version") {
			sawLinux = true
			break
		}
		if strings.Contains(line, "No bootable device") || strings.Contains(line, "Could not boot") {
			break
		}
	}
	if !sawScript || !sawLinux {
		t.Fatalf("script echoed %v, kernel banner %v; console:\n%s", sawScript, sawLinux, console.String())
	}
	cmd.Process.Kill()
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int64{prefix + "/boot.ipxe": int64(len(script)), prefix + "/kernel/vmlinuz": int64(len(kernel))}
	for _, r := range recs {
		if n, ok := want[r.File]; ok && r.Err == nil && r.Bytes == n {
			if ua := r.Local.(*net.UDPAddr); !ua.IP.Equal(net.IPv4(127, 0, 0, 1)) || ua.Port == tport {
				t.Errorf("%s served from %v", r.File, r.Local)
			}
			delete(want, r.File)
		}
	}
	if len(want) != 0 {
		t.Fatalf("transfers missing or incomplete: %v; log: %+v", want, recs)
	}
}
