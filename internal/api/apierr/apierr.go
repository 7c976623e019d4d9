package apierr

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
)

// The stable machine codes of errors, the same on every transport.
const (
	CodeInvalid           = "invalid"
	CodeInvalidDefinition = "invalid_definition"
	CodeInvalidDictionary = "invalid_dictionary"
	CodeUnauthenticated   = "unauthenticated"
	CodeForbidden         = "forbidden"
	CodeNotFound          = "not_found"
	CodeConflict          = "conflict"
	CodeUnavailable       = "unavailable"
	CodeTooLarge          = "too_large"
	CodeOverloaded        = "overloaded"
	CodeTimeout           = "timeout"
	CodeThrottled         = "throttled"
	CodeInternal          = "internal"
	// CodeStorageFull (507) and CodeDatabaseUnavailable (503) are
	// conditions of the server, not bugs and not the request's fault: the
	// same request succeeds once they are repaired.
	CodeStorageFull         = "storage_full"
	CodeDatabaseUnavailable = "database_unavailable"
)

// The messages of the server's conditions. They say what is wrong and
// what to do; the errors behind them (paths, driver messages) go to the
// server's log, once per episode, not on the wire.
const (
	StorageFullMessage         = "the server's disk is full: it cannot store anything more until an administrator frees space; retry later"
	DatabaseUnavailableMessage = "the database is unavailable: the server can neither read nor store anything until it is back; retry later"
)

// Retry-After of the server's conditions: a database restarts in seconds,
// freeing disk space takes a person.
const (
	StorageFullRetry         = 30 * time.Second
	DatabaseUnavailableRetry = 5 * time.Second
)

// ErrBodyTimeout: the request body did not arrive in time (the server's
// bound on slow request bodies cut it). The server's body reader wraps it;
// Map answers 408 timeout.
var ErrBodyTimeout = errors.New("request body not received in time")

// InternalMessage replaces the text of internal errors on the wire: their
// details belong in the server's log, not in a reply.
const InternalMessage = "internal error"

// Mapped is an error as a transport shows it.
type Mapped struct {
	// Status is the HTTP status (XML-RPC uses it as the fault code, as
	// LAVA does).
	Status int
	// Code is the stable machine code (Code* constants).
	Code string
	// Message is the text for people; InternalMessage for internal errors.
	Message string
	// Details lists the positioned problems of an invalid job definition
	// or device dictionary; nil otherwise.
	Details []wire.Problem
	// RetryAfter, when positive, is how long the client should wait
	// before trying again (the Retry-After header; SetHeaders sets it).
	RetryAfter time.Duration
}

// SetHeaders sets the response headers the error calls for: Retry-After,
// in whole seconds rounded up. Call it before writing the status.
func (m Mapped) SetHeaders(h http.Header) {
	if m.RetryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((m.RetryAfter+time.Second-1)/time.Second), 10))
	}
}

// Internal reports whether the error is a bug of the server (code
// internal, status 500): the transport logs it and hides its text. The
// other 5xx (overloaded, the server's conditions) are explained by their
// message.
func (m Mapped) Internal() bool { return m.Code == CodeInternal }

// Condition reports whether the error is a condition of the server that
// holds until it is repaired (its disk is full, its database is down):
// transports report it to the app (app.NoteFault), which logs it once per
// episode rather than once per request.
func (m Mapped) Condition() bool {
	return m.Code == CodeStorageFull || m.Code == CodeDatabaseUnavailable
}

// Body is the error envelope of the JSON APIs.
func (m Mapped) Body() wire.ErrorResponse {
	return wire.ErrorResponse{Error: wire.ErrorBody{Code: m.Code, Message: m.Message, Details: m.Details}}
}

// Map classifies err: the server's conditions (lab.ErrDatabaseUnavailable:
// 503, lab.ErrStorageFull: 507, each with a fixed message and a
// Retry-After), the other lab sentinels, the positioned errors of job
// definitions and device dictionaries, a request body over its limit or
// past its read deadline (the server's slow-body bound). Anything else is
// internal.
func Map(err error) Mapped {
	m := Mapped{Status: http.StatusInternalServerError, Code: CodeInternal, Message: InternalMessage}
	if err == nil {
		return m
	}
	var (
		de  *jobdef.Errors
		dde *devicedict.Errors
		mbe *http.MaxBytesError
	)
	switch {
	// the server's conditions first: whatever an operation made of them,
	// they are what the caller must know
	case errors.Is(err, lab.ErrDatabaseUnavailable):
		m.Status, m.Code, m.Message = http.StatusServiceUnavailable, CodeDatabaseUnavailable, DatabaseUnavailableMessage
		m.RetryAfter = DatabaseUnavailableRetry
		return m
	case errors.Is(err, lab.ErrStorageFull):
		m.Status, m.Code, m.Message = http.StatusInsufficientStorage, CodeStorageFull, StorageFullMessage
		m.RetryAfter = StorageFullRetry
		return m
	case errors.As(err, &de):
		m.Status, m.Code, m.Details = http.StatusBadRequest, CodeInvalidDefinition, problems(de.Items)
	case errors.As(err, &dde):
		m.Status, m.Code, m.Details = http.StatusBadRequest, CodeInvalidDictionary, problems(dde.Items)
	case errors.Is(err, lab.ErrInvalid):
		m.Status, m.Code = http.StatusBadRequest, CodeInvalid
	case errors.Is(err, lab.ErrUnauthenticated):
		m.Status, m.Code = http.StatusUnauthorized, CodeUnauthenticated
	case errors.Is(err, lab.ErrForbidden):
		m.Status, m.Code = http.StatusForbidden, CodeForbidden
	case errors.Is(err, lab.ErrNotFound):
		m.Status, m.Code = http.StatusNotFound, CodeNotFound
	case errors.Is(err, lab.ErrConflict):
		m.Status, m.Code = http.StatusConflict, CodeConflict
	case errors.Is(err, lab.ErrUnavailable):
		m.Status, m.Code = http.StatusUnprocessableEntity, CodeUnavailable
	case errors.Is(err, lab.ErrThrottled):
		m.Status, m.Code = http.StatusTooManyRequests, CodeThrottled
	case errors.As(err, &mbe):
		m.Status, m.Code = http.StatusRequestEntityTooLarge, CodeTooLarge
	case errors.Is(err, lab.ErrOverloaded):
		m.Status, m.Code, m.RetryAfter = http.StatusServiceUnavailable, CodeOverloaded, time.Second
	case errors.Is(err, ErrBodyTimeout):
		m.Status, m.Code = http.StatusRequestTimeout, CodeTimeout
	default:
		return m
	}
	m.Message = err.Error()
	var ra *lab.RetryAfterError
	if errors.As(err, &ra) && ra.After > 0 {
		m.RetryAfter = ra.After
	}
	return m
}

// position is the shape jobdef.Error and devicedict.Error share.
type position = struct {
	Line, Column int
	Path, Msg    string
}

// Warnings converts a job definition's warnings to their wire form (an
// empty list when there is none).
func Warnings(ws []jobdef.Warning) []wire.Problem {
	items := make([]jobdef.Error, len(ws))
	for i, w := range ws {
		items[i] = jobdef.Error(w)
	}
	return problems(items)
}

// problems converts positioned errors to their wire form.
func problems[E ~position](items []E) []wire.Problem {
	out := make([]wire.Problem, 0, len(items))
	for _, it := range items {
		e := position(it)
		out = append(out, wire.Problem{Line: e.Line, Column: e.Column, Path: e.Path, Message: e.Msg})
	}
	return out
}
