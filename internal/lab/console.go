package lab

import "time"

// Power actions the holder of a reservation may ask for in its console
// session; each runs the device's own command (power_on_command,
// power_off_command, hard_reset_command of its dictionary).
const (
	PowerOn    = "on"
	PowerOff   = "off"
	PowerReset = "reset"
)

// ValidPower reports whether s is a power action.
func ValidPower(s string) bool { return s == PowerOn || s == PowerOff || s == PowerReset }

// MaxConsoleInput bounds the bytes of one console input.
const MaxConsoleInput = 4096

// MaxConsoleInputs bounds the inputs of one console session: typing at
// ten keys a second for a day gives under a million.
const MaxConsoleInputs = 1_000_000

// ConsoleInput is one input typed into a reservation's console session
// (or a power action asked for there), numbered in the order the server
// received it. The worker fetches a session's inputs by number and the
// job process applies each once, in order.
type ConsoleInput struct {
	// JobID is the reservation's job.
	JobID int64
	// Seq numbers the session's inputs from 1, with no gaps.
	Seq int64
	// Time is when the server received it (UTC, microseconds).
	Time time.Time
	// User is who typed it.
	User string
	// Data is the bytes for the console; empty for a power action.
	Data []byte
	// Power is a power action (PowerOn, PowerOff, PowerReset), or "".
	Power string
}
