package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// MultinodePrefix starts the line a DUT prints for a multinode API call
// (lava-send, lava-wait, lava-wait-all, lava-sync):
// "<LAVA_MULTI_NODE> <LAVA_SEND msgid key=value>".
const MultinodePrefix = "<LAVA_MULTI_NODE>"

// multinodeCall matches an API call on a console line: LAVA's pattern.
var multinodeCall = regexp.MustCompile(`<LAVA_MULTI_NODE> <LAVA_(\S+) ([^>]+)>`)

// sendPairs splits lava-send's arguments before each "key=" (LAVA's
// \s+(?=\w+=)), so that values keep their blanks.
var sendPairs = regexp.MustCompile(`\s+\w+=`)

// errMultinodeStop ends a test shell after a multinode call timed out.
var errMultinodeStop = errors.New("a multinode call timed out")

// bridgeCall is one API call a DUT made on its console.
type bridgeCall struct {
	api   string   // SEND, WAIT, WAIT_ALL, SYNC
	args  []string // the message ID first
	suite string   // the results suite of the run that made it ("" outside a run)
	set   string   // the test set open then
}

// parseMultinodeCall reads an API call on a console line, as LAVA's test
// shell does: lava-send's arguments split before each key=, the others'
// at blanks.
func parseMultinodeCall(line string) (bridgeCall, bool) {
	m := multinodeCall.FindStringSubmatch(line)
	if m == nil {
		return bridgeCall{}, false
	}
	c := bridgeCall{api: m[1]}
	params := strings.TrimSpace(m[2])
	if c.api == "SEND" {
		for params != "" {
			loc := sendPairs.FindStringIndex(params)
			if loc == nil {
				c.args = append(c.args, params)
				break
			}
			c.args = append(c.args, params[:loc[0]])
			params = strings.TrimLeft(params[loc[0]:], " \t")
		}
	} else {
		c.args = strings.Fields(params)
	}
	if len(c.args) == 0 {
		return bridgeCall{}, false
	}
	return c, true
}

// caseName is the test case a call records: multinode-<api>-<message id>,
// lower-cased (LAVA's).
func (c bridgeCall) caseName() string {
	return strings.ToLower("multinode-" + c.api + "-" + c.args[0])
}

// bridge is LAVA's multinode SignalDirector: it makes the API calls a
// test shell's DUT prints, one after the other on its own goroutine (the
// console reader goes on reading meanwhile), records each as the test
// case multinode-<api>-<message id> of the run that made it, and types
// the answer the DUT's script waits for: <LAVA_WAIT_COMPLETE …>,
// <LAVA_WAIT_ALL_COMPLETE …> or <LAVA_SYNC_COMPLETE>. A call that times
// out is recorded as failed and ends the test shell (stop), as in LAVA;
// the job goes on with the next action.
type bridge struct {
	env    *Env
	ctx    context.Context
	cancel context.CancelFunc
	stop   context.CancelCauseFunc // ends the test shell's waits
	record func(c bridgeCall, result string)

	mu      sync.Mutex
	queue   []bridgeCall
	closed  bool
	stopped bool
	wake    chan struct{}
	done    chan struct{}
}

// newBridge starts the bridge of a test shell running under ctx; stop
// ends the shell's waits, record records a test case.
func newBridge(ctx context.Context, env *Env, stop context.CancelCauseFunc, record func(c bridgeCall, result string)) *bridge {
	b := &bridge{env: env, stop: stop, record: record, wake: make(chan struct{}, 1), done: make(chan struct{})}
	b.ctx, b.cancel = context.WithCancel(ctx)
	go b.loop()
	return b
}

