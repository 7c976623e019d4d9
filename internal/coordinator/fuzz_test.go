package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// fuzzLimits are small, so that random conversations meet every limit.
var fuzzLimits = Limits{MaxGroups: 2, MaxGroupSize: 3, MaxMessageIDs: 3, MaxStateBytes: 2000, MaxMessageBytes: 40, MaxNameBytes: 12}

// fuzzOp turns 4 bytes into a request, or into a restart (-1) or a drop
// of the group (-2).
func fuzzOp(b []byte) (Request, int) {
	kinds := []string{ReqGroupData, ReqClearGroup, ReqSend, ReqWait, ReqWaitAll, ReqWaitAll, ReqSync, ReqAggregate, ReqComplete, "bogus", "", ""}
	clients := []string{"11", "12", "13", "14", ""}
	groups := []string{"a", "b", "c", ""}
	ids := []string{"x", "y", "lava_start", "", "a-very-long-message-id"}
	roles := []string{"server", "client", "", "server"}
	messages := []map[string]any{nil, {}, {"k": "v"}, {"k": "a value longer than the message limit of the test"}}
	k := int(b[0]) % len(kinds)
	r := Request{
		Request:    kinds[k],
		ClientName: clients[int(b[1])%len(clients)],
		GroupName:  groups[int(b[2])%len(groups)],
		GroupSize:  int(b[2]>>2)%5 - 1,
		MessageID:  ids[int(b[3])%len(ids)],
		Message:    messages[int(b[3]>>3)%len(messages)],
		Hostname:   "h",
	}
	r.Role = roles[int(b[1]>>3)%len(roles)]
	if b[1]&0x80 != 0 {
		r.Hostname = ""
	}
	if k == 5 {
		r.WaitRole = roles[int(b[3]>>5)%len(roles)]
	}
	if r.Request == ReqAggregate {
		r.SubID = []string{"", "1.0", "1.1"}[int(b[3]>>5)%3]
		if b[0]&0x80 != 0 {
			r.Bundle = json.RawMessage(`{"b":1}`)
		}
	}
	switch {
	case k == 10:
		return r, -1
	case k == 11:
		return r, -2
	}
	return r, int(b[0]>>6) % 2 // 1: through Wait
}

// checkState checks a group's invariants and that its JSON round-trips.
func checkState(t *testing.T, name string, enc []byte) {
	t.Helper()
	s, err := decodeState(name, enc)
	if err != nil {
		t.Fatalf("group %s: saved state does not decode: %v", name, err)
	}
	again, err := s.encode()
	if err != nil || !bytes.Equal(again, enc) {
		t.Fatalf("group %s: state does not round-trip:\n%s\n%s", name, enc, again)
	}
	if len(s.Clients) > s.Count || s.Count < 1 {
		t.Fatalf("group %s: %d clients for a group of %d", name, len(s.Clients), s.Count)
	}
	if s.Complete >= len(s.Clients) {
		t.Fatalf("group %s: complete %d with %d clients (it should be gone)", name, s.Complete, len(s.Clients))
	}
	seen := map[string]bool{}
	for _, cl := range s.Roles {
		for _, c := range cl {
			if seen[c] || s.Clients[c] == "" {
				t.Fatalf("group %s: roles %v and clients %v disagree", name, s.Roles, s.Clients)
			}
			seen[c] = true
		}
	}
	if len(seen) != len(s.Clients) {
		t.Fatalf("group %s: roles %v and clients %v disagree", name, s.Roles, s.Clients)
	}
	for id, m := range s.Syncs {
		for c, v := range m {
			if (v != 0 && v != 1) || s.Clients[c] == "" {
				t.Fatalf("group %s: sync %s: %v", name, id, m)
			}
		}
	}
	if s.messageIDs() > fuzzLimits.MaxMessageIDs || len(enc) > fuzzLimits.MaxStateBytes {
		t.Fatalf("group %s beyond the limits: %d IDs, %d bytes", name, s.messageIDs(), len(enc))
	}
}

// FuzzHandle runs random conversations (with restarts and drops): no
// input panics or fails, every answer is one of LAVA's, every group keeps
// its invariants and limits, its JSON round-trips, what is saved is what
// is in memory, and a restart changes nothing.
func FuzzHandle(f *testing.F) {
	f.Add([]byte{0, 0, 4, 0, 0, 1, 4, 0, 2, 0, 4, 0, 3, 1, 4, 0})
	f.Add([]byte{6, 0, 4, 0, 0, 0, 4, 0, 6, 0, 4, 0, 10, 0, 0, 0, 6, 0, 4, 0, 2, 0, 4, 0})
	f.Add([]byte{0, 0, 8, 0, 0, 1, 8, 0, 5, 1, 8, 0x20, 2, 0, 8, 8, 1, 0, 8, 0, 1, 1, 8, 0, 11, 0, 0, 0})
	f.Add([]byte{0x87, 0, 4, 0x20, 7, 1, 4, 0x40, 0x87, 0, 4, 0x20, 0x47, 0, 4, 0x20})
	f.Fuzz(fuzzBody)
}

// fuzzBody is FuzzHandle's check of one input.
func fuzzBody(t *testing.T, data []byte) {
	ctx := context.Background()
	p := &MemPersister{}
	c, err := New(ctx, p, quiet(fuzzLimits))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+4 <= len(data) && i < 4*200; i += 4 {
		r, op := fuzzOp(data[i : i+4])
		switch op {
		case -1:
			before := snapshot(c)
			if c, err = New(ctx, p, quiet(fuzzLimits)); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if after := snapshot(c); !maps.Equal(before, after) {
				t.Fatalf("restart changed the groups:\n%v\n%v", before, after)
			}
			continue
		case -2:
			if err := c.DropGroup(ctx, r.GroupName); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var resp Response
		if op == 1 {
			resp, err = c.Wait(ctx, r, time.Microsecond)
		} else {
			resp, err = c.Handle(ctx, r)
		}
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		switch resp.Response {
		case RespAck, RespWait, RespGroupData:
		case RespNack:
			if resp.Reason == "" {
				t.Fatalf("%+v: nack without a reason", r)
			}
		case "":
			if r.Request != ReqComplete {
				t.Fatalf("%+v: no answer", r)
			}
		default:
			t.Fatalf("%+v: answer %q", r, resp.Response)
		}
		if resp.Message != nil && !json.Valid(resp.Message) {
			t.Fatalf("%+v: message %q is not JSON", r, resp.Message)
		}
		saved, _ := p.LoadGroups(ctx)
		mem := snapshot(c)
		if !slices.Equal(slices.Sorted(maps.Keys(saved)), c.Groups()) {
			t.Fatalf("saved groups %v, groups %v", p.Names(), c.Groups())
		}
		for name, enc := range mem {
			if string(saved[name]) != enc {
				t.Fatalf("group %s: saved %s\nin memory %s", name, saved[name], enc)
			}
			checkState(t, name, []byte(enc))
		}
		if len(mem) > fuzzLimits.MaxGroups {
			t.Fatal(fmt.Sprint(len(mem), " groups"))
		}
	}
}
