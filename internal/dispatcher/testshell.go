package dispatcher

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// ErrNeedsOverlay is the message refusing test definitions that are not
// inline on a device without the LAVA overlay.
const ErrNeedsOverlay = "test definitions from git need the LAVA overlay on the device: deploy a cpio ramdisk with overlays: {lava: true} before the test action"

// testShell runs a test action's definitions on the booted device's shell,
// the way LAVA's test shell does, but without an overlay: for each
// definition it prints <LAVA_SIGNAL_STARTRUN>, sends every install and run
// step as a shell command and waits for the prompt, then prints
// <LAVA_SIGNAL_ENDRUN>. Signals on the console become results records.
type testShell struct {
	defs  []jobdef.TestDefinition
	stage int // the overlay's stage directory of this test action
}

func (t *testShell) Name() string { return "lava-test-shell" }

func (t *testShell) Run(ctx context.Context, env *Env) error {
	if env.Session.Prompts == nil {
		return JobError("lava-test-shell: no shell prompt: the device was not booted")
	}
	for i, def := range t.defs {
		if def.From != "inline" {
			return JobError(ErrNeedsOverlay)
		}
		run := &testRun{
			env:      env,
			suite:    fmt.Sprintf("%d_%s", env.Session.NextTestIndex(), def.Name),
			uuid:     fmt.Sprintf("%d_%s.%d", env.JobID, env.Level(), i+1),
			expected: def.Expected,
			seen:     map[string]bool{},
		}
		if err := run.execute(ctx, def); err != nil {
			return err
		}
	}
	return nil
}

// testRun is one test definition being run, and the state its console
// signals change. The pipeline goroutine sends commands; the console
// reader calls line with what the device prints.
type testRun struct {
	env      *Env
	suite    string // <index>_<name>: the results suite
	uuid     string
	expected []string

	mu      sync.Mutex
	echo    string // the command just sent, whose echo is not parsed
	open    string // the testrun id of an open run ("" when none)
	started time.Time
	set     string
	seen    map[string]bool
}

// execute sends the definition's steps and closes an unfinished run.
func (r *testRun) execute(ctx context.Context, def jobdef.TestDefinition) error {
	env := r.env
	env.Conn.SetLineHook(r.line)
	defer env.Conn.SetLineHook(nil)
	defer r.closeUnfinished()

	if len(def.Params) > 0 {
		env.Warning("%s: params are not exported on simulated devices", r.suite)
	}
	var cmds []string
	if !skipsInstall(def.SkipInstall) {
		cmds = append(cmds, stepList(def.Inline, "install")...)
	}
	cmds = append(cmds, fmt.Sprintf(`echo "%s"`, Signal{Name: SignalStartRun, Args: r.suite + " " + r.uuid}))
	cmds = append(cmds, stepList(def.Inline, "run")...)
	cmds = append(cmds, fmt.Sprintf(`echo "%s"`, Signal{Name: SignalEndRun, Args: r.suite + " " + r.uuid}))
	for _, c := range cmds {
		r.mu.Lock()
		r.echo = c
		r.mu.Unlock()
		if err := env.Conn.Send(ctx, c); err != nil {
			return err
		}
		if _, err := env.Conn.Expect(ctx, env.Session.Prompts...); err != nil {
			return err
		}
	}
	return nil
}

// skipsInstall reports whether skip_install drops the install steps.
func skipsInstall(skip []string) bool {
	for _, s := range skip {
		if s == "steps" || s == "all" {
			return true
		}
	}
	return false
}

// stepList returns the shell lines of an inline definition's
// <section>.steps, one command per line.
func stepList(def map[string]any, section string) []string {
	sec, _ := def[section].(map[string]any)
	steps, _ := sec["steps"].([]any)
	var out []string
	for _, s := range steps {
		for _, line := range strings.Split(fmt.Sprint(s), "\n") {
			if strings.TrimSpace(line) != "" {
				out = append(out, line)
			}
		}
	}
	return out
}

