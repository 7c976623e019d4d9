package lavacoord

import (
	"bytes"
	"context"
	"testing"

	"github.com/basalt-lab/basalt/internal/coordinator"
)

// fuzzCoord returns a coordinator with a group in the middle of a
// conversation: two clients, a message, a client at a barrier.
func fuzzCoord(t *testing.T) *coordinator.Coordinator {
	c := newCoord(t)
	base := coordinator.Request{GroupName: "g", Hostname: "h", GroupSize: 2}
	for _, r := range []coordinator.Request{
		{Request: coordinator.ReqGroupData, ClientName: "1", Role: "server"},
		{Request: coordinator.ReqGroupData, ClientName: "2", Role: "client"},
		{Request: coordinator.ReqSend, ClientName: "1", Role: "server", MessageID: "m", Message: map[string]any{"k": "é"}},
		{Request: coordinator.ReqSync, ClientName: "2", Role: "client", MessageID: "b"},
	} {
		r.GroupName, r.Hostname, r.GroupSize = base.GroupName, base.Hostname, base.GroupSize
		if _, err := c.Handle(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// FuzzServeConn feeds any bytes to the listener as one connection's
// request: it never panics, and it answers nothing or one frame of LAVA's
// (an upper-case header giving the payload's length, an ASCII JSON object
// with one of LAVA's responses), of bounded size.
func FuzzServeConn(f *testing.F) {
	f.Add([]byte(`0000006F{"request":"lava_wait","client_name":"2","group_name":"g","role":"client","hostname":"h","messageID":"m"}`))
	f.Add([]byte("FFFFFFFF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newServer(fuzzCoord(t), Options{MaxPayload: 4096, Logger: quietLog})
		var out bytes.Buffer
		s.exchange(context.Background(), bytes.NewReader(data), &out, nil)
		if out.Len() == 0 {
			return
		}
		if out.Len() > HeaderLen+64<<10 {
			t.Fatalf("answer of %d bytes", out.Len())
		}
		a, ok := parseFrame(t, out.Bytes()).(map[string]any)
		if !ok {
			t.Fatalf("answer %q is not an object", out.Bytes())
		}
		switch a["response"] {
		case coordinator.RespAck, coordinator.RespNack, coordinator.RespWait, coordinator.RespGroupData:
		default:
			t.Fatalf("answer %q", out.Bytes())
		}
	})
}
