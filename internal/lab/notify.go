package lab

import "time"

// DeliveryKind is how a notification of a job's notify block goes out.
type DeliveryKind string

// Delivery kinds.
const (
	// DeliveryCallback is one call of a notify callback URL.
	DeliveryCallback DeliveryKind = "callback"
	// DeliveryEmail is one e-mail to one recipient.
	DeliveryEmail DeliveryKind = "email"
	// DeliveryIRC is one IRC message to one recipient (never sent: Basalt
	// has no IRC client; kept so the job shows who would have been told).
	DeliveryIRC DeliveryKind = "irc"
)

// Valid reports whether k is a known kind.
func (k DeliveryKind) Valid() bool {
	return k == DeliveryCallback || k == DeliveryEmail || k == DeliveryIRC
}

// DeliveryStatus is where a delivery is in its life.
type DeliveryStatus string

// Delivery statuses. Pending is the only one that changes again.
const (
	// DeliveryPending waits for its first or next attempt (NextAttempt).
	DeliveryPending DeliveryStatus = "pending"
	// DeliveryDelivered was accepted: a 2xx answer to a callback, the
	// SMTP server's acceptance of an e-mail.
	DeliveryDelivered DeliveryStatus = "delivered"
	// DeliveryFailed was given up: every attempt failed, or the receiver
	// refused it in a way another attempt would not change.
	DeliveryFailed DeliveryStatus = "failed"
	// DeliveryNotSent was never attempted: there is nothing to send it
	// with (no SMTP server configured, IRC) or nowhere to send it (a
	// recipient without an e-mail address). LastError says why.
	DeliveryNotSent DeliveryStatus = "not_sent"
)

// Valid reports whether s is a known status.
func (s DeliveryStatus) Valid() bool {
	return s == DeliveryPending || s == DeliveryDelivered || s == DeliveryFailed || s == DeliveryNotSent
}

// Delivery is one notification of a job: a callback call, an e-mail or an
// IRC message to one recipient, queued when the job reached a state its
// notify criteria match, with its attempts.
type Delivery struct {
	ID    int64
	JobID int64
	Kind  DeliveryKind
	// Target is where it goes: a callback's URL as the definition wrote
	// it (placeholders and all), an e-mail address, an IRC handle.
	Target string
	// State and Health are the job's at the transition that queued the
	// delivery: what the message reports, even when it is sent later.
	State  JobState
	Health JobHealth
	// Spec holds the rest of what the delivery needs (a callback's method,
	// token, header, dataset and content type; an e-mail's verbosity and
	// recipient's name) as JSON the app writes and reads; the store keeps
	// it as given.
	Spec   string
	Status DeliveryStatus
	// Attempts is the number of attempts made so far.
	Attempts int
	Created  time.Time
	// NextAttempt is when a pending delivery is due (zero otherwise).
	NextAttempt time.Time
	// Done is when the delivery left pending (zero while pending).
	Done time.Time
	// LastError is the error of the last failed attempt, or why the
	// delivery was not sent; empty once delivered.
	LastError string
	// Log is the attempts in order (ListDeliveries fills it; nil
	// elsewhere).
	Log []DeliveryAttempt
}

// DeliveryAttempt is one attempt to send a delivery.
type DeliveryAttempt struct {
	Attempt  int // 1 for the first
	At       time.Time
	Duration time.Duration
	// StatusCode is the HTTP status of a callback's answer or the SMTP
	// server's last reply code; 0 when there was none (a network error).
	StatusCode int
	// Error says what went wrong; empty when the attempt delivered.
	Error string
}
