package coordinator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// The requests of LAVA's coordinator protocol (the "request" field).
const (
	ReqGroupData  = "group_data"    // wait until the whole group registered; the roles
	ReqClearGroup = "clear_group"   // a client is done; the last one deletes the group
	ReqSend       = "lava_send"     // broadcast a message to the group
	ReqWait       = "lava_wait"     // wait for a message in the caller's box
	ReqWaitAll    = "lava_wait_all" // wait until every client (or a role) sent a message
	ReqSync       = "lava_sync"     // barrier of the whole group
	ReqAggregate  = "aggregate"     // legacy result-bundle aggregation (LAVA v1)
	ReqComplete   = "complete"      // the client is finished talking: no answer
)

// The answers of LAVA's coordinator (the "response" field). A Response
// with an empty Response field is LAVA's answer to "complete": none (the
// listener closes the connection without writing).
const (
	RespAck       = "ack"
	RespNack      = "nack"
	RespWait      = "wait"
	RespGroupData = "group_data"
)

// txn is one request's view of a group's state: the committed state until
// the handler asks to change it (w), a private copy from then on, which
// becomes the committed state once saved.
type txn struct {
	cur    *state
	cloned bool
	// drop: the group is over (the last clear_group): delete it.
	drop bool
}

// s returns the state the handler reads.
func (t *txn) s() *state { return t.cur }

// w returns the state the handler may change: a copy of the committed one.
func (t *txn) w() *state {
	if !t.cloned {
		t.cur = t.cur.clone()
		t.cloned = true
	}
	return t.cur
}

// nack is a refusal with its reason.
func nack(format string, args ...any) Response {
	return Response{Response: RespNack, Reason: fmt.Sprintf(format, args...)}
}

var wait = Response{Response: RespWait}

// apply runs one request against a group, as lava-coordinator's
// dataReceived does after it found the group: the client is registered
// first (whatever the request), then the request is dispatched.
func apply(t *txn, req Request, lim Limits) Response {
	s := t.s()
	me := req.ClientName
	if _, ok := s.Clients[me]; !ok {
		if len(s.Clients) >= s.Count {
			return nack("group %q already has its %d clients: %q cannot join", s.Name, s.Count, me)
		}
		w := t.w()
		w.Clients[me] = req.Hostname
		w.Roles[req.Role] = append(w.Roles[req.Role], me)
	}
	switch req.Request {
	case ReqGroupData:
		return groupData(t)
	case ReqClearGroup:
		w := t.w()
		w.Complete++
		if w.Complete >= len(w.Clients) {
			t.drop = true
		}
		return Response{Response: RespAck}
	case ReqAggregate:
		return aggregate(t, req, lim)
	case ReqSync:
		return lavaSync(t, req, lim)
	case ReqWaitAll:
		return lavaWaitAll(t, req)
	case ReqWait:
		if req.MessageID == "" {
			return nack("lava_wait without messageID")
		}
		return sendBox(t.s(), me, req.MessageID, true)
	case ReqSend:
		return lavaSend(t, req, lim)
	case ReqComplete:
		return Response{}
	}
	return nack("unknown request %q", req.Request)
}

// groupData answers the roles of the whole group once every client
// registered.
func groupData(t *txn) Response {
	s := t.s()
	if len(s.Clients) != s.Count {
		return wait
	}
	roles := make(map[string]string, len(s.Clients))
	for role, clients := range s.Roles {
		for _, c := range clients {
			roles[c] = role
		}
	}
	return Response{Response: RespGroupData, Roles: roles}
}

// sendBox answers ack with client's box for id (LAVA's _sendMessage);
// when the box does not exist it answers wait if missingWaits (lava_wait)
// or nack (lava_wait_all's role shortcut).
func sendBox(s *state, client, id string, missingWaits bool) Response {
	b, ok := s.Messages[client][id]
	if !ok {
		if missingWaits {
			return wait
		}
		return nack("no message %q for client %q in group %q", id, client, s.Name)
	}
	raw, err := json.Marshal(b)
	if err != nil {
		return nack("message %q: %v", id, err)
	}
	return Response{Response: RespAck, Message: raw}
}

// sendWaits answers ack with every sender's payload for id (LAVA's
// _sendWaitMessage), or nack when client itself never sent id.
func sendWaits(s *state, client, id string) Response {
	we, ok := s.Waits[id]
	if !ok || !we.Senders[client] {
		return nack("client %q did not send %q in group %q", client, id, s.Name)
	}
	raw, err := json.Marshal(we.Data)
	if err != nil {
		return nack("message %q: %v", id, err)
	}
	return Response{Response: RespAck, Message: raw}
}

// payload returns a request's message as stored: LAVA's _getMessage, an
// absent or null message being {}.
func payload(req Request, lim Limits) (json.RawMessage, string) {
	if req.Message == nil {
		return json.RawMessage("{}"), ""
	}
	raw, err := json.Marshal(req.Message)
	if err != nil {
		return nil, fmt.Sprintf("message %q is not JSON: %v", req.MessageID, err)
	}
	if len(raw) > lim.MaxMessageBytes {
		return nil, fmt.Sprintf("message %q has %d bytes, more than the limit of %d", req.MessageID, len(raw), lim.MaxMessageBytes)
	}
	return raw, ""
}

// roomFor says why the group may not take one more message ID, or "".
func roomFor(s *state, id string, lim Limits) string {
	if !s.knowsID(id) && s.messageIDs() >= lim.MaxMessageIDs {
		return fmt.Sprintf("group %q already has %d message IDs, the limit", s.Name, lim.MaxMessageIDs)
	}
	return ""
}

