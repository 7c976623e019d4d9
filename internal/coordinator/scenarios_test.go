package coordinator

import (
	"encoding/json"
	"strings"
)

// step is one request and the answer expected, as JSON ("" for none).
type step struct {
	req  Request
	want string
}

// scenario is a conversation with the coordinator, from a fresh start.
type scenario struct {
	name  string
	steps []step
	// basalt marks conversations where Basalt answers differently from
	// LAVA on purpose (LAVA's daemon crashes, or a limit): they are not
	// compared with LAVA's coordinator.
	basalt bool
	lim    Limits
}

const (
	ack     = `{"response":"ack"}`
	nackA   = `{"response":"nack"}`
	waitA   = `{"response":"wait"}`
	roles12 = `{"response":"group_data","roles":{"11":"server","12":"client"}}`
	roles3  = `{"response":"group_data","roles":{"11":"server","12":"client","13":"client"}}`
)

// ackMsg is an ack carrying message m (JSON).
func ackMsg(m string) string { return `{"response":"ack","message":` + m + `}` }

// aggregateReq is LAVA v1's aggregate request.
func aggregateReq(c, subID, bundle string) Request {
	r := req(ReqAggregate, c)
	r.SubID = subID
	if bundle != "" {
		r.Bundle = json.RawMessage(bundle)
	}
	return r
}

