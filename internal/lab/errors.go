package lab

import (
	"errors"
	"time"
)

// Sentinel errors shared by every layer. Domain and store code wrap them with
// context (fmt.Errorf("get job %d: %w", id, ErrNotFound)); transports test them
// with errors.Is and map them to status codes at the edge.
var (
	// ErrNotFound: the object does not exist, or the caller may not see it.
	// Invisible objects must be reported exactly like missing ones.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object exists already, or its current state forbids
	// the change (cancel a finished job, assign a busy device).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed or violates a rule.
	ErrInvalid = errors.New("invalid")
	// ErrUnauthenticated: credentials are missing or wrong.
	ErrUnauthenticated = errors.New("authentication required")
	// ErrForbidden: the caller is known but lacks the permission.
	ErrForbidden = errors.New("forbidden")
	// ErrUnavailable: no usable device exists for a submission.
	ErrUnavailable = errors.New("no usable device")
	// ErrOverloaded: the server sheds this request to keep its latency for
	// the others (and for the worker link); the client retries shortly.
	ErrOverloaded = errors.New("overloaded")
	// ErrThrottled: too many attempts (failed logins); the caller must wait
	// before trying again. Usually inside a RetryAfterError saying how long.
	ErrThrottled = errors.New("throttled")
	// ErrStorageFull: the server cannot store what it was asked to because
	// its storage is full: the disk of the log store or of the database
	// (no space left, over quota). It is a condition of the server, not of
	// the request: the same request succeeds once space is freed, so
	// clients retry it later. The stores classify their errors into it.
	ErrStorageFull = errors.New("storage full")
	// ErrDatabaseUnavailable: the database does not answer (stopped,
	// unreachable, restarting, out of connections). Like ErrStorageFull it
	// is a condition of the server that clients wait out and retry.
	ErrDatabaseUnavailable = errors.New("database unavailable")
)

// RetryAfterError is an error after which the caller may try again once
// After has passed; transports answer it with a Retry-After header.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string { return e.Err.Error() }

// Unwrap returns the error that says what happened (errors.Is sees
// through it).
func (e *RetryAfterError) Unwrap() error { return e.Err }
