package dispatcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// MultinodeProtocol is the name of LAVA's multinode protocol: the key of
// the job's and the actions' protocols blocks, and the name its log lines
// use.
const MultinodeProtocol = "lava-multinode"

// Multinode timeouts, as in LAVA.
const (
	// MultinodeSystemTimeout bounds group_data (every member of the group
	// must reach the coordinator within it) and clear_group: LAVA's
	// LAVA_MULTINODE_SYSTEM_TIMEOUT.
	MultinodeSystemTimeout = 90 * time.Second
	// MultinodeDefaultTimeout bounds an API call (lava-send, lava-wait,
	// lava-wait-all, lava-sync) when the job's protocols.lava-multinode
	// has no timeout: LAVA's default poll timeout (ACTION_TIMEOUT).
	MultinodeDefaultTimeout = 30 * time.Second
)

// Bounds of one coordinator call: the longest hold asked of the server,
// the time its answer may take beyond the hold, and the least time
// between two calls when the server answers "wait" without holding the
// call (LAVA's poll_delay).
const (
	maxHold       = 20 * time.Second
	holdSlack     = 10 * time.Second
	minPollPeriod = time.Second
)

// MultinodeErrorName is LAVA's exception for a multinode timeout, and
// MultinodeTimeoutMsg the start of its message.
const (
	MultinodeErrorName  = "MultinodeProtocolTimeoutError"
	MultinodeTimeoutMsg = "protocol lava-multinode timed out"
)

// Coordinator carries a multinode job's calls to its group's coordinator:
// one request, one answer. The server fills in who is calling (client
// name, group, role, hostname, group size) from the job. Call returns an
// error only when it could not get an answer before ctx ended, or the
// answer was not one or a refusal (*CoordinatorError); an answer "wait" is
// not an error.
type Coordinator interface {
	Call(ctx context.Context, req workerproto.MultinodeRequest) (workerproto.MultinodeResponse, error)
}

// CoordinatorError is an answer of the coordinator's side that is not a
// MultinodeResponse: calling again does not help.
type CoordinatorError struct{ Msg string }

func (e *CoordinatorError) Error() string { return e.Msg }

// SocketCoordinator is the Coordinator of the job whose directory is dir:
// its worker's Unix socket DIR/workerproto.MultinodeSocket, one call per
// connection (one MultinodeRequest JSON line out, one MultinodeResponse
// JSON line back). While the socket is missing or refuses connections
// (the worker restarts), or the connection ends without an answer (the
// worker cannot reach its server), Call tries again with a growing pause
// until its context ends. An answer with Error set (the server refused
// the call for good) is a *CoordinatorError.
func SocketCoordinator(dir string) Coordinator {
	return &socketCoordinator{path: filepath.Join(dir, workerproto.MultinodeSocket)}
}

type socketCoordinator struct{ path string }

// Pauses between the attempts of a socket call, and the largest answer
// read.
const (
	firstRetry    = 100 * time.Millisecond
	maxRetry      = 5 * time.Second
	maxAnswerSize = 16 << 20
)

func (c *socketCoordinator) Call(ctx context.Context, req workerproto.MultinodeRequest) (workerproto.MultinodeResponse, error) {
	pause := firstRetry
	for {
		resp, err := c.once(ctx, req)
		var ce *CoordinatorError
		if err == nil || errors.As(err, &ce) {
			return resp, err
		}
		if ctx.Err() != nil {
			return resp, fmt.Errorf("%s through %s: %w (%v)", req.Request, c.path, context.Cause(ctx), err)
		}
		if serr := sleep(ctx, pause); serr != nil {
			return resp, fmt.Errorf("%s through %s: %w (%v)", req.Request, c.path, serr, err)
		}
		pause = min(2*pause, maxRetry)
	}
}

