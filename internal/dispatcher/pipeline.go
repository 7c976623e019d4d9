package dispatcher

import (
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/dispatcher/simdevice"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// pipeline is a job's actions, ready to run, and the finalize action that
// always runs after them.
type pipeline struct {
	nodes  []*node
	runner *runner
}

// buildPipeline turns the parsed job into actions for dev, checking what
// the device can do (LAVA's validate step). Every problem found is
// reported, joined, as one Job error.
func buildPipeline(job *jobdef.Job, dev Device) (*pipeline, error) {
	p := &pipeline{runner: &runner{deviceTimeouts: DeviceTimeouts}}
	var problems []string
	fail := func(i int, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("action %d: ", i+1)+fmt.Sprintf(format, args...))
	}
	if job.Protocols.Multinode != nil {
		problems = append(problems, "multinode jobs need the coordinator (not available yet)")
	}
	if dev.Kind() != simdevice.Kind {
		problems = append(problems, fmt.Sprintf("devices of kind %q cannot run jobs yet", dev.Kind()))
	}
	booted := false
	for i := range job.Actions {
		a := &job.Actions[i]
		var act Action
		switch a.Kind {
		case jobdef.KindDeploy:
			name, ok := deployNames[a.Deploy.To]
			if !ok {
				fail(i, "deploy to %s is not available on simulated devices", a.Deploy.To)
				continue
			}
			act = &simDeploy{name: name, deploy: a.Deploy}
		case jobdef.KindBoot:
			if _, ok := bootNames[a.Boot.Method]; !ok {
				fail(i, "boot method %s is not available on simulated devices", a.Boot.Method)
				continue
			}
			b, err := newSimBoot(a.Boot)
			if err != nil {
				fail(i, "boot: %v", err)
				continue
			}
			act, booted = b, true
		case jobdef.KindTest:
			var err error
			if act, err = testAction(a.Test); err != nil {
				fail(i, "test: %v", err)
				continue
			}
			if !booted {
				fail(i, "test: a test action needs a boot action before it")
			}
		case jobdef.KindCommand:
			fail(i, "command actions (%q) need the device's user commands (not available on simulated devices yet)", a.Command.Name)
			continue
		default:
			fail(i, "unknown action kind %q", a.Kind)
			continue
		}
		n := &node{action: act, block: a, level: fmt.Sprint(i + 1), retries: a.FailureRetry, retryInterval: a.FailureRetryInterval, repeat: a.Repeat}
		n.timeout, n.skip = resolveTimeout(job, p.runner.deviceTimeouts, a, act.Name())
		p.nodes = append(p.nodes, n)
	}
	if len(problems) > 0 {
		return nil, JobError("%s", strings.Join(problems, "; "))
	}
	return p, nil
}

// testAction picks the implementation of a test action.
func testAction(t *jobdef.Test) (Action, error) {
	switch {
	case len(t.Definitions) > 0:
		for _, d := range t.Definitions {
			if d.From == "git" {
				return nil, errors.New(ErrGitDefinitions)
			}
		}
		return &testShell{defs: t.Definitions}, nil
	case len(t.Interactive) > 0:
		return newInteractiveTest(t.Interactive)
	case len(t.Monitors) > 0:
		return nil, errors.New("monitors need a device that prints its test output by itself (not available on simulated devices yet)")
	}
	return nil, errors.New("no definitions, interactive tests or monitors")
}

// newFinalize places the finalize action after n job actions.
func newFinalize(job *jobdef.Job, n int, r *runner) *node {
	f := &node{action: finalize{}, level: fmt.Sprint(n + 1)}
	f.timeout, _ = resolveTimeout(job, r.deviceTimeouts, nil, "finalize")
	return f
}
