package dispatcher

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/cpio"
	"github.com/basalt-lab/basalt/internal/deviceconfig"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/dut"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/uimage"
)

// ramdiskTools compress and decompress with Debian's programs, so that
// what the deploy publishes is checked by something other than the code
// that wrote it. xz gets LAVA's --check=crc32.
var ramdiskTools = map[string]struct{ pkg, compress, decompress []string }{
	"gz":   {[]string{"gzip"}, []string{"gzip", "-c", "-n"}, []string{"gzip", "-dc"}},
	"bz2":  {[]string{"bzip2"}, []string{"bzip2", "-c"}, []string{"bzip2", "-dc"}},
	"xz":   {[]string{"xz-utils"}, []string{"xz", "-c", "--check=crc32"}, []string{"xz", "-dc"}},
	"zstd": {[]string{"zstd"}, []string{"zstd", "-c", "-q"}, []string{"zstd", "-dc", "-q"}},
}

// pipeTool runs a program with in on its standard input and returns its
// output.
func pipeTool(t *testing.T, in []byte, args ...string) ([]byte, error) {
	t.Helper()
	if _, err := exec.LookPath(args[0]); err != nil {
		t.Fatalf("%s is needed (make deps installs it): %v", args[0], err)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

// testInitramfs is a small newc archive: /init and /bin.
func testInitramfs(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	w := cpio.NewWriter(&b)
	if err := w.AddDir("bin", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFile("init", 0o755, []byte("#!/bin/sh\nexec sh\n")); err != nil {
		t.Fatal(err)
	}
	// An odd size, so that the archive after it needs padding.
	if err := w.AddFile("etc/motd", 0o644, []byte("hello\n!")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testModules is a modules tarball.
func testModules(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, h := range []*tar.Header{
		{Name: "lib/modules/6.1/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "lib/modules/6.1/x.ko", Typeflag: tar.TypeReg, Mode: 0o644, Size: 3},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tw.Write([]byte("ko!")); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// mkimage wraps data in a U-Boot header with Debian's mkimage.
func mkimage(t *testing.T, data []byte) []byte {
	t.Helper()
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("mkimage"); err != nil {
		t.Fatalf("mkimage is needed (Debian's u-boot-tools; make deps installs it): %v", err)
	}
	if b, err := exec.Command("mkimage", "-A", "arm64", "-T", "ramdisk", "-C", "none", "-n", "job ramdisk", "-d", in, out).CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kernelArchives walks a decompressed initramfs stream the way the
// kernel's unpacker walks it inside a compressed archive: newc archives
// one after the other, zeros between them, each starting at a multiple
// of four; anything else is junk the kernel refuses. It returns each
// archive's names.
func kernelArchives(t *testing.T, b []byte) [][]string {
	t.Helper()
	var archives [][]string
	off := 0
	for off < len(b) {
		switch {
		case b[off] == 0:
			off++
		case b[off] == '0' && off%4 == 0:
			cr := cpio.NewReader(bytes.NewReader(b[off:]))
			var names []string
			for {
				h, err := cr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("archive at offset %d: %v", off, err)
				}
				names = append(names, h.Name)
			}
			archives = append(archives, names)
			off += int(cr.Offset())
		default:
			t.Fatalf("junk at offset %d (%#x) of the decompressed ramdisk: the kernel refuses it (\"junk within compressed archive\" or broken padding)", off, b[off])
		}
	}
	return archives
}

// ramdiskCase is a tftp deploy of a ramdisk on a board.
type ramdiskCase struct {
	// file is the ramdisk as served, url its name; modules, when set,
	// is the modules tarball.
	file    []byte
	url     string
	modules []byte
	// ramdiskYAML is the ramdisk's keys beyond url (compression, header,
	// install_overlay…); tests adds a test action with an inline
	// definition (so the overlay is wanted).
	ramdiskYAML string
	tests       bool
	// addHeader is the device's add_header (mkimage_arch arm).
	addHeader string
}

// ramdiskRun is what a deploy did: its error, its log, the ramdisk's
// published path (relative to the boot-files directory) and content, and
// the overlay's root when it went in.
type ramdiskRun struct {
	err       error
	log       string
	published string
	content   []byte
	overlay   string
}

// runRamdiskDeploy runs the tftp deploy of c as a job's first action and
// returns what it published, before the job's end removes it.
func runRamdiskDeploy(t *testing.T, c ramdiskCase) ramdiskRun {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, c.url), c.file, 0o644); err != nil {
		t.Fatal(err)
	}
	modules := ""
	if c.modules != nil {
		if err := os.WriteFile(filepath.Join(dir, "modules.tar"), c.modules, 0o644); err != nil {
			t.Fatal(err)
		}
		modules = fmt.Sprintf("    modules: {url: \"file://%s/modules.tar\"}\n", dir)
	}
	tests := ""
	if c.tests {
		tests = `- test:
    definitions:
    - from: inline
      name: smoke
      path: inline/smoke.yaml
      repository:
        metadata: {format: Lava-Test Test Definition 1.0, name: smoke}
        run: {steps: [lava-test-case uname --shell uname -a]}
`
	}
	def := fmt.Sprintf(`job_name: ramdisk
device_type: fake-board
visibility: public
timeouts:
  job: {minutes: 2}
actions:
- deploy:
    to: tftp
    kernel: {url: "file://%[1]s/%[2]s", type: zimage}
    ramdisk:
      url: "file://%[1]s/%[2]s"
%[3]s
%[4]s- boot:
    method: minimal
    prompts: ['/ # ']
%[5]s`, dir, c.url, indent(c.ramdiskYAML, "      "), modules, tests)
	job, err := jobdef.Parse([]byte(def))
	if err != nil {
		t.Fatalf("job: %v\n%s", err, def)
	}
	a := newActionEnv(t, "")
	boot := filepath.Join(dir, "boot", "jobs", "42-x")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	a.r.cache = &jobCache{settings: Settings{CacheDir: filepath.Join(dir, "cache"), CacheBytes: 1 << 30}}
	a.r.bootFilesDir, a.r.bootFilesPrefix = boot, "jobs/42-x"
	params := map[string]any{}
	if c.addHeader != "" {
		params["add_header"], params["mkimage_arch"] = c.addHeader, "arm"
	}
	cfg := &deviceConfig{Hostname: "board-01", DeviceType: "fake-board",
		Constants: devicedict.ReadConstants(nil), Rendered: &deviceconfig.Config{DeployParameters: params}}
	a.env.Job, a.env.DeviceConfig = job, cfg
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var run ramdiskRun
	run.err = a.run(ctx, newTFTPDeploy(job.Actions[0].Deploy, cfg), time.Minute)
	if run.err == nil {
		run.published = a.env.Session.BootFiles["ramdisk"]
		rel, ok := strings.CutPrefix(run.published, "jobs/42-x/")
		if !ok {
			t.Fatalf("ramdisk published as %q, not in the job's directory", run.published)
		}
		if run.content, err = os.ReadFile(filepath.Join(boot, rel)); err != nil {
			t.Fatal(err)
		}
		if ov := a.env.Session.Overlay; ov != nil {
			run.overlay = strings.TrimPrefix(ov.tree.Root, "/")
		}
	}
	run.log = strings.Join(messages(a.records()), "\n")
	return run
}

// indent indents every line of s.
func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}

// mkimageList is what mkimage -l says of an image.
func mkimageList(t *testing.T, b []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "image")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mkimage", "-l", f).CombinedOutput()
	if err != nil {
		t.Fatalf("mkimage -l: %v\n%s", err, out)
	}
	return string(out)
}

// A ramdisk given a stream compression is decompressed, gets the modules
// and the overlay as uncompressed archives in the same stream, and is
// published compressed again with that compression (as LAVA's
// CompressRamdisk does), under its URL's name, behind a U-Boot header
// when the device asks for one (and without the header the job's ramdisk
// came with). Debian's tools read what is published; the kernel's rules
// for archives in a compressed stream hold.
func TestTFTPRamdiskRecompressed(t *testing.T) {
	initramfs, mods := testInitramfs(t), testModules(t)
	for _, comp := range []string{"gz", "bz2", "xz", "zstd"} {
		tool := ramdiskTools[comp]
		compressed, err := pipeTool(t, initramfs, tool.compress...)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name              string
			jobHeader, device string
		}{
			{"raw", "", ""},
			{"device adds a header", "", "u-boot"},
			{"job's header replaced", "u-boot", "u-boot"},
			{"job's header removed", "u-boot", "raw"},
		} {
			t.Run(comp+"/"+tc.name, func(t *testing.T) {
				c := ramdiskCase{file: compressed, url: "rootfs.cpio." + comp, modules: mods, tests: true,
					ramdiskYAML: "compression: " + comp, addHeader: tc.device}
				if tc.jobHeader != "" {
					c.file, c.url = mkimage(t, compressed), "rootfs.cpio."+comp+".uboot"
					c.ramdiskYAML += "\nheader: u-boot"
				}
				r := runRamdiskDeploy(t, c)
				if r.err != nil {
					t.Fatalf("deploy: %v\n%s", r.err, r.log)
				}
				want := "jobs/42-x/ramdisk/rootfs.cpio." + comp
				data := r.content
				if tc.device == "u-boot" {
					want += ".uboot"
					list := mkimageList(t, r.content)
					for _, w := range []string{"Image Type:   ARM Linux RAMDisk Image (uncompressed)", fmt.Sprintf("Data Size:    %d Bytes", len(r.content)-64)} {
						if !strings.Contains(list, w) {
							t.Errorf("mkimage -l lacks %q:\n%s", w, list)
						}
					}
					var h uimage.Header
					if data, h, err = uimage.Strip(r.content); err != nil {
						t.Fatalf("published header: %v", err)
					}
					if h.Comp != 0 {
						t.Errorf("header compression %d, want none (mkimage -C none)", h.Comp)
					}
				} else if uimage.Magic == uint32(r.content[0])<<24|uint32(r.content[1])<<16|uint32(r.content[2])<<8|uint32(r.content[3]) {
					t.Error("published with a U-Boot header the device does not ask for")
				}
				if r.published != want {
					t.Errorf("published as %q, want %q", r.published, want)
				}
				plain, err := pipeTool(t, data, tool.decompress...)
				if err != nil {
					t.Fatalf("the published ramdisk is not %s-compressed: %v", comp, err)
				}
				archives := kernelArchives(t, plain)
				if len(archives) != 3 {
					t.Fatalf("%d archives in the stream, want the ramdisk's, the modules' and the overlay's: %q", len(archives), archives)
				}
				if !slices.Equal(archives[0], []string{"bin", "init", "etc/motd"}) {
					t.Errorf("ramdisk's archive: %q", archives[0])
				}
				if !slices.Equal(archives[1], []string{"lib", "lib/modules", "lib/modules/6.1", "lib/modules/6.1/x.ko"}) {
					t.Errorf("modules' archive: %q", archives[1])
				}
				if r.overlay == "" || !slices.Contains(archives[2], r.overlay+"/bin/lava-test-runner") {
					t.Errorf("overlay's archive (root %q) lacks bin/lava-test-runner: %q", r.overlay, archives[2])
				}
				for _, w := range []string{
					"ramdisk: kept " + comp + "-compressed by the download",
					"ramdisk: modules added (install_modules)",
					"ramdisk: LAVA overlay /" + r.overlay + " added (",
					fmt.Sprintf("ramdisk: compressed with %s (%d bytes)", comp, len(data)),
					"tftp: ramdisk published as " + want,
				} {
					if !strings.Contains(r.log, w) {
						t.Errorf("the log lacks %q:\n%s", w, r.log)
					}
				}
				if has := strings.Contains(r.log, "U-Boot header added (mkimage -A arm -T ramdisk -C none)"); has != (tc.device == "u-boot") {
					t.Errorf("header added logged: %v, device add_header %q", has, tc.device)
				}
				if has := strings.Contains(r.log, `U-Boot header "job ramdisk" removed`); has != (tc.jobHeader == "u-boot") {
					t.Errorf("header removed logged: %v, job header %q", has, tc.jobHeader)
				}
			})
		}
	}
}

// Debian's kernel boots what the deploy publishes for every compression:
// it unpacks the ramdisk, the modules and the overlay from the one
// compressed stream (QEMU, software emulation, the ramdisk's /init
// listing files of each archive and powering off).
func TestTFTPRamdiskBootsKernel(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatalf("qemu-system-x86_64 not found (make deps installs qemu-system-x86): %v", err)
	}
	kernel, err := dut.NewestKernel("/boot")
	if err != nil {
		t.Fatal(err)
	}
	bbPath, err := exec.LookPath("busybox")
	if err != nil {
		t.Fatalf("busybox not found (make deps installs busybox-static): %v", err)
	}
	if err := dut.CheckStatic(bbPath); err != nil {
		t.Fatal(err)
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		t.Fatal(err)
	}
	var rd bytes.Buffer
	w := cpio.NewWriter(&rd)
	for _, err := range []error{
		w.AddDir("bin", 0o755),
		w.AddFile("bin/busybox", 0o755, bb),
		w.AddFile("init", 0o755, []byte(`#!/bin/busybox sh
/bin/busybox echo ramdisk-init-start
/bin/busybox ls -1 /lib/modules/6.1/x.ko /lava-42/bin/lava-test-runner
/bin/busybox echo ramdisk-init-end
/bin/busybox poweroff -f
`)),
		w.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, comp := range []string{"gz", "bz2", "xz", "zstd"} {
		t.Run(comp, func(t *testing.T) {
			c, err := pipeTool(t, rd.Bytes(), ramdiskTools[comp].compress...)
			if err != nil {
				t.Fatal(err)
			}
			r := runRamdiskDeploy(t, ramdiskCase{file: c, url: "rootfs.cpio." + comp, modules: testModules(t),
				ramdiskYAML: "compression: " + comp, tests: true})
			if r.err != nil {
				t.Fatalf("deploy: %v\n%s", r.err, r.log)
			}
			if r.overlay != "lava-42" {
				t.Fatalf("overlay root %q, the init script lists /lava-42", r.overlay)
			}
			initrd := filepath.Join(t.TempDir(), "initrd")
			if err := os.WriteFile(initrd, r.content, 0o644); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			out, err := exec.CommandContext(ctx, qemu, "-machine", "q35", "-accel", "tcg", "-m", "256", "-smp", "1",
				"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot",
				"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 rdinit=/init panic=-1").CombinedOutput()
			console := strings.ReplaceAll(string(out), "\r", "")
			if err != nil {
				t.Fatalf("qemu: %v\n%s", err, tail(console))
			}
			start, end := strings.Index(console, "ramdisk-init-start\n"), strings.Index(console, "ramdisk-init-end\n")
			if start < 0 || end < start {
				t.Fatalf("the ramdisk's /init did not run to its end:\n%s", tail(console))
			}
			listed := console[start:end]
			for _, f := range []string{"/lib/modules/6.1/x.ko\n", "/lava-42/bin/lava-test-runner\n"} {
				if !strings.Contains(listed, f) {
					t.Errorf("%s is not in the booted ramdisk:\n%s", strings.TrimSpace(f), listed)
				}
			}
			if strings.Contains(console, "Initramfs unpacking failed") {
				t.Errorf("the kernel says: %s", tail(console))
			}
		})
	}
}

// tail is the end of a console's output.
func tail(s string) string {
	if len(s) > 3000 {
		return s[len(s)-3000:]
	}
	return s
}

// With nothing to add (no modules, no tests), the compressed data is
// published as it came, without its header and with the device's.
func TestTFTPRamdiskNothingToAdd(t *testing.T) {
	compressed, err := pipeTool(t, testInitramfs(t), ramdiskTools["xz"].compress...)
	if err != nil {
		t.Fatal(err)
	}
	for _, device := range []string{"", "u-boot"} {
		t.Run("add_header "+device, func(t *testing.T) {
			r := runRamdiskDeploy(t, ramdiskCase{file: mkimage(t, compressed), url: "initrd.xz",
				ramdiskYAML: "compression: xz\nheader: u-boot", addHeader: device})
			if r.err != nil {
				t.Fatalf("deploy: %v\n%s", r.err, r.log)
			}
			got := r.content
			if device == "u-boot" {
				if got, _, err = uimage.Strip(r.content); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(got, compressed) {
				t.Errorf("published data differs from the ramdisk's (%d bytes, want %d)", len(got), len(compressed))
			}
			if w := fmt.Sprintf("ramdisk: kept xz-compressed as it came (%d bytes): nothing to add", len(compressed)); !strings.Contains(r.log, w) {
				t.Errorf("the log lacks %q:\n%s", w, r.log)
			}
		})
	}
}

// A ramdisk that is not what its compression says, or does not
// decompress, fails the job with a Job error that says so; so does a
// missing or broken U-Boot header the job declares.
func TestTFTPRamdiskBadCompression(t *testing.T) {
	initramfs := testInitramfs(t)
	gz, err := pipeTool(t, initramfs, ramdiskTools["gz"].compress...)
	if err != nil {
		t.Fatal(err)
	}
	notCpio, err := pipeTool(t, []byte("this is not an archive, just text\n"), ramdiskTools["zstd"].compress...)
	if err != nil {
		t.Fatal(err)
	}
	scrambled := bytes.Clone(gz)
	for i := 12; i < len(scrambled)-8; i++ {
		scrambled[i] ^= 0xa5
	}
	badSum := bytes.Clone(gz)
	badSum[len(badSum)-6] ^= 1 // the trailer's CRC-32
	badCRC := mkimage(t, gz)
	badCRC[70] ^= 1
	for _, tc := range []struct {
		name, yaml string
		file       []byte
		tests      bool
		want       string
	}{
		{"xz said, gzip given", "compression: xz", gz, true,
			"ramdisk: compression: xz: the ramdisk is gz-compressed: declare the compression it has"},
		{"gz said, nothing to add, uncompressed given", "compression: gz", initramfs, false,
			"ramdisk: compression: gz: the ramdisk is an uncompressed cpio archive"},
		{"gz said, header not said", "compression: gz", mkimage(t, gz), true,
			"ramdisk: compression: gz: the ramdisk starts with a U-Boot header (header: u-boot says so)"},
		{"gzip's checksum wrong", "compression: gz", badSum, true,
			"ramdisk: compression: gz: the ramdisk does not decompress: gzip: invalid checksum"},
		// Garbage from the decompressor, or its error: either way, the
		// job's data.
		{"gzip data scrambled", "compression: gz", scrambled, true,
			"ramdisk: compression: gz: the "},
		{"cut gzip", "compression: gz", gz[:len(gz)/2], true,
			"ramdisk: compression: gz: the ramdisk does not decompress: unexpected EOF"},
		{"not a cpio archive", "compression: zstd", notCpio, true,
			`ramdisk: compression: zstd: the decompressed ramdisk is not a newc cpio archive (it starts "this i")`},
		{"header said, none there", "compression: gz\nheader: u-boot", gz, true,
			"ramdisk: header: u-boot: no U-Boot image header"},
		{"header's data corrupt", "compression: gz\nheader: u-boot", badCRC, true,
			"ramdisk: header: u-boot: the U-Boot image's data is corrupt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runRamdiskDeploy(t, ramdiskCase{file: tc.file, url: "rootfs.cpio.gz", ramdiskYAML: tc.yaml, tests: tc.tests})
			if ErrorTypeOf(r.err) != lab.ErrorJob || !strings.Contains(r.err.Error(), tc.want) {
				t.Fatalf("error %v (%s), want a Job error with %q\n%s", r.err, ErrorTypeOf(r.err), tc.want, r.log)
			}
		})
	}
}

// bz2 is compressed by Debian's bzip2 program; without it the deploy is
// an Infrastructure error that names the package to install.
func TestTFTPRamdiskBzip2Missing(t *testing.T) {
	bz, err := pipeTool(t, testInitramfs(t), ramdiskTools["bz2"].compress...)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir())
	r := runRamdiskDeploy(t, ramdiskCase{file: bz, url: "rootfs.cpio.bz2", ramdiskYAML: "compression: bz2", tests: true})
	want := "ramdisk: compression: bz2: the worker cannot compress it: compression program not found: bzip2 is not in the PATH (install Debian's bzip2 package)"
	if ErrorTypeOf(r.err) != lab.ErrorInfrastructure || !strings.Contains(r.err.Error(), want) {
		t.Fatalf("error %v (%s), want an Infrastructure error with %q", r.err, ErrorTypeOf(r.err), want)
	}
}

// A zip ramdisk is unzipped by the download and served uncompressed (the
// kernel cannot unpack zip), under its name without ".zip"; the overlay
// is appended as for any uncompressed ramdisk.
func TestTFTPRamdiskZip(t *testing.T) {
	initramfs := testInitramfs(t)
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	f, err := zw.Create("rootfs.cpio")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(initramfs); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	r := runRamdiskDeploy(t, ramdiskCase{file: z.Bytes(), url: "rootfs.cpio.zip", ramdiskYAML: "compression: zip", tests: true})
	if r.err != nil {
		t.Fatalf("deploy: %v\n%s", r.err, r.log)
	}
	if r.published != "jobs/42-x/ramdisk/rootfs.cpio" {
		t.Errorf("published as %q", r.published)
	}
	if !bytes.HasPrefix(r.content, initramfs) {
		t.Error("the published ramdisk does not start with the unzipped one")
	}
	if w := "ramdisk: published uncompressed: compression: zip is an archive the kernel cannot unpack, not a stream compression"; !strings.Contains(r.log, w) {
		t.Errorf("the log lacks %q:\n%s", w, r.log)
	}
}

// A ramdisk without compression is published as before: the archives
// appended gzip-compressed after it, under its own name.
func TestTFTPRamdiskUncompressed(t *testing.T) {
	initramfs := testInitramfs(t)
	r := runRamdiskDeploy(t, ramdiskCase{file: initramfs, url: "rootfs.cpio", modules: testModules(t), tests: true})
	if r.err != nil {
		t.Fatalf("deploy: %v\n%s", r.err, r.log)
	}
	if r.published != "jobs/42-x/ramdisk/rootfs.cpio" || !bytes.HasPrefix(r.content, initramfs) {
		t.Errorf("published as %q, starting % x", r.published, r.content[:8])
	}
	if strings.Contains(r.log, "compressed with") {
		t.Errorf("an uncompressed ramdisk was compressed:\n%s", r.log)
	}
}
