package dispatcher

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// interactiveTest runs a test action's interactive scripts: LAVA's
// lava-test-interactive. Each named command step is a test case in the
// suite "<index>_<name>".
type interactiveTest struct {
	tests []compiledInteractive
}

type compiledInteractive struct {
	def        jobdef.Interactive
	prompts    []*regexp.Regexp
	promptWhat string // what a wait for the prompts is for (Expect)
	steps      []compiledStep
}

type compiledStep struct {
	step      jobdef.InteractiveStep
	echo      *regexp.Regexp // the command, literally (for echo: discard)
	successes []*regexp.Regexp
	failures  []*regexp.Regexp
	// echoWhat and what say what the waits for the echo and for the
	// step's messages (or the prompt) are for (Expect).
	echoWhat, what string
}

// newInteractiveTest compiles the prompts and messages (regular
// expressions, as in LAVA).
func newInteractiveTest(list []jobdef.Interactive) (*interactiveTest, error) {
	t := &interactiveTest{}
	for _, it := range list {
		ci := compiledInteractive{def: it}
		var err error
		if ci.prompts, err = compilePrompts(it.Name+": prompt", it.Prompts); err != nil {
			return nil, err
		}
		ci.promptWhat = waitingFor("prompt", ci.prompts...)
		for _, st := range it.Script {
			switch st.Kind {
			case jobdef.StepCommand, jobdef.StepDelay:
			default:
				return nil, fmt.Errorf("%s: the %s step needs multinode, which is not available yet", it.Name, st.Kind)
			}
			cs := compiledStep{step: st}
			if st.Command != nil {
				cs.echo = regexp.MustCompile(regexp.QuoteMeta(*st.Command))
				cs.echoWhat = "the echo of " + quoteConsole(*st.Command, quotedMax)
			}
			for _, m := range st.Successes {
				re, err := regexp.Compile(m.Message)
				if err != nil {
					return nil, fmt.Errorf("%s: success message %q is not a valid regular expression: %w", it.Name, m.Message, err)
				}
				cs.successes = append(cs.successes, re)
			}
			for _, m := range st.Failures {
				re, err := regexp.Compile(m.Message)
				if err != nil {
					return nil, fmt.Errorf("%s: failure message %q is not a valid regular expression: %w", it.Name, m.Message, err)
				}
				cs.failures = append(cs.failures, re)
			}
			cs.what = stepWhat(it.Name, st, cs, ci.prompts)
			ci.steps = append(ci.steps, cs)
		}
		t.tests = append(t.tests, ci)
	}
	return t, nil
}

// stepWhat says what a script step waits for after its command: its
// success or failure messages, or the prompt.
func stepWhat(script string, st jobdef.InteractiveStep, cs compiledStep, prompts []*regexp.Regexp) string {
	var parts []string
	if len(cs.successes) > 0 {
		parts = append(parts, waitingFor("success message", cs.successes...))
	}
	if len(cs.failures) > 0 {
		parts = append(parts, waitingFor("failure message", cs.failures...))
	}
	parts = append(parts, waitingFor("prompt", prompts...))
	what := strings.Join(parts, " or ")
	if st.Name != "" {
		what += " (" + script + " step " + st.Name + ")"
	}
	return what
}

func (t *interactiveTest) Name() string { return "lava-test-interactive" }

func (t *interactiveTest) Run(ctx context.Context, env *Env) error {
	if env.Prompts() == nil {
		return JobError("lava-test-interactive: no shell prompt: the device was not booted")
	}
	// LAVA's interactive test waits in turns of min(action, connection
	// timeout), and goes on waiting after one: only the action's timeout
	// ends a wait.
	ct, from := env.ConnectionTimeout()
	env.Info("Test interactive timeout: %ds (minimum of the action and connection timeout; connection timeout %s from %s)",
		int64(min(env.node.attempt.d, ct)/time.Second), clock(ct), from)
	for _, it := range t.tests {
		suite := fmt.Sprintf("%d_%s", env.Session.NextTestIndex(), it.def.Name)
		seen := map[string]bool{}
		for _, st := range it.steps {
			if err := t.step(ctx, env, it, st, suite, seen); err != nil {
				return err
			}
		}
		for _, e := range it.def.Expected {
			if !seen[e] {
				env.Warning("%s: the expected test case %q was not reported", suite, e)
				env.Log.Result(workerproto.ResultMsg{Definition: suite, Case: e, Result: ResultFail})
			}
		}
	}
	return nil
}

// step runs one script step.
func (t *interactiveTest) step(ctx context.Context, env *Env, it compiledInteractive, st compiledStep, suite string, seen map[string]bool) error {
	if st.step.Kind == jobdef.StepDelay {
		env.Debug("delay %s", st.step.Delay)
		return sleep(ctx, st.step.Delay)
	}
	if st.step.Command != nil {
		if err := env.Conn.Send(ctx, *st.step.Command); err != nil {
			return err
		}
		if it.def.Echo == "discard" {
			if _, err := env.Conn.Expect(ctx, st.echoWhat, st.echo); err != nil {
				return err
			}
		}
	}
	result := ""
	if len(st.successes)+len(st.failures) > 0 {
		patterns := append(append(append([]*regexp.Regexp{}, st.successes...), st.failures...), it.prompts...)
		i, err := env.Conn.Expect(ctx, st.what, patterns...)
		if err != nil {
			return err
		}
		switch {
		case i < len(st.successes):
			result = ResultPass
		case i < len(st.successes)+len(st.failures):
			result = ResultFail
			f := st.step.Failures[i-len(st.successes)]
			if f.Exception != "" {
				t.record(env, suite, st, result, seen)
				msg := f.Error
				if msg == "" {
					msg = fmt.Sprintf("%s: matched the failure message %q", it.def.Name, f.Message)
				}
				return &Error{Type: exceptionType(f.Exception), Msg: msg}
			}
		default: // the prompt came first
			if len(st.successes) > 0 {
				result = ResultFail
			} else {
				result = ResultPass
			}
			t.record(env, suite, st, result, seen)
			return nil
		}
	} else {
		result = ResultPass
	}
	if st.step.WaitForPrompt {
		if _, err := env.Conn.Expect(ctx, it.promptWhat, it.prompts...); err != nil {
			t.record(env, suite, st, ResultFail, seen)
			return err
		}
	}
	t.record(env, suite, st, result, seen)
	return nil
}

// record logs a named step's result.
func (t *interactiveTest) record(env *Env, suite string, st compiledStep, result string, seen map[string]bool) {
	if st.step.Name == "" {
		return
	}
	seen[st.step.Name] = true
	env.Log.Result(workerproto.ResultMsg{Definition: suite, Case: st.step.Name, Result: result})
}

// exceptionType maps an interactive failure's exception to an error type.
func exceptionType(exception string) lab.ErrorType {
	switch exception {
	case "InfrastructureError":
		return lab.ErrorInfrastructure
	case "JobError":
		return lab.ErrorJob
	}
	return lab.ErrorTest
}