// once makes one attempt of a call.
func (c *socketCoordinator) once(ctx context.Context, req workerproto.MultinodeRequest) (workerproto.MultinodeResponse, error) {
	var resp workerproto.MultinodeResponse
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.path)
	if err != nil {
		return resp, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	line, err := json.Marshal(req)
	if err != nil {
		return resp, &CoordinatorError{Msg: fmt.Sprintf("encode the %s request: %v", req.Request, err)}
	}
	if _, err := conn.Write(append(line, '\n')); err != nil {
		return resp, err
	}
	r := bufio.NewReader(io.LimitReader(conn, maxAnswerSize))
	answer, err := r.ReadBytes('\n')
	if err != nil {
		if len(answer) == 0 || !errors.Is(err, io.EOF) {
			return resp, fmt.Errorf("read the answer: %w", err)
		}
	}
	if err := json.Unmarshal(bytes.TrimSpace(answer), &resp); err != nil || resp.Response == "" && resp.Error == "" {
		return resp, &CoordinatorError{Msg: fmt.Sprintf("the answer to %s is not a coordinator response: %s", req.Request, quoteConsole(string(answer), quotedMax))}
	}
	if resp.Response == "" {
		// The worker's server refused the call for good.
		return resp, &CoordinatorError{Msg: fmt.Sprintf("%s refused: %s", req.Request, resp.Error)}
	}
	return resp, nil
}

// multinode is a multinode job's place in its group and the way to its
// coordinator: LAVA's MultinodeProtocol.
type multinode struct {
	coord Coordinator
	// group, subID and role place the job; roles maps the id (decimal)
	// of each job of the group to its role.
	group, subID, role string
	roles              map[string]string
	// timeout bounds each API call (lava-send, lava-wait, …); timeoutSet
	// says the definition gave it.
	timeout    time.Duration
	timeoutSet bool
	// system bounds group_data and clear_group (MultinodeSystemTimeout;
	// the role's timeout for a delayed start, as in LAVA).
	system time.Duration
	// expectRole is set when the job's start waits for a lava_start
	// message from this role (the role has request: lava-start).
	expectRole string
	// environment is the role's environment (exported in the overlay
	// instead of the job's, as in LAVA).
	environment map[string]any
	// data is what pipeline protocol calls collected (LAVA's namespace
	// data of the protocol): message ID → key → value.
	data map[string]map[string]string
}

// multinodeOf reads what the job process needs to know of its multinode
// group: the group itself from the assignment (the server placed the job
// in it), the role's settings — the API timeout, a delayed start
// (request: lava-start and expect_role) and its environment — from the
// definition's protocols.lava-multinode when job is non-nil: a sub-job's
// (jobdef.Member, what the server runs) or the submission's roles. It is
// the one place that reads them. It returns nil for a job that is not part of
// a group; a definition with protocols.lava-multinode but no group is
// refused: only a server forms groups. The result may be non-nil with an
// error (the job then still leaves its group at the end).
func multinodeOf(a workerproto.Assign, job *jobdef.Job, coord Coordinator) (*multinode, error) {
	var proto *jobdef.Multinode
	if job != nil {
		proto = job.Protocols.Multinode
	}
	if a.Multinode == nil {
		if proto != nil {
			return nil, JobError("multinode jobs run through a server: basalt submit (this job was given no multinode group)")
		}
		return nil, nil
	}
	if coord == nil {
		return nil, InfrastructureError("multinode job without a coordinator")
	}
	g := a.Multinode
	m := &multinode{coord: coord, group: g.Group, subID: g.SubID, role: g.Role, roles: g.Roles,
		timeout: MultinodeDefaultTimeout, system: MultinodeSystemTimeout}
	if m.role == "" || m.group == "" {
		return m, InfrastructureError("the assignment places the job in a multinode group without a group or a role")
	}
	if proto == nil {
		return m, nil
	}
	var request string
	var roleTimeout *jobdef.Timeout
	if mem := job.Member(); mem != nil {
		// A sub-job (jobdef.Split): its role's settings are in
		// protocols.lava-multinode, its environment is the job's, and
		// the block's timeout is the role's already.
		if mem.Role != m.role {
			return m, InfrastructureError("the definition is the job of role %q, the assignment places it in role %q", mem.Role, m.role)
		}
		if mem.Connection != "" {
			return m, JobError("the job of the dynamic connection role %s (connection: %s) cannot run: Basalt runs the jobs of device roles only", mem.Role, mem.Connection)
		}
		request, m.expectRole = mem.Request, mem.ExpectRole
	} else if r, ok := proto.Roles[m.role]; ok {
		// The submission itself: the role's settings are in its roles.
		request, m.expectRole, roleTimeout, m.environment = r.Request, r.ExpectRole, r.Timeout, r.Environment
	}
	// LAVA's split copies the block's timeout over the role's.
	switch {
	case proto.Timeout != nil && proto.Timeout.Duration > 0:
		m.timeout, m.timeoutSet = proto.Timeout.Duration, true
	case roleTimeout != nil && roleTimeout.Duration > 0:
		m.timeout, m.timeoutSet = roleTimeout.Duration, true
	}
	if request != "lava-start" || m.expectRole == "" {
		m.expectRole = ""
		return m, nil
	}
	if m.expectRole == m.role {
		m.expectRole = ""
		return m, JobError("expect_role must not match the role declaring lava_start")
	}
	if m.timeoutSet {
		// LAVA's delayed start replaces the system timeout by the role's.
		m.system = m.timeout
	}
	return m, nil
}

