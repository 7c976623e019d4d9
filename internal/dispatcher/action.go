package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// Conn is the console the action uses: the device's primary console,
	// or the secondary connection of the action's connection-namespace
	// or namespace (a new_connection boot opened it); nil when Device is
	// nil.
	Conn *Conn
	// DeviceConfig is the device's configuration from its dictionary;
	// nil when the device could not be opened.
	DeviceConfig *deviceConfig
	Log          *journal.Writer // the job's journal
	// Session is the state actions hand on to later actions.
	Session *Session

	// mn is the job's multinode group; nil for other jobs.
	mn *multinode

	run  *runner
	node *node
}

// Session is the state one action leaves for the next, such as the
// deployed images and the job's console connections with the shell
// prompts a boot action found on each (Env.Prompts). It belongs to the
// pipeline's goroutine.
type Session struct {
	// Deployed are the images deploy actions made available, in the order
	// they were deployed (a later deploy of the same name replaces one).
	Deployed []DeployedImage
	// Overlay is the LAVA test overlay put on the device by a deploy
	// action; nil when the device has none (test definitions are then
	// typed on the console).
	Overlay *deviceOverlay
	// BootFiles are the files a tftp deploy published for the board's
	// bootloader, by image name (kernel, ramdisk, dtb, …): paths relative
	// to the boot-file server's root, as the bootloader asks for them.
	BootFiles map[string]string
	// KernelType is the type of the kernel a tftp deploy published
	// (image, uimage, zimage; "" when the job gives none).
	KernelType string
	// testIndex counts test definitions, interactive tests and monitors
	// across the job (their results suites are "<index>_<name>").
	testIndex int
	// cleanups run at the end of the job (AddCleanup, runCleanups).
	cleanups []cleanupHook
	// links are the job's console connections: the primary console, then
	// the secondary connections new_connection boots opened.
	links []*link
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
// timeout (resolved by its own name within the same job action block, the
// running action's share when it retries, and capped by the time the
// running action has left).
func (e *Env) RunChild(ctx context.Context, a Action) error {
	parent := e.node
	parent.children++
	n := &node{action: a, block: parent.block, level: parent.level + "." + strconv.Itoa(parent.children), parent: parent.action.Name()}
	e.run.place(e.Job, n, parent.retry)
	return e.run.run(ctx, e, n)
}

// ConnectionTimeout returns the running action's connection timeout (LAVA's
// connection_timeout: the longest wait for one answer of the device where
// an action applies it) and where it came from.
func (e *Env) ConnectionTimeout() (time.Duration, string) {
	return e.node.conn.d, e.node.conn.from
}

// node is an action placed in the pipeline, with what the runner applies
// around it.
type node struct {
	action Action
	block  *jobdef.Action // the job's action block; nil for finalize
	level  string
	parent string // the parent action's name; "" at the top level
	// timeout is the action's timeout (before capping by its parent or the
	// job): for all its attempts together when it retries.
	timeout resolved
	// attempt is the timeout of each attempt or run when retry is set,
	// else timeout.
	attempt resolved
	// retry is set when the action runs its work more than once
	// (failure_retry or repeat > 1): it bounds the attempts together and
	// shares its timeout among them and its sub-actions.
	retry *retrying
	conn  resolved // the connection timeout
	// link is the connection a top-level job action uses (nil for
	// sub-actions and finalize, which keep their parent's).
	link *linkRef
	// skip: a timeout continues with the next action (skipsTimeout).
	skip          bool
	retries       int // failure_retry: attempts, ≥ 1
	retryInterval time.Duration
	repeat        int // repeat: runs, ≥ 1
	children      int
	// calls are the block's multinode calls (protocols), made once
	// before the action first runs (called).
	calls  []protocolCall
	called bool
}

// DefaultRetryInterval is LAVA's failure_retry_interval default.
const DefaultRetryInterval = time.Second

// runner runs nodes.
type runner struct {
	device deviceTimeouts
	cache  *jobCache // the worker's download cache, as this job uses it
	// bootFilesDir, bootFilesPrefix and bootServerIP are the job's
	// directory on the worker's boot-file server, its name in requests and
	// the server's address (Settings).
	bootFilesDir, bootFilesPrefix, bootServerIP string
}

// place resolves the timeouts of n, whose action, block and level are
// set, by LAVA's rules; parent is its parent when that one retries (nil
// otherwise and at the top level).
func (r *runner) place(job *jobdef.Job, n *node, parent *retrying) {
	r.placeRetrying(job, n, parent, 1, "")
}

// placeRetrying is place for an action that runs its work times times
// (attempts says why): its timeout is then the retry action's (levels 1 to
// 4) and each attempt gets its share, unless a named timeout (levels 5 and
// 6) sets the attempt's.
func (r *runner) placeRetrying(job *jobdef.Job, n *node, parent *retrying, times int, why string) {
	name := n.action.Name()
	if times > 1 {
		n.timeout = resolveTimeout(job, r.device, n.block, parent, name, false)
		n.retry = &retrying{name: name, timeout: n.timeout.d, times: times, why: why}
		n.attempt = resolveTimeout(job, r.device, n.block, n.retry, name, true)
	} else {
		n.timeout = resolveTimeout(job, r.device, n.block, parent, name, true)
		n.attempt = n.timeout
	}
	n.conn = resolveConnectionTimeout(job, r.device, name)
}

// run runs one node: start record, attempts under the node's timeout, end
// record and the lava results case.
func (r *runner) run(ctx context.Context, parent *Env, n *node) error {
	env := *parent
	env.node = n
	name := n.action.Name()
	env.Info("start: %s %s (timeout %s)", n.level, name, shownTimeout(ctx, n))
	start := time.Now()
	lerr := r.useLink(&env, n.link)
	setCharacterDelay(&env, n)

	retries := max(n.retries, 1)
	if n.repeat > 0 {
		retries = 1
	}
	// A retrying action's timeout bounds all its attempts (LAVA's retry
	// action); each attempt has its own share.
	actx := ctx
	if n.retry != nil {
		env.Info("%s: %s, each with timeout %s from %s", name, turns(n.retry), clock(n.attempt.d), n.attempt.from)
		var cancel context.CancelFunc
		actx, cancel = context.WithTimeoutCause(ctx, n.timeout.d, &actionTimeout{action: name, timeout: n.timeout.d})
		defer cancel()
	}
	// A connection that is not open fails the action without running it.
	err := lerr
	for attempt := 1; lerr == nil; attempt++ {
		err = r.attempt(actx, &env, n, n.attempt.d)
		if err == nil || attempt >= retries || actx.Err() != nil || ErrorTypeOf(err) == lab.ErrorCanceled {
			break
		}
		interval := n.retryInterval
		if interval <= 0 {
			interval = DefaultRetryInterval
		}
		if dl, ok := actx.Deadline(); ok && time.Until(dl) <= interval {
			// LAVA's words when the retry action's time is up.
			err = fmt.Errorf("%w (no time left for the remaining %d attempts of %s: increase the block's timeout or decrease the named action timeout)", err, retries-attempt, name)
			break
		}
		env.Warning("%s failed (attempt %d of %d): %v; retrying in %s", name, attempt, retries, err, seconds(interval)+"s")
		if serr := sleep(actx, interval); serr != nil {
			err = causeError(actx)
			break
		}
	}
	took := time.Since(start)

	result := ResultPass
	if err != nil {
		result = ResultFail
		var at *actionTimeout
		// A timeout of this action or of one of its sub-actions, while
		// the job (or the parent) still has time.
		timedOut := ErrorTypeOf(err) == lab.ErrorTimeout && ctx.Err() == nil
		ownTimeout := timedOut && errors.As(err, &at) && at.action == name
		switch {
		case ErrorTypeOf(err) == lab.ErrorCanceled:
		case timedOut && n.skip:
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

// turns says how often a retrying action runs: "3 runs" (repeat) or "up
// to 3 attempts".
func turns(r *retrying) string {
	if r.why == "repeat" {
		return fmt.Sprintf("%d runs", r.times)
	}
	return fmt.Sprintf("up to %d attempts", r.times)
}

// shownTimeout is the start record's timeout: LAVA's hh:mm:ss of the time
// the action may take (its timeout, capped by what its parent or the job
// has left), then where it came from: "00:05:00 from the device's
// timeouts.actions.http-download", or, when capped, "00:00:12, the time the
// job has left (00:03:00 from …)".
func shownTimeout(ctx context.Context, n *node) string {
	t := n.timeout
	if dl, ok := ctx.Deadline(); ok {
		if left := time.Until(dl); left.Round(time.Second) < t.d.Round(time.Second) {
			who := "the job"
			if n.parent != "" {
				who = n.parent
			}
			return fmt.Sprintf("%s, the time %s has left (%s from %s)", clock(left), who, clock(t.d), t.from)
		}
	}
	return clock(t.d) + " from " + t.from
}

// attempt runs the node's action repeat times, each under timeout.
func (r *runner) attempt(ctx context.Context, env *Env, n *node, timeout time.Duration) error {
	repeat := max(n.repeat, 1)
	for i := 1; i <= repeat; i++ {
		if repeat > 1 {
			env.Info("%s: repeat %d of %d", n.action.Name(), i, repeat)
		}
		actx, cancel := context.WithTimeoutCause(ctx, timeout, &actionTimeout{action: n.action.Name(), timeout: timeout})
		var err error
		if len(n.calls) > 0 && !n.called {
			n.called = true
			err = runProtocolCalls(actx, env, n.calls)
		}
		if err == nil {
			err = n.action.Run(actx, env)
		}
		if err != nil && actx.Err() != nil {
			// The action stopped because its context ended: say why, and
			// what it was waiting for.
			err = stoppedError(actx, err)
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

// setCharacterDelay applies the device's character delay of the action's
// phase (LAVA's character_delays: deploy, boot, test) to what the action
// types on the console. Top-level actions set it; nested ones keep it.
func setCharacterDelay(env *Env, n *node) {
	if env.Conn == nil || env.DeviceConfig == nil || env.DeviceConfig.Rendered == nil || n.block == nil || strings.Contains(n.level, ".") {
		return
	}
	d := env.DeviceConfig.Rendered.CharacterDelays
	switch n.block.Kind {
	case jobdef.KindDeploy:
		env.Conn.SetCharacterDelay(d.Deploy)
	case jobdef.KindBoot:
		env.Conn.SetCharacterDelay(d.Boot)
	case jobdef.KindTest:
		env.Conn.SetCharacterDelay(d.Test)
	default:
		env.Conn.SetCharacterDelay(0)
	}
}
