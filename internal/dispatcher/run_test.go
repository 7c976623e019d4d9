package dispatcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// job builds a job definition: a boot with the given block settings, then
// the given actions (YAML list items, already indented by two spaces).
func job(timeouts, bootExtra, actions string) string {
	if timeouts == "" {
		timeouts = "  job:\n    minutes: 5\n"
	}
	return "job_name: scenario\ndevice_type: qemu\nvisibility: public\ntimeouts:\n" + timeouts +
		"actions:\n- boot:\n    method: qemu\n    prompts: [\"/ # \"]\n" + bootExtra + actions
}

// inlineTest is a test action with one inline definition running steps.
func inlineTest(name, blockExtra string, steps ...string) string {
	s := "- test:\n" + blockExtra + "    definitions:\n    - name: " + name + "\n      from: inline\n      path: inline/x.yaml\n" +
		"      repository:\n        metadata:\n          format: Lava-Test Test Definition 1.0\n          name: " + name + "\n        run:\n          steps:\n"
	for _, st := range steps {
		s += "          - '" + strings.ReplaceAll(st, "'", "''") + "'\n"
	}
	return s
}

const fastDevice = "boot_time: 0, boot_lines: 3"

// lastRecords returns the text of the last n records ("lvl msg", results
// as "results <case> <result>").
func lastRecords(t *testing.T, recs []workerproto.Record, n int) []string {
	t.Helper()
	var out []string
	for _, r := range recs[len(recs)-n:] {
		if r.Level == workerproto.LevelResults {
			m := resultMsg(t, r)
			out = append(out, "results "+m.Case+" "+m.Result)
			continue
		}
		out = append(out, durationClock.ReplaceAllString(string(r.Level)+" "+textOf(r), "(duration D)"))
	}
	return out
}

