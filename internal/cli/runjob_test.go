package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// runJobDefinition is a short job for a simulated device.
const runJobDefinition = `job_name: run-job command test
device_type: qemu
visibility: public
timeouts:
  job:
    minutes: 5
actions:
- boot:
    method: qemu
    prompts: ["/ # "]
- test:
    definitions:
    - name: smoke
      from: inline
      path: inline/smoke.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: smoke
        run:
          steps:
          - lava-test-case ok --result pass
`

func runJobDir(t *testing.T, dict string) string {
	t.Helper()
	dir := t.TempDir()
	err := dispatcher.WriteJob(dir, workerproto.Assign{
		JobID: 1, Definition: runJobDefinition, JobToken: "token",
		Device: workerproto.Device{Hostname: "sim-01", DeviceType: "qemu", Dictionary: dict},
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// execRunJob runs `run-job DIR` in process and returns its exit code.
func execRunJob(t *testing.T, dir string, stderr *bytes.Buffer) int {
	t.Helper()
	cmd := RunJobCommand()
	cmd.SetArgs([]string{dir})
	cmd.SetOut(new(bytes.Buffer))
	cmd.SetErr(stderr)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("run-job returned %v, not an *ExitError", err)
	}
	return ee.Code
}

func TestRunJobCommandExitCodes(t *testing.T) {
	tests := []struct {
		name   string
		dir    func(t *testing.T) string
		code   int
		result string // "" when no result file is expected
	}{
		{"pass", func(t *testing.T) string { return runJobDir(t, "simulated: {boot_time: 0}") }, dispatcher.ExitPass, dispatcher.ResultPass},
		{"fail", func(t *testing.T) string { return runJobDir(t, "simulated: {boot_time: 0, fail_boot: true}") }, dispatcher.ExitFail, dispatcher.ResultFail},
		{"no directory", func(t *testing.T) string { return filepath.Join(t.TempDir(), "missing") }, dispatcher.ExitSetup, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			var stderr bytes.Buffer
			if code := execRunJob(t, dir, &stderr); code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			res, ok, _ := dispatcher.ReadResult(dir)
			if ok != (tt.result != "") || res.Result != tt.result {
				t.Errorf("result.json: %+v (present %v), want %q", res, ok, tt.result)
			}
		})
	}
}

func TestRunJobCommandCancelsOnSIGTERM(t *testing.T) {
	dir := runJobDir(t, "simulated: {boot_time: 1h, boot_lines: 3600}")
	var stderr bytes.Buffer
	codes := make(chan int, 1)
	go func() { codes <- execRunJob(t, dir, &stderr) }()
	// The signal handler is installed before the journal is created, so
	// once the boot log shows, SIGTERM reaches it rather than killing us.
	for {
		b, _ := os.ReadFile(filepath.Join(dir, dispatcher.JournalFile))
		if bytes.Contains(b, []byte("Linux version")) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := <-codes; code != dispatcher.ExitFail {
		t.Errorf("exit code %d, want %d", code, dispatcher.ExitFail)
	}
	res, ok, err := dispatcher.ReadResult(dir)
	if err != nil || !ok || res.ErrorType != lab.ErrorCanceled || res.ErrorMsg != dispatcher.CanceledMsg {
		t.Errorf("result %+v (%v, %v), want Canceled", res, ok, err)
	}
	if !strings.Contains(stderr.String(), "terminated: canceling the job") {
		t.Errorf("stderr %q", stderr.String())
	}
	journal, _ := os.ReadFile(filepath.Join(dir, dispatcher.JournalFile))
	if !bytes.Contains(journal, []byte(`"msg":"sim-01: power off"`)) {
		t.Error("finalize did not power the device off")
	}
}

func TestCancelOnSignalIgnoresLaterSignals(t *testing.T) {
	sigs := make(chan os.Signal)
	var stderr bytes.Buffer
	ctx, stop := cancelOnSignal(context.Background(), sigs, &stderr)
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	sigs <- syscall.SIGINT // handled (unbuffered send), only reported
	stop()
	want := "run-job: terminated: canceling the job\nrun-job: interrupt: the job is already being canceled; finalize still runs\n"
	if stderr.String() != want {
		t.Errorf("stderr %q, want %q", stderr.String(), want)
	}
	if cause := context.Cause(ctx); cause == nil || cause.Error() != "terminated received" {
		t.Errorf("cause %v", cause)
	}
}
