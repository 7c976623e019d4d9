package dispatcher

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Action is one step of a job's pipeline. Name is LAVA's pipeline action
// name: it selects the action's timeout (timeouts.actions.<name>) and names
// its results case in the lava suite. Run does the work; it must return
// soon after ctx ends (the action's timeout, the job's timeout or a
// cancel), and returns an *Error, or an error wrapping one, to say how the
// job failed (any other error is a Bug).
//
// The pipeline runner, not the action, logs the start and end records,
// applies the timeout and failure_retry, and records the lava results case.
type Action interface {
	Name() string
	Run(ctx context.Context, env *Env) error
}

// Env is what an action works with. One Env exists per running action; the
// fields shared by the whole job are pointers or read-only.
type Env struct {
	JobID  int64
	Dir    string // the job directory (job.json, the journal, deployed files)
	Job    *jobdef.Job
	Device Device // nil when the device could not be opened
	Conn   *Conn  // the device console; nil when Device is nil
	// DeviceConfig is the device's configuration from its dictionary;
	// nil when the device could not be opened.
	DeviceConfig *deviceConfig
	Log          *journal.Writer // the job's journal
	// Session is the state actions hand on to later actions.
	Session *Session

	run  *runner
	node *node
}

// Session is the state one action leaves for the next, such as the shell
// prompts a boot action found. It belongs to the pipeline's goroutine.
type Session struct {
	// Prompts are the shell prompts of the booted device (set by a boot
	// action); nil until a boot action succeeded.
	Prompts []*regexp.Regexp
	// Deployed are the images deploy actions made available, in the order
	// they were deployed (a later deploy of the same name replaces one).
	Deployed []DeployedImage
	// Overlay is the LAVA test overlay put on the device by a deploy
	// action; nil when the device has none (test definitions are then
	// typed on the console).
	Overlay *deviceOverlay
	// testIndex counts test definitions, interactive tests and monitors
	// across the job (their results suites are "<index>_<name>").
	testIndex int
	// cleanups run at the end of the job (AddCleanup, runCleanups).
	cleanups []cleanupHook
}

// NextTestIndex returns the job-wide index of the next test definition.
func (s *Session) NextTestIndex() int {
	i := s.testIndex
	s.testIndex++
	return i
}

// Level is the running action's pipeline level, such as "3" or "3.1".
func (e *Env) Level() string { return e.node.level }

// Info logs an info record.
func (e *Env) Info(format string, args ...any) { e.Log.Logf(workerproto.LevelInfo, format, args...) }

// Debug logs a debug record.
func (e *Env) Debug(format string, args ...any) {
	e.Log.Logf(workerproto.LevelDebug, format, args...)
}

// Warning logs a warning record.
func (e *Env) Warning(format string, args ...any) {
	e.Log.Logf(workerproto.LevelWarning, format, args...)
}

// RunChild runs a sub-action of the running action, at the next level below
// it ("3.1", "3.2", …), with its own start/end records, results case and
// timeout (resolved by its own name within the same job action block, and
// capped by the parent's remaining time).
func (e *Env) RunChild(ctx context.Context, a Action) error {
	parent := e.node
	parent.children++
	n := &node{action: a, block: parent.block, level: parent.level + "." + strconv.Itoa(parent.children)}
	n.timeout, n.skip = resolveTimeout(e.Job, e.run.deviceTimeouts, n.block, a.Name())
	return e.run.run(ctx, e, n)
}

// node is an action placed in the pipeline, with what the runner applies
// around it.
type node struct {
	action        Action
	block         *jobdef.Action // the job's action block; nil for finalize
	level         string
	timeout       time.Duration // from resolveTimeout, before capping
	skip          bool          // a timeout continues with the next action
	retries       int           // failure_retry: attempts, ≥ 1
	retryInterval time.Duration
	repeat        int // repeat: runs, ≥ 1
	children      int
}

// DefaultRetryInterval is LAVA's failure_retry_interval default.
const DefaultRetryInterval = time.Second

// runner runs nodes.
type runner struct {
	deviceTimeouts map[string]time.Duration
	cache          *jobCache // the worker's download cache, as this job uses it
}

// run runs one node: start record, attempts under the node's timeout, end
// record and the lava results case.
func (r *runner) run(ctx context.Context, parent *Env, n *node) error {
	env := *parent
	env.node = n
	name := n.action.Name()
	timeout := n.timeout
	shown := timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < shown {
		shown = time.Until(dl)
	}
	env.Info("start: %s %s (timeout %s)", n.level, name, clock(shown))
	start := time.Now()

	retries := max(n.retries, 1)
	perAttempt := max(timeout/time.Duration(retries), time.Second)
	var err error
	for attempt := 1; ; attempt++ {
		err = r.attempt(ctx, &env, n, perAttempt)
		if err == nil || attempt >= retries || ctx.Err() != nil || ErrorTypeOf(err) == lab.ErrorCanceled {
			break
		}
		interval := n.retryInterval
		if interval <= 0 {
			interval = DefaultRetryInterval
		}
		env.Warning("%s failed (attempt %d of %d): %v; retrying in %s", name, attempt, retries, err, seconds(interval)+"s")
		if serr := sleep(ctx, interval); serr != nil {
			err = causeError(ctx)
			break
		}
	}
	took := time.Since(start)

	result := ResultPass
	if err != nil {
		result = ResultFail
		var at *actionTimeout
		ownTimeout := errors.As(err, &at) && at.action == name && ctx.Err() == nil
		switch {
		case ErrorTypeOf(err) == lab.ErrorCanceled:
		case ownTimeout && n.skip:
			env.Warning("%s; the timeout has skip: true, continuing with the next action", err)
			err = nil
		case ownTimeout:
			env.Log.Log(workerproto.LevelError, err.Error())
		default:
			env.Log.Logf(workerproto.LevelError, "%s failed: %s", name, err)
		}
	}
	env.Info("end: %s %s (duration %s)", n.level, name, clock(took))
	env.Log.Result(workerproto.ResultMsg{Definition: "lava", Case: name, Result: result, Duration: durationSeconds(took), Level: n.level})
	return err
}

// attempt runs the node's action repeat times, each under timeout.
func (r *runner) attempt(ctx context.Context, env *Env, n *node, timeout time.Duration) error {
	repeat := max(n.repeat, 1)
	for i := 1; i <= repeat; i++ {
		if repeat > 1 {
			env.Info("%s: repeat %d of %d", n.action.Name(), i, repeat)
		}
		actx, cancel := context.WithTimeoutCause(ctx, timeout, &actionTimeout{action: n.action.Name(), timeout: timeout})
		err := n.action.Run(actx, env)
		if err != nil && actx.Err() != nil {
			// The action stopped because its context ended: say why.
			err = causeError(actx)
		}
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// sleep waits for d or the end of ctx.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
