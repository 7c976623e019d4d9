package main_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/testutil/board"
	"github.com/basalt-lab/basalt/internal/testutil/faultnet"
)

// jinjaQuote quotes s as a single-quoted Jinja2 string.
func jinjaQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// boardLab is a server, a worker with a boot-file server (TFTP on a free
// 127.A.B.C:69, the address U-Boot reaches through QEMU's user network)
// and one U-Boot board of type qemu-uboot-x86_64, whose template Basalt
// ships: the device's dictionary names only its console and power
// commands, as a lab's would.
type boardLab struct {
	*lab
	board  *board.Board
	device string
	wdir   string
	worker *workerProc
	// proxy, when set, is between the worker and the server
	proxy *faultnet.Proxy
}

func newBoardLab(t testing.TB, fw board.Firmware, name, typ string) *boardLab {
	t.Helper()
	return newBoardLabLink(t, fw, name, typ, false)
}

// newBoardLabLink is newBoardLab with, when proxied, the worker's link
// through a fault-injecting proxy (boardLab.proxy), and the server
// started with serverArgs.
func newBoardLabLink(t testing.TB, fw board.Firmware, name, typ string, proxied bool, serverArgs ...string) *boardLab {
	t.Helper()
	b := board.Start(t, board.Options{Name: name, Firmware: fw})
	pc, err := board.ListenLoopbackUDP(board.TFTPPort)
	if err != nil {
		t.Fatalf("no loopback address with TFTP's port free (the test runs as root): %v", err)
	}
	ip := pc.LocalAddr().(*net.UDPAddr).IP.String()
	pc.Close()

	l := newLab(t, serverArgs...)
	ctx := context.Background()
	nw, err := l.api.CreateWorker(ctx, wire.WorkerInput{Name: "board-host"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.api.CreateDeviceType(ctx, wire.DeviceTypeInput{Name: typ}); err != nil {
		t.Fatal(err)
	}
	dict := fmt.Sprintf(`{# a board of the end-to-end tests: QEMU behind ser2net #}
{%% extends '%s.jinja2' %%}
{%% set connection_command = %s %%}
{%% set power_on_command = %s %%}
{%% set power_off_command = %s %%}
{%% set hard_reset_command = %s %%}
`, typ, jinjaQuote(b.ConnectionCommand()), jinjaQuote(b.PowerOnCommand()), jinjaQuote(b.PowerOffCommand()), jinjaQuote(b.HardResetCommand()))
	worker, health := "board-host", "GOOD"
	if _, err := l.api.CreateDevice(ctx, wire.DeviceInput{Hostname: name, DeviceType: &typ, Worker: &worker, Health: &health, Dictionary: &dict}); err != nil {
		t.Fatal(err)
	}
	wdir := t.TempDir()
	url := l.url
	var proxy *faultnet.Proxy
	if proxied {
		proxy = faultnet.Start(t, strings.TrimPrefix(l.url, "http://"))
		url = "http://" + proxy.Addr()
	}
	w := startWorker(t, url, "board-host", nw.Token, wdir,
		"--boot-files", filepath.Join(wdir, "boot"), "--tftp-listen", ip+":69", "--boot-server-ip", ip)
	return &boardLab{lab: l, board: b, device: name, wdir: wdir, worker: w, proxy: proxy}
}

// ubootJob deploys the project's device under test over TFTP and boots it
// with U-Boot's ramdisk commands, then runs test.
func (d *dutServer) ubootJob(name, test string) string {
	return d.boardJob(name, "qemu-uboot-x86_64", "u-boot", test)
}

// boardJob deploys the device under test over TFTP to a board of type typ
// and boots it with method's ramdisk command set, then runs test.
func (d *dutServer) boardJob(name, typ, method, test string) string {
	return fmt.Sprintf(`job_name: %s
device_type: %s
visibility: public
timeouts:
  job: {minutes: 10}
  action: {minutes: 5}
actions:
- deploy:
    to: tftp
    kernel:
      url: %s/images/vmlinuz
      sha256sum: %s
    ramdisk:
      url: %s/images/initramfs.cpio.gz
      sha256sum: %s
      compression: gz
- boot:
    method: %s
    commands: ramdisk
    prompts: ["/ # "]
%s`, name, typ, d.url, d.kernelSum, d.url, d.ramdiskSum, method, test)
}

// inlineSteps is a test action with one inline definition of steps.
func inlineSteps(name string, steps ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `- test:
    definitions:
    - from: inline
      name: %s
      path: inline/%s.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: %s
        run:
          steps:
`, name, name, name)
	for _, s := range steps {
		fmt.Fprintf(&b, "          - %s\n", s)
	}
	return b.String()
}

// TestUBootBoard runs jobs on a board booted by a real bootloader through
// the server and worker binaries: QEMU running Debian's U-Boot is the
// board, its serial line served by Debian's ser2net over telnet, its power
// switched by shell commands; U-Boot loads the kernel and the ramdisk
// (gzip-compressed again with the test overlay in it) over TFTP from the
// worker's own server and boots them with zboot. Then the same board with ser2net restarted in
// the middle of a test (the job goes on, the gap is logged), and with its
// power command failing (Incomplete, an Infrastructure error naming it).
func TestUBootBoard(t *testing.T) {
	d := serveDUT(t)
	bl := newBoardLab(t, board.UBoot, "uboot01", "qemu-uboot-x86_64")
	ctx := context.Background()

	t.Run("tests", func(t *testing.T) {
		id := bl.submit(t, d.ubootJob("u-boot board", d.inlineAndGit()))
		j := bl.waitFinished(t, []int64{id}, 8*time.Minute)[id]
		if j.Health != "Complete" {
			t.Errorf("job %d: %s (%s: %s)", id, j.Health, j.ErrorType, j.FailureComment)
			logTail(t, bl.lab, id)
		}
		checkResults(t, id, bl.resultMap(t, id), inlineAndGitWant("lava/tftp-deploy", "lava/uboot-action"))
		log := bl.storedLog(t, id)
		for _, s := range []string{
			"uboot01: connecting the console: telnet 127.0.0.1",
			"Hit any key to stop autoboot",
			"tftp: kernel published as jobs/" + fmt.Sprint(id) + "-",
			// compression: gz: decompressed, the overlay added, gzipped
			// again as one stream (LAVA's CompressRamdisk).
			"ramdisk: compressed with gz (",
			"/ramdisk/initramfs.cpio.gz\"", // the end of a JSON string
			"setenv serverip 127.",
			"zboot 0x1000000 0 0x4000000 ${initrd_size}",
			"Linux version",
			"uboot01: power_off:",
		} {
			if !bytes.Contains(log, []byte(s)) {
				t.Errorf("job %d: the log lacks %q", id, s)
			}
		}
		if p := os.Getenv("BASALT_BOARD_LOG"); p != "" {
			os.WriteFile(p, log, 0o644) // to read the log of a run
		}
		if bl.board.On() {
			t.Errorf("the board is still on after the job")
		}
	})

	t.Run("ser2net restarted", func(t *testing.T) {
		id := bl.submit(t, d.ubootJob("console gap", inlineSteps("gap",
			"echo console-gap-window-opens", "sleep 15", "lava-test-case after-gap --result pass")))
		deadline := time.Now().Add(6 * time.Minute)
		for !bytes.Contains(bl.storedLog(t, id), []byte("\nconsole-gap-window-opens")) && !strings.Contains(string(bl.storedLog(t, id)), `"console-gap-window-opens`) {
			if time.Now().After(deadline) {
				logTail(t, bl.lab, id)
				t.Fatalf("job %d never reached its test", id)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if err := bl.board.RestartSer2net(); err != nil {
			t.Fatal(err)
		}
		j := bl.waitFinished(t, []int64{id}, 4*time.Minute)[id]
		if j.Health != "Complete" {
			t.Errorf("job %d: %s (%s: %s)", id, j.Health, j.ErrorType, j.FailureComment)
			logTail(t, bl.lab, id)
		}
		if got := bl.resultMap(t, id); got["0_gap/after-gap"] != "pass" {
			t.Errorf("job %d: results %v, want 0_gap/after-gap pass", id, got)
		}
		log := string(bl.storedLog(t, id))
		for _, s := range []string{"uboot01: the console was lost at ", "uboot01: the console is back after "} {
			if !strings.Contains(log, s) {
				t.Errorf("job %d: the log lacks %q", id, s)
			}
		}
	})

	t.Run("power command fails", func(t *testing.T) {
		if err := bl.board.FailPower(true); err != nil {
			t.Fatal(err)
		}
		defer bl.board.FailPower(false)
		id := bl.submit(t, d.ubootJob("power fails", ""))
		j := bl.waitFinished(t, []int64{id}, 4*time.Minute)[id]
		if j.Health != "Incomplete" || j.ErrorType != "Infrastructure" || !strings.Contains(j.FailureComment, "uboot01: power command hard_reset failed") ||
			!strings.Contains(j.FailureComment, "power controller unreachable") {
			t.Errorf("job %d: %s %s %q, want Incomplete, an Infrastructure error naming the power command", id, j.Health, j.ErrorType, j.FailureComment)
			logTail(t, bl.lab, id)
		}
		dev, err := bl.api.GetDevice(ctx, bl.device)
		if err != nil || dev.Health != "UNKNOWN" {
			t.Errorf("device after a power failure: %+v %v (LAVA: an Infrastructure error makes it Unknown, its health check then decides)", dev, err)
		}

		// The type gets a health check: the Unknown board runs it first,
		// its power still fails, the check is Incomplete and the board
		// goes Bad, the transition naming the check.
		if _, err := bl.api.SetHealthCheck(ctx, "qemu-uboot-x86_64", d.ubootJob("health check", "")); err != nil {
			t.Fatal(err)
		}
		hc := true
		deadline := time.Now().Add(4 * time.Minute)
		var hcID int64
		for hcID == 0 {
			jobs, err := bl.api.ListJobs(ctx, client.JobFilter{HealthCheck: &hc, Device: bl.device})
			if err != nil {
				t.Fatal(err)
			}
			if len(jobs.Results) > 0 {
				hcID = jobs.Results[0].ID
			} else if time.Now().After(deadline) {
				t.Fatal("no health check ran on the Unknown board")
			} else {
				time.Sleep(200 * time.Millisecond)
			}
		}
		if j := bl.waitFinished(t, []int64{hcID}, 4*time.Minute)[hcID]; j.Health != "Incomplete" || !strings.Contains(j.FailureComment, "power command hard_reset failed") {
			t.Errorf("health check %d: %s %q", hcID, j.Health, j.FailureComment)
		}
		for dev.Health != "BAD" && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			dev, _ = bl.api.GetDevice(ctx, bl.device)
		}
		hist, err := bl.api.DeviceHistory(ctx, bl.device, 1)
		if dev.Health != "BAD" || err != nil || len(hist.Results) == 0 || hist.Results[0].NewHealth != "BAD" || hist.Results[0].Job != hcID {
			t.Errorf("board after its failing health check: %s, last transition %+v %v", dev.Health, hist.Results, err)
		} else {
			t.Logf("board Bad: %q (job %d)", hist.Results[0].Reason, hist.Results[0].Job)
		}
	})
}

// TestIPXEBoard boots the same device under test with a second bootloader
// for real: QEMU's own iPXE (Debian's ipxe-qemu ROM), interrupted with
// Ctrl-B on the serial line behind ser2net, fetching the kernel and the
// ramdisk over TFTP from the worker, through server and worker.
func TestIPXEBoard(t *testing.T) {
	d := serveDUT(t)
	bl := newBoardLab(t, board.IPXE, "ipxe01", "qemu-ipxe-x86_64")
	id := bl.submit(t, d.boardJob("ipxe board", "qemu-ipxe-x86_64", "ipxe", inlineSteps("smoke",
		"lava-test-case kernel-cmdline --shell grep -q console=ttyS0 /proc/cmdline", "lava-test-case uname --shell uname -a")))
	j := bl.waitFinished(t, []int64{id}, 8*time.Minute)[id]
	if j.Health != "Complete" {
		t.Errorf("job %d: %s (%s: %s)", id, j.Health, j.ErrorType, j.FailureComment)
		logTail(t, bl.lab, id)
	}
	got := bl.resultMap(t, id)
	for k, v := range map[string]string{"0_smoke/kernel-cmdline": "pass", "0_smoke/uname": "pass", "lava/bootloader-action": "pass", "lava/job": "pass"} {
		if got[k] != v {
			t.Errorf("job %d: %s = %q, want %q", id, k, got[k], v)
		}
	}
	log := string(bl.storedLog(t, id))
	if p := os.Getenv("BASALT_BOARD_LOG"); p != "" {
		os.WriteFile(p, []byte(log), 0o644) // to read the log of a run
	}
	for _, s := range []string{"Press Ctrl-B for the iPXE command line", `iPXE\u003e dhcp net0`, "kernel tftp://127.", "initrd tftp://127.", "Linux version"} {
		if !strings.Contains(log, s) {
			t.Errorf("job %d: the log lacks %q", id, s)
		}
	}
}

// TestRunBoardLocally: `basalt run` renders a board's dictionary with the
// templates of --device-types-dir (here a type written for the test, whose
// console is a shell script on a pseudo-terminal standing for a board
// without power commands) and the job's context, and runs the job: the
// board is reset with soft reboot commands and its shell answers.
func TestRunBoardLocally(t *testing.T) {
	dir := t.TempDir()
	board := `printf '/ # '
while IFS= read -r line; do
  case "$line" in
    reboot*) printf 'The system is going down for reboot NOW\nLinux version 6.1.0 (%s)\n/ # ' "$GREETING" ;;
    *) printf '%s\n/ # ' "$(eval "$line" 2>&1)" ;;
  esac
done
`
	files := map[string]string{
		"board.sh": board,
		"types/shell-board.jinja2": `commands:
  connect: env GREETING={{ extra_kernel_args | default('none') }} {{ connection_command }}
  soft_reboot: {{ reboot_command | default('reboot') }}
`,
		"shell01.jinja2": "{% extends 'shell-board.jinja2' %}\n{% set connection_command = 'sh " + filepath.Join(dir, "board.sh") + "' %}\n",
		"job.yaml": `job_name: local board
device_type: shell-board
visibility: public
context:
  extra_kernel_args: from-the-job-context
timeouts:
  job: {minutes: 2}
actions:
- boot:
    method: minimal
    prompts: ['/ # ']
- test:
    interactive:
    - name: shell
      prompts: ['/ # ']
      script:
      - command: echo hi-$((6*7))
        name: answer
        successes:
        - message: hi-42
`,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(binary, "run", filepath.Join(dir, "job.yaml"), "--device", filepath.Join(dir, "shell01.jinja2"),
		"--device-types-dir", filepath.Join(dir, "types"), "--job-dir", filepath.Join(dir, "job")).CombinedOutput()
	if err != nil {
		t.Fatalf("basalt run: %v\n%s", err, out)
	}
	for _, want := range []string{"shell01: connecting the console: env GREETING=from-the-job-context sh ", "Linux version 6.1.0 (from-the-job-context)", "0_shell  answer                 pass", "job pass"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