// line handles one console line: signals become records; the echo of the
// command just sent is skipped (it would repeat the signal the command
// prints).
func (r *testRun) line(line string) error {
	if !strings.Contains(line, SignalPrefix) {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.echo != "" && strings.HasSuffix(line, r.echo) {
		r.echo = ""
		return nil
	}
	for rest := line; ; {
		sig, end, ok := findSignal(rest)
		if !ok {
			return nil
		}
		if err := r.signal(sig); err != nil {
			return err
		}
		rest = rest[end:]
	}
}

// signal acts on one signal. It runs with r.mu held.
func (r *testRun) signal(sig Signal) error {
	env := r.env
	f := sig.Fields()
	if len(f) == 0 {
		env.Warning("ignoring %q: no arguments", sig.String())
		return nil
	}
	switch sig.Name {
	case SignalStartRun:
		if r.open != "" {
			r.closeLocked("a new run started")
		}
		r.open, r.started = f[0], time.Now()
	case SignalEndRun:
		if r.open == "" {
			env.Warning("ignoring %s: no test run is open", sig)
			return nil
		}
		env.Log.Result(workerproto.ResultMsg{Definition: "lava", Case: r.open, Result: ResultPass, Duration: durationSeconds(time.Since(r.started))})
		for _, e := range r.expected {
			if !r.seen[e] {
				env.Warning("%s: the expected test case %q was not reported", r.suite, e)
				env.Log.Result(workerproto.ResultMsg{Definition: r.suite, Case: e, Result: ResultFail})
			}
		}
		r.open = ""
	case SignalTestCase:
		p := sig.Params()
		id, result := p["TEST_CASE_ID"], strings.ToLower(p["RESULT"])
		if id == "" || result == "" {
			env.Warning("ignoring %s: it needs TEST_CASE_ID and RESULT", sig)
			return nil
		}
		switch result {
		case "pass", "fail", "skip", "unknown":
		default:
			env.Warning("test case %s: bad result %q, recorded as unknown", id, p["RESULT"])
			result = "unknown"
		}
		msg := workerproto.ResultMsg{Definition: r.definition(), Case: id, Result: result, Set: r.set}
		if m, ok := p["MEASUREMENT"]; ok {
			if _, err := strconv.ParseFloat(m, 64); err != nil {
				env.Warning("test case %s: ignoring the measurement %q: not a number", id, m)
			} else {
				msg.Measurement, msg.Units = m, p["UNITS"]
			}
		}
		r.seen[id] = true
		env.Log.Result(msg)
	case SignalTestSet:
		switch {
		case len(f) >= 2 && f[0] == "START":
			r.set = f[1]
		case f[0] == "STOP":
			r.set = ""
		default:
			env.Warning("ignoring %s: expected START name or STOP", sig)
		}
	case SignalTestReference:
		if len(f) < 2 {
			env.Warning("ignoring %s: expected id, result and URL", sig)
			return nil
		}
		r.seen[f[0]] = true
		env.Log.Result(workerproto.ResultMsg{Definition: r.definition(), Case: f[0], Result: strings.ToLower(f[1]), Set: r.set})
		if len(f) >= 3 {
			env.Info("test case %s: reference %s", f[0], f[2])
		}
	case SignalTestRaise:
		return TestError("%s", sig.Args)
	case SignalTestEvent:
		env.Log.Log(workerproto.LevelEvent, sig.Args)
	case SignalStartTC, SignalEndTC, SignalTestFeedback:
		// Log-line markers and feedback of other namespaces: nothing to do
		// with one console.
	default:
		env.Debug("unknown signal %s", sig)
	}
	return nil
}

// definition is the results suite of test cases: the open run's id, or the
// definition's suite outside a run.
func (r *testRun) definition() string {
	if r.open != "" {
		return r.open
	}
	return r.suite
}

// closeUnfinished records a run that never ended as failed.
func (r *testRun) closeUnfinished() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open != "" {
		r.closeLocked("the test run did not finish")
	}
}

func (r *testRun) closeLocked(why string) {
	r.env.Warning("%s: %s", r.open, why)
	r.env.Log.Result(workerproto.ResultMsg{Definition: "lava", Case: r.open, Result: ResultFail, Duration: durationSeconds(time.Since(r.started))})
	r.open = ""
}
