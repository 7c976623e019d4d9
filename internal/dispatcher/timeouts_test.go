package dispatcher

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
)

// TestResolveTimeout checks LAVA's order of action timeouts, lowest first
// (lava_dispatcher/action.py, Pipeline.add_action): job timeouts.action <
// device timeouts.actions.<name> < block timeout < parent ÷ retries < job
// timeouts.actions.<name> < block timeouts.<name>, with where each came
// from.
func TestResolveTimeout(t *testing.T) {
	to := func(d time.Duration) *jobdef.Timeout { return &jobdef.Timeout{Duration: d} }
	named := func(name string, d time.Duration) map[string]jobdef.Timeout {
		return map[string]jobdef.Timeout{name: {Duration: d}}
	}
	dev := deviceTimeouts{actions: map[string]time.Duration{"lava-test-shell": 3 * time.Minute, "tmpfs-deploy": 7 * time.Minute}}
	testBlock := func(b jobdef.Action) *jobdef.Action { b.Kind = jobdef.KindTest; return &b }
	retry := &retrying{name: "lava-test-shell", timeout: 6 * time.Minute, times: 3, why: "failure_retry"}
	tests := []struct {
		name     string
		job      jobdef.Timeouts
		dev      deviceTimeouts
		block    *jobdef.Action
		parent   *retrying
		action   string
		unnamed  bool // levels 1 to 4 only
		want     time.Duration
		wantFrom string
	}{
		{name: "nothing set: 30 s", action: "minimal-boot",
			want: DefaultActionTimeout, wantFrom: "the default action timeout"},
		{name: "1 job timeouts.action", job: jobdef.Timeouts{Action: to(time.Minute)}, action: "minimal-boot",
			want: time.Minute, wantFrom: "the job's timeouts.action"},
		{name: "2 device beats job action", job: jobdef.Timeouts{Action: to(time.Minute)}, dev: dev, action: "lava-test-shell",
			want: 3 * time.Minute, wantFrom: "the device's timeouts.actions.lava-test-shell"},
		{name: "2 Basalt's default where the device has none", job: jobdef.Timeouts{Action: to(time.Minute)}, dev: dev, action: "finalize",
			want: 5 * time.Minute, wantFrom: "Basalt's default for finalize"},
		{name: "2 the device's value beats Basalt's default", dev: dev, action: "tmpfs-deploy",
			want: 7 * time.Minute, wantFrom: "the device's timeouts.actions.tmpfs-deploy"},
		{name: "2 Basalt's defaults without a device", action: "lava-test-shell",
			want: 3 * time.Minute, wantFrom: "Basalt's default for lava-test-shell"},
		{name: "3 block timeout beats device", dev: dev, block: testBlock(jobdef.Action{Timeout: to(5 * time.Minute)}), action: "lava-test-shell",
			want: 5 * time.Minute, wantFrom: "the test block's timeout"},
		{name: "4 parent ÷ failure_retry beats block timeout", dev: dev, block: testBlock(jobdef.Action{Timeout: to(5 * time.Minute)}), parent: retry, action: "lava-test-shell",
			want: 2 * time.Minute, wantFrom: "lava-test-shell's timeout 00:06:00 ÷ failure_retry 3"},
		{name: "4 whole seconds, rounded down", parent: &retrying{name: "minimal-boot", timeout: 100 * time.Second, times: 3, why: "repeat"}, action: "auto-login-action",
			want: 33 * time.Second, wantFrom: "minimal-boot's timeout 00:01:40 ÷ repeat 3"},
		{name: "4 a share of 0 s is the default", parent: &retrying{name: "minimal-boot", timeout: 2 * time.Second, times: 3, why: "the device's boot_retry"}, action: "auto-login-action",
			want: DefaultActionTimeout, wantFrom: "minimal-boot's timeout 00:00:02 ÷ the device's boot_retry 3 (0 s: the default action timeout)"},
		{name: "4 a parent that runs once does not divide", block: testBlock(jobdef.Action{Timeout: to(5 * time.Minute)}), parent: &retrying{name: "x", timeout: time.Hour, times: 1}, action: "lava-test-shell",
			want: 5 * time.Minute, wantFrom: "the test block's timeout"},
		{name: "5 job timeouts.actions.<name> beats the share", job: jobdef.Timeouts{Actions: named("lava-test-shell", 7*time.Minute)},
			block: testBlock(jobdef.Action{Timeout: to(5 * time.Minute)}), parent: retry, action: "lava-test-shell",
			want: 7 * time.Minute, wantFrom: "the job's timeouts.actions.lava-test-shell"},
		{name: "6 block timeouts.<name> beats all", job: jobdef.Timeouts{Action: to(time.Minute), Actions: named("lava-test-shell", 7*time.Minute)}, dev: dev,
			block: testBlock(jobdef.Action{Timeout: to(5 * time.Minute), Timeouts: named("lava-test-shell", 9*time.Minute)}), parent: retry, action: "lava-test-shell",
			want: 9 * time.Minute, wantFrom: "the test block's timeouts.lava-test-shell"},
		{name: "levels 5 and 6 left out for a retry action as a whole", job: jobdef.Timeouts{Actions: named("lava-test-shell", 7*time.Minute)},
			block: testBlock(jobdef.Action{Timeout: to(5 * time.Minute), Timeouts: named("lava-test-shell", 9*time.Minute)}), action: "lava-test-shell", unnamed: true,
			want: 5 * time.Minute, wantFrom: "the test block's timeout"},
		{name: "other names do not apply", job: jobdef.Timeouts{Actions: named("power-off", time.Second)},
			block: testBlock(jobdef.Action{Timeouts: named("http-download", time.Second)}), action: "minimal-boot",
			want: DefaultActionTimeout, wantFrom: "the default action timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveTimeout(&jobdef.Job{Timeouts: tt.job}, tt.dev, tt.block, tt.parent, tt.action, !tt.unnamed)
			if got.d != tt.want || got.from != tt.wantFrom {
				t.Errorf("resolveTimeout = %s from %q; want %s from %q", got.d, got.from, tt.want, tt.wantFrom)
			}
		})
	}
}

