package download

import (
	"errors"
	"fmt"
)

// ErrInvalidItem wraps the errors of items that cannot be fetched as
// written: a bad URL or scheme, an unknown compression, a malformed
// checksum.
var ErrInvalidItem = errors.New("invalid deploy item")

// ChecksumError reports downloaded bytes whose checksum is not the one the
// item names.
type ChecksumError struct {
	URL      string
	Algo     string // "md5", "sha256" or "sha512"
	Expected string
	Actual   string
}

// Error names the URL, the algorithm and both checksums.
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("download %s: %s mismatch: expected %s, actual %s", e.URL, e.Algo, e.Expected, e.Actual)
}

// UnreachableError reports a download whose server gave no answer at all:
// the connection was refused or timed out, or the host name does not
// resolve. No byte of the image was received.
type UnreachableError struct {
	URL string
	Err error
}

// Error names the URL and the cause.
func (e *UnreachableError) Error() string {
	return fmt.Sprintf("download %s: no answer from its server: %v", e.URL, e.Err)
}

// Unwrap returns the cause.
func (e *UnreachableError) Unwrap() error { return e.Err }

// StatusError reports an HTTP response that is not a success.
type StatusError struct {
	URL        string
	StatusCode int
	Status     string // as sent, e.g. "404 Not Found"
}

// Error names the URL and the status.
func (e *StatusError) Error() string {
	return fmt.Sprintf("download %s: HTTP status %s", e.URL, e.Status)
}
