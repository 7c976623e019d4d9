package overlay_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/google/go-cmp/cmp"
)

const helpersTestdef = `metadata:
  format: Lava-Test Test Definition 1.0
  name: helpers
params:
  PARAM_A: default a
  PARAM_B: "default b"
  QUOTED: ""
run:
  steps:
    - lava-test-case pass-case --result pass
    - lava-test-case fail-case --result fail
    - lava-test-case skip-case --result skip
    - lava-test-case shell-ok --shell true
    - lava-test-case shell-bad --shell "echo about to fail; exit 3"
    - lava-test-set start set1
    - lava-test-case in-set --result pass
    - lava-test-set stop
    - lava-test-case speed --result pass --measurement 12.5 --units MB/s
    - lava-test-reference ref-case --result fail --reference https://bugs.example.org/1
    - lava-test-event "hello event"
    - lava-test-feedback --namespace other
    - printf '%s|%s|%s|%s\n' "$PARAM_A" "$PARAM_B" "$QUOTED" "$TESTRUN_ID" > params.txt
    - sh -c 'printf "%s|%s|%s|%s|%s\n" "$PARAM_A" "$LAVA_JOB_ID" "$LAVA_DEVICE_TYPE" "$LAVA_JOB_TAGS" "$FROM_DEVICE"' > child.txt
    - lava-test-case dollar --shell "echo a b | awk '{print $2}' | grep -qx b"
    - echo line one > out.txt
    - lava-test-case with-output --result pass --output out.txt
    - lava-background-process-start bg --cmd "while true; do sleep 1; done"
    - BGPID=$(cat "$LAVA_RESULT_DIR/results/bg/pid")
    - lava-test-case bg-running --shell kill -0 "$BGPID"
    - lava-background-process-stop bg
    - lava-test-case bg-stopped --shell "! kill -0 $BGPID"
`

const raiseTestdef = `metadata:
  format: Lava-Test Test Definition 1.0
  name: raise
run:
  steps:
    - lava-test-case before --result pass
    - 'lava-test-raise "setup broke: no network"'
    - lava-test-case after --result pass
`

const afterTestdef = `metadata:
  format: Lava-Test Test Definition 1.0
  name: after
install:
  steps:
    - echo installed > installed.txt
run:
  steps:
    - lava-test-case installed --shell test -f installed.txt
`

const installFailTestdef = `metadata:
  format: Lava-Test Test Definition 1.0
  name: broken-install
install:
  steps:
    - echo installing
    - "false"
run:
  steps:
    - lava-test-case never --result pass
`

func TestRunnerSignals(t *testing.T) {
	// busybox ash is what devices run; dash is Debian's /bin/sh, LAVA's
	// default interpreter on a Debian root file system.
	for _, sh := range []string{"busybox", "/bin/dash"} {
		t.Run(filepath.Base(sh), func(t *testing.T) {
			if sh == "busybox" {
				sh = shCmd(t)
			}
			testRunnerSignals(t, sh)
		})
	}
}