// TestResolveConnectionTimeout checks LAVA's order of connection timeouts:
// job timeouts.connection < device timeouts.connections.<name> < job
// timeouts.connections.<name>.
func TestResolveConnectionTimeout(t *testing.T) {
	dev := deviceTimeouts{connections: map[string]time.Duration{"lava-test-shell": 10 * time.Second}}
	job := func(conn *jobdef.Timeout, named map[string]jobdef.Timeout) *jobdef.Job {
		return &jobdef.Job{Timeouts: jobdef.Timeouts{Connection: conn, Connections: named}}
	}
	minute := &jobdef.Timeout{Duration: time.Minute}
	tests := []struct {
		name     string
		job      *jobdef.Job
		action   string
		want     time.Duration
		wantFrom string
	}{
		{"nothing set: 30 s", job(nil, nil), "lava-test-monitor", DefaultConnectionTimeout, "the default connection timeout"},
		{"job timeouts.connection", job(minute, nil), "lava-test-monitor", time.Minute, "the job's timeouts.connection"},
		{"device beats job connection", job(minute, nil), "lava-test-shell", 10 * time.Second, "the device's timeouts.connections.lava-test-shell"},
		{"job timeouts.connections.<name> beats device", job(minute, map[string]jobdef.Timeout{"lava-test-shell": {Duration: 2 * time.Minute}}),
			"lava-test-shell", 2 * time.Minute, "the job's timeouts.connections.lava-test-shell"},
		{"other names do not apply", job(nil, map[string]jobdef.Timeout{"auto-login-action": {Duration: time.Second}}),
			"lava-test-monitor", DefaultConnectionTimeout, "the default connection timeout"},
		{"action timeouts do not apply", &jobdef.Job{Timeouts: jobdef.Timeouts{Action: minute, Actions: map[string]jobdef.Timeout{"lava-test-monitor": {Duration: time.Second}}}},
			"lava-test-monitor", DefaultConnectionTimeout, "the default connection timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := resolveConnectionTimeout(tt.job, dev, tt.action)
			if got.d != tt.want || got.from != tt.wantFrom {
				t.Errorf("resolveConnectionTimeout = %s from %q; want %s from %q", got.d, got.from, tt.want, tt.wantFrom)
			}
		})
	}
}