func TestFailingTestCaseKeepsTheJobComplete(t *testing.T) {
	res, recs := runSim(t, job("", "", inlineTest("x", "", "lava-test-case broken --result fail")), simDict(fastDevice))
	if res != (Result{Result: ResultPass}) {
		t.Errorf("result %+v, want pass", res)
	}
	want := []workerproto.ResultMsg{{Definition: "0_x", Case: "broken", Result: "fail"}}
	if diff := cmp.Diff(want, results(t, recs, "0_x")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// withPrompt replaces the boot prompt of a job built by job.
func withPrompt(def, prompt string) string {
	return strings.Replace(def, `prompts: ["/ # "]`, `prompts: ["`+prompt+`"]`, 1)
}

// TestTimeouts checks what a timeout says: the job's error message (what
// jobs show prints) names what the action waited for, how long, and the
// last line the console printed, without raw control characters; the
// failed action's start record says where its timeout came from.
func TestTimeouts(t *testing.T) {
	const autoLogin = "    auto_login:\n      login_prompt: \"login:\"\n      username: root\n"
	tests := []struct {
		name       string
		def        string
		dict       string
		assign     time.Duration
		wantType   lab.ErrorType // LAVATimeout when empty
		wantMsg    string        // a regular expression the whole message matches
		failedCase string        // the lava case recorded as fail
		wantRecord string        // part of an error record
		wantInfo   string        // an info record (the start record, say)
	}{
		{
			name:       "boot never shows the prompt",
			def:        job("", "    timeout:\n      seconds: 1\n", ""),
			dict:       simDict(fastDevice + `, prompt: "login: "`),
			wantMsg:    `boot-qemu-image timed out after 1 seconds: waited \d+\.\d s for prompt '/ # '; last line: 'login: '`,
			failedCase: "boot-qemu-image",
			wantRecord: "boot-qemu-image timed out after 1 seconds: waited ",
			wantInfo:   "start: 1 boot-qemu-image (timeout 00:00:01 from the boot block's timeout)",
		},
		{
			name:       "the prompt of another image",
			def:        withPrompt(job("  job:\n    minutes: 5\n  actions:\n    boot-qemu-image:\n      seconds: 1\n", "", ""), "root@debian:~# "),
			dict:       simDict(fastDevice),
			wantMsg:    `boot-qemu-image timed out after 1 seconds: waited \d+\.\d s for prompt 'root@debian:~# '; last line: '/ # '`,
			failedCase: "boot-qemu-image",
			wantRecord: "waited ",
			wantInfo:   "start: 1 boot-qemu-image (timeout 00:00:01 from the job's timeouts.actions.boot-qemu-image)",
		},
		{
			name:       "escape sequences in the last line are escaped",
			def:        withPrompt(job("", "    timeout:\n      seconds: 1\n", ""), "root@debian:~# "),
			dict:       simDict(fastDevice + `, prompt: "\e[6n/ # \u009b0m"`),
			wantMsg:    `boot-qemu-image timed out after 1 seconds: waited \d+\.\d s for prompt 'root@debian:~# '; last line: '\\x1b\[6n/ # \\u009b0m'`,
			failedCase: "boot-qemu-image",
			wantRecord: `last line: '\x1b[6n/ # \u009b0m'`,
			wantInfo:   "start: 1 boot-qemu-image (timeout 00:00:01 from the boot block's timeout)",
		},
		{
			name:       "the kernel never starts",
			def:        job("", "    timeout:\n      seconds: 1\n", ""),
			dict:       simDict(fastDevice) + "kernel_start_message: 'Linux version 9'\n",
			wantMsg:    `boot-qemu-image timed out after 1 seconds: waited \d+\.\d s for kernel start message 'Linux version 9'; last line: '/ # '`,
			failedCase: "boot-qemu-image",
			wantRecord: "for kernel start message 'Linux version 9'",
		},
		{
			name:       "no login prompt",
			def:        job("  job:\n    minutes: 5\n  actions:\n    auto-login-action:\n      seconds: 1\n", autoLogin, ""),
			dict:       simDict(fastDevice),
			wantMsg:    `auto-login-action timed out after 1 seconds: waited \d+\.\d s for login prompt 'login:'; last line: '/ # '`,
			failedCase: "auto-login-action",
			wantRecord: "boot-qemu-image failed: auto-login-action timed out after 1 seconds: waited",
			wantInfo:   "start: 1.1 auto-login-action (timeout 00:00:01 from the job's timeouts.actions.auto-login-action)",
		},
		{
			name:       "a login command never returns: the connection timeout",
			def:        job("  job:\n    minutes: 5\n  connections:\n    auto-login-action:\n      seconds: 1\n", autoLogin+"      login_commands: [sleep 30]\n", ""),
			dict:       simDict(fastDevice + `, login_prompt: "login: "`),
			wantType:   lab.ErrorJob,
			wantMsg:    `auto-login-action: the connection timed out after 1 seconds \(the connection timeout, from the job's timeouts.connections.auto-login-action\): waited \d+\.\d s for prompt '/ # ' after the login command 'sleep 30'; last line: '/ # sleep 30'`,
			failedCase: "auto-login-action",
			wantRecord: "auto-login-action failed: auto-login-action: the connection timed out",
			wantInfo:   "auto-login-action: connection timeout 00:00:01 from the job's timeouts.connections.auto-login-action",
		},
		{
			name:       "a test step never returns",
			def:        job("", "", inlineTest("x", "    timeout:\n      seconds: 1\n", "sleep 60")),
			dict:       simDict(fastDevice),
			wantMsg:    `lava-test-shell timed out after 1 seconds: waited \d+\.\d s for prompt '/ # ' after 'sleep 60' \(test run 0_x started, no ENDRUN yet\); last line: '/ # sleep 60'`,
			failedCase: "lava-test-shell",
			wantRecord: "lava-test-shell timed out after 1 seconds: waited",
			wantInfo:   "start: 2 lava-test-shell (timeout 00:00:01 from the test block's timeout)",
		},
		{
			name: "an interactive step's message never comes",
			def: job("", "", "- test:\n    timeout:\n      seconds: 1\n    interactive:\n    - name: probe\n      prompts: [\"=> \"]\n      script:\n"+
				"      - command: version\n        name: version\n        successes:\n        - message: U-Boot 20\n"),
			dict:       simDict(fastDevice),
			wantMsg:    `lava-test-interactive timed out after 1 seconds: waited \d+\.\d s for success message 'U-Boot 20' or prompt '=> ' \(probe step version\); last line: '/ # '`,
			failedCase: "lava-test-interactive",
			wantRecord: "lava-test-interactive timed out after 1 seconds: waited",
			wantInfo:   "Test interactive timeout: 1s (minimum of the action and connection timeout; connection timeout 00:00:30 from the default connection timeout)",
		},
		{
			name:       "job timeout from the assignment",
			def:        job("", "", inlineTest("x", "", "sleep 60")),
			dict:       simDict(fastDevice),
			assign:     time.Second,
			wantMsg:    `job timed out after 1 seconds: waited \d+\.\d s for prompt '/ # ' after 'sleep 60' \(test run 0_x started, no ENDRUN yet\); last line: '/ # sleep 60'`,
			failedCase: "lava-test-shell",
			wantRecord: "lava-test-shell failed: job timed out after 1 seconds: waited",
		},
		{
			name:       "job timeout from timeouts.job",
			def:        job("  job:\n    seconds: 1\n", "", inlineTest("x", "", "sleep 60")),
			dict:       simDict(fastDevice),
			wantMsg:    `job timed out after 1 seconds: waited \d+\.\d s for prompt '/ # ' after 'sleep 60' \(test run 0_x started, no ENDRUN yet\); last line: '/ # sleep 60'`,
			failedCase: "lava-test-shell",
			wantRecord: "LAVATimeoutError: job timed out after 1 seconds: waited",
		},
		{
			name:       "job timeout during a boot that takes an hour",
			def:        job("  job:\n    seconds: 1\n", "", ""),
			dict:       simDict("boot_time: 1h"),
			wantMsg:    `job timed out after 1 seconds: waited \d+\.\d s for prompt '/ # '; last line: '\[    0\.000000\] Linux version 6\.1\.0-basalt-sim \(sim@basalt\) #1 SMP PREEMPT_DYNAMIC'`,
			failedCase: "boot-qemu-image",
			wantRecord: "boot-qemu-image failed: job timed out after 1 seconds",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each waits for a timeout of its own
			res, recs := runDir(t, context.Background(), jobDir(t, tt.def, tt.dict, tt.assign))
			wantType := tt.wantType
			if wantType == "" {
				wantType = lab.ErrorTimeout
			}
			if res.Result != ResultFail || res.ErrorType != wantType || !regexp.MustCompile("^"+tt.wantMsg+"$").MatchString(res.ErrorMsg) {
				t.Errorf("result %+v, want a %s failure matching %s", res, wantType, tt.wantMsg)
			}
			if strings.ContainsFunc(res.ErrorMsg, func(r rune) bool { return r < ' ' || r == 0x7f || r == 0x9b }) {
				t.Errorf("the error message %q has control characters", res.ErrorMsg)
			}
			for _, m := range messages(recs) {
				if !strings.HasPrefix(m, "target ") && strings.ContainsAny(m, "\x1b\u009b") {
					t.Errorf("a record other than the console's has a raw control character: %q", m)
				}
			}
			failed := false
			for _, m := range results(t, recs, "lava") {
				failed = failed || m.Case == tt.failedCase && m.Result == ResultFail
			}
			if !failed {
				t.Errorf("no failed lava/%s case", tt.failedCase)
			}
			if !hasMessage(recs, workerproto.LevelError, tt.wantRecord) {
				t.Errorf("no error record %q in\n%s", tt.wantRecord, strings.Join(messages(recs), "\n"))
			}
			if tt.wantInfo != "" && !hasMessage(recs, workerproto.LevelInfo, tt.wantInfo) {
				t.Errorf("no info record %q in\n%s", tt.wantInfo, strings.Join(messages(recs), "\n"))
			}
			// finalize ran after the timeout.
			if !hasMessage(recs, workerproto.LevelInfo, "sim-01: power off") {
				t.Error("finalize did not power the device off")
			}
		})
	}
}

func TestSkipTimeoutContinues(t *testing.T) {
	def := job("", "", inlineTest("slow", "    timeout:\n      seconds: 1\n      skip: true\n", "sleep 60")+
		"- deploy:\n    to: tmpfs\n    images:\n      kernel:\n        url: https://example.org/k\n")
	res, recs := runSim(t, def, simDict(fastDevice))
	if res != (Result{Result: ResultPass}) {
		t.Fatalf("result %+v, want pass", res)
	}
	var got []string
	for _, m := range results(t, recs, "lava") {
		got = append(got, m.Case+" "+m.Result)
	}
	want := []string{"validate pass", "boot-qemu-image pass", "0_slow fail", "lava-test-shell fail", "tmpfs-deploy pass", "power-off pass", "finalize pass", "job pass"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("lava results (-want +got):\n%s", diff)
	}
	if !hasMessage(recs, workerproto.LevelWarning, "lava-test-shell timed out after 1 seconds: waited ") ||
		!hasMessage(recs, workerproto.LevelWarning, "after 'sleep 60' (test run 0_slow started, no ENDRUN yet); last line: '/ # sleep 60'; the timeout has skip: true") {
		t.Errorf("no skip warning in\n%s", strings.Join(messages(recs), "\n"))
	}
}

// TestSkipComesFromTheBlockTimeout: as in LAVA, skip is read from the test
// block's own timeout, whichever timeout expires; skip on another timeout
// does nothing.
func TestSkipComesFromTheBlockTimeout(t *testing.T) {
	tests := []struct {
		name     string
		block    string
		wantPass bool
		wantInfo string
	}{
		{"the block's timeout skips a named timeout", "    timeout:\n      minutes: 1\n      skip: true\n    timeouts:\n      lava-test-shell:\n        seconds: 1\n", true,
			"start: 2 lava-test-shell (timeout 00:00:01 from the test block's timeouts.lava-test-shell)"},
		{"skip on a named timeout is ignored", "    timeouts:\n      lava-test-shell:\n        seconds: 1\n        skip: true\n", false,
			"start: 2 lava-test-shell (timeout 00:00:01 from the test block's timeouts.lava-test-shell)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res, recs := runSim(t, job("", "", inlineTest("slow", tt.block, "sleep 60")), simDict(fastDevice))
			if res.Passed() != tt.wantPass || !tt.wantPass && res.ErrorType != lab.ErrorTimeout {
				t.Errorf("result %+v, want pass %v (else a timeout)", res, tt.wantPass)
			}
			if !hasMessage(recs, workerproto.LevelInfo, tt.wantInfo) {
				t.Errorf("no info record %q in\n%s", tt.wantInfo, strings.Join(messages(recs), "\n"))
			}
		})
	}
}

