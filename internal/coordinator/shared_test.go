package coordinator

import (
	"context"
	"sync"
	"testing"
)

// sharedCoords returns n coordinators sharing one memory persister, as
// server replicas on one database, each poking the others when it changes
// a group (the server does it through its events between replicas).
func sharedCoords(t testing.TB, n int) ([]*Coordinator, *MemPersister) {
	t.Helper()
	p := &MemPersister{}
	cs := make([]*Coordinator, n)
	for i := range n {
		opts := quiet(Limits{})
		opts.Shared = true
		opts.OnChange = func(name string) {
			for j, o := range cs {
				if j != i {
					go o.Poke(name) // OnChange runs with the group locked
				}
			}
		}
		c, err := New(context.Background(), p, opts)
		if err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	return cs, p
}

// TestSharedBarriers: 30 clients of one group, spread over three
// coordinators sharing a persister, pass 10 lava_sync barriers in turn: no
// client passes a barrier before every client reached it, and each
// client's clear_group ends the group on all coordinators.
func TestSharedBarriers(t *testing.T) {
	cs, p := sharedCoords(t, 3)
	runBarriers(t, cs, "shared", 30, 10, true)
	if names := p.Names(); len(names) != 0 {
		t.Errorf("saved groups after every clear_group: %v", names)
	}
	for i, c := range cs {
		r := Request{Request: ReqSync, ClientName: "100", GroupName: "shared", Role: "node", MessageID: "x"}
		if resp, _ := c.Handle(t.Context(), r); resp.Response != RespNack {
			t.Errorf("coordinator %d still answers the ended group: %+v", i, resp)
		}
	}
}

// TestSharedSendWait: a message sent through one coordinator reaches a
// client waiting on another, and a group dropped by one is gone on the
// other.
func TestSharedSendWait(t *testing.T) {
	cs, p := sharedCoords(t, 2)
	a, b := cs[0], cs[1]
	ctx := t.Context()
	var wg sync.WaitGroup
	for _, x := range []struct {
		c *Coordinator
		r Request
	}{{a, gd("11", 2)}, {b, gd("12", 2)}} {
		wg.Go(func() {
			// each answers once both registered, on either coordinator
			if resp, err := x.c.Wait(ctx, x.r, forever); err != nil || resp.Response != RespGroupData {
				t.Errorf("%+v: %+v %v", x.r, resp, err)
			}
		})
	}
	wg.Wait()
	got := make(chan Response, 1)
	go func() {
		resp, err := b.Wait(ctx, waitFor("12", "ready"), forever)
		if err != nil {
			t.Error(err)
		}
		got <- resp
	}()
	if resp, err := a.Handle(ctx, send("11", "ready", map[string]any{"ip": "10.0.0.1"})); err != nil || resp.Response != RespAck {
		t.Fatalf("send: %+v %v", resp, err)
	}
	resp := <-got
	if resp.Response != RespAck {
		t.Fatalf("wait on the other coordinator: %+v", resp)
	}
	if m := string(resp.Message); m != `{"11":{"ip":"10.0.0.1"}}` {
		t.Errorf("message received: %s", m)
	}
	if err := a.DropGroup(ctx, "g"); err != nil {
		t.Fatal(err)
	}
	if names := p.Names(); len(names) != 0 {
		t.Errorf("saved groups after the drop: %v", names)
	}
	if resp, _ := b.Handle(ctx, syncOn("12", "s")); resp.Response != RespNack {
		t.Errorf("the other coordinator still answers the dropped group: %+v", resp)
	}
}