// actionsOfRole keeps the actions of a multinode definition that run in
// role (a submission's actions list the roles that run them; a sub-job's
// name its own role only).
func actionsOfRole(actions []jobdef.Action, role string) []jobdef.Action {
	out := actions[:0:0]
	for _, a := range actions {
		if len(a.Role) == 0 || slices.Contains(a.Role, role) {
			out = append(out, a)
		}
	}
	return out
}

// poll makes one API call: it calls the coordinator until its answer is
// not "wait", for at most timeout. The server holds each call up to
// min(time left, maxHold) and answers as soon as it can, so this side
// does not sleep between calls (except after a "wait" given at once,
// minPollPeriod after the previous call). Running out of time is a
// MultinodeTimeout error; the end of ctx its cause (causeError).
func (m *multinode) poll(ctx context.Context, log *journal.Writer, req workerproto.MultinodeRequest, timeout time.Duration) (workerproto.MultinodeResponse, error) {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for round := 0; ; round++ {
		left := time.Until(deadline)
		if left <= 0 {
			msg := fmt.Sprintf("%s: %s got no answer in %s seconds", MultinodeTimeoutMsg, describeRequest(req), seconds(timeout))
			if lastErr != nil {
				msg += " (" + lastErr.Error() + ")"
			}
			return workerproto.MultinodeResponse{}, &Error{Type: lab.ErrorMultinodeTimeout, Msg: msg}
		}
		if round > 0 {
			log.Logf(workerproto.LevelDebug, "%s: waited %s of %s seconds", describeRequest(req), seconds(timeout-left), seconds(timeout))
		}
		req.Hold = min(left, maxHold)
		cctx, cancel := context.WithTimeout(ctx, req.Hold+holdSlack)
		start := time.Now()
		resp, err := m.coord.Call(cctx, req)
		cancel()
		if ctx.Err() != nil {
			return resp, causeError(ctx)
		}
		var ce *CoordinatorError
		switch {
		case errors.As(err, &ce):
			return resp, InfrastructureError("%s: %s: %w", MultinodeProtocol, describeRequest(req), err)
		case err != nil:
			lastErr = err // the worker did not answer: call again while there is time
			continue
		case resp.Response != "wait":
			if resp.Response == "nack" && resp.Reason != "" {
				log.Logf(workerproto.LevelWarning, "%s: the coordinator refused it: %s", describeRequest(req), resp.Reason)
			}
			return resp, nil
		}
		lastErr = nil
		if took := time.Since(start); took < minPollPeriod {
			if err := sleep(ctx, minPollPeriod-took); err != nil {
				return resp, causeError(ctx)
			}
		}
	}
}

// describeRequest names a request in messages: "lava_wait_all lava_start
// (waitrole server)".
func describeRequest(req workerproto.MultinodeRequest) string {
	s := req.Request
	if req.MessageID != "" {
		s += " " + req.MessageID
	}
	if req.WaitRole != "" {
		s += " (waitrole " + req.WaitRole + ")"
	}
	return s
}

// setUp joins the group at the start of the job, as LAVA's set_up does:
// group_data until every member has reached the coordinator, then, for a
// delayed start, lava_wait_all lava_start for the expected role.
func (m *multinode) setUp(ctx context.Context, log *journal.Writer) error {
	log.Logf(workerproto.LevelDebug, "Initialising group %s", m.group)
	log.Logf(workerproto.LevelDebug, "Connecting to the coordinator through the worker timeout=%s seconds.", seconds(m.system))
	resp, err := m.poll(ctx, log, workerproto.MultinodeRequest{Request: "group_data"}, m.system)
	if err != nil {
		return err
	}
	if resp.Response != "group_data" {
		return InfrastructureError("%s: the coordinator answered %q to group_data", MultinodeProtocol, resp.Response)
	}
	log.Logf(workerproto.LevelInfo, "%s: group %s, %d jobs: %s; this job (%s) is %s", MultinodeProtocol, m.group, len(resp.Roles), describeRoles(resp.Roles), m.subID, m.role)
	if m.expectRole == "" {
		log.Logf(workerproto.LevelDebug, "%s protocol initialised", MultinodeProtocol)
		return nil
	}
	log.Logf(workerproto.LevelInfo, "%s protocol initialised - start is delayed by up to %s seconds", MultinodeProtocol, seconds(m.system))
	log.Logf(workerproto.LevelDebug, "Delaying start for %s seconds, lava_wait_all for role %s", seconds(m.system), m.expectRole)
	req := workerproto.MultinodeRequest{Request: "lava_wait_all", MessageID: "lava_start", WaitRole: m.expectRole}
	if _, err := m.poll(ctx, log, req, m.system); err != nil {
		return err
	}
	sent, _ := json.Marshal(map[string]string{"request": req.Request, "waitrole": req.WaitRole, "messageID": req.MessageID})
	log.Logf(workerproto.LevelDebug, "sent %s", sent)
	return nil
}

