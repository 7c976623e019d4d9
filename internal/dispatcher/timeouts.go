package dispatcher

import (
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// DefaultActionTimeout is the timeout of an action nothing else sets one
// for, and what a zero duration means (LAVA's ACTION_TIMEOUT).
const DefaultActionTimeout = 30 * time.Second

// DefaultConnectionTimeout is the connection timeout of an action nothing
// else sets one for (LAVA gives connections the same default as actions).
const DefaultConnectionTimeout = DefaultActionTimeout

// DeviceTimeouts are Basalt's defaults for the device's timeouts.actions:
// a device's own values (base.jinja2's defaults and its dictionary's
// action_timeout_* variables, which OpenDevice reads) take precedence.
// They give Basalt's deploy actions and finalize, which LAVA's templates
// have no timeout for, their time, and stand in for the device's values
// when the device could not be opened.
var DeviceTimeouts = map[string]time.Duration{
	"http-download": 5 * time.Minute,
	// Deploys download images: as long as LAVA's http-download.
	"tmpfs-deploy":      5 * time.Minute,
	"downloads-deploy":  5 * time.Minute,
	"download-deploy":   5 * time.Minute,
	"lava-test-shell":   3 * time.Minute,
	"auto-login-action": 2 * time.Minute,
	"boot-qemu-image":   2 * time.Minute,
	"power-off":         10 * time.Second,
	// LAVA's CLEANUP_TIMEOUT.
	"finalize": 5 * time.Minute,
}

// deviceTimeouts are the timeouts the device contributes, by pipeline
// action name: its timeouts.actions and timeouts.connections as LAVA's
// base.jinja2 renders them (defaults, replaced by the dictionary's
// action_timeout_* and connection_timeout_* variables). Nil maps (no
// device) are empty.
type deviceTimeouts struct {
	actions     map[string]time.Duration
	connections map[string]time.Duration
}

// resolved is a timeout and where it came from, for the log ("the job's
// timeouts.action", "the device's timeouts.actions.http-download", …).
type resolved struct {
	d    time.Duration
	from string
}

// retrying is an action that runs its work several times (LAVA's retry
// action with max_retries > 1): failure_retry attempts, or repeat runs.
// Each attempt, and each sub-action, gets timeout ÷ times (LAVA's level 4).
type retrying struct {
	name    string        // the action
	timeout time.Duration // its timeout, for all the attempts together
	times   int           // > 1
	why     string        // what set times: "failure_retry", "repeat", "the device's failure_retry", …
}

// share is LAVA's level-4 timeout: the retrying action's timeout in whole
// seconds, divided by the attempts, rounded down.
func (r *retrying) share() resolved {
	secs := int64(r.timeout/time.Second) / int64(r.times)
	return resolved{
		d:    time.Duration(secs) * time.Second,
		from: fmt.Sprintf("%s's timeout %s ÷ %s %d", r.name, clock(r.timeout), r.why, r.times),
	}
}

// resolveTimeout applies LAVA's timeout rules (Pipeline.add_action in
// lava_dispatcher/action.py) for the pipeline action name inside the job's
// action block (nil for finalize and its sub-actions), lowest priority
// first:
//
//  1. the job's timeouts.action;
//  2. the device's timeouts.actions.<name> (Basalt's DeviceTimeouts for
//     names the device has no value for);
//  3. the block's timeout;
//  4. when the parent retries (parent non-nil): the parent's timeout ÷
//     its attempts;
//  5. the job's timeouts.actions.<name>;
//  6. the block's timeouts.<name>.
//
// Without any, DefaultActionTimeout. A zero duration also means
// DefaultActionTimeout (LAVA's Timeout.parse). With named false, only
// levels 1 to 4 apply: the timeout of a retrying block's action as a whole,
// which levels 5 and 6 do not name (in LAVA they name the action doing the
// work, a child of the retry action). The caller caps the result by the
// time its parent (and the job) has left.
func resolveTimeout(job *jobdef.Job, dev deviceTimeouts, block *jobdef.Action, parent *retrying, name string, named bool) resolved {
	r := resolved{DefaultActionTimeout, "the default action timeout"}
	set := func(d time.Duration, from string) {
		if d <= 0 {
			d, from = DefaultActionTimeout, from+" (0 s: the default action timeout)"
		}
		r = resolved{d, from}
	}
	if t := job.Timeouts.Action; t != nil {
		set(t.Duration, "the job's timeouts.action")
	}
	if d, ok := dev.actions[name]; ok {
		set(d, "the device's timeouts.actions."+name)
	} else if d, ok := DeviceTimeouts[name]; ok {
		set(d, "Basalt's default for "+name)
	}
	if block != nil && block.Timeout != nil {
		set(block.Timeout.Duration, blockName(block)+"'s timeout")
	}
	if parent != nil && parent.times > 1 {
		s := parent.share()
		set(s.d, s.from)
	}
	if !named {
		return r
	}
	if t, ok := job.Timeouts.Actions[name]; ok {
		set(t.Duration, "the job's timeouts.actions."+name)
	}
	if block != nil {
		if t, ok := block.Timeouts[name]; ok {
			set(t.Duration, blockName(block)+"'s timeouts."+name)
		}
	}
	return r
}

// resolveConnectionTimeout applies LAVA's connection timeout rules for the
// pipeline action name, lowest priority first: the job's
// timeouts.connection, the device's timeouts.connections.<name>, the job's
// timeouts.connections.<name>. Without any, DefaultConnectionTimeout.
func resolveConnectionTimeout(job *jobdef.Job, dev deviceTimeouts, name string) resolved {
	r := resolved{DefaultConnectionTimeout, "the default connection timeout"}
	set := func(d time.Duration, from string) {
		if d <= 0 {
			d, from = DefaultConnectionTimeout, from+" (0 s: the default connection timeout)"
		}
		r = resolved{d, from}
	}
	if t := job.Timeouts.Connection; t != nil {
		set(t.Duration, "the job's timeouts.connection")
	}
	if d, ok := dev.connections[name]; ok {
		set(d, "the device's timeouts.connections."+name)
	}
	if t, ok := job.Timeouts.Connections[name]; ok {
		set(t.Duration, "the job's timeouts.connections."+name)
	}
	return r
}

// skipsTimeout reports whether a timeout of the top-level action of block
// (or of one of its sub-actions) continues the job with the next action:
// as in LAVA, only the block's own timeout can say skip: true, and only a
// test action's timeout is skipped.
func skipsTimeout(block *jobdef.Action) bool {
	return block != nil && block.Kind == jobdef.KindTest && block.Timeout != nil && block.Timeout.Skip
}

// blockName names an action block in timeout sources: "the boot block".
func blockName(block *jobdef.Action) string {
	return "the " + string(block.Kind) + " block"
}

// attempts returns how many times a top-level action runs its work, and
// what set it, as LAVA's retry action counts them (RetryAction in
// lava_dispatcher/logical.py): the block's failure_retry, else the
// device's failure_retry constant (its boot_retry for a boot block), and
// repeat replaces either. Command actions are not retry actions in LAVA:
// only their own failure_retry applies.
func attempts(block *jobdef.Action, failureRetry, bootRetry int) (times int, why string) {
	times, why = 1, ""
	switch {
	case block.FailureRetry > 0:
		times, why = block.FailureRetry, "failure_retry"
	case block.Kind == jobdef.KindCommand:
	case block.Kind == jobdef.KindBoot && bootRetry > 0:
		times, why = bootRetry, "the device's boot_retry"
	case failureRetry > 1:
		times, why = failureRetry, "the device's failure_retry"
	}
	if block.Repeat > 0 {
		times, why = block.Repeat, "repeat"
	}
	return times, why
}

// clock formats a duration as LAVA does in start/end records: hh:mm:ss,
// rounded to the second.
func clock(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s < 0 {
		s = 0
	}
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// durationSeconds formats a duration for results records: seconds with two
// decimals.
func durationSeconds(d time.Duration) string {
	return fmt.Sprintf("%.2f", d.Seconds())
}
