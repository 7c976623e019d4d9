package workerproto

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is the protocol version this build speaks. Every request carries
// it in the VersionHeader; a server answers a different version with 409
// and an ErrorBody whose Code is CodeProtocolMismatch, and a worker that
// sees that stops retrying fast and says so. Bump it on any incompatible
// change to the messages or endpoints below.
const Version = 1

// MinVersion is the oldest protocol version this build's server still
// serves. Server replicas are upgraded one at a time, then the workers
// (docs/operations.md, Rolling upgrades): a server must serve the workers
// of the release before it, so when Version is bumped MinVersion stays at
// the previous one (Version-1) for at least one release, the server
// answering such workers in their version.
const MinVersion = 1

// Supported reports whether this build's server serves workers speaking
// protocol v.
func Supported(v int) bool { return v >= MinVersion && v <= Version }

// VersionHeader is the HTTP header carrying the protocol version.
const VersionHeader = "Basalt-Worker-Protocol"

// Prefix is where the worker endpoints live on the server's one HTTP port.
const Prefix = "/api/worker/v1"

// Endpoints, relative to Prefix. All take and return JSON except the log
// upload, whose body is the raw journal bytes. Authentication is
// `Authorization: Token <worker token>` except for Join.
const (
	// PathJoin: POST JoinRequest → JoinResponse. Exchanges a one-time join
	// token for the worker's own token.
	PathJoin = "/join"
	// PathConnect: GET ?name=W → a stream of Frame, one JSON object per line
	// (NDJSON), for as long as the connection lives. It works over HTTP/2
	// and through plain HTTP/1.1 proxies (a chunked response).
	PathConnect = "/connect"
	// PathHeartbeat: POST Heartbeat → HeartbeatAck.
	PathHeartbeat = "/heartbeat"
	// PathStart: POST /jobs/{id}/start → 200 {} once the job runs.
	PathStart = "/jobs/%d/start"
	// PathLog: PUT /jobs/{id}/log?offset=N with the journal bytes
	// [N, N+len) → LogAck. Idempotent by offset (see LogAck).
	PathLog = "/jobs/%d/log"
	// PathFinish: POST Finish → FinishAck.
	PathFinish = "/jobs/%d/finish"
	// PathMultinode: POST MultinodeRequest → MultinodeResponse. A
	// multinode job's call to the coordinator, made for the job by its
	// worker. The server may hold a call whose answer would be "wait" for
	// up to MultinodeRequest.Hold, answering as soon as it can be
	// answered otherwise.
	PathMultinode = "/jobs/%d/multinode"
	// PathConsole: GET ?after=SEQ&hold=DURATION → ConsoleInputs. The input
	// typed into a reservation's console (Assign.Console) after sequence
	// number SEQ, oldest first. The server holds a call that would answer
	// no input for up to hold (it caps it), answering as soon as input
	// arrives. It answers 404 (not_found) once the job is no longer the
	// worker's or its session ended: the worker stops asking. SEQ is the
	// worker's acknowledgement: input up to it was applied.
	PathConsole = "/jobs/%d/console"
)

// JoinRequest exchanges a join token for a worker token.
type JoinRequest struct {
	Name      string `json:"name"`
	JoinToken string `json:"join_token"`
}

// JoinResponse carries the worker's own token; the join token is spent.
type JoinResponse struct {
	Name  string `json:"name"`
	Token string `json:"token"`
}

// Frame is one message of the server → worker stream. Type says which
// field is set.
type Frame struct {
	Type   FrameType `json:"type"`
	Hello  *Hello    `json:"hello,omitempty"`
	Assign *Assign   `json:"assign,omitempty"`
	Cancel *Cancel   `json:"cancel,omitempty"`
	// Ping frames carry only Type and Time; the worker treats a stream
	// silent for 3 × HeartbeatInterval as dead and reconnects.
	Time time.Time `json:"time"`
}

// FrameType names a Frame's kind.
type FrameType string

