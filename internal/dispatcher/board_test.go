package dispatcher

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/cpio"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// fakeBoard is a board's console as a shell script, run by its connection
// command on a pseudo-terminal: a shell prompt, "reboot" answered with the
// shutdown message and a new boot, any other line echoed.
const fakeBoard = `printf 'fake board up\n/ # '
while IFS= read -r line; do
  case "$line" in
    reboot*) printf 'The system is going down for reboot NOW\nLinux version 6.1.0 (fake)\n/ # ' ;;
    *) printf 'ran: %s\n/ # ' "$line" ;;
  esac
done
`

// boardJobDir writes job.json for a job on a board whose rendered
// configuration is config.
func boardJobDir(t *testing.T, def, config string) string {
	t.Helper()
	dir := t.TempDir()
	a := workerproto.Assign{JobID: 42, Definition: def, JobToken: testToken,
		Device: workerproto.Device{Hostname: "board-01", DeviceType: "fake-board", Config: config}}
	if err := WriteJob(dir, a); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A board without power commands is reset with soft reboot commands on
// its console (LAVA's default list, since neither job nor device gives
// any); minimal's pre_os_command runs the device's; a command action may
// name a builtin device command (power_off), which runs the device's
// lines; finalize powers the board off.
func TestBoardSoftRebootAndBuiltinCommands(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "board.sh")
	if err := os.WriteFile(script, []byte(fakeBoard), 0o755); err != nil {
		t.Fatal(err)
	}
	mark := func(name string) string { return filepath.Join(dir, name) }
	config := fmt.Sprintf(`commands:
  connect: sh %s
  pre_os_command: echo pre-os > %s
  power_off:
  - echo off >> %s
  - echo off-again >> %s
`, script, mark("pre-os"), mark("off"), mark("off"))
	def := `job_name: soft reboot
device_type: fake-board
visibility: public
timeouts:
  job: {minutes: 2}
actions:
- boot:
    method: minimal
    pre_os_command: true
    prompts: ['/ # ']
- command:
    name: power_off
`
	res, recs := runDir(t, context.Background(), boardJobDir(t, def, config))
	if res.Result != ResultPass {
		t.Fatalf("job failed: %+v\n%s", res, strings.Join(messages(recs), "\n"))
	}
	log := strings.Join(messages(recs), "\n")
	for _, want := range []string{
		"input reboot\n", "input reboot -n\n", "input reboot -nf\n",
		"no soft reboot command in the job or the device",
		"board-01: pre_os_command: echo pre-os > ",
		"board-01: power_off: echo off >> ",
	} {
		if !strings.Contains(log+"\n", want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if b, err := os.ReadFile(mark("pre-os")); err != nil || string(b) != "pre-os\n" {
		t.Errorf("pre_os_command: %q %v", b, err)
	}
	// The command action ran power_off's two lines, and finalize ran them
	// again.
	if b, err := os.ReadFile(mark("off")); err != nil || string(b) != "off\noff-again\noff\noff-again\n" {
		t.Errorf("power_off: %q %v", b, err)
	}
}

// A board whose configuration names no console cannot run jobs, and says
// how to fix it.
func TestBoardWithoutConsole(t *testing.T) {
	res, _ := runDir(t, context.Background(), boardJobDir(t, `job_name: x
device_type: fake-board
visibility: public
timeouts:
  job: {minutes: 1}
actions:
- boot: {method: minimal, prompts: ['# ']}
`, "commands:\n  power_on: echo on\n"))
	if res.ErrorType != "Configuration" || !strings.Contains(res.ErrorMsg, "board-01: its rendered configuration names no console (commands.connect)") {
		t.Errorf("result %+v", res)
	}
}

// A tftp deploy on a board publishes its images in the job's boot-files
// directory, with the modules tarball added to the ramdisk
// (install_modules), and removes them when the job ends.
func TestBoardTFTPDeployModules(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "board.sh")
	if err := os.WriteFile(script, []byte(fakeBoard), 0o755); err != nil {
		t.Fatal(err)
	}
	var rd bytes.Buffer
	cw := cpio.NewWriter(&rd)
	cw.AddFile("init", 0o755, []byte("#!/bin/sh\n"))
	cw.Close()
	var mods bytes.Buffer
	tw := tar.NewWriter(&mods)
	tw.WriteHeader(&tar.Header{Name: "lib/modules/6.1/", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.WriteHeader(&tar.Header{Name: "lib/modules/6.1/x.ko", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2})
	tw.Write([]byte("ko"))
	tw.Close()
	for name, b := range map[string][]byte{"vmlinuz": []byte("kernel"), "initrd.cpio": rd.Bytes(), "modules.tar": mods.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf("commands:\n  connect: sh %s\nactions:\n  deploy:\n    methods:\n      tftp:\n", script)
	def := fmt.Sprintf(`job_name: tftp modules
device_type: fake-board
visibility: public
timeouts:
  job: {minutes: 2}
actions:
- deploy:
    to: tftp
    kernel: {url: "file://%[1]s/vmlinuz", type: zimage}
    ramdisk: {url: "file://%[1]s/initrd.cpio"}
    modules: {url: "file://%[1]s/modules.tar"}
- boot:
    method: minimal
    prompts: ['/ # ']
`, dir)
	jd := boardJobDir(t, def, config)
	boot := filepath.Join(dir, "boot", "jobs", "42-x")
	if err := os.MkdirAll(boot, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteSettings(jd, Settings{CacheDir: filepath.Join(dir, "cache"), BootFilesDir: boot, BootFilesPrefix: "jobs/42-x", BootServerIP: "127.0.0.9"}); err != nil {
		t.Fatal(err)
	}
	res, recs := runDir(t, context.Background(), jd)
	log := strings.Join(messages(recs), "\n")
	if res.Result != ResultPass {
		t.Errorf("job failed: %+v", res)
	}
	for _, want := range []string{
		"tftp: kernel published as jobs/42-x/kernel/vmlinuz",
		"ramdisk: modules added (install_modules)",
		"tftp: ramdisk published as jobs/42-x/ramdisk/initrd.cpio",
		"tftp: modules published as jobs/42-x/modules/modules.tar",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if ents, err := os.ReadDir(boot); err != nil || len(ents) != 0 {
		t.Errorf("boot files left after the job: %v %v", ents, err)
	}
}