// TestFailureRetry: a failing boot is attempted as often as LAVA's retry
// action would (the block's failure_retry, else the device's failure_retry
// or boot_retry), and each attempt gets the block's timeout ÷ attempts.
func TestFailureRetry(t *testing.T) {
	tests := []struct {
		name      string
		bootExtra string
		dict      string // base variables besides simulated
		attempts  int
		wantInfo  string
		wantShare string
	}{
		{
			name:      "failure_retry",
			bootExtra: "    failure_retry: 2\n    timeout:\n      minutes: 2\n",
			attempts:  2,
			wantInfo:  "start: 1 boot-qemu-image (timeout 00:02:00 from the boot block's timeout)",
			wantShare: "boot-qemu-image: up to 2 attempts, each with timeout 00:01:00 from boot-qemu-image's timeout 00:02:00 ÷ failure_retry 2",
		},
		{
			name:      "the device's failure_retry",
			dict:      "failure_retry: 2\n",
			attempts:  2,
			wantInfo:  "start: 1 boot-qemu-image (timeout 00:02:00 from the device's timeouts.actions.boot-qemu-image)",
			wantShare: "boot-qemu-image: up to 2 attempts, each with timeout 00:01:00 from boot-qemu-image's timeout 00:02:00 ÷ the device's failure_retry 2",
		},
		{
			name:      "the device's boot_retry",
			dict:      "failure_retry: 2\nboot_retry: 3\n",
			attempts:  3,
			wantShare: "boot-qemu-image: up to 3 attempts, each with timeout 00:00:40 from boot-qemu-image's timeout 00:02:00 ÷ the device's boot_retry 3",
		},
		{
			name:      "a named timeout sets each attempt's",
			bootExtra: "    failure_retry: 2\n    timeout:\n      minutes: 2\n    timeouts:\n      boot-qemu-image:\n        minutes: 3\n",
			attempts:  2,
			wantInfo:  "start: 1 boot-qemu-image (timeout 00:02:00 from the boot block's timeout)",
			wantShare: "boot-qemu-image: up to 2 attempts, each with timeout 00:03:00 from the boot block's timeouts.boot-qemu-image",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each pauses between its attempts
			res, recs := runSim(t, job("", tt.bootExtra, ""), simDict(fastDevice+", fail_boot: true")+tt.dict)
			if res.ErrorType != lab.ErrorInfrastructure {
				t.Fatalf("result %+v, want an Infrastructure failure", res)
			}
			n := 0
			for _, m := range messages(recs) {
				if m == "info sim-01: power on" {
					n++
				}
			}
			if n != tt.attempts {
				t.Errorf("%d power-ons, want %d attempts", n, tt.attempts)
			}
			if !hasMessage(recs, workerproto.LevelWarning, fmt.Sprintf("boot-qemu-image failed (attempt 1 of %d): kernel panic", tt.attempts)) {
				t.Errorf("no retry warning in\n%s", strings.Join(messages(recs), "\n"))
			}
			for _, want := range []string{tt.wantInfo, tt.wantShare} {
				if want != "" && !hasMessage(recs, workerproto.LevelInfo, want) {
					t.Errorf("no info record %q in\n%s", want, strings.Join(messages(recs), "\n"))
				}
			}
		})
	}
}