func testRunnerSignals(t *testing.T, sh string) {
	o := overlay.Options{
		ShCmd:       sh,
		JobID:       42,
		Environment: []overlay.EnvVar{{Name: "FROM_DEVICE", Value: "x y"}},
		DeviceType:  "qemu",
		Hostname:    "qemu01",
		Tags:        []string{"a", "b"},
	}
	helpers := mustTestdef(t, helpersTestdef)
	helpers.Params = append(helpers.Params[:2], overlay.Param{Name: "QUOTED", Value: `it's $x`})
	stage0 := overlay.Stage{Number: 0, Definitions: []overlay.Definition{
		{Name: "helpers", Index: 0, UUID: "42_1.3.2.1", Testdef: helpers, Params: map[string]string{"PARAM_A": "from job"}},
		{Name: "raise", Index: 1, UUID: "42_1.3.2.2", Testdef: mustTestdef(t, raiseTestdef)},
		{Name: "after", Index: 2, UUID: "42_1.3.2.3", Testdef: mustTestdef(t, afterTestdef)},
	}}
	stage1 := overlay.Stage{Number: 1, Definitions: []overlay.Definition{
		{Name: "broken-install", Index: 3, UUID: "42_1.5.2.1", Testdef: mustTestdef(t, installFailTestdef)},
		{Name: "after", Index: 4, UUID: "42_1.5.2.2", Testdef: mustTestdef(t, afterTestdef)},
	}}
	root, _ := build(t, o, stage0, stage1)

	out := runStage(t, root, "0")
	want := []string{
		"STARTRUN 0_helpers 42_1.3.2.1",
		"TESTCASE TEST_CASE_ID=pass-case RESULT=pass",
		"TESTCASE TEST_CASE_ID=fail-case RESULT=fail",
		"TESTCASE TEST_CASE_ID=skip-case RESULT=skip",
		"STARTTC shell-ok",
		"ENDTC shell-ok",
		"TESTCASE TEST_CASE_ID=shell-ok RESULT=pass",
		"STARTTC shell-bad",
		"ENDTC shell-bad",
		"TESTCASE TEST_CASE_ID=shell-bad RESULT=fail",
		"TESTSET START set1",
		"TESTCASE TEST_CASE_ID=in-set RESULT=pass",
		"TESTSET STOP",
		"TESTCASE TEST_CASE_ID=speed RESULT=pass UNITS=MB/s MEASUREMENT=12.5",
		"TESTREFERENCE ref-case fail https://bugs.example.org/1",
		"TESTEVENT hello event",
		"TESTFEEDBACK other",
		"STARTTC dollar",
		"ENDTC dollar",
		"TESTCASE TEST_CASE_ID=dollar RESULT=pass",
		"STARTTC with-output",
		"ENDTC with-output",
		"TESTCASE TEST_CASE_ID=with-output RESULT=pass",
		"STARTTC bg-running",
		"ENDTC bg-running",
		"TESTCASE TEST_CASE_ID=bg-running RESULT=pass",
		"STARTTC bg-stopped",
		"ENDTC bg-stopped",
		"TESTCASE TEST_CASE_ID=bg-stopped RESULT=pass",
		"ENDRUN 0_helpers 42_1.3.2.1",
		// lava-test-raise stops run.sh: no "after" case, no ENDRUN.
		"STARTRUN 1_raise 42_1.3.2.2",
		"TESTCASE TEST_CASE_ID=before RESULT=pass",
		"TESTRAISE setup broke: no network",
		// The runner goes on with the next definition.
		"STARTRUN 2_after 42_1.3.2.3",
		"STARTTC installed",
		"ENDTC installed",
		"TESTCASE TEST_CASE_ID=installed RESULT=pass",
		"ENDRUN 2_after 42_1.3.2.3",
	}
	if diff := cmp.Diff(want, signals(out)); diff != "" {
		t.Errorf("signals (-want +got):\n%s\nconsole:\n%s", diff, out)
	}
	assertExitLast(t, out)
	if strings.Contains(out, "INSTALL_FAIL") {
		t.Errorf("stage 0 printed INSTALL_FAIL:\n%s", out)
	}
	// The --output file is printed between the test case markers.
	if !strings.Contains(out, "<LAVA_SIGNAL_STARTTC with-output>\nline one\n<LAVA_SIGNAL_ENDTC with-output>") {
		t.Errorf("--output contents not between STARTTC and ENDTC:\n%s", out)
	}
	if !strings.Contains(out, "about to fail") {
		t.Errorf("the --shell command's output is missing:\n%s", out)
	}

	// Result files, as LAVA's lava-test-case and lava-test-runner write
	// them.
	res := resultDir(t, root, "0", "0_helpers")
	files := map[string]string{
		"results/pass-case/result":  "pass\n",
		"results/shell-bad/result":  "fail\n",
		"results/speed/result":      "pass\n",
		"results/speed/measurement": "12.5\n",
		"results/speed/units":       "MB/s\n",
		"return_code":               "0\n",
		"analyzer_assigned_uuid":    "42_1.3.2.1",
		"testdef.yaml":              helpersTestdef,
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(res, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	// Parameters and the environment, in run.sh and in its children.
	tdir := filepath.Join(root, "0", "tests", "0_helpers")
	if got, want := readFile(t, filepath.Join(tdir, "params.txt")), "from job|default b|it's $x|0_helpers\n"; got != want {
		t.Errorf("params in run.sh: %q, want %q", got, want)
	}
	if got, want := readFile(t, filepath.Join(tdir, "child.txt")), "from job|42|qemu|a,b|x y\n"; got != want {
		t.Errorf("params and environment in a child: %q, want %q", got, want)
	}
	if got := readFile(t, filepath.Join(resultDir(t, root, "0", "1_raise"), "return_code")); got != "1\n" {
		t.Errorf("1_raise return_code = %q, want 1", got)
	}
	if got := readFile(t, filepath.Join(resultDir(t, root, "0", "2_after"), "install_return_code")); got != "0\n" {
		t.Errorf("2_after install_return_code = %q", got)
	}
	// The runner renamed its list so that a reboot does not run it again.
	if _, err := os.Stat(filepath.Join(root, "0", "lava-test-runner.conf")); !os.IsNotExist(err) {
		t.Errorf("lava-test-runner.conf still there: %v", err)
	}

	// Stage 1: the failing installer.
	out = runStage(t, root, "1")
	want = []string{
		"STARTRUN 4_after 42_1.5.2.2",
		"STARTTC installed",
		"ENDTC installed",
		"TESTCASE TEST_CASE_ID=installed RESULT=pass",
		"ENDRUN 4_after 42_1.5.2.2",
	}
	if diff := cmp.Diff(want, signals(out)); diff != "" {
		t.Errorf("stage 1 signals (-want +got):\n%s\nconsole:\n%s", diff, out)
	}
	if i, j := strings.Index(out, overlay.RunnerInstallFail), strings.Index(out, "<LAVA_SIGNAL_STARTRUN 4_after"); i < 0 || j < i {
		t.Errorf("no INSTALL_FAIL before the next run:\n%s", out)
	}
	if strings.Contains(out, "STARTRUN 3_broken-install") {
		t.Errorf("run.sh of the failed install ran:\n%s", out)
	}
	assertExitLast(t, out)
	if got := readFile(t, filepath.Join(resultDir(t, root, "1", "3_broken-install"), "install_return_code")); got != "1\n" {
		t.Errorf("install_return_code = %q, want 1", got)
	}
}

// assertExitLast checks that the runner's EXIT marker is the last line.
func assertExitLast(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if last := lines[len(lines)-1]; last != overlay.RunnerExit {
		t.Errorf("last console line %q, want <LAVA_TEST_RUNNER EXIT>:\n%s", last, out)
	}
	if n := strings.Count(out, overlay.RunnerExit); n != 1 {
		t.Errorf("%d EXIT markers", n)
	}
}

// resultDir finds STAGE/results/RUN-<timestamp>.
func resultDir(t *testing.T, root, stage, run string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(root, stage, "results", run+"-*"))
	if err != nil || len(m) != 1 {
		t.Fatalf("results of %s: %v, %v", run, m, err)
	}
	return m[0]
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

func TestRunnerKmsg(t *testing.T) {
	td := mustTestdef(t, `metadata: {format: Lava-Test Test Definition 1.0, name: k}
run:
  steps:
    - lava-test-case k1 --result pass
`)
	root, _ := build(t, overlay.Options{JobID: 7}, overlay.Stage{Number: 0, Definitions: []overlay.Definition{
		{Name: "k", Index: 0, UUID: "7_1", Testdef: td, LavaSignal: "kmsg"},
	}})
	kmsg := filepath.Join(t.TempDir(), "kmsg")
	out := runStage(t, root, "0", "LAVA_KMSG_DEVICE="+kmsg)
	if got := signals(out); len(got) != 0 {
		t.Errorf("signals on stdout with lava-signal: kmsg: %q", got)
	}
	want := "<0><LAVA_SIGNAL_STARTRUN 0_k 7_1>\n<0><LAVA_SIGNAL_TESTCASE TEST_CASE_ID=k1 RESULT=pass>\n<0><LAVA_SIGNAL_ENDRUN 0_k 7_1>\n"
	if got := readFile(t, kmsg); got != want {
		t.Errorf("kmsg:\n%s\nwant:\n%s", got, want)
	}
	assertExitLast(t, out)
}

func TestRunnerCharacterDelay(t *testing.T) {
	td := mustTestdef(t, `metadata: {format: Lava-Test Test Definition 1.0, name: slow}
run:
  steps: [lava-test-case a --result pass, lava-test-case b --result pass]
`)
	root, _ := build(t, overlay.Options{JobID: 7, CharacterDelay: 150 * time.Millisecond}, overlay.Stage{Number: 0, Definitions: []overlay.Definition{
		{Name: "slow", Index: 0, UUID: "7_1", Testdef: td},
	}})
	start := time.Now()
	out := runStage(t, root, "0")
	// Two delays in run.sh, one per signal of lava-test-case.
	if d := time.Since(start); d < 4*150*time.Millisecond {
		t.Errorf("the run took %v, less than four character delays", d)
	}
	want := []string{"STARTRUN 0_slow 7_1", "TESTCASE TEST_CASE_ID=a RESULT=pass", "TESTCASE TEST_CASE_ID=b RESULT=pass", "ENDRUN 0_slow 7_1"}
	if diff := cmp.Diff(want, signals(out)); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
}

// TestHelperUsage checks the helpers' argument errors: a usage message and
// a non-zero exit, which stops run.sh (set -e) like in LAVA.
func TestHelperUsage(t *testing.T) {
	tests := []struct {
		step string
		want string // on the console
	}{
		{"lava-test-case", "Usage: lava-test-case"},
		{"lava-test-case x --result", "Usage: lava-test-case"},
		{"lava-test-case x --units s", "--result must be specified"},
		{"lava-test-case x --bogus 1", "Usage: lava-test-case"},
		{"lava-test-set begin x", "Usage: lava-test-set"},
		{"lava-test-set start", "Usage: lava-test-set"},
		{"lava-test-reference r --result pass", "--reference must be specified"},
		{"lava-test-raise", "Usage: lava-test-raise"},
		{"lava-test-event two words", "Usage: lava-test-event"},
		{"lava-test-feedback", "--namespace must be specified"},
		{"lava-background-process-start bg", "Usage: lava-background-process-start"},
		{"lava-background-process-stop nothing-started", "no background process nothing-started"},
		{"lava-install-packages surely-not-a-package", "installing packages is not supported on this device"},
		{"lava-add-sources deb", "adding package sources is not supported"},
		{"lava-add-keys k", "adding package signing keys is not supported"},
	}
	var defs []overlay.Definition
	for i, tt := range tests {
		td := mustTestdef(t, "metadata: {format: Lava-Test Test Definition 1.0, name: u}\nrun:\n  steps:\n    - "+tt.step+"\n    - lava-test-case not-reached --result pass\n")
		defs = append(defs, overlay.Definition{Name: "u", Index: i, UUID: "1_1", Testdef: td})
	}
	root, _ := build(t, overlay.Options{JobID: 1}, overlay.Stage{Number: 0, Definitions: defs})
	out := runStage(t, root, "0")
	for _, tt := range tests {
		if !strings.Contains(out, tt.want) {
			t.Errorf("%s: %q not on the console", tt.step, tt.want)
		}
	}
	if strings.Contains(out, "not-reached") {
		t.Errorf("a step after a failing helper ran:\n%s", out)
	}
	if n := strings.Count(out, "<LAVA_SIGNAL_ENDRUN"); n != 0 {
		t.Errorf("%d runs ended although every helper failed", n)
	}
	for i := range tests {
		got := readFile(t, filepath.Join(resultDir(t, root, "0", strings.TrimSpace(defs[i].RunID())), "return_code"))
		if got == "0\n" {
			t.Errorf("%s: run.sh exited 0", tests[i].step)
		}
	}
}

// TestInfoHelpers runs the helpers that print facts about the device.
func TestInfoHelpers(t *testing.T) {
	td := mustTestdef(t, `metadata: {format: Lava-Test Test Definition 1.0, name: info}
run:
  steps:
    - echo "ip=$(lava-target-ip) mac=$(lava-target-mac) lo=$(lava-echo-ipv4 lo)"
    - echo "os=$(lava-os-build)"
    - lava-install-packages sh grep
`)
	root, _ := build(t, overlay.Options{JobID: 1, TargetIP: "10.0.0.9", TargetMAC: "52:54:00:12:34:56"},
		overlay.Stage{Number: 0, Definitions: []overlay.Definition{{Name: "info", Index: 0, UUID: "1_1", Testdef: td}}})
	out := runStage(t, root, "0")
	for _, want := range []string{"ip=10.0.0.9 mac=52:54:00:12:34:56 lo=127.0.0.1\n", "os=", "already installed: sh grep", "<LAVA_SIGNAL_ENDRUN 0_info 1_1>"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q not on the console:\n%s", want, out)
		}
	}
	if strings.Contains(out, "os=\n") || strings.Contains(out, "Unsupported distro") {
		t.Errorf("lava-os-build printed nothing useful:\n%s", out)
	}
}

// TestRunnerRunsOnce runs a stage twice, as after a reboot on a persistent
// root file system: the second run finds no list and only says so.
func TestRunnerRunsOnce(t *testing.T) {
	td := mustTestdef(t, "metadata: {format: Lava-Test Test Definition 1.0, name: once}\nrun: {steps: [lava-test-case a --result pass]}\n")
	root, _ := build(t, overlay.Options{JobID: 3}, overlay.Stage{Number: 0, Definitions: []overlay.Definition{{Name: "once", Index: 0, UUID: "3_1", Testdef: td}}})
	if got := signals(runStage(t, root, "0")); len(got) != 3 {
		t.Errorf("first run: %q", got)
	}
	out, code := runStageCode(t, root, "0")
	if code != 1 {
		t.Errorf("second run: exit status %d, want 1", code)
	}
	if got := signals(out); len(got) != 0 {
		t.Errorf("second run printed signals: %q", got)
	}
	if !strings.Contains(out, "lava-test-runner.conf: no such file (already run?)") {
		t.Errorf("second run:\n%s", out)
	}
	assertExitLast(t, out)
}
