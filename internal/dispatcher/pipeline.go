package dispatcher

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// pipeline is a job's actions, ready to run, and the finalize action that
// always runs after them.
type pipeline struct {
	nodes  []*node
	runner *runner
	// primaryNS is the namespace the primary console is first used
	// under, for its feedback records.
	primaryNS string
}

// buildPipeline turns the parsed job into actions for dev, checking what
// the device can do (LAVA's validate step). Every problem found is
// reported, joined, as one Job error. mn is the job's multinode group (nil
// for other jobs): actions may then make multinode calls (protocols).
func buildPipeline(job *jobdef.Job, dev Device, cfg *deviceConfig, r *runner, mn *multinode) (*pipeline, error) {
	p := &pipeline{runner: r}
	var problems []string
	fail := func(i int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("action %d: ", i+1)+fmt.Sprintf(format, args...))
	}
	kind := dev.Kind()
	dk, ok := kinds[kind]
	if !ok {
		return nil, JobError("devices of kind %q cannot run jobs yet", kind)
	}
	booted, overlay, deployed := false, false, false
	stage := 0
	links, primaryNS := connectionsOf(job)
	p.primaryNS = primaryNS
	for i := range job.Actions {
		a := &job.Actions[i]
		if why := connectionNamespaceProblem(job, a.ConnectionNamespace); why != "" {
			fail(i, "%s", why)
			continue
		}
		calls, err := protocolCallsOf(a, mn != nil)
		if err != nil {
			fail(i, "%v", err)
			continue
		}
		var act Action
		switch a.Kind {
		case jobdef.KindDeploy:
			if why := checkDeploy(kind, cfg, a.Deploy.To); why != "" {
				fail(i, "%s", why)
				continue
			}
			var ov bool
			act, ov = dk.deploy(job, a.Deploy, cfg, func(format string, args ...any) { fail(i, format, args...) })
			overlay = overlay || ov
			deployed = deployed || len(a.Deploy.Images) > 0
		case jobdef.KindBoot:
			if why := checkBoot(kind, cfg, a.Boot); why != "" {
				fail(i, "%s", why)
				continue
			}
			if a.Boot.Method == jobdef.NewConnection {
				s, err := newSecondaryShell(a.Boot, a.Namespace, cfg)
				if err != nil {
					fail(i, "boot: %v", err)
					continue
				}
				act, booted = s, true
				break
			}
			b, err := newBootAction(a.Boot, cfg.KernelStart, cfg.Constants.DefaultShellPrompt)
			if err != nil {
				fail(i, "boot: %v", err)
				continue
			}
			if a.Boot.Method == "qemu" && len(a.Boot.Prompts) == 0 && hasTestShell(job, a.Namespace) {
				// LAVA's validation: "Unable to identify boot prompts
				// from job definition."
				fail(i, "boot: qemu without prompts: the test definitions of this namespace need a shell prompt to wait for; add prompts to the boot")
				continue
			}
			b.ignored = "there is no overlay"
			if err := dk.boot(b, a.Boot, cfg, deployed); err != nil {
				fail(i, "boot: %v", err)
				continue
			}
			act, booted = b, true
		case jobdef.KindTest:
			if act, err = testAction(a.Test, stage, overlay, mn != nil); err != nil {
				fail(i, "test: %v", err)
				continue
			}
			if len(a.Test.Definitions) > 0 {
				stage++
			}
			if !booted {
				fail(i, "test: a test action needs a boot action before it")
			}
		case jobdef.KindCommand:
			if act, err = newCommandAction(a.Command.Name, commandsOf(dev, cfg)); err != nil {
				fail(i, "command: %v", err)
				continue
			}
		default:
			fail(i, "unknown action kind %q", a.Kind)
			continue
		}
		if a.Repeat > 0 && a.FailureRetry > 0 {
			// LAVA's RetryAction refuses the pair.
			fail(i, "repeat and failure_retry cannot be used together: use a repeat block")
			continue
		}
		times, why := attempts(a, cfg.Constants.FailureRetry, cfg.Constants.BootRetry)
		n := &node{action: act, block: a, level: fmt.Sprint(i + 1), link: &links[i], retryInterval: a.FailureRetryInterval, repeat: a.Repeat, skip: skipsTimeout(a), calls: calls}
		if a.Repeat == 0 {
			n.retries = times
		}
		p.runner.placeRetrying(job, n, nil, times, why)
		p.nodes = append(p.nodes, n)
	}
	if len(problems) > 0 {
		return nil, JobError("%s", strings.Join(problems, "; "))
	}
	return p, nil
}

// testAction picks the implementation of a test action. stage is the
// action's number among the job's test actions with definitions (its
// directory in the overlay); overlay says whether a deploy before it puts
// the LAVA overlay on the device; multinode whether the job is part of a
// multinode group (interactive multinode steps need one).
func testAction(t *jobdef.Test, stage int, overlay, multinode bool) (Action, error) {
	switch {
	case len(t.Definitions) > 0:
		if !overlay {
			for _, d := range t.Definitions {
				if d.From != "inline" {
					return nil, errors.New(ErrNeedsOverlay)
				}
			}
		}
		return &testShell{defs: t.Definitions, stage: stage, multinode: multinode}, nil
	case len(t.Interactive) > 0:
		return newInteractiveTest(t.Interactive, multinode)
	case len(t.Monitors) > 0:
		return newMonitorTest(t.Monitors)
	}
	return nil, errors.New("no definitions, interactive tests or monitors")
}

// newFinalize places the finalize action after n job actions.
func newFinalize(job *jobdef.Job, n int, r *runner) *node {
	f := &node{action: finalize{}, level: fmt.Sprint(n + 1)}
	r.place(job, f, nil)
	return f
}

// commandsOf are the commands a job's command action may name: the
// device's user commands, and on a board its builtin commands
// (pre_power_command, hard_reset, power_off, …), which take precedence
// as in LAVA. A builtin's lines run one after the other, stopping at the
// first that fails.
func commandsOf(dev Device, cfg *deviceConfig) map[string]UserCommand {
	bd, ok := dev.(*board)
	if !ok {
		return cfg.UserCommands
	}
	out := maps.Clone(cfg.UserCommands)
	if out == nil {
		out = map[string]UserCommand{}
	}
	for name, lines := range bd.builtinCommands() {
		if len(lines) > 0 {
			out[name] = UserCommand{Do: strings.Join(lines, " && ")}
		}
	}
	return out
}

// hasTestShell says whether a test action of namespace ns runs test
// definitions (a lava-test-shell, which needs the shell prompt).
func hasTestShell(job *jobdef.Job, ns string) bool {
	for _, a := range job.Actions {
		if a.Kind == jobdef.KindTest && a.Namespace == ns && len(a.Test.Definitions) > 0 {
			return true
		}
	}
	return false
}
