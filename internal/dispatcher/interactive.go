package dispatcher

import (
	"context"
	"fmt"
	"regexp"
	"sort"
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
// expressions, as in LAVA) and checks the multinode steps, which need a
// multinode job.
func newInteractiveTest(list []jobdef.Interactive, multinode bool) (*interactiveTest, error) {
	t := &interactiveTest{}
	for _, it := range list {
		ci := compiledInteractive{def: it}
		var err error
		if ci.prompts, err = compilePrompts(it.Name+": prompt", it.Prompts); err != nil {
			return nil, err
		}
		ci.promptWhat = waitingFor("prompt", ci.prompts...)
		for _, st := range it.Script {
			cs := compiledStep{step: st}
			switch st.Kind {
			case jobdef.StepCommand, jobdef.StepDelay:
			case jobdef.StepSend, jobdef.StepWait, jobdef.StepWaitAll, jobdef.StepSync:
				if !multinode {
					return nil, fmt.Errorf("%s: the %s step needs a multinode job", it.Name, st.Kind)
				}
				if err := checkMultinodeStep(st); err != nil {
					return nil, fmt.Errorf("%s: %w", it.Name, err)
				}
				ci.steps = append(ci.steps, cs)
				continue
			default:
				return nil, fmt.Errorf("%s: unknown step %s", it.Name, st.Kind)
			}
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
	// The values multinode waits received, for {key} in later commands
	// and lava-send steps (LAVA's substitutions).
	subs := map[string]string{}
	for _, it := range t.tests {
		suite := fmt.Sprintf("%d_%s", env.Session.NextTestIndex(), it.def.Name)
		seen := map[string]bool{}
		for _, st := range it.steps {
			if err := t.step(ctx, env, it, st, suite, seen, subs); err != nil {
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
func (t *interactiveTest) step(ctx context.Context, env *Env, it compiledInteractive, st compiledStep, suite string, seen map[string]bool, subs map[string]string) error {
	switch st.step.Kind {
	case jobdef.StepDelay:
		env.Debug("delay %s", st.step.Delay)
		return sleep(ctx, st.step.Delay)
	case jobdef.StepSend, jobdef.StepWait, jobdef.StepWaitAll, jobdef.StepSync:
		return multinodeStep(ctx, env, st.step, subs)
	}
	if st.step.Command != nil {
		cmd := substitute(*st.step.Command, subs)
		if err := env.Conn.Send(ctx, cmd); err != nil {
			return err
		}
		if it.def.Echo == "discard" {
			echo := st.echo
			if cmd != *st.step.Command {
				echo = regexp.MustCompile(regexp.QuoteMeta(cmd))
			}
			if _, err := env.Conn.Expect(ctx, st.echoWhat, echo); err != nil {
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

// checkMultinodeStep checks a multinode step's argument as LAVA reads it:
// lava-send "ID [key=value ...]", lava-wait-all "ID [role=ROLE]".
func checkMultinodeStep(st jobdef.InteractiveStep) error {
	words := strings.Fields(st.Message)
	if len(words) == 0 {
		return fmt.Errorf("%s needs a message ID", st.Kind)
	}
	switch st.Kind {
	case jobdef.StepSend:
		for _, w := range words[1:] {
			if !strings.Contains(w, "=") {
				return fmt.Errorf("lava-send %s: %q is not key=value", words[0], w)
			}
		}
	case jobdef.StepWaitAll:
		if len(words) > 2 {
			return fmt.Errorf("lava-wait-all expects 1 or 2 params, got: %q", st.Message)
		}
		if len(words) == 2 && !strings.HasPrefix(words[1], "role=") {
			return fmt.Errorf("lava-wait-all 2nd param must be role=<rolename>, got: %s", words[1])
		}
	}
	return nil
}

// multinodeStep makes an interactive script's multinode call, as LAVA's
// interactive test does: lava-send "ID key=value ..." (after
// substitution), lava-wait ID, lava-wait-all "ID [role=ROLE]" (a nack
// fails the test), lava-sync ID. The waits run under the action's
// timeout; the values they receive become {key} substitutions.
func multinodeStep(ctx context.Context, env *Env, st jobdef.InteractiveStep, subs map[string]string) error {
	mn := env.mn
	if mn == nil {
		return JobError("lava-test-interactive: the %s step needs a multinode job", st.Kind)
	}
	timeout := env.node.attempt.d
	var req workerproto.MultinodeRequest
	switch st.Kind {
	case jobdef.StepSend:
		words := strings.Fields(substitute(st.Message, subs))
		req = workerproto.MultinodeRequest{Request: "lava_send", MessageID: words[0], Message: map[string]any{}}
		for _, w := range words[1:] {
			k, v, _ := strings.Cut(w, "=")
			req.Message[k] = v
		}
		timeout = mn.timeout
	case jobdef.StepWait:
		req = workerproto.MultinodeRequest{Request: "lava_wait", MessageID: st.Message}
	case jobdef.StepWaitAll:
		words := strings.Fields(st.Message)
		req = workerproto.MultinodeRequest{Request: "lava_wait_all", MessageID: words[0]}
		if len(words) == 2 {
			req.WaitRole = strings.TrimPrefix(words[1], "role=")
		}
	case jobdef.StepSync:
		req = workerproto.MultinodeRequest{Request: "lava_sync", MessageID: st.Message}
	}
	resp, err := mn.poll(ctx, env.Log, req, timeout)
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(string(st.Kind), "lava-")
	env.Info("%s result: %s", name, responseText(resp))
	switch st.Kind {
	case jobdef.StepSend, jobdef.StepSync:
		return nil
	case jobdef.StepWaitAll:
		if resp.Response == "nack" {
			return TestError("Nack reply from coordinator for wait-all (deadlock detected?)")
		}
	}
	msg, err := decodeMessage(resp.Message)
	if err != nil {
		return InfrastructureError("%s: %w", describeRequest(req), err)
	}
	for _, s := range msg {
		for _, p := range s.pairs {
			subs["{"+p.key+"}"] = p.value
		}
	}
	return nil
}

// substitute replaces every {key} of subs in s, longest keys first.
func substitute(s string, subs map[string]string) string {
	if len(subs) == 0 || !strings.Contains(s, "{") {
		return s
	}
	keys := sortedKeys(subs)
	sort.SliceStable(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	for _, k := range keys {
		s = strings.ReplaceAll(s, k, subs[k])
	}
	return s
}
