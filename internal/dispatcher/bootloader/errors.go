package bootloader

import (
	"errors"
	"fmt"
)

// Kind classifies an Error the way LAVA does, for the dispatcher to map to
// its error types.
type Kind int

const (
	// Job: the job or the device configuration cannot work (LAVA's
	// JobError / validation errors).
	Job Kind = iota + 1
	// Infrastructure: the bootloader printed an error message, or did not
	// show the prompt in time, or the console failed (LAVA's
	// InfrastructureError, the timeout exception of the bootloader
	// actions).
	Infrastructure
)

// String names the kind as the dispatcher's error types do.
func (k Kind) String() string {
	switch k {
	case Job:
		return "Job"
	case Infrastructure:
		return "Infrastructure"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is a failed bootloader step.
type Error struct {
	Kind Kind
	// Action is LAVA's name of the step: bootloader-interrupt,
	// bootloader-commands, or bootloader-overlay for the preparation.
	Action string
	// Command is the command typed last, if any.
	Command string
	// Matched is the error message pattern the bootloader's output matched,
	// if that is the failure.
	Matched string
	// Msg says what went wrong.
	Msg string
	// Err is the underlying error (a console or context error), if any.
	Err error
}

// Error says which step failed, how, and why.
func (e *Error) Error() string {
	s := e.Msg
	if e.Action != "" {
		s = e.Action + ": " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or 0.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func jobErrorf(format string, args ...any) error {
	return &Error{Kind: Job, Action: "bootloader-overlay", Msg: fmt.Sprintf(format, args...)}
}
