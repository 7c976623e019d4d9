package dispatcher

import (
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// DefaultActionTimeout is the timeout of an action nothing else sets one
// for (LAVA's ACTION_TIMEOUT).
const DefaultActionTimeout = 30 * time.Second

// DeviceTimeouts are the per-action timeouts a device contributes (LAVA's
// device-type defaults from base.jinja2), under the dictionary's own
// action_timeout_<name> values (OpenDevice merges them).
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
	"finalize":          5 * time.Minute,
}

// resolveTimeout applies LAVA's timeout rules for the pipeline action name
// inside the job's action block (nil for finalize), lowest priority first:
// the job's timeouts.action, the device's timeouts.actions.<name>, the
// block's timeout, the job's timeouts.actions.<name>, the block's
// timeouts.<name>. Without any, DefaultActionTimeout. skip is the skip flag
// of the timeout that won. The caller caps the result by the time its
// parent (and the job) has left.
func resolveTimeout(job *jobdef.Job, device map[string]time.Duration, block *jobdef.Action, name string) (d time.Duration, skip bool) {
	d = DefaultActionTimeout
	set := func(t jobdef.Timeout) { d, skip = t.Duration, t.Skip }
	if job.Timeouts.Action != nil {
		set(*job.Timeouts.Action)
	}
	if v, ok := device[name]; ok {
		d, skip = v, false
	}
	if block != nil && block.Timeout != nil {
		set(*block.Timeout)
	}
	if v, ok := job.Timeouts.Actions[name]; ok {
		set(v)
	}
	if block != nil {
		if v, ok := block.Timeouts[name]; ok {
			set(v)
		}
	}
	return d, skip
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
