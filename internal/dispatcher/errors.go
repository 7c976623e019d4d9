package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Error is a job failure with LAVA's error type. Actions return it (or wrap
// it) to say why they failed; any other error counts as a Bug.
type Error struct {
	Type lab.ErrorType
	Msg  string
	Err  error // the cause, if any
}

// Error returns the message.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// newError formats a message like fmt.Errorf (with %w keeping the cause).
func newError(t lab.ErrorType, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Type: t, Msg: err.Error(), Err: errors.Unwrap(err)}
}

// InfrastructureError reports a lab failure: the device, its power or its
// console misbehaved. The device then needs a health check.
func InfrastructureError(format string, args ...any) error {
	return newError(lab.ErrorInfrastructure, format, args...)
}

// JobError reports a problem of the job itself (its definition asks for
// something that cannot work).
func JobError(format string, args ...any) error {
	return newError(lab.ErrorJob, format, args...)
}

// TestError reports a failure the test itself declared (lava-test-raise,
// an interactive failure with exception TestError).
func TestError(format string, args ...any) error {
	return newError(lab.ErrorTest, format, args...)
}

// ConfigurationError reports a device or worker configuration the job
// cannot run with.
func ConfigurationError(format string, args ...any) error {
	return newError(lab.ErrorConfiguration, format, args...)
}

// ErrorTypeOf classifies err: the type of the first *Error in its chain,
// Bug for any other non-nil error, and ErrorNone for nil.
func ErrorTypeOf(err error) lab.ErrorType {
	if err == nil {
		return lab.ErrorNone
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Type
	}
	return lab.ErrorBug
}

// exceptionName is LAVA's exception class for an error type, used in the
// journal's error records.
func exceptionName(t lab.ErrorType) string {
	switch t {
	case lab.ErrorInfrastructure:
		return "InfrastructureError"
	case lab.ErrorJob:
		return "JobError"
	case lab.ErrorTest:
		return "TestError"
	case lab.ErrorConfiguration:
		return "ConfigurationError"
	case lab.ErrorTimeout:
		return "LAVATimeoutError"
	case lab.ErrorCanceled:
		return "JobCanceled"
	case lab.ErrorMultinodeTimeout:
		return MultinodeErrorName
	}
	return "LAVABug"
}

// CanceledMsg is the error message of a canceled job, as in LAVA.
const CanceledMsg = "The job was canceled"

// actionTimeout is the cancellation cause of an action's own timeout.
type actionTimeout struct {
	action  string
	timeout time.Duration
}

func (t *actionTimeout) Error() string {
	return fmt.Sprintf("%s timed out after %s seconds", t.action, seconds(t.timeout))
}

// jobTimeout is the cancellation cause of the job timeout.
type jobTimeout struct{ timeout time.Duration }

func (t *jobTimeout) Error() string {
	return fmt.Sprintf("job timed out after %s seconds", seconds(t.timeout))
}

// seconds formats a timeout as whole seconds, the way LAVA reports them.
func seconds(d time.Duration) string {
	return fmt.Sprint(int64(d.Round(time.Second) / time.Second))
}

// connectionTimeout is the cancellation cause of a wait that an action's
// connection timeout ended.
type connectionTimeout struct {
	action  string
	timeout time.Duration
	from    string // where the timeout came from
}

func (t *connectionTimeout) Error() string {
	return fmt.Sprintf("%s: the connection timed out after %s seconds (the connection timeout, from %s)", t.action, seconds(t.timeout), t.from)
}

// isConnectionTimeout reports whether err comes from a connection timeout.
func isConnectionTimeout(err error) bool {
	var ct *connectionTimeout
	return errors.As(err, &ct)
}

// connectionError is the error of a wait that the connection timeout
// ended, err (a *waitError wrapping the *connectionTimeout): a Job error,
// as LAVA's "wait for prompt timed out", naming the timeout and what the
// wait was for. Any other err is returned as it is.
func connectionError(err error) error {
	var ct *connectionTimeout
	var we *waitError
	if !errors.As(err, &ct) || !errors.As(err, &we) {
		return err
	}
	return &Error{Type: lab.ErrorJob, Msg: ct.Error() + ": " + we.Error(), Err: err}
}

// stoppedError is the error of an action that returned err after its
// context ctx ended: causeError's, with what the action was waiting for on
// the console, for a timeout that ended a wait (err wraps a *waitError):
// "boot-qemu-image timed out after 120 seconds: waited 118 s for prompt
// 'root@debian:~# '; last line: '/ # '".
func stoppedError(ctx context.Context, err error) *Error {
	e := causeError(ctx)
	var we *waitError
	if e.Type == lab.ErrorTimeout && errors.As(err, &we) {
		e.Msg += ": " + we.Error()
	}
	return e
}

// causeError turns the reason a context ended into the job's error:
// LAVATimeout for timeouts, Canceled for everything else (the job process
// was told to stop).
func causeError(ctx context.Context) *Error {
	cause := context.Cause(ctx)
	var at *actionTimeout
	var jt *jobTimeout
	switch {
	case errors.As(cause, &at), errors.As(cause, &jt):
		return &Error{Type: lab.ErrorTimeout, Msg: cause.Error(), Err: cause}
	}
	return &Error{Type: lab.ErrorCanceled, Msg: CanceledMsg, Err: cause}
}
