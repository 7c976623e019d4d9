package dispatcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

func TestResolveTimeout(t *testing.T) {
	to := func(d time.Duration) *jobdef.Timeout { return &jobdef.Timeout{Duration: d} }
	device := map[string]time.Duration{"lava-test-shell": 3 * time.Minute}
	tests := []struct {
		name     string
		job      jobdef.Timeouts
		block    *jobdef.Action
		action   string
		want     time.Duration
		wantSkip bool
	}{
		{"nothing set", jobdef.Timeouts{}, nil, "tmpfs-deploy", DefaultActionTimeout, false},
		{"job action", jobdef.Timeouts{Action: to(time.Minute)}, nil, "tmpfs-deploy", time.Minute, false},
		{"device beats job action", jobdef.Timeouts{Action: to(time.Minute)}, nil, "lava-test-shell", 3 * time.Minute, false},
		{"block beats device", jobdef.Timeouts{}, &jobdef.Action{Timeout: &jobdef.Timeout{Duration: 5 * time.Minute, Skip: true}}, "lava-test-shell", 5 * time.Minute, true},
		{"job actions.<name> beats block", jobdef.Timeouts{Actions: map[string]jobdef.Timeout{"lava-test-shell": {Duration: 7 * time.Minute}}},
			&jobdef.Action{Timeout: to(5 * time.Minute)}, "lava-test-shell", 7 * time.Minute, false},
		{"block timeouts.<name> beats all", jobdef.Timeouts{Actions: map[string]jobdef.Timeout{"lava-test-shell": {Duration: 7 * time.Minute}}},
			&jobdef.Action{Timeout: to(5 * time.Minute), Timeouts: map[string]jobdef.Timeout{"lava-test-shell": {Duration: 9 * time.Minute}}}, "lava-test-shell", 9 * time.Minute, false},
		{"other names do not apply", jobdef.Timeouts{Actions: map[string]jobdef.Timeout{"power-off": {Duration: time.Second}}}, nil, "tmpfs-deploy", DefaultActionTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, skip := resolveTimeout(&jobdef.Job{Timeouts: tt.job}, device, tt.block, tt.action)
			if d != tt.want || skip != tt.wantSkip {
				t.Errorf("resolveTimeout = %s, %v; want %s, %v", d, skip, tt.want, tt.wantSkip)
			}
		})
	}
}

func TestFormats(t *testing.T) {
	tests := []struct {
		d           time.Duration
		clock, secs string
	}{
		{0, "00:00:00", "0.00"},
		{1020 * time.Millisecond, "00:00:01", "1.02"},
		{1500 * time.Millisecond, "00:00:02", "1.50"},
		{5 * time.Minute, "00:05:00", "300.00"},
		{26*time.Hour + 3*time.Second, "26:00:03", "93603.00"},
		{-time.Second, "00:00:00", "-1.00"},
	}
	for _, tt := range tests {
		if got := clock(tt.d); got != tt.clock {
			t.Errorf("clock(%s) = %s, want %s", tt.d, got, tt.clock)
		}
		if got := durationSeconds(tt.d); got != tt.secs {
			t.Errorf("durationSeconds(%s) = %s, want %s", tt.d, got, tt.secs)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	tests := []struct {
		err       error
		want      lab.ErrorType
		exception string
	}{
		{nil, lab.ErrorNone, ""},
		{InfrastructureError("x"), lab.ErrorInfrastructure, "InfrastructureError"},
		{JobError("x"), lab.ErrorJob, "JobError"},
		{TestError("x"), lab.ErrorTest, "TestError"},
		{ConfigurationError("x"), lab.ErrorConfiguration, "ConfigurationError"},
		{&Error{Type: lab.ErrorTimeout}, lab.ErrorTimeout, "LAVATimeoutError"},
		{&Error{Type: lab.ErrorCanceled}, lab.ErrorCanceled, "JobCanceled"},
		{errFmt("wrapped: %w", JobError("inner")), lab.ErrorJob, "JobError"},
		{errFmt("plain"), lab.ErrorBug, "LAVABug"},
	}
	for _, tt := range tests {
		got := ErrorTypeOf(tt.err)
		if got != tt.want {
			t.Errorf("ErrorTypeOf(%v) = %q, want %q", tt.err, got, tt.want)
		}
		if tt.err != nil && exceptionName(got) != tt.exception {
			t.Errorf("exceptionName(%q) = %q, want %q", got, exceptionName(got), tt.exception)
		}
	}
}

func TestJobDirFiles(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadResult(dir); ok || err != nil {
		t.Fatalf("ReadResult before the job ended = %v, %v", ok, err)
	}
	a := workerproto.Assign{JobID: 7, Definition: "job_name: x", Device: workerproto.Device{Hostname: "h"}, JobToken: "t", Timeout: time.Minute}
	if err := WriteJob(dir, a); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadJob(dir); err != nil || got != a {
		t.Fatalf("ReadJob = %+v, %v", got, err)
	}
	for _, r := range []Result{{Result: ResultPass}, {Result: ResultFail, ErrorType: lab.ErrorCanceled, ErrorMsg: CanceledMsg}} {
		if err := WriteResult(dir, r); err != nil {
			t.Fatal(err)
		}
		got, ok, err := ReadResult(dir)
		if err != nil || !ok || got != r {
			t.Fatalf("ReadResult = %+v, %v, %v; want %+v", got, ok, err, r)
		}
		want := ExitFail
		if r.Passed() {
			want = ExitPass
		}
		if r.ExitCode() != want {
			t.Errorf("ExitCode(%+v) = %d", r, r.ExitCode())
		}
	}
	for _, bad := range []string{"{", `{"result":"maybe"}`} {
		if err := writeFileAtomic(dir, ResultFile, []byte(bad)); err != nil {
			t.Fatal(err)
		}
		if _, ok, err := ReadResult(dir); ok || err == nil {
			t.Errorf("ReadResult(%s) = %v, %v; want an error", bad, ok, err)
		}
	}
}

func errFmt(format string, args ...any) error { return fmt.Errorf(format, args...) }