// Frame kinds.
const (
	FrameHello  FrameType = "hello"  // first frame of every stream
	FrameAssign FrameType = "assign" // run this job (idempotent: resent after reconnects)
	FrameCancel FrameType = "cancel" // stop this job
	FramePing   FrameType = "ping"   // keep-alive
)

// Hello opens a stream: what the server is and what it expects.
type Hello struct {
	ServerVersion     string        `json:"server_version"`
	Protocol          int           `json:"protocol"`
	HeartbeatInterval time.Duration `json:"heartbeat_interval"` // nanoseconds in JSON
	// Jobs lists every job the server believes is on this worker and not
	// finished (Scheduled, Running or Canceling). A worker that has a job
	// locally which is not listed here may drop it once it has uploaded
	// everything (the server finished it meanwhile).
	Jobs []int64 `json:"jobs"`
}

// Assign tells a worker to run a job on one of its devices. It is sent when
// the scheduler's decision is committed, and again after every reconnect
// until the job has started; a worker ignores assignments of jobs it
// already has.
type Assign struct {
	JobID      int64  `json:"job_id"`
	Definition string `json:"definition"` // job YAML
	Device     Device `json:"device"`
	// JobToken authenticates the job itself (artifacts, later the
	// coordinator); it can act only for this job and dies with it.
	JobToken string `json:"job_token"`
	// Timeout is the job's own timeout (timeouts.job).
	Timeout time.Duration `json:"timeout"`
	// Multinode places the job in its multinode group; nil for other
	// jobs.
	Multinode *Multinode `json:"multinode,omitempty"`
	// Console makes the job a reservation's console session: the job
	// process connects to the device's console and power commands and
	// runs no pipeline; it records everything printed and typed in its
	// journal, applies the input the server queues (PathConsole) and runs
	// until canceled. nil for other jobs.
	Console *Console `json:"console,omitempty"`
}

// Console describes a reservation's console session.
type Console struct {
	// Holder is the user who holds the device and may type.
	Holder string `json:"holder"`
	// Reason is the holder's reason for the reservation.
	Reason string `json:"reason,omitempty"`
	// Until is when the reservation ends unless extended; the server
	// cancels the job then (the job's Timeout is only a safety net).
	Until time.Time `json:"until"`
}

// Power actions a console's holder may ask for; each runs the device's own
// command (its dictionary's power_on_command, power_off_command,
// hard_reset_command).
const (
	PowerOn    = "on"
	PowerOff   = "off"
	PowerReset = "reset"
)

// ConsoleInput is one input of a console session, in the order the server
// received it.
type ConsoleInput struct {
	// Seq numbers the session's inputs from 1, with no gaps.
	Seq int64 `json:"seq"`
	// Time is when the server received it.
	Time time.Time `json:"time"`
	// User is who typed it (the holder).
	User string `json:"user"`
	// Data is the bytes to write to the console (base64 in JSON).
	Data []byte `json:"data,omitempty"`
	// Power is a power action (PowerOn, PowerOff, PowerReset) instead of
	// data.
	Power string `json:"power,omitempty"`
	// Expired says the input waited on the server longer than it may
	// (the worker's link was down): it must not reach the board, and the
	// session records it as dropped.
	Expired bool `json:"expired,omitempty"`
}

// ConsoleInputs answers PathConsole.
type ConsoleInputs struct {
	Inputs []ConsoleInput `json:"inputs"`
}

// ConsoleSocket is the Unix socket, in a console session's job directory,
// through which the worker hands the server's console input to the job
// process (the job process listens on it).
const ConsoleSocket = "console.sock"

// Multinode is what a multinode sub-job's process needs to know about its
// group. Its coordinator calls go to the server (PathMultinode), which
// knows the group from the job: the job never names its group itself.
type Multinode struct {
	// Group is the group's target_group (a UUID).
	Group string `json:"group"`
	// SubID is LAVA's "<parent id>.<n>".
	SubID string `json:"sub_id"`
	// Role is this job's role.
	Role string `json:"role"`
	// GroupSize is the number of jobs in the group.
	GroupSize int `json:"group_size"`
	// Roles maps the id (decimal) of every job of the group to its role:
	// LAVA's protocols.lava-multinode.roles, which lava-group prints.
	Roles map[string]string `json:"roles"`
}

