package dispatcher

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// zephyr is a monitor for output such as an IoT test image prints:
// "PROJECT EXECUTION START", lines "PASS - test_name" and "PROJECT
// EXECUTION END". The simulated shell echoes typed commands, so the tests
// print the start and end markers with split quotes ("START""ED") that
// the echoed command line does not contain.
func zephyr(name string, expected ...string) jobdef.Monitor {
	return jobdef.Monitor{
		Name:      name,
		Start:     "PROJECT EXECUTION START",
		End:       "PROJECT EXECUTION (END|DONE)",
		Pattern:   `^(?P<result>PASS|FAIL|SKIP|BLOCK) - (?P<test_case_id>[^(]+?)(?: \((?P<measurement>[^ ]+) (?P<units>\w+)\))?$`,
		Fixupdict: map[string]string{"BLOCK": "fail"},
		Expected:  expected,
	}
}

const (
	startCmd = `echo "PROJECT EXECUTION ""START"`
	endCmd   = `echo "PROJECT EXECUTION ""END"`
)

func TestMonitors(t *testing.T) {
	tests := []struct {
		name      string
		monitors  []jobdef.Monitor
		lines     []string // typed on the console
		afterward bool     // type them once the monitor waits (else before it starts)
		timeout   time.Duration
		// connection is the job's timeouts.connection (none when 0).
		connection time.Duration
		want       []workerproto.ResultMsg // the results of the monitors' suites
		wantErr    lab.ErrorType
		// errMsg is part of the error's message and warnings parts of
		// warnings; in both, "*" stands for a number of seconds.
		errMsg   string
		warnings []string
	}{
		{
			name:     "start, results, end",
			monitors: []jobdef.Monitor{zephyr("kernel")},
			lines: []string{
				"echo PASS - before start is ignored", startCmd,
				"echo PASS - test_sem_take", "echo FAIL - Test Mutex/Lock", "echo BLOCK - test_timer",
				"echo SKIP - test_fpu", "echo PASS - test_latency '(12.5' 'us)'", "echo booting noise", endCmd,
				"echo PASS - after end is ignored",
			},
			want: []workerproto.ResultMsg{
				{Definition: "0_kernel", Case: "test_sem_take", Result: "pass"},
				{Definition: "0_kernel", Case: "test_mutex_lock", Result: "fail"},
				{Definition: "0_kernel", Case: "test_timer", Result: "fail"},
				{Definition: "0_kernel", Case: "test_fpu", Result: "skip"},
				{Definition: "0_kernel", Case: "test_latency", Result: "pass", Measurement: "12.5", Units: "us"},
			},
		},
		{
			name:      "output after the monitor started waiting",
			monitors:  []jobdef.Monitor{zephyr("late")},
			lines:     []string{"sleep 0.3", startCmd, "sleep 0.2", "echo PASS - t1", endCmd},
			afterward: true,
			want:      []workerproto.ResultMsg{{Definition: "0_late", Case: "t1", Result: "pass"}},
		},
		{
			name:     "expected cases missing and unexpected",
			monitors: []jobdef.Monitor{zephyr("exp", "t1", "t3", "t2")},
			lines:    []string{startCmd, "echo PASS - t1", "echo PASS - extra", "echo SKIP - other", endCmd},
			want: []workerproto.ResultMsg{
				{Definition: "0_exp", Case: "t1", Result: "pass"},
				{Definition: "0_exp", Case: "extra", Result: "fail"},
				{Definition: "0_exp", Case: "other", Result: "fail"},
				{Definition: "0_exp", Case: "t2", Result: "fail"},
				{Definition: "0_exp", Case: "t3", Result: "fail"},
			},
			warnings: []string{
				`0_exp: "extra" is not in the expected test case list`,
				`0_exp: forcing the unexpected "other" result "skip" to fail`,
				"0_exp: reporting missing expected test cases as fail: t2, t3",
			},
		},
		{
			name: "bad result and bad measurement",
			monitors: []jobdef.Monitor{func() jobdef.Monitor {
				m := zephyr("bad")
				m.Fixupdict = map[string]string{"BLOCK": "blocked"}
				return m
			}()},
			lines: []string{startCmd, "echo BLOCK - t1", "echo PASS - t2 '(fast' 'us)'", endCmd},
			want:  []workerproto.ResultMsg{{Definition: "0_bad", Case: "t2", Result: "pass"}},
			warnings: []string{
				`0_bad: test case t1: bad result "blocked" (the fixupdict maps "BLOCK" to it`,
				`0_bad: test case t2: ignoring the measurement "fast": not a number`,
			},
		},
		{
			name:     "two monitors in turn",
			monitors: []jobdef.Monitor{zephyr("first"), func() jobdef.Monitor { m := zephyr("second"); m.Start = "SECOND SUITE"; return m }()},
			lines: []string{
				startCmd, "echo PASS - a", `echo "PROJECT EXECUTION ""DONE" PASS - ignored`, "echo PASS - between",
				`echo "SECOND"" SUITE"`, "echo FAIL - b", endCmd,
			},
			want: []workerproto.ResultMsg{
				{Definition: "0_first", Case: "a", Result: "pass"},
				{Definition: "1_second", Case: "b", Result: "fail"},
			},
		},
		{
			name:     "end never comes: the action times out",
			monitors: []jobdef.Monitor{zephyr("stuck", "t1", "t2"), zephyr("never", "n1")},
			lines:    []string{startCmd, "echo PASS - t1"},
			timeout:  time.Second,
			wantErr:  lab.ErrorTimeout,
			want: []workerproto.ResultMsg{
				{Definition: "0_stuck", Case: "t1", Result: "pass"},
				{Definition: "0_stuck", Case: "t2", Result: "fail"},
				{Definition: "1_never", Case: "n1", Result: "fail"},
			},
			warnings: []string{"0_stuck: lava test monitoring stopped: lava-test-monitor timed out after 1 seconds: waited "},
		},
		{
			name:     "start never comes",
			monitors: []jobdef.Monitor{zephyr("silent", "s1")},
			lines:    []string{"echo PASS - s1"},
			timeout:  time.Second,
			wantErr:  lab.ErrorTimeout,
			want:     []workerproto.ResultMsg{{Definition: "0_silent", Case: "s1", Result: "fail"}},
			errMsg:   "lava-test-monitor timed out after 1 seconds: waited ",
		},
		{
			name:       "start never comes within the connection timeout: a Job error",
			monitors:   []jobdef.Monitor{zephyr("silent", "s1")},
			lines:      []string{"echo PASS - s1"},
			connection: time.Second,
			wantErr:    lab.ErrorJob,
			want:       []workerproto.ResultMsg{{Definition: "0_silent", Case: "s1", Result: "fail"}},
			errMsg: "lava-test-monitor: the connection timed out after 1 seconds (the connection timeout, from the job's timeouts.connection): " +
				"waited * s for monitor silent's start message 'PROJECT EXECUTION START'; last line: '/ # '",
		},
		{
			name:       "silence after a result: the connection timeout stops the monitor",
			monitors:   []jobdef.Monitor{zephyr("quiet", "t1", "t2")},
			lines:      []string{startCmd, "echo PASS - t1", "sleep 3"},
			connection: time.Second,
			want: []workerproto.ResultMsg{
				{Definition: "0_quiet", Case: "t1", Result: "pass"},
				{Definition: "0_quiet", Case: "t2", Result: "fail"},
			},
			warnings: []string{
				"0_quiet: err: lava test monitoring has timed out: lava-test-monitor: the connection timed out after 1 seconds " +
					"(the connection timeout, from the job's timeouts.connection): waited * s for a result or monitor quiet's end message " +
					"'PROJECT EXECUTION (END|DONE)'; last line: '/ # sleep 3'",
				"0_quiet: reporting missing expected test cases as fail: t2",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newActionEnv(t, simDict(fastDevice))
			act, err := newMonitorTest(tt.monitors)
			if err != nil {
				t.Fatal(err)
			}
			if act.Name() != "lava-test-monitor" {
				t.Errorf("Name() = %q", act.Name())
			}
			if !tt.afterward {
				a.send(tt.lines...)
			} else {
				go func() {
					time.Sleep(100 * time.Millisecond)
					for _, l := range tt.lines {
						a.env.Conn.Send(context.Background(), l)
					}
				}()
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 20 * time.Second
			}
			if tt.connection > 0 {
				a.env.Job.Timeouts.Connection = &jobdef.Timeout{Duration: tt.connection}
			}
			err = a.run(context.Background(), act, timeout)
			if got := ErrorTypeOf(err); got != tt.wantErr {
				t.Errorf("error %v (type %q), want type %q", err, got, tt.wantErr)
			}
			if err != nil && !containsPattern(err.Error(), tt.errMsg) {
				t.Errorf("error %q, want it to contain %q", err, tt.errMsg)
			}
			recs := a.records()
			var got []workerproto.ResultMsg
			for _, m := range results(t, recs, "") {
				if m.Definition != "lava" {
					got = append(got, m)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("results (-want +got):\n%s", diff)
			}
			for _, w := range tt.warnings {
				found := false
				for _, r := range recs {
					found = found || r.Level == workerproto.LevelWarning && containsPattern(textOf(r), w)
				}
				if !found {
					t.Errorf("no warning %q in\n%s", w, strings.Join(messages(recs), "\n"))
				}
			}
			if a.env.Session.testIndex != len(tt.monitors) {
				t.Errorf("the monitors took %d test indexes, want %d", a.env.Session.testIndex, len(tt.monitors))
			}
		})
	}
}

// containsPattern reports whether s contains pattern, literal text where
// "*" stands for a number of seconds such as 1.0.
func containsPattern(s, pattern string) bool {
	re := strings.ReplaceAll(regexp.QuoteMeta(pattern), `\*`, `\d+(\.\d)?`)
	return regexp.MustCompile(re).MatchString(s)
}

// TestMonitorLeavesTheRestOfTheOutput checks that a monitor consumes the
// console output only up to its end message, as LAVA's does: a later
// action still finds what follows.
func TestMonitorLeavesTheRestOfTheOutput(t *testing.T) {
	a := newActionEnv(t, simDict(fastDevice))
	act, err := newMonitorTest([]jobdef.Monitor{zephyr("m")})
	if err != nil {
		t.Fatal(err)
	}
	a.send(startCmd, `echo "PROJECT EXECUTION ""END" and "after ""the"" end"`, "echo later")
	if err := a.run(context.Background(), act, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	i, err := a.env.Conn.Expect(ctx, "test", regexp.MustCompile("after the end"), regexp.MustCompile("later"))
	if err != nil || i != 0 {
		t.Errorf("Expect after the monitor = %d, %v; want the text after the end message", i, err)
	}
}

func TestMonitorConsoleClosed(t *testing.T) {
	a := newActionEnv(t, simDict(fastDevice))
	act, err := newMonitorTest([]jobdef.Monitor{zephyr("m", "x")})
	if err != nil {
		t.Fatal(err)
	}
	a.send(startCmd, "echo PASS - x")
	go func() {
		time.Sleep(300 * time.Millisecond)
		a.dev.Close()
	}()
	err = a.run(context.Background(), act, 20*time.Second)
	if ErrorTypeOf(err) != lab.ErrorInfrastructure || !strings.Contains(err.Error(), ErrConsoleClosed.Error()) {
		t.Errorf("error %v, want an Infrastructure error: console closed", err)
	}
	want := []workerproto.ResultMsg{{Definition: "0_m", Case: "x", Result: "pass"}}
	if diff := cmp.Diff(want, results(t, a.records(), "0_m")); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

func TestNewMonitorTestRefuses(t *testing.T) {
	ok := zephyr("ok")
	tests := []struct {
		name    string
		change  func(m *jobdef.Monitor)
		wantErr string
	}{
		{"pattern without result", func(m *jobdef.Monitor) { m.Pattern = `(?P<test_case_id>\w+)` }, "monitor bad: parse pattern"},
		{"python-only start", func(m *jobdef.Monitor) { m.Start = `(?<=x)go` }, "monitor bad: start: pattern \"(?<=x)go\": lookbehind"},
		{"invalid end", func(m *jobdef.Monitor) { m.End = `(unclosed` }, "monitor bad: end: pattern \"(unclosed\" is not a valid regular expression"},
		{"empty start", func(m *jobdef.Monitor) { m.Start = "" }, "monitor bad: start: the pattern is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := zephyr("bad")
			tt.change(&bad)
			_, err := newMonitorTest([]jobdef.Monitor{ok, bad})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("newMonitorTest = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := newMonitorTest(nil); err == nil {
		t.Error("newMonitorTest(nil): no error")
	}
}