// lavaSend stores the sender's payload in every registered client's box
// for the ID (the broadcast) and in the ID's waits.
func lavaSend(t *txn, req Request, lim Limits) Response {
	id, me := req.MessageID, req.ClientName
	if id == "" {
		return nack("lava_send without messageID")
	}
	msg, why := payload(req, lim)
	if why == "" {
		why = roomFor(t.s(), id, lim)
	}
	if why != "" {
		return nack("%s", why)
	}
	w := t.w()
	for client := range w.Clients {
		boxes := w.Messages[client]
		if boxes == nil {
			boxes = map[string]box{}
			w.Messages[client] = boxes
		}
		b := boxes[id]
		if b.Obj == nil {
			// A new box, or one a lava_sync left holding a value that is
			// not an object: LAVA crashes on the latter; Basalt starts
			// the box again.
			b = box{Obj: map[string]json.RawMessage{}}
		}
		b.Obj[me] = msg
		boxes[id] = b
	}
	we := w.Waits[id]
	if we == nil {
		we = &waitEntry{Senders: map[string]bool{}, Data: map[string]json.RawMessage{}}
		w.Waits[id] = we
	}
	we.Senders[me] = true
	we.Data[me] = msg
	return Response{Response: RespAck}
}

// lavaWaitAll answers once every client sent the ID, or with waitrole
// LAVA's rule: as soon as the first client of waitrole sent it, else once
// every client of the caller's role did.
func lavaWaitAll(t *txn, req Request) Response {
	s, id, me := t.s(), req.MessageID, req.ClientName
	if id == "" {
		return nack("lava_wait_all without messageID")
	}
	if req.WaitRole == "" {
		we, ok := s.Waits[id]
		if !ok {
			return nack("lava_wait_all for %q, which nobody sent in group %q", id, s.Name)
		}
		for c := range s.Clients {
			if !we.Senders[c] {
				return wait
			}
		}
		return sendWaits(s, me, id)
	}
	expected, ok := s.Roles[req.WaitRole]
	if !ok {
		return nack("lava_wait_all for role %q, which no client of group %q has", req.WaitRole, s.Name)
	}
	own, ok := s.Roles[req.Role]
	if !ok {
		return nack("lava_wait_all from role %q, which no client of group %q has", req.Role, s.Name)
	}
	first := ""
	if len(expected) > 0 {
		first = expected[0]
	}
	for _, c := range own {
		we, ok := s.Waits[id]
		if !ok {
			return wait
		}
		if first != "" && we.Senders[first] {
			return sendBox(s, me, id, false)
		}
		if !we.Senders[c] {
			return wait
		}
	}
	return sendWaits(s, me, id)
}

// lavaSync is the barrier: a client is answered ack once count distinct
// clients were seen at it before its request, so every client polls at
// least twice; when all were answered the barrier's ID may be used again.
func lavaSync(t *txn, req Request, lim Limits) Response {
	id, me := req.MessageID, req.ClientName
	if id == "" {
		return nack("lava_sync without messageID")
	}
	var b box
	if len(req.Message) == 0 {
		raw, err := json.Marshal(id)
		if err != nil {
			return nack("messageID %q: %v", id, err)
		}
		b.Raw = raw
	} else {
		raw, why := payload(req, lim)
		if why != "" {
			return nack("%s", why)
		}
		if err := json.Unmarshal(raw, &b); err != nil {
			return nack("message %q: %v", id, err)
		}
	}
	if why := roomFor(t.s(), id, lim); why != "" {
		return nack("%s", why)
	}
	w := t.w()
	syncs := w.Syncs[id]
	if syncs == nil {
		syncs = map[string]int{}
		w.Syncs[id] = syncs
	}
	boxes := w.Messages[me]
	if boxes == nil {
		boxes = map[string]box{}
		w.Messages[me] = boxes
	}
	boxes[id] = b
	if len(syncs) < w.Count {
		syncs[me] = 1
		return wait
	}
	resp := sendBox(w, me, id, false)
	syncs[me] = 0
	for _, pending := range syncs {
		if pending != 0 {
			return resp
		}
	}
	w.Syncs[id] = map[string]int{}
	return resp
}

// aggregate is LAVA v1's bundle aggregation: every client sends its
// bundle; sub_id *.0 waits for all, then for rpc_delay more polls, then
// gets them all.
func aggregate(t *txn, req Request, lim Limits) Response {
	if req.Bundle == nil {
		return nack("aggregate without bundle")
	}
	if req.SubID == "" {
		return nack("aggregate without sub_id")
	}
	if len(req.Bundle) > lim.MaxMessageBytes {
		return nack("bundle has %d bytes, more than the limit of %d", len(req.Bundle), lim.MaxMessageBytes)
	}
	if !json.Valid(req.Bundle) {
		return nack("bundle is not JSON")
	}
	w := t.w()
	w.Bundles[req.ClientName] = slices.Clone(req.Bundle)
	if !strings.HasSuffix(req.SubID, ".0") {
		return Response{Response: RespAck}
	}
	if len(w.Bundles) < w.Count {
		w.RPCDelay = rpcDelay
		return wait
	}
	if w.RPCDelay > 0 {
		w.RPCDelay--
		return wait
	}
	raw, err := json.Marshal(map[string]any{"bundle": w.Bundles})
	if err != nil {
		return nack("bundles: %v", err)
	}
	w.RPCDelay = rpcDelay
	return Response{Response: RespAck, Message: raw}
}
