package dispatcher

import (
	"fmt"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

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
