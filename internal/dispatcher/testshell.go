package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
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
	// multinode: the job is part of a multinode group; the action is then
	// LAVA's multinode-test (its timeouts and results case have that
	// name).
	multinode bool
}

// MultinodeTestName is the name of the test shell action of a multinode
// job (LAVA's MultinodeTestAction), instead of lava-test-shell.
const MultinodeTestName = "multinode-test"

func (t *testShell) Name() string {
	if t.multinode {
		return MultinodeTestName
	}
	return "lava-test-shell"
}

func (t *testShell) Run(ctx context.Context, env *Env) error {
	switch p := env.Prompts(); {
	case p == nil:
		return JobError("lava-test-shell: no shell prompt: the device was not booted")
	case len(p) == 0:
		return JobError("lava-test-shell: no shell prompt: the boot had no prompts and the device has no default-shell-prompt")
	}
	// LAVA's test shell waits for signals in turns of min(action,
	// connection timeout), and goes on waiting after one: only the
	// action's timeout ends it.
	ct, from := env.ConnectionTimeout()
	env.Info("Test shell timeout: %ds (minimum of the action and connection timeout; connection timeout %s from %s)",
		int64(min(env.node.attempt.d, ct)/time.Second), clock(ct), from)
	if ov := env.Session.Overlay; ov != nil {
		if defs, ok := ov.stages[t.stage]; ok {
			return t.runStage(ctx, env, ov, defs)
		}
	}
	for i, def := range t.defs {
		if def.From != "inline" {
			return JobError(ErrNeedsOverlay)
		}
		run := newTestRun(env, fmt.Sprintf("%d_%s", env.Session.NextTestIndex(), def.Name))
		run.uuid = fmt.Sprintf("%d_%s.%d", env.JobID, env.Level(), i+1)
		run.expected[run.suite] = def.Expected
		if td, err := overlay.InlineTestdef(def.Inline); err == nil && td.Parse != nil {
			if err := run.addParser(run.suite, td.Parse); err != nil {
				return err
			}
		}
		if err := run.execute(ctx, def); err != nil {
			return err
		}
	}
	return nil
}

// runStage runs the test action's stage of the overlay on the device:
// source the overlay's environment, start lava-test-runner on the stage
// and read the signals of its runs until the runner's exit marker and the
// prompt.
func (t *testShell) runStage(ctx context.Context, env *Env, ov *deviceOverlay, defs []overlay.Definition) error {
	run := newTestRun(env, "")
	for _, d := range defs {
		env.Session.NextTestIndex()
		run.expected[d.RunID()] = append(slices.Clone(d.Testdef.Expected), t.expectedOf(d.Name)...)
		if d.Testdef.Parse != nil {
			if err := run.addParser(d.RunID(), d.Testdef.Parse); err != nil {
				return err
			}
		}
	}
	run.installFail = fmt.Sprintf("stage_%d", t.stage)
	// The bridge exists before the hook that feeds it reads a line.
	ctx, end := run.startBridge(ctx)
	env.Conn.SetLineHook(run.line)
	defer env.Conn.SetLineHook(nil)
	defer run.closeUnfinished()
	return end(t.stage1(ctx, env, ov, run))
}

// stage1 is runStage's dialogue with the device.
func (t *testShell) stage1(ctx context.Context, env *Env, ov *deviceOverlay, run *testRun) error {
	prompts := env.Prompts()
	prompt := waitingFor("prompt", prompts...)
	source := ov.tree.SourceCommand()
	if err := env.Conn.Send(ctx, source); err != nil {
		return err
	}
	if _, err := env.Conn.Expect(ctx, prompt+" after "+quoteConsole(source, quotedMax), prompts...); err != nil {
		return err
	}
	if err := env.Conn.Send(ctx, ov.tree.RunnerCommand(t.stage)); err != nil {
		return err
	}
	if _, err := env.Conn.Expect(ctx, runnerExitWhat, runnerExit); err != nil {
		run.noteOpen(err)
		return err
	}
	_, err := env.Conn.Expect(ctx, prompt+" after lava-test-runner", prompts...)
	return err
}

// expectedOf returns the job's expected cases of the named definition.
func (t *testShell) expectedOf(name string) []string {
	for _, d := range t.defs {
		if d.Name == name {
			return d.Expected
		}
	}
	return nil
}

// runnerExit matches lava-test-runner's last line; runnerExitWhat says so
// in messages.
var (
	runnerExit     = regexp.MustCompile(regexp.QuoteMeta(overlay.RunnerExit))
	runnerExitWhat = "the end of lava-test-runner " + quoteConsole(overlay.RunnerExit, quotedMax)
)

// testRun is one test definition being run, and the state its console
// signals change. The pipeline goroutine sends commands; the console
// reader calls line with what the device prints.
type testRun struct {
	env   *Env
	suite string // <index>_<name>: the results suite outside a run ("" when the runner reports runs)
	uuid  string
	// expected and parsers are by test run id: the cases each run must
	// report, and its parse: pattern.
	expected map[string][]string
	parsers  map[string]*patternParser
	// installFail is the lava case recording a failed install ("" when
	// not run by lava-test-runner).
	installFail string

	// bridge makes the multinode API calls the DUT prints (multinode
	// jobs only).
	bridge *bridge

	mu      sync.Mutex
	echo    string // the command just sent, whose echo is not parsed
	open    string // the testrun id of an open run ("" when none)
	started time.Time
	set     string
	seen    map[string]bool
}