func TestRepeat(t *testing.T) {
	def := job("", "", inlineTest("again", "    repeat: 2\n", "lava-test-case r --result pass"))
	res, recs := runSim(t, def, simDict(fastDevice))
	if !res.Passed() {
		t.Fatalf("result %+v", res)
	}
	var suites []string
	for _, m := range results(t, recs, "") {
		if m.Case == "r" {
			suites = append(suites, m.Definition)
		}
	}
	if diff := cmp.Diff([]string{"0_again", "1_again"}, suites); diff != "" {
		t.Errorf("suites of the repeated case (-want +got):\n%s", diff)
	}
	if !hasMessage(recs, workerproto.LevelInfo, "lava-test-shell: repeat 2 of 2") {
		t.Error("no repeat record")
	}
	if !hasMessage(recs, workerproto.LevelInfo, "lava-test-shell: 2 runs, each with timeout 00:01:30 from lava-test-shell's timeout 00:03:00 ÷ repeat 2") {
		t.Errorf("no record of the runs' timeout in\n%s", strings.Join(messages(recs), "\n"))
	}
}

// waitForJournal polls the journal of dir until it contains s.
func waitForJournal(t *testing.T, dir, s string, runDone <-chan struct{}) {
	t.Helper()
	for {
		b, _ := os.ReadFile(filepath.Join(dir, JournalFile))
		if bytes.Contains(b, []byte(s)) {
			return
		}
		select {
		case <-runDone:
			t.Fatalf("the job ended before its journal showed %q", s)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

func TestCancelMidBoot(t *testing.T) {
	dir := jobDir(t, job("", "", inlineTest("x", "", "true")), simDict("boot_time: 1h, boot_lines: 3600"), 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var res Result
	var recs []workerproto.Record
	go func() {
		defer close(done)
		res, recs = runDir(t, ctx, dir)
	}()
	waitForJournal(t, dir, "Linux version", done)
	cancel()
	<-done

	want := Result{Result: ResultFail, ErrorType: lab.ErrorCanceled, ErrorMsg: CanceledMsg}
	if res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	// The journal ends with the cancel, then finalize, then the job result.
	tail := lastRecords(t, recs, 11)
	wantTail := []string{
		"info end: 1 boot-qemu-image (duration D)",
		"results boot-qemu-image fail",
		"error JobCanceled: The job was canceled",
		"info start: 3 finalize (timeout 00:05:00 from Basalt's default for finalize)",
		"info start: 3.1 power-off (timeout 00:00:10 from the device's timeouts.actions.power-off)",
		"info sim-01: power off",
		"info end: 3.1 power-off (duration D)",
		"results power-off pass",
		"info end: 3 finalize (duration D)",
		"results finalize pass",
		"results job fail",
	}
	if diff := cmp.Diff(wantTail, tail); diff != "" {
		t.Errorf("journal tail (-want +got):\n%s", diff)
	}
}

func TestCancelBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, recs := runDir(t, ctx, jobDir(t, job("", "", ""), simDict(fastDevice), 0))
	if res.ErrorType != lab.ErrorCanceled {
		t.Errorf("result %+v, want Canceled", res)
	}
	if hasMessage(recs, workerproto.LevelInfo, "start: 1 boot-qemu-image") {
		t.Error("an action started after the cancel")
	}
	if !hasMessage(recs, workerproto.LevelInfo, "start: 2 finalize") {
		t.Error("finalize did not run")
	}
}

func TestSecretsAndTokenAreMasked(t *testing.T) {
	const secret = "hunter2-b7e1"
	def := strings.Replace(job("", "", inlineTest("leak", "",
		"echo "+secret+" and "+testToken,
		"lava-test-raise leaked "+secret)), "actions:\n", "secrets:\n  API_KEY: "+secret+"\nactions:\n", 1)
	dir := jobDir(t, def, simDict(fastDevice), 0)
	res, recs := runDir(t, context.Background(), dir)
	if want := (Result{Result: ResultFail, ErrorType: lab.ErrorTest, ErrorMsg: "leaked [MASKED]"}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, JournalFile))
	resultFile, _ := os.ReadFile(filepath.Join(dir, ResultFile))
	for _, s := range []string{secret, testToken} {
		if bytes.Contains(raw, []byte(s)) || bytes.Contains(resultFile, []byte(s)) {
			t.Errorf("%q leaked into the journal or the result", s)
		}
	}
	for _, want := range []string{
		"input echo [MASKED] and [MASKED]",
		"target / # echo [MASKED] and [MASKED]",
		"target [MASKED] and [MASKED]",
	} {
		found := false
		for _, m := range messages(recs) {
			found = found || m == want
		}
		if !found {
			t.Errorf("no record %q", want)
		}
	}
}

func TestValidationFailures(t *testing.T) {
	tests := []struct {
		name     string
		def      string
		dict     string
		wantType lab.ErrorType
		wantMsg  string
	}{
		{"test before boot",
			"job_name: x\ndevice_type: qemu\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nactions:\n" + inlineTest("x", "", "true"),
			simDict(fastDevice), lab.ErrorJob, "action 1: test: a test action needs a boot action before it"},
		{"qemu boot without deploy", job("", "", ""), "{% extends 'qemu.jinja2' %}\n{% set no_kvm = True %}\n", lab.ErrorJob,
			"action 1: boot: nothing to boot: no deploy action before this boot deploys images"},
		{"unsupported template", job("", "", ""), "{% extends 'beaglebone-black.jinja2' %}\n", lab.ErrorConfiguration,
			"device sim-01: "},
		{"no dictionary", job("", "", ""), "", lab.ErrorConfiguration,
			"device sim-01 has no device dictionary"},
		{"bad simulated dictionary", job("", "", ""), simDict("boot_lines: lots"), lab.ErrorConfiguration,
			"device sim-01: 1:25: $.simulated.boot_lines: expected an integer"},
		{"invalid definition", "job_name: x\n", simDict(fastDevice), lab.ErrorJob, "the job definition is invalid: "},
		{"repeat and failure_retry", job("", "", inlineTest("x", "    repeat: 2\n    failure_retry: 2\n", "true")), simDict(fastDevice), lab.ErrorJob,
			"action 2: repeat and failure_retry cannot be used together: use a repeat block"},
		{"bad prompt", strings.Replace(job("", "", ""), `prompts: ["/ # "]`, `prompts: ["(unclosed"]`, 1), simDict(fastDevice), lab.ErrorJob,
			"action 1: boot: prompt \"(unclosed\" is not a valid regular expression"},
		{"qemu without prompts before a test shell", strings.Replace(job("", "", inlineTest("x", "", "true")), "    prompts: [\"/ # \"]\n", "", 1), simDict(fastDevice), lab.ErrorJob,
			"action 1: boot: qemu without prompts: the test definitions of this namespace need a shell prompt to wait for; add prompts to the boot"},
		{"multinode", "job_name: x\nvisibility: public\ntimeouts:\n  job:\n    minutes: 5\nprotocols:\n  lava-multinode:\n    roles:\n      a:\n        device_type: qemu\n        count: 1\n" +
			"actions:\n- boot:\n    role: [a]\n    method: qemu\n    prompts: [\"/ # \"]\n", simDict(fastDevice), lab.ErrorJob, "multinode jobs run through a server: basalt submit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, recs := runSim(t, tt.def, tt.dict)
			if res.Result != ResultFail || res.ErrorType != tt.wantType || !strings.HasPrefix(res.ErrorMsg, tt.wantMsg) {
				t.Errorf("result %+v, want %s: %s…", res, tt.wantType, tt.wantMsg)
			}
			v := results(t, recs, "lava")[0]
			if v.Case != "validate" || v.Result != ResultFail {
				t.Errorf("first lava result %+v, want validate fail", v)
			}
			for _, m := range messages(recs) {
				if strings.HasPrefix(m, "info start: ") && !strings.Contains(m, " validate") &&
					!strings.Contains(m, " finalize (") && !strings.Contains(m, " power-off (") {
					t.Errorf("an action ran after a failed validation: %s", m)
				}
			}
			if !hasMessage(recs, workerproto.LevelInfo, "finalize (timeout") {
				t.Error("finalize did not run")
			}
		})
	}
}

func TestInvalidDefinitionStillMasksSecrets(t *testing.T) {
	def := "job_name: x\nsecrets:\n  TOKEN: sekrit-value-9\nvisibility: sekrit-value-9\n"
	dir := jobDir(t, def, simDict(fastDevice), 0)
	res, _ := runDir(t, context.Background(), dir)
	if res.ErrorType != lab.ErrorJob || !strings.Contains(res.ErrorMsg, "[MASKED]") {
		t.Errorf("result %+v, want a Job error naming the masked value", res)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, JournalFile))
	if bytes.Contains(raw, []byte("sekrit-value-9")) {
		t.Error("the secret of an invalid definition leaked")
	}
}