// finalise leaves the group at the end of the job (clear_group), as LAVA's
// finalise_protocol does. A failure is logged, not the job's.
func (m *multinode) finalise(ctx context.Context, log *journal.Writer) {
	if _, err := m.poll(ctx, log, workerproto.MultinodeRequest{Request: "clear_group"}, m.system); err != nil {
		log.Logf(workerproto.LevelWarning, "%s: clear_group: %v", MultinodeProtocol, err)
	}
	log.Logf(workerproto.LevelDebug, "%s protocol finalised.", MultinodeProtocol)
}

// describeRoles lists a group's jobs with their roles, by job id.
func describeRoles(roles map[string]string) string {
	ids := sortedIDs(roles)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = id + " " + roles[id]
	}
	return strings.Join(parts, ", ")
}

// sortedIDs returns a roles map's job ids, numerically (then as text).
func sortedIDs(roles map[string]string) []string {
	ids := make([]string, 0, len(roles))
	for id := range roles {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		x, errA := strconv.ParseInt(a, 10, 64)
		y, errB := strconv.ParseInt(b, 10, 64)
		if errA == nil && errB == nil && x != y {
			if x < y {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	return ids
}

// senderPairs is one sender's part of a coordinator message, in the
// order the coordinator sent them.
type senderPairs struct {
	sender string
	pairs  []keyValue
}

type keyValue struct{ key, value string }

// decodeMessage reads the message of a lava_wait or lava_wait_all answer
// (sender → key → value) keeping the coordinator's order, which the reply
// line to the DUT follows. A sender whose part is not a mapping is left
// out; values are written as Python's str() writes them (None, True,
// numbers as sent).
func decodeMessage(raw json.RawMessage) ([]senderPairs, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("decode the message: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, nil // lava_sync's message ID, or nothing to read
	}
	var out []senderPairs
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode the message: %w", err)
		}
		var part json.RawMessage
		if err := dec.Decode(&part); err != nil {
			return nil, fmt.Errorf("decode the message: %w", err)
		}
		pairs, ok, err := decodePairs(part)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, senderPairs{sender: fmt.Sprint(k), pairs: pairs})
		}
	}
	return out, nil
}

// decodePairs reads one sender's mapping in order; ok is false when part
// is not a mapping.
func decodePairs(part json.RawMessage) ([]keyValue, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(part))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, false, fmt.Errorf("decode the message: %w", err)
	}
	if tok != json.Delim('{') {
		return nil, false, nil
	}
	var out []keyValue
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, false, fmt.Errorf("decode the message: %w", err)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false, fmt.Errorf("decode the message: %w", err)
		}
		out = append(out, keyValue{key: fmt.Sprint(k), value: pyString(v)})
	}
	return out, true, nil
}

// pyString writes a JSON value as Python's str() writes the decoded
// value: a string as it is, anything else as its repr (pyfmt).
func pyString(v json.RawMessage) string {
	x, err := pyfmt.ParseJSON(v)
	if err != nil {
		return string(v)
	}
	if s, ok := x.(string); ok {
		return s
	}
	r, err := pyfmt.Repr(x)
	if err != nil {
		return string(v)
	}
	return r
}

// replyPairs writes a message as the reply line to the DUT lists it:
// " sender:key=value" for every pair.
func replyPairs(msg []senderPairs) string {
	var b strings.Builder
	for _, s := range msg {
		for _, p := range s.pairs {
			fmt.Fprintf(&b, " %s:%s=%s", s.sender, p.key, p.value)
		}
	}
	return b.String()
}