// MultinodeSocket is the Unix socket, in a multinode job's directory,
// through which the job process reaches the coordinator: the worker
// listens on it and forwards each call over its link to the server
// (PathMultinode). One call per connection: the job process writes one
// MultinodeRequest as a JSON line, the worker answers one
// MultinodeResponse as a JSON line and closes. While the worker restarts
// the socket may be missing or refuse connections; the job process retries
// until its call's own timeout.
const MultinodeSocket = "multinode.sock"

// MultinodeRequest is one call of a job to the multinode coordinator. The
// server fills in what LAVA's dispatcher adds to every request (client
// name, group name, role, hostname, group size) from the job itself.
type MultinodeRequest struct {
	// Request is LAVA's request name: group_data, lava_send, lava_wait,
	// lava_wait_all, lava_sync or clear_group.
	Request string `json:"request"`
	// MessageID names the message or barrier (API calls).
	MessageID string `json:"messageID,omitempty"`
	// Message is lava_send's payload: key → value.
	Message map[string]any `json:"message,omitempty"`
	// WaitRole is lava_wait_all's optional role to wait for.
	WaitRole string `json:"waitrole,omitempty"`
	// Hold is how long the server may keep a call whose answer is "wait"
	// before answering "wait" (nanoseconds; the server caps it). Zero
	// answers at once, as LAVA's coordinator does.
	Hold time.Duration `json:"hold,omitempty"`
}

// MultinodeResponse is the coordinator's answer, with LAVA's fields:
// Response is "ack", "nack", "wait" or "group_data".
type MultinodeResponse struct {
	Response string `json:"response"`
	// Roles answers group_data: client name (job id) → role.
	Roles map[string]string `json:"roles,omitempty"`
	// Message answers lava_wait, lava_wait_all (sender → key → value) and
	// lava_sync (the message ID), as LAVA's coordinator sends them.
	Message json.RawMessage `json:"message,omitempty"`
	// Reason says why the coordinator refused a call ("nack"), for the
	// job's log; LAVA's coordinator sends no reason.
	Reason string `json:"reason,omitempty"`
	// Error is set, with Response empty, by a worker whose server refused
	// the call for good (the job is no longer the worker's, or the call is
	// invalid): the job process stops retrying and fails the call with it.
	// A worker that cannot reach its server answers nothing and closes;
	// the job process retries.
	Error string `json:"error,omitempty"`
}

// Device is what the worker needs to drive one device.
type Device struct {
	Hostname   string `json:"hostname"`
	DeviceType string `json:"device_type"`
	Dictionary string `json:"dictionary"`
	// Config is the device's rendered configuration: its dictionary
	// rendered with its device-type template and the job's context (LAVA's
	// device configuration, YAML). Empty when the server did not render
	// one (a dictionary the dispatcher reads itself, or an older server).
	Config string `json:"config,omitempty"`
	// ConfigError says why the server could not render the configuration
	// of a device whose dictionary needs it; the job then fails with a
	// Configuration error saying so.
	ConfigError string `json:"config_error,omitempty"`
}

// Cancel tells a worker to stop a job: graceful stop, then kill after a
// bounded time.
type Cancel struct {
	JobID int64 `json:"job_id"`
}

// Heartbeat is the worker's periodic proof of life.
type Heartbeat struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Jobs are the jobs the worker has locally (running or still uploading).
	Jobs []int64 `json:"jobs"`
}

// HeartbeatAck answers a heartbeat.
type HeartbeatAck struct {
	// Cancel lists local jobs the server wants stopped (belt and braces with
	// Cancel frames).
	Cancel []int64 `json:"cancel"`
}

// LogAck answers a log upload. Stored is the number of journal bytes the
// server has stored durably (fsynced) for the job. The server appends only
// the part of an upload beyond what it has, so resending is harmless; an
// upload starting beyond Stored is refused with 409 and the same body, and
// the worker resends from Stored.
type LogAck struct {
	Stored int64 `json:"stored"`
}

