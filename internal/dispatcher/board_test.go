package dispatcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