// newTestRun returns the state of a test run whose results go to suite
// outside a started run.
func newTestRun(env *Env, suite string) *testRun {
	return &testRun{env: env, suite: suite, expected: map[string][]string{}, parsers: map[string]*patternParser{}, seen: map[string]bool{}}
}

// addParser installs the parse: pattern of the run runID.
func (r *testRun) addParser(runID string, p *overlay.Parse) error {
	pp, err := newPatternParser(p.Pattern, p.Fixup)
	if err != nil {
		return JobError("%s: parse: %v", runID, err)
	}
	r.parsers[runID] = pp
	return nil
}

// execute sends the definition's steps and closes an unfinished run.
func (r *testRun) execute(ctx context.Context, def jobdef.TestDefinition) error {
	env := r.env
	ctx, end := r.startBridge(ctx) // before the hook that feeds it
	env.Conn.SetLineHook(r.line)
	defer env.Conn.SetLineHook(nil)
	defer r.closeUnfinished()
	return end(r.send(ctx, def))
}

// send types the definition's steps, each after the prompt.
func (r *testRun) send(ctx context.Context, def jobdef.TestDefinition) error {
	env := r.env
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
	prompts := env.Prompts()
	prompt := waitingFor("prompt", prompts...)
	for _, c := range cmds {
		r.mu.Lock()
		r.echo = c
		r.mu.Unlock()
		if err := env.Conn.Send(ctx, c); err != nil {
			return err
		}
		if _, err := env.Conn.Expect(ctx, prompt+" after "+quoteConsole(c, quotedMax), prompts...); err != nil {
			r.noteOpen(err)
			return err
		}
	}
	return nil
}

// noteOpen adds the test run still open, if any, to what the wait err was
// for (noteWait).
func (r *testRun) noteOpen(err error) {
	r.mu.Lock()
	open := r.open
	r.mu.Unlock()
	if open != "" {
		noteWait(err, "(test run "+open+" started, no ENDRUN yet)")
	}
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
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.installFail != "" && strings.Contains(line, overlay.RunnerInstallFail) {
		r.env.Log.Logf(workerproto.LevelError, "lava-test-runner: an install step failed")
		r.env.Log.Result(workerproto.ResultMsg{Definition: "lava", Case: r.installFail, Result: ResultFail})
		return nil
	}
	if !strings.Contains(line, SignalPrefix) && !strings.Contains(line, MultinodePrefix) {
		if p := r.parsers[r.open]; p != nil && r.open != "" && (r.echo == "" || !strings.HasSuffix(line, r.echo)) {
			res, ok, err := p.parse(line)
			if err != nil {
				r.env.Warning("%s: %v", r.open, err)
			}
			if ok {
				res.Definition, res.Set = r.open, r.set
				r.seen[res.Case] = true
				r.env.Log.Result(res)
			}
		}
		return nil
	}
	if r.echo != "" && strings.HasSuffix(line, r.echo) {
		r.echo = ""
		return nil
	}
	if r.bridge != nil {
		if c, ok := parseMultinodeCall(line); ok {
			c.suite, c.set = r.definition(), r.set
			r.bridge.add(c)
		}
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
		for _, e := range r.expected[r.open] {
			if !r.seen[e] {
				env.Warning("%s: the expected test case %q was not reported", r.open, e)
				env.Log.Result(workerproto.ResultMsg{Definition: r.open, Case: e, Result: ResultFail})
			}
		}
		r.open = ""
		r.seen = map[string]bool{}
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
		// Log-line markers, and feedback of other namespaces: every console
		// of the job is read all the time, the ones not in use logged as
		// feedback, so there is nothing to fetch.
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

// startBridge starts the multinode bridge of a multinode job's test run.
// It returns the context the run's console dialogue uses (the bridge ends
// it when a call times out, or fails) and end, which stops the bridge and
// turns the dialogue's error into the action's: nil when a multinode
// timeout ended the shell (LAVA goes on with the next action), the
// bridge's error when it failed, else err.
func (r *testRun) startBridge(ctx context.Context) (context.Context, func(error) error) {
	if r.env.mn == nil {
		return ctx, func(err error) error { return err }
	}
	sctx, stop := context.WithCancelCause(ctx)
	r.bridge = newBridge(ctx, r.env, stop, r.recordMultinode)
	return sctx, func(err error) error {
		r.bridge.finish(err == nil)
		stopped, cause := sctx.Err() != nil, context.Cause(sctx)
		stop(nil)
		if err == nil || ctx.Err() != nil || !stopped {
			return err
		}
		if errors.Is(cause, errMultinodeStop) {
			r.env.Warning("%s: stopped: %v", r.env.node.action.Name(), cause)
			return nil
		}
		return cause
	}
}

// recordMultinode records the test case of a multinode API call in the
// run that made it.
func (r *testRun) recordMultinode(c bridgeCall, result string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name := c.caseName()
	if c.suite == "" {
		r.env.Warning("not recording %s: the call was made outside a test run", name)
		return
	}
	if c.suite == r.open {
		r.seen[name] = true
	}
	r.env.Log.Result(workerproto.ResultMsg{Definition: c.suite, Case: name, Result: result, Set: c.set})
}
