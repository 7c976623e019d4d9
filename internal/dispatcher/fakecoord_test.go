package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// fakeGroup is an in-memory coordinator of one multinode group with
// LAVA's semantics (lava/coordinator: group_data, clear_group, lava_send,
// lava_wait, lava_wait_all with and without a role, lava_sync), enough
// for the dispatcher's tests. A call that would be answered "wait" is
// held until the group changes or its Hold runs out, as the server does.
type fakeGroup struct {
	size int

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at every change
	clients []string      // client names, in the order they came
	roleOf  map[string]string
	// messages: client → message ID → the senders' payloads, in order.
	messages map[string]map[string][]senderPayload
	// waits: message ID → the senders seen and their payloads, in order.
	waits map[string][]senderPayload
	syncs map[string]map[string]int
	// log lists every answered call: "<client> <request> <messageID> →
	// <response>".
	log []string
}

type senderPayload struct {
	sender  string
	payload map[string]any
}

func newFakeGroup(size int) *fakeGroup {
	return &fakeGroup{size: size, changed: make(chan struct{}), roleOf: map[string]string{},
		messages: map[string]map[string][]senderPayload{}, waits: map[string][]senderPayload{}, syncs: map[string]map[string]int{}}
}

// client is the Coordinator of the group's job name (its id) in role.
func (g *fakeGroup) client(name, role string) Coordinator {
	return &fakeClient{g: g, name: name, role: role}
}

// calls returns the log of answered calls of one client ("" for all),
// without the client's name.
func (g *fakeGroup) calls(client string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []string
	for _, l := range g.log {
		if c, rest, _ := cutSpace(l); client == "" || c == client {
			if client == "" {
				out = append(out, l)
			} else {
				out = append(out, rest)
			}
		}
	}
	return out
}

// registered reports whether the client name has called.
func (g *fakeGroup) registered(name string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.roleOf[name] != ""
}

func cutSpace(s string) (string, string, bool) {
	i := bytes.IndexByte([]byte(s), ' ')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

type fakeClient struct {
	g          *fakeGroup
	name, role string
}

func (c *fakeClient) Call(ctx context.Context, req workerproto.MultinodeRequest) (workerproto.MultinodeResponse, error) {
	g := c.g
	var hold <-chan time.Time
	if req.Hold > 0 {
		t := time.NewTimer(req.Hold)
		defer t.Stop()
		hold = t.C
	}
	for {
		g.mu.Lock()
		before := g.changed
		resp := g.answerLocked(c, req)
		ch := g.changed
		if resp.Response == "wait" && ch != before {
			// The call itself changed the group (it registered, or
			// joined a sync): answer it again at once, as LAVA's next
			// poll would be.
			g.mu.Unlock()
			continue
		}
		if resp.Response != "wait" || hold == nil {
			g.log = append(g.log, fmt.Sprintf("%s %s %s → %s", c.name, req.Request, req.MessageID, resp.Response))
			g.mu.Unlock()
			return resp, nil
		}
		g.mu.Unlock()
		select {
		case <-ctx.Done():
			return workerproto.MultinodeResponse{}, ctx.Err()
		case <-hold:
			hold = nil // answer "wait" at the next turn
		case <-ch:
		}
	}
}

// changeLocked wakes the held calls.
func (g *fakeGroup) changeLocked() {
	close(g.changed)
	g.changed = make(chan struct{})
}

// answerLocked answers one request as LAVA's coordinator does.
func (g *fakeGroup) answerLocked(c *fakeClient, req workerproto.MultinodeRequest) workerproto.MultinodeResponse {
	if g.roleOf[c.name] == "" {
		g.clients = append(g.clients, c.name)
		g.roleOf[c.name] = c.role
		g.changeLocked()
	}
	ack := workerproto.MultinodeResponse{Response: "ack"}
	wait := workerproto.MultinodeResponse{Response: "wait"}
	id := req.MessageID
	switch req.Request {
	case "group_data":
		if len(g.clients) != g.size {
			return wait
		}
		roles := map[string]string{}
		for _, cl := range g.clients {
			roles[cl] = g.roleOf[cl]
		}
		return workerproto.MultinodeResponse{Response: "group_data", Roles: roles}
	case "clear_group":
		return ack
	case "lava_send":
		payload := req.Message
		if payload == nil {
			payload = map[string]any{}
		}
		sp := senderPayload{c.name, payload}
		for _, cl := range g.clients {
			if g.messages[cl] == nil {
				g.messages[cl] = map[string][]senderPayload{}
			}
			g.messages[cl][id] = putPayload(g.messages[cl][id], sp)
		}
		g.waits[id] = putPayload(g.waits[id], sp)
		g.changeLocked()
		return ack
	case "lava_wait":
		msgs, ok := g.messages[c.name][id]
		if !ok {
			return wait
		}
		return workerproto.MultinodeResponse{Response: "ack", Message: encodePayloads(msgs)}
	case "lava_wait_all":
		sent, seen := g.waits[id]
		if req.WaitRole != "" {
			if !seen {
				return wait
			}
			// LAVA's quirk: the first member of the role having sent it
			// is enough; else every member of the caller's own role.
			var first string
			for _, cl := range g.clients {
				if g.roleOf[cl] == req.WaitRole {
					first = cl
					break
				}
			}
			if first != "" && hasSender(sent, first) {
				return workerproto.MultinodeResponse{Response: "ack", Message: encodePayloads(g.messages[c.name][id])}
			}
			for _, cl := range g.clients {
				if g.roleOf[cl] == c.role && !hasSender(sent, cl) {
					return wait
				}
			}
			return workerproto.MultinodeResponse{Response: "ack", Message: encodePayloads(sent)}
		}
		if !seen {
			return workerproto.MultinodeResponse{Response: "nack"}
		}
		for _, cl := range g.clients {
			if !hasSender(sent, cl) {
				return wait
			}
		}
		return workerproto.MultinodeResponse{Response: "ack", Message: encodePayloads(sent)}
	case "lava_sync":
		if g.syncs[id] == nil {
			g.syncs[id] = map[string]int{}
		}
		if len(g.syncs[id]) >= g.size {
			g.syncs[id][c.name] = 0
			pending := false
			for _, v := range g.syncs[id] {
				pending = pending || v != 0
			}
			if !pending {
				delete(g.syncs, id)
			}
			g.changeLocked()
			msg, _ := json.Marshal(id)
			return workerproto.MultinodeResponse{Response: "ack", Message: msg}
		}
		if _, ok := g.syncs[id][c.name]; !ok {
			g.syncs[id][c.name] = 1
			g.changeLocked()
		}
		return wait
	}
	return workerproto.MultinodeResponse{Response: "nack"}
}

// putPayload adds or replaces a sender's payload, keeping the order.
func putPayload(list []senderPayload, sp senderPayload) []senderPayload {
	if i := slices.IndexFunc(list, func(x senderPayload) bool { return x.sender == sp.sender }); i >= 0 {
		list[i] = sp
		return list
	}
	return append(list, sp)
}

func hasSender(list []senderPayload, sender string) bool {
	return slices.ContainsFunc(list, func(x senderPayload) bool { return x.sender == sender })
}

// encodePayloads writes {sender: payload, ...} in the senders' order.
func encodePayloads(list []senderPayload) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, sp := range list {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(sp.sender)
		v, _ := json.Marshal(sp.payload)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}