func TestInteractiveFailureRaises(t *testing.T) {
	def := job("", "", "- test:\n    interactive:\n    - name: probe\n      prompts: [\"/ # \"]\n      script:\n"+
		"      - command: cat /dev/mmcblk0\n        name: mmc\n        failures:\n        - message: No such file\n"+
		"          exception: InfrastructureError\n          error: the eMMC is not detected\n")
	res, recs := runSim(t, def, simDict(fastDevice))
	if want := (Result{Result: ResultFail, ErrorType: lab.ErrorInfrastructure, ErrorMsg: "the eMMC is not detected"}); res != want {
		t.Errorf("result %+v, want %+v", res, want)
	}
	want := []workerproto.ResultMsg{{Definition: "0_probe", Case: "mmc", Result: "fail"}}
	if diff := cmp.Diff(want, results(t, recs, "0_probe")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestBadJobFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, JobFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, recs := runDir(t, context.Background(), dir)
	if res.Result != ResultFail || res.ErrorType != lab.ErrorInfrastructure || !strings.Contains(res.ErrorMsg, JobFile) {
		t.Errorf("result %+v, want an Infrastructure failure naming %s", res, JobFile)
	}
	if !hasMessage(recs, workerproto.LevelInfo, "no device to power off") {
		t.Error("finalize did not run")
	}
}

func TestRunSetupErrors(t *testing.T) {
	t.Run("missing directory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		if _, err := Run(context.Background(), dir); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Run = %v, want ErrNotExist", err)
		}
	})
	t.Run("journal exists", func(t *testing.T) {
		dir := jobDir(t, job("", "", ""), simDict(fastDevice), 0)
		if err := os.WriteFile(filepath.Join(dir, JournalFile), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Run(context.Background(), dir); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Run = %v, want ErrExist", err)
		}
		if _, ok, _ := ReadResult(dir); ok {
			t.Error("a result was written without a journal")
		}
	})
}