// TestSkipsTimeout: as in LAVA, only the block's own timeout can say skip,
// and only a test action's timeout is skipped.
func TestSkipsTimeout(t *testing.T) {
	skip := &jobdef.Timeout{Duration: time.Minute, Skip: true}
	tests := []struct {
		name  string
		block *jobdef.Action
		want  bool
	}{
		{"test block timeout with skip", &jobdef.Action{Kind: jobdef.KindTest, Timeout: skip}, true},
		{"test block timeout without skip", &jobdef.Action{Kind: jobdef.KindTest, Timeout: &jobdef.Timeout{Duration: time.Minute}}, false},
		{"boot block timeout with skip", &jobdef.Action{Kind: jobdef.KindBoot, Timeout: skip}, false},
		{"skip on the block's timeouts.<name>", &jobdef.Action{Kind: jobdef.KindTest, Timeouts: map[string]jobdef.Timeout{"lava-test-shell": *skip}}, false},
		{"no block (finalize)", nil, false},
	}
	for _, tt := range tests {
		if got := skipsTimeout(tt.block); got != tt.want {
			t.Errorf("%s: skipsTimeout = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestAttempts checks how often a block's action runs its work, as LAVA's
// RetryAction counts it (lava_dispatcher/logical.py).
func TestAttempts(t *testing.T) {
	tests := []struct {
		name                    string
		block                   jobdef.Action
		failureRetry, bootRetry int // the device's constants
		want                    int
		wantWhy                 string
	}{
		{"once", jobdef.Action{Kind: jobdef.KindTest}, 1, 0, 1, ""},
		{"failure_retry", jobdef.Action{Kind: jobdef.KindTest, FailureRetry: 3}, 1, 0, 3, "failure_retry"},
		{"failure_retry beats the device's", jobdef.Action{Kind: jobdef.KindBoot, FailureRetry: 2}, 5, 4, 2, "failure_retry"},
		{"the device's failure_retry", jobdef.Action{Kind: jobdef.KindDeploy}, 3, 4, 3, "the device's failure_retry"},
		{"the device's boot_retry in a boot block", jobdef.Action{Kind: jobdef.KindBoot}, 3, 4, 4, "the device's boot_retry"},
		{"the device's constants do not apply to commands", jobdef.Action{Kind: jobdef.KindCommand}, 3, 4, 1, ""},
		{"repeat", jobdef.Action{Kind: jobdef.KindTest, Repeat: 2}, 3, 0, 2, "repeat"},
	}
	for _, tt := range tests {
		got, why := attempts(&tt.block, tt.failureRetry, tt.bootRetry)
		if got != tt.want || why != tt.wantWhy {
			t.Errorf("%s: attempts = %d, %q; want %d, %q", tt.name, got, why, tt.want, tt.wantWhy)
		}
	}
}

// TestPlaceRetrying: a block's action that retries gets the retry action's
// timeout (levels 1 to 4) for all its attempts, each attempt its share or
// a named timeout, and its sub-actions the share below their named
// timeouts.
func TestPlaceRetrying(t *testing.T) {
	block := &jobdef.Action{Kind: jobdef.KindBoot, Timeout: &jobdef.Timeout{Duration: 6 * time.Minute}, FailureRetry: 3}
	dev := deviceTimeouts{
		actions:     map[string]time.Duration{"auto-login-action": 2 * time.Minute},
		connections: map[string]time.Duration{"auto-login-action": 90 * time.Second},
	}
	r := &runner{device: dev}
	place := func(job *jobdef.Job) (*node, *node) {
		n := &node{action: &bootAction{name: "minimal-boot"}, block: block}
		r.placeRetrying(job, n, nil, 3, "failure_retry")
		child := &node{action: &autoLogin{}, block: block, parent: "minimal-boot"}
		r.place(job, child, n.retry)
		return n, child
	}

	n, child := place(&jobdef.Job{})
	want := []resolved{
		{6 * time.Minute, "the boot block's timeout"},
		{2 * time.Minute, "minimal-boot's timeout 00:06:00 ÷ failure_retry 3"},
		{2 * time.Minute, "minimal-boot's timeout 00:06:00 ÷ failure_retry 3"},
		{90 * time.Second, "the device's timeouts.connections.auto-login-action"},
	}
	if got := []resolved{n.timeout, n.attempt, child.timeout, child.conn}; !slices.Equal(got, want) {
		t.Errorf("timeout, attempt, child, child connection = %v, want %v", got, want)
	}

	n, child = place(&jobdef.Job{Timeouts: jobdef.Timeouts{Actions: map[string]jobdef.Timeout{
		"minimal-boot": {Duration: 4 * time.Minute}, "auto-login-action": {Duration: 3 * time.Minute},
	}}})
	want = []resolved{
		{6 * time.Minute, "the boot block's timeout"},
		{4 * time.Minute, "the job's timeouts.actions.minimal-boot"},
		{3 * time.Minute, "the job's timeouts.actions.auto-login-action"},
		{90 * time.Second, "the device's timeouts.connections.auto-login-action"},
	}
	if got := []resolved{n.timeout, n.attempt, child.timeout, child.conn}; !slices.Equal(got, want) {
		t.Errorf("with named timeouts: timeout, attempt, child, child connection = %v, want %v", got, want)
	}

	once := &node{action: &bootAction{name: "minimal-boot"}, block: &jobdef.Action{Kind: jobdef.KindBoot, Timeout: &jobdef.Timeout{Duration: 6 * time.Minute}}}
	r.placeRetrying(&jobdef.Job{Timeouts: jobdef.Timeouts{Actions: map[string]jobdef.Timeout{"minimal-boot": {Duration: 8 * time.Minute}}}}, once, nil, 1, "")
	if want := (resolved{8 * time.Minute, "the job's timeouts.actions.minimal-boot"}); once.retry != nil || once.timeout != want || once.attempt != want {
		t.Errorf("an action that runs once: retry %v, timeout %v, attempt %v; want no retry and %v", once.retry, once.timeout, once.attempt, want)
	}
}

// TestShownTimeout checks the start record's timeout: LAVA's hh:mm:ss of
// the time the action may take, capped by what its parent or the job has
// left, and where the timeout came from.
func TestShownTimeout(t *testing.T) {
	hour, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	n := &node{timeout: resolved{2 * time.Hour, "the test block's timeout"}}
	child := &node{timeout: resolved{2 * time.Hour, "the device's timeouts.actions.auto-login-action"}, parent: "minimal-boot"}
	short := &node{timeout: resolved{5 * time.Minute, "the job's timeouts.action"}}
	tests := []struct {
		ctx  context.Context
		n    *node
		want string
	}{
		{context.Background(), n, "02:00:00 from the test block's timeout"},
		{hour, n, "01:00:00, the time the job has left (02:00:00 from the test block's timeout)"},
		{hour, child, "01:00:00, the time minimal-boot has left (02:00:00 from the device's timeouts.actions.auto-login-action)"},
		{hour, short, "00:05:00 from the job's timeouts.action"},
	}
	for _, tt := range tests {
		if got := shownTimeout(tt.ctx, tt.n); got != tt.want {
			t.Errorf("shownTimeout = %q, want %q", got, tt.want)
		}
	}
}
