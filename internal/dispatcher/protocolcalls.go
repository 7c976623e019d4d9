package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// protocolCall is one multinode API call an action block makes without a
// shell: an item of its protocols.lava-multinode list (LAVA's
// call_protocols).
type protocolCall struct {
	action    string // the pipeline action LAVA makes the call in
	request   string // lava_send, lava_wait, lava_wait_all or lava_sync
	messageID string
	message   map[string]any // lava_send's payload; for waits, the values to collect ($name)
	role      string         // lava_wait_all's role
	timeout   time.Duration  // 0: the job's multinode timeout
}

// protocolRequests maps the request names a call may use to LAVA's
// coordinator requests (LAVA replaces - by _).
var protocolRequests = map[string]string{
	"lava-send": "lava_send", "lava-wait": "lava_wait", "lava-wait-all": "lava_wait_all", "lava-sync": "lava_sync",
	"lava_send": "lava_send", "lava_wait": "lava_wait", "lava_wait_all": "lava_wait_all", "lava_sync": "lava_sync",
}

// protocolCallsOf reads an action block's protocols (as written): only
// lava-multinode, only in multinode jobs, each call with an action, a
// request and a messageID.
func protocolCallsOf(a *jobdef.Action, multinode bool) ([]protocolCall, error) {
	if len(a.Protocols) == 0 {
		return nil, nil
	}
	var names []string
	for k := range a.Protocols {
		names = append(names, k)
	}
	sort.Strings(names)
	var calls []protocolCall
	for _, name := range names {
		if name != MultinodeProtocol {
			return nil, fmt.Errorf("protocols: %s is not supported (supported: %s)", name, MultinodeProtocol)
		}
		if !multinode {
			return nil, fmt.Errorf("protocols: %s calls need a multinode job", MultinodeProtocol)
		}
		list, ok := a.Protocols[name].([]any)
		if !ok {
			return nil, fmt.Errorf("protocols.%s must be a list of calls", name)
		}
		for i, item := range list {
			c, err := protocolCallOf(item)
			if err != nil {
				return nil, fmt.Errorf("protocols.%s[%d]: %w", name, i, err)
			}
			calls = append(calls, c)
		}
	}
	return calls, nil
}

func protocolCallOf(item any) (protocolCall, error) {
	var c protocolCall
	m, ok := item.(map[string]any)
	if !ok {
		return c, errors.New("a call is a mapping with action, request, messageID and optional message, role and timeout")
	}
	str := func(key string, required bool) (string, error) {
		v, present := m[key]
		if !present {
			if required {
				return "", fmt.Errorf("missing %s", key)
			}
			return "", nil
		}
		s, ok := v.(string)
		if !ok || s == "" {
			return "", fmt.Errorf("%s must be a non-empty string", key)
		}
		return s, nil
	}
	var err error
	if c.action, err = str("action", true); err != nil {
		return c, err
	}
	req, err := str("request", true)
	if err != nil {
		return c, err
	}
	if req == "aggregate" {
		return c, errors.New("request aggregate: pipeline submission has not been implemented (as in LAVA)")
	}
	if c.request, ok = protocolRequests[req]; !ok {
		return c, fmt.Errorf("request %q is not one of lava-send, lava-wait, lava-wait-all, lava-sync", req)
	}
	if c.messageID, err = str("messageID", true); err != nil {
		return c, err
	}
	if c.role, err = str("role", false); err != nil {
		return c, err
	}
	if v, present := m["message"]; present && v != nil {
		msg, ok := v.(map[string]any)
		if !ok {
			return c, errors.New("message must be a mapping of keys to values")
		}
		c.message = msg
	}
	if v, present := m["timeout"]; present {
		if c.timeout, err = rawTimeout(v); err != nil {
			return c, fmt.Errorf("timeout: %w", err)
		}
	}
	for k := range m {
		switch k {
		case "action", "request", "messageID", "message", "role", "timeout":
		default:
			return c, fmt.Errorf("unknown key %q", k)
		}
	}
	return c, nil
}