// TestJinjaSimulatedDictionary: a simulated device described in LAVA's
// Jinja2 form ({% set simulated = {…} %}) runs with that configuration,
// like its YAML form: a prompt of its own proves the settings were read.
func TestJinjaSimulatedDictionary(t *testing.T) {
	def := strings.Replace(job("", "", inlineTest("x", "", "lava-test-case ok --result pass")), `prompts: ["/ # "]`, `prompts: ["jinja-sim> "]`, 1)
	dict := "{% extends 'qemu.jinja2' %}\n{% set simulated = {'boot_time': 0, 'boot_lines': 2, 'prompt': 'jinja-sim> '} %}\n"
	res, recs := runSim(t, def, dict)
	if !res.Passed() {
		t.Fatalf("result %+v", res)
	}
	if got := results(t, recs, "0_x"); len(got) != 1 || got[0].Case != "ok" || got[0].Result != "pass" {
		t.Errorf("results %+v", got)
	}
}

// TestAutoLoginOutcome: auto_login reads login(1)'s own messages, as LAVA
// does: "Login incorrect" fails the job; a banner after the login that
// matches the login prompt ("Last login: …" matches "login:") does not.
func TestAutoLoginOutcome(t *testing.T) {
	login := "    auto_login:\n      login_prompt: \"login:\"\n      username: root\n      password_prompt: \"Password:\"\n      password: PASSWORD\n"
	device := fastDevice + `, login_prompt: "debian login: ", password_prompt: "Password: ", username: root, password: secret, motd: "Last login: Sun Dec  6 11:00:00 UTC 2026 on ttyS0\n"`
	tests := []struct {
		name, password string
		want           Result
	}{
		{"accepted, with a Last login banner", "secret", Result{Result: ResultPass}},
		{"refused", "wrong", Result{Result: ResultFail, ErrorType: lab.ErrorJob,
			ErrorMsg: `auto_login: Login incorrect: the login as "root" was refused`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, _ := runSim(t, job("", strings.Replace(login, "PASSWORD", tt.password, 1), inlineTest("x", "", "true")), simDict(device))
			if diff := cmp.Diff(tt.want, res); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}