// add queues a call; it never blocks (the console reader calls it).
func (b *bridge) add(c bridgeCall) {
	b.mu.Lock()
	if b.closed || b.stopped {
		b.mu.Unlock()
		return
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// finish ends the bridge: with drain, after the calls already made (the
// test shell ended normally); otherwise at once, abandoning them.
func (b *bridge) finish(drain bool) {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	if !drain {
		b.cancel()
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
	<-b.done
	b.cancel()
}

func (b *bridge) loop() {
	defer close(b.done)
	for {
		b.mu.Lock()
		if len(b.queue) == 0 {
			closed := b.closed
			b.mu.Unlock()
			if closed {
				return
			}
			select {
			case <-b.wake:
			case <-b.ctx.Done():
				return
			}
			continue
		}
		c := b.queue[0]
		b.queue = b.queue[1:]
		b.mu.Unlock()
		if b.ctx.Err() != nil {
			return
		}
		if err := b.handle(c); err != nil {
			if b.ctx.Err() != nil {
				return // finish abandoned the call: the shell has ended already
			}
			b.mu.Lock()
			b.stopped, b.queue = true, nil
			b.mu.Unlock()
			b.stop(err)
			return
		}
	}
}

// handle makes one call. A non-nil error ends the test shell: a
// multinode timeout (errMultinodeStop, after recording the failure), or
// the error the action fails with.
func (b *bridge) handle(c bridgeCall) error {
	env, mn := b.env, b.env.mn
	env.Debug("Received Multi_Node API <LAVA_%s>", c.api)
	var req workerproto.MultinodeRequest
	switch {
	case c.api == "SEND":
		req = workerproto.MultinodeRequest{Request: "lava_send", MessageID: c.args[0], Message: map[string]any{}}
		for _, kv := range c.args[1:] {
			if k, v, ok := strings.Cut(kv, "="); ok {
				req.Message[k] = v
			}
		}
	case c.api == "WAIT" && len(c.args) == 1:
		req = workerproto.MultinodeRequest{Request: "lava_wait", MessageID: c.args[0]}
	case c.api == "WAIT_ALL" && len(c.args) <= 2:
		req = workerproto.MultinodeRequest{Request: "lava_wait_all", MessageID: c.args[0]}
		if len(c.args) == 2 {
			req.WaitRole = c.args[1]
		}
	case c.api == "SYNC" && len(c.args) == 1:
		req = workerproto.MultinodeRequest{Request: "lava_sync", MessageID: c.args[0]}
	case c.api == "WAIT", c.api == "WAIT_ALL", c.api == "SYNC":
		return TestError("Unable to handle the test shell signal correctly: <LAVA_%s %s>: wrong number of arguments", c.api, strings.Join(c.args, " "))
	default:
		env.Warning("ignoring the unknown multinode API call <LAVA_%s %s>", c.api, strings.Join(c.args, " "))
		return nil
	}
	shown, _ := json.Marshal(struct {
		Request   string         `json:"request"`
		MessageID string         `json:"messageID"`
		Message   map[string]any `json:"message,omitempty"`
		WaitRole  string         `json:"waitrole,omitempty"`
	}{req.Request, req.MessageID, req.Message, req.WaitRole})
	env.Debug("Handling signal <LAVA_%s %s>", c.api, shown)
	resp, err := mn.poll(b.ctx, env.Log, req, mn.timeout)
	if err != nil {
		if ErrorTypeOf(err) == lab.ErrorMultinodeTimeout {
			env.Warning("Sync error in multinode signal: %s %s", err, c.api)
			b.record(c, ResultFail)
			return errMultinodeStop
		}
		return err
	}
	env.Debug("reply=%s", responseText(resp))
	nack := ""
	if resp.Response == "nack" {
		nack = " nack"
	}
	if req.Request == "lava_send" && nack != "" {
		return TestError("Coordinator was unable to accept LAVA_SEND")
	}
	b.record(c, ResultPass)
	var reply string
	switch req.Request {
	case "lava_send":
		return nil
	case "lava_sync":
		reply = "<LAVA_SYNC_COMPLETE" + nack + ">"
	default:
		api := "WAIT"
		if req.Request == "lava_wait_all" {
			api = "WAIT_ALL"
		}
		pairs := nack
		if nack == "" {
			msg, err := decodeMessage(resp.Message)
			if err != nil {
				return InfrastructureError("%s: %w", describeRequest(req), err)
			}
			pairs = replyPairs(msg)
		}
		reply = fmt.Sprintf("<LAVA_%s_COMPLETE%s>", api, pairs)
	}
	return env.Conn.Send(b.ctx, reply)
}
