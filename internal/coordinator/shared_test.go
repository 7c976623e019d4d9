package coordinator

import (
	"context"
	"fmt"
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

// FuzzShared runs one random conversation (with restarts and drops) twice:
// on one coordinator, and spread over two coordinators sharing a persister
// (each request to the one its input names, as the jobs of a group call
// through different replicas). Every answer, and the saved groups at the
// end, must be the same: sharing is invisible to the clients. (The group
// limit counts the groups each coordinator knows, so it is set beyond the
// conversations' three groups here.)
func FuzzShared(f *testing.F) {
	f.Add([]byte{0, 0, 4, 0, 0, 1, 4, 0x80, 2, 0, 4, 0, 3, 1, 4, 0x80})
	f.Add([]byte{6, 0, 4, 0, 6, 1, 4, 0x80, 10, 0, 0, 0, 1, 0, 4, 0, 1, 1, 4, 0x80})
	f.Add([]byte{0, 0, 8, 0, 0, 1, 8, 0x80, 5, 1, 8, 0xa0, 2, 0, 8, 8, 11, 0, 0, 0x80, 0, 0, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		lim := fuzzLimits
		lim.MaxGroups = 10
		one, _ := newCoord(t, lim)
		p := &MemPersister{}
		open := func() *Coordinator {
			opts := quiet(lim)
			opts.Shared = true
			c, err := New(ctx, p, opts)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		shared := []*Coordinator{open(), open()}
		for i := 0; i+4 <= len(data) && i < 400; i += 4 {
			r, mode := fuzzOp(data[i : i+4])
			which := int(data[i+3]>>7) % 2
			switch mode {
			case -1: // a restart of the single one, and of one replica
				var err error
				if one, err = New(ctx, one.p, quiet(lim)); err != nil {
					t.Fatal(err)
				}
				shared[which] = open()
				continue
			case -2:
				if err := one.DropGroup(ctx, r.GroupName); err != nil {
					t.Fatal(err)
				}
				if err := shared[which].DropGroup(ctx, r.GroupName); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err1 := one.Handle(ctx, r)
			got, err2 := shared[which].Handle(ctx, r)
			if err1 != nil || err2 != nil {
				t.Fatalf("request %d %+v: errors %v, %v", i/4, r, err1, err2)
			}
			if a, b := fmt.Sprint(answer(t, want)), fmt.Sprint(answer(t, got)); a != b || want.Reason != got.Reason {
				t.Fatalf("request %d %+v on coordinator %d:\n one coordinator: %s %q\n shared:          %s %q", i/4, r, which, a, want.Reason, b, got.Reason)
			}
		}
		a, _ := one.p.LoadGroups(ctx)
		b, _ := p.LoadGroups(ctx)
		if len(a) != len(b) {
			t.Fatalf("saved groups: %d on one coordinator, %d shared", len(a), len(b))
		}
		for name, st := range a {
			if string(b[name]) != string(st) {
				t.Fatalf("group %s saved:\n one coordinator: %s\n shared:          %s", name, st, b[name])
			}
		}
	})
}