// rawTimeout reads a timeout as written in a raw block: {days, hours,
// minutes, seconds} or a number of seconds; it must be positive.
func rawTimeout(v any) (time.Duration, error) {
	num := func(x any) (float64, bool) {
		switch n := x.(type) {
		case int64:
			return float64(n), true
		case uint64:
			return float64(n), true
		case float64:
			return n, true
		case int:
			return float64(n), true
		}
		return 0, false
	}
	var secs float64
	if n, ok := num(v); ok {
		secs = n
	} else if m, ok := v.(map[string]any); ok {
		units := map[string]float64{"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}
		for k, x := range m {
			u, known := units[k]
			n, isNum := num(x)
			if !known || !isNum {
				return 0, fmt.Errorf("expected days, hours, minutes or seconds with a number, got %s", k)
			}
			secs += n * u
		}
	} else {
		return 0, errors.New("expected {minutes: N} or a number of seconds")
	}
	if !(secs > 0) || secs > math.MaxInt32 {
		return 0, fmt.Errorf("%v seconds is not a valid timeout", secs)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// runProtocolCalls makes an action block's calls, in order, before its
// action runs. LAVA makes each when the pipeline action it names starts,
// inside the block; Basalt makes them all when the block's action starts.
// A lava-wait or lava-wait-all whose message asks for values ($name)
// keeps the value of the first one found in the first sender's part, as
// LAVA's collate does, in the job's multinode data.
func runProtocolCalls(ctx context.Context, env *Env, calls []protocolCall) error {
	mn := env.mn
	for _, c := range calls {
		env.Info("Making protocol call for %s using %s", c.action, MultinodeProtocol)
		req := workerproto.MultinodeRequest{Request: c.request, MessageID: c.messageID, WaitRole: c.role}
		if c.request == "lava_send" {
			req.Message = c.message
			if req.Message == nil {
				req.Message = map[string]any{}
			}
		}
		if c.request != "lava_wait_all" {
			req.WaitRole = ""
		}
		timeout := c.timeout
		if timeout <= 0 {
			timeout = mn.timeout
		}
		resp, err := mn.poll(ctx, env.Log, req, timeout)
		if err != nil {
			return err
		}
		env.Debug("%s: %s", describeRequest(req), responseText(resp))
		if err := collate(env, c, resp); err != nil {
			return err
		}
	}
	return nil
}

// collate keeps what a wait's answer gives for the call's $ values.
func collate(env *Env, c protocolCall, resp workerproto.MultinodeResponse) error {
	if c.request == "lava_send" || c.request == "lava_sync" || len(c.message) == 0 {
		return nil
	}
	var wanted []string
	for _, k := range sortedKeys(c.message) {
		if s, ok := c.message[k].(string); ok && strings.HasPrefix(s, "$") {
			wanted = append(wanted, k)
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	params, _ := json.Marshal(map[string]any{"messageID": c.messageID, "message": c.message})
	msg, err := decodeMessage(resp.Message)
	if err != nil || len(msg) == 0 {
		env.Log.Logf(workerproto.LevelError, "Unable to identify replaceable values in the parameters: %s", params)
		return JobError("Unable to identify replaceable values in the parameters: %s", params)
	}
	first := msg[0].pairs
	for _, k := range wanted {
		for _, p := range first {
			if p.key == k {
				if env.mn.data == nil {
					env.mn.data = map[string]map[string]string{}
				}
				env.mn.data[c.messageID] = map[string]string{k: p.value}
				env.Info("Setting namespace data key %s to {%s: %s}", c.messageID, k, p.value)
				return nil
			}
		}
		env.Warning("Skipping %s - not found in %s", k, replyPairs(msg[:1]))
	}
	env.Log.Logf(workerproto.LevelError, "Unable to identify replaceable values in the parameters: %s", params)
	return JobError("Unable to identify replaceable values in the parameters: %s", params)
}

// responseText writes an answer for the log, as JSON.
func responseText(resp workerproto.MultinodeResponse) string {
	resp.Roles = nil
	b, _ := json.Marshal(resp)
	return string(b)
}