// scenarios are the conversations of the table test; those not marked
// basalt are also run against LAVA's own coordinator (differential_test).
var scenarios = []scenario{
	{name: "group_data waits for the whole group", steps: []step{
		{gd("11", 2), waitA},
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{gd("11", 2), roles12},
	}},
	{name: "malformed and unknown requests", steps: []step{
		{Request{}, nackA},
		{req(ReqGroupData, "", size(2)), nackA},
		{waitFor("11", "m"), nackA}, // unknown group, no group_size
		{gd("11", 0), nackA},        // group_size 0
		// An unknown request (a typo) is nack, but it registers its sender
		// and creates the group first.
		{req("lava-send", "11", size(2), id("x")), nackA},
		{gd("12", 2), roles12},
		{req("bogus", "12"), nackA},
	}},
	{name: "lava_send and lava_wait", steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{waitFor("12", "ready"), waitA},
		{send("11", "ready", map[string]any{"ip": "10.0.0.1"}), ack},
		{waitFor("12", "ready"), ackMsg(`{"11":{"ip":"10.0.0.1"}}`)},
		{waitFor("11", "ready"), ackMsg(`{"11":{"ip":"10.0.0.1"}}`)}, // the sender has it too
		{send("12", "ready", nil), ack},
		{waitFor("11", "ready"), ackMsg(`{"11":{"ip":"10.0.0.1"},"12":{}}`)},
		{send("11", "ready", map[string]any{"ip": "10.0.0.2", "port": 80}), ack},
		{waitFor("12", "ready"), ackMsg(`{"11":{"ip":"10.0.0.2","port":80},"12":{}}`)},
		{send("12", "ready", map[string]any{}), ack},
		{waitFor("12", "ready"), ackMsg(`{"11":{"ip":"10.0.0.2","port":80},"12":{}}`)},
	}},
	{name: "lava_send reaches only the clients registered then", steps: []step{
		{gd("11", 2), waitA},
		{send("11", "early", map[string]any{"k": "v"}), ack},
		{gd("12", 2), roles12},
		{waitFor("12", "early"), waitA},
		{req(ReqWaitAll, "12", id("early")), waitA},
		{send("12", "early", nil), ack},
		{waitFor("12", "early"), ackMsg(`{"12":{}}`)},
		{waitFor("11", "early"), ackMsg(`{"11":{"k":"v"},"12":{}}`)},
		{req(ReqWaitAll, "12", id("early")), ackMsg(`{"11":{"k":"v"},"12":{}}`)},
	}},
	{name: "lava_wait_all without a role", steps: []step{
		{gd("11", 3), waitA},
		{gd("12", 3), waitA},
		{gd("13", 3), roles3},
		{req(ReqWaitAll, "11", id("done")), nackA}, // nobody sent it yet: nack, not wait
		{send("11", "done", map[string]any{"a": "1"}), ack},
		{req(ReqWaitAll, "11", id("done")), waitA},
		{send("12", "done", nil), ack},
		{req(ReqWaitAll, "12", id("done")), waitA},
		{send("13", "done", map[string]any{"b": "2"}), ack},
		{req(ReqWaitAll, "11", id("done")), ackMsg(`{"11":{"a":"1"},"12":{},"13":{"b":"2"}}`)},
		{req(ReqWaitAll, "13", id("done")), ackMsg(`{"11":{"a":"1"},"12":{},"13":{"b":"2"}}`)},
	}},
	{name: "lava_wait_all with a waitrole (lava_start)", steps: []step{
		{gd("11", 3), waitA},
		{gd("12", 3), waitA},
		{gd("13", 3), roles3},
		{waitAll("12", "lava_start", "server"), waitA}, // never sent: wait
		{send("13", "lava_start", nil), ack},
		{waitAll("12", "lava_start", "server"), waitA},
		{send("11", "lava_start", map[string]any{"go": "1"}), ack},
		// The first client of the waitrole sent it: the caller's box.
		{waitAll("12", "lava_start", "server"), ackMsg(`{"11":{"go":"1"},"13":{}}`)},
		// Otherwise every client of the caller's own role must have sent
		// it; then every payload.
		{waitAll("11", "lava_start", "client"), ackMsg(`{"11":{"go":"1"},"13":{}}`)},
		{waitAll("13", "other", "server"), waitA},
	}},
	{name: "lava_wait_all with a waitrole answers the caller's box only", steps: []step{
		{gd("11", 2), waitA},
		{send("11", "s", map[string]any{"k": "v"}), ack},
		{gd("12", 2), roles12},
		// 12 registered after the broadcast: it has no box, so nack.
		{waitAll("12", "s", "server"), nackA},
	}},
	{name: "lava_sync", steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{syncOn("11", "b"), waitA},
		{syncOn("11", "b"), waitA},
		{syncOn("12", "b"), waitA}, // the last to arrive waits too: a poll releases it
		{syncOn("11", "b"), ackMsg(`"b"`)},
		{syncOn("12", "b"), ackMsg(`"b"`)}, // everyone answered: the barrier is reset
		{syncOn("11", "b"), waitA},
		{syncOn("12", "b"), waitA},
		{syncOn("12", "b"), ackMsg(`"b"`)},
		{syncOn("11", "b", msg(map[string]any{"x": "y"})), ackMsg(`{"x":"y"}`)},
		// The barrier's message stays in the caller's box.
		{waitFor("11", "b"), ackMsg(`{"x":"y"}`)},
		{waitFor("12", "b"), ackMsg(`"b"`)},
	}},
	{name: "lava_send adds to the object a lava_sync left in a box", steps: []step{
		{gd("11", 1), `{"response":"group_data","roles":{"11":"server"}}`},
		{syncOn("11", "b", msg(map[string]any{"x": "y"})), waitA},
		{syncOn("11", "b", msg(map[string]any{"x": "y"})), ackMsg(`{"x":"y"}`)},
		{send("11", "b", map[string]any{"z": "1"}), ack},
		{waitFor("11", "b"), ackMsg(`{"11":{"z":"1"},"x":"y"}`)},
	}},
	{name: "lava_sync of a group of one", steps: []step{
		{gd("11", 1), `{"response":"group_data","roles":{"11":"server"}}`},
		{syncOn("11", "solo"), waitA},
		{syncOn("11", "solo"), ackMsg(`"solo"`)},
	}},
	{name: "clear_group ends the group", steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{clearGroup("11", 2), ack},
		{waitFor("12", "x"), waitA},
		{clearGroup("12", 2), ack},
		{waitFor("12", "x"), nackA}, // the group is gone
		{gd("12", 2), waitA},        // and group_size creates it again
	}},
	{name: "clear_group counts calls, not clients", steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{clearGroup("11", 2), ack},
		{clearGroup("11", 2), ack},
		{waitFor("12", "x"), nackA},
	}},
	{name: "clear_group of an incomplete group deletes it", steps: []step{
		{gd("11", 2), waitA},
		{clearGroup("11", 2), ack},
		{gd("12", 2), waitA},
		{gd("11", 2), roles12},
	}},
	{name: "clear_group creates a group to clear it", steps: []step{
		{clearGroup("11", 2), ack},
		{waitFor("11", "x"), nackA},
	}},
	{name: "aggregate (LAVA v1)", steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{aggregateReq("11", "7.0", `{"a":1}`), waitA},
		{aggregateReq("12", "7.1", `{"b":[2]}`), ack},
		{aggregateReq("11", "7.0", `{"a":1}`), waitA}, // rpc_delay 2
		{aggregateReq("11", "7.0", `{"a":1}`), waitA}, // rpc_delay 1
		{aggregateReq("11", "7.0", `{"a":1}`), ackMsg(`{"bundle":{"11":{"a":1},"12":{"b":[2]}}}`)},
		{aggregateReq("12", "7.1", ""), nackA},
		{aggregateReq("12", "", `{}`), nackA},
		{aggregateReq("12", "7.1", `null`), ack},
	}},
	{name: "complete is not answered", steps: []step{
		{gd("11", 2), waitA},
		{req(ReqComplete, "11"), ""},
		{req(ReqComplete, "12"), ""}, // registers 12 all the same
		{gd("11", 2), roles12},
	}},
	{name: "groups are independent", steps: []step{
		{gd("11", 2, inGroup("g1")), waitA},
		{gd("11", 1, inGroup("g2")), `{"response":"group_data","roles":{"11":"server"}}`},
		{send("11", "m", map[string]any{"in": "g2"}, inGroup("g2")), ack},
		{waitFor("11", "m", inGroup("g1")), waitA},
		{waitFor("11", "m", inGroup("g2")), ackMsg(`{"11":{"in":"g2"}}`)},
		{gd("12", 5, inGroup("g1")), roles12}, // group_size of an existing group is ignored
	}},
	{name: "messages keep JSON values", steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{send("11", "v", map[string]any{"s": "é \"q\" <>&", "n": json.Number("12345678901234567890"), "f": 1.5,
			"b": true, "z": nil, "l": []any{"a", json.Number("1")}, "o": map[string]any{"x": "y"}}), ack},
		{waitFor("12", "v"), ackMsg(`{"11":{"b":true,"f":1.5,"l":["a",1],"n":12345678901234567890,"o":{"x":"y"},"s":"é \"q\" <>&","z":null}}`)},
	}},

	// Basalt's answers where LAVA's daemon crashes.
	{name: "requests without group_name, role or hostname are nack", basalt: true, steps: []step{
		{req(ReqGroupData, "11", size(2), inGroup("")), nackA},
		{req(ReqGroupData, "11", size(2), role("")), nackA},
		{req(ReqGroupData, "11", size(2), func(r *Request) { r.Hostname = "" }), nackA},
		{gd("11", 2), waitA}, // and nothing was created
		{gd("12", 2), roles12},
	}},
	{name: "lava_wait_all for a role nobody has is nack", basalt: true, steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{send("11", "m", nil), ack},
		{waitAll("12", "m", "nobody"), nackA},
		{waitAll("12", "m", "server", role("nobody")), nackA},
		{waitAll("12", "m", "server"), ackMsg(`{"11":{}}`)},
	}},
	{name: "lava_send after lava_sync of the same ID", basalt: true, steps: []step{
		{gd("11", 1), `{"response":"group_data","roles":{"11":"server"}}`},
		{syncOn("11", "s"), waitA},
		{syncOn("11", "s"), ackMsg(`"s"`)},
		{send("11", "s", map[string]any{"k": "v"}), ack},
		{waitFor("11", "s"), ackMsg(`{"11":{"k":"v"}}`)},
	}},
	{name: "requests that need a messageID", basalt: true, steps: []step{
		{gd("11", 1), `{"response":"group_data","roles":{"11":"server"}}`},
		{send("11", "", nil), nackA},
		{waitFor("11", ""), nackA},
		{req(ReqWaitAll, "11"), nackA},
		{syncOn("11", ""), nackA},
	}},
	{name: "a group takes no more clients than its size", basalt: true, steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{gd("13", 2), nackA},
		{waitFor("13", "m"), nackA},
		{gd("11", 2), roles12},
	}},

	// Limits.
	{name: "limit: group_size", basalt: true, lim: Limits{MaxGroupSize: 3}, steps: []step{
		{gd("11", 4), nackA},
		{gd("11", 3), waitA},
		{gd("11", -1, inGroup("neg")), nackA},
	}},
	{name: "limit: groups", basalt: true, lim: Limits{MaxGroups: 2}, steps: []step{
		{gd("11", 2, inGroup("a")), waitA},
		{gd("11", 2, inGroup("b")), waitA},
		{gd("11", 2, inGroup("c")), nackA},
		{clearGroup("11", 2, inGroup("a")), ack},
		{gd("11", 2, inGroup("c")), waitA},
	}},
	{name: "limit: names", basalt: true, lim: Limits{MaxNameBytes: 10}, steps: []step{
		{gd("11", 2, inGroup("12345678901")), nackA},
		{gd("11", 2, id("12345678901")), nackA},
		{gd("11", 2, func(r *Request) { r.Hostname = "a\x00b" }), nackA},
		{gd("11", 2, func(r *Request) { r.Role = "\xff" }), nackA},
		{gd("11", 2), waitA},
	}},
	{name: "limit: message size", basalt: true, lim: Limits{MaxMessageBytes: 20}, steps: []step{
		{gd("11", 1), `{"response":"group_data","roles":{"11":"server"}}`},
		{send("11", "m", map[string]any{"k": strings.Repeat("x", 20)}), nackA},
		{syncOn("11", "m", msg(map[string]any{"k": strings.Repeat("x", 20)})), nackA},
		{aggregateReq("11", "1.0", `"`+strings.Repeat("x", 20)+`"`), nackA},
		{send("11", "m", map[string]any{"k": "small"}), ack},
		{send("11", "m", map[string]any{"k": func() {}}), nackA}, // not JSON
	}},
	{name: "limit: message IDs", basalt: true, lim: Limits{MaxMessageIDs: 2}, steps: []step{
		{gd("11", 1), `{"response":"group_data","roles":{"11":"server"}}`},
		{send("11", "a", nil), ack},
		{syncOn("11", "b"), waitA},
		{send("11", "c", nil), nackA},
		{syncOn("11", "c"), nackA},
		{send("11", "a", map[string]any{"again": "1"}), ack},
		{send("11", "b", nil), ack},
	}},
	{name: "limit: group state", basalt: true, lim: Limits{MaxStateBytes: 800}, steps: []step{
		{gd("11", 2), waitA},
		{gd("12", 2), roles12},
		{send("11", "a", map[string]any{"k": strings.Repeat("x", 100)}), ack},
		{send("11", "b", map[string]any{"k": strings.Repeat("x", 100)}), nackA},
		{waitFor("12", "b"), waitA},
		{waitFor("12", "a"), ackMsg(`{"11":{"k":"` + strings.Repeat("x", 100) + `"}}`)},
	}},
}