// Finish reports the end of a job. Size and SHA256 describe the whole
// journal; the server accepts the finish only when its stored log has that
// size and checksum (409 with a LogAck otherwise, so the worker resends).
type Finish struct {
	Result    string `json:"result"` // "pass" or "fail"
	ErrorType string `json:"error_type"`
	ErrorMsg  string `json:"error_msg"`
	LogSize   int64  `json:"log_size"`
	LogSHA256 string `json:"log_sha256"`
}

// FinishAck answers a finish: the job's final state and health.
type FinishAck struct {
	State  string `json:"state"`
	Health string `json:"health"`
}

// ErrorBody is every error answer, as on /api/v1.
type ErrorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Error codes specific to the worker protocol.
const (
	CodeProtocolMismatch = "protocol_mismatch"
	CodeLogGap           = "log_gap"
	CodeLogMismatch      = "log_mismatch"
)

// Record is one log record of a job journal, LAVA's {dt, lvl, msg} model
// encoded as one JSON object per line. Msg is a string, or for Level
// "results" an object (ResultMsg).
type Record struct {
	Time  time.Time       `json:"dt"`
	Level Level           `json:"lvl"`
	Msg   json.RawMessage `json:"msg"`
	NS    string          `json:"ns,omitempty"` // feedback records: the namespace
}

// Level is a log record's level, with LAVA's names.
type Level string

// LAVA's log levels.
const (
	LevelException Level = "exception"
	LevelError     Level = "error"
	LevelWarning   Level = "warning"
	LevelInfo      Level = "info"
	LevelDebug     Level = "debug"
	LevelInput     Level = "input"
	LevelTarget    Level = "target"
	LevelFeedback  Level = "feedback"
	LevelResults   Level = "results"
	LevelEvent     Level = "event"
)

// Levels lists every valid level.
var Levels = []Level{LevelException, LevelError, LevelWarning, LevelInfo, LevelDebug, LevelInput, LevelTarget, LevelFeedback, LevelResults, LevelEvent}

// ResultMsg is the message of a "results" record (LAVA's keys).
type ResultMsg struct {
	Definition  string `json:"definition"`
	Case        string `json:"case"`
	Result      string `json:"result"` // pass, fail, skip, unknown
	Measurement string `json:"measurement,omitempty"`
	Units       string `json:"units,omitempty"`
	Set         string `json:"set,omitempty"`
	Duration    string `json:"duration,omitempty"`
	Level       string `json:"level,omitempty"`
	ErrorMsg    string `json:"error_msg,omitempty"`
	ErrorType   string `json:"error_type,omitempty"`
}

// DecodeRecord parses and validates one journal line (without its newline).
func DecodeRecord(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("log record: %w", err)
	}
	if r.Time.IsZero() {
		return r, fmt.Errorf("log record: missing dt")
	}
	valid := false
	for _, l := range Levels {
		valid = valid || l == r.Level
	}
	if !valid {
		return r, fmt.Errorf("log record: unknown level %q", r.Level)
	}
	if len(r.Msg) == 0 {
		return r, fmt.Errorf("log record: missing msg")
	}
	if r.Level == LevelResults {
		// Only the keys that make a result are checked: other keys may
		// have other types than ResultMsg's (LAVA writes measurements as
		// numbers).
		var m struct {
			Definition string `json:"definition"`
			Case       string `json:"case"`
			Result     string `json:"result"`
		}
		if err := json.Unmarshal(r.Msg, &m); err != nil || m.Definition == "" || m.Case == "" || m.Result == "" {
			return r, fmt.Errorf("log record: results msg needs definition, case and result")
		}
	} else {
		var s string
		if err := json.Unmarshal(r.Msg, &s); err != nil {
			return r, fmt.Errorf("log record: %s msg must be a string", r.Level)
		}
	}
	return r, nil
}

// EncodeRecord returns the journal line for r, with its trailing newline.
func EncodeRecord(r Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode log record: %w", err)
	}
	return append(b, '\n'), nil
}

// TextMsg encodes a string message.
func TextMsg(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}
