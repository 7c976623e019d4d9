package coordinator

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

// forever is a hold no test reaches: a wait that is not woken hangs the
// test (and go test's timeout reports it), it never passes by luck.
const forever = time.Hour

// waitingOn returns once n Waits are blocked on group g.
func waitingOn(t *testing.T, c *Coordinator, g string, n int) {
	t.Helper()
	for {
		if st, ok := c.Status(g); ok && st.Waiting >= n {
			return
		}
		if t.Context().Err() != nil {
			t.Fatal("test ended")
		}
		runtime.Gosched()
		time.Sleep(100 * time.Microsecond)
	}
}

// result is a Wait's outcome.
type result struct {
	r   Response
	err error
}

// goWait runs Wait in a goroutine.
func goWait(c *Coordinator, ctx context.Context, r Request, hold time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		resp, err := c.Wait(ctx, r, hold)
		ch <- result{resp, err}
	}()
	return ch
}

// TestWaitWakes: a blocked lava_wait is answered by the lava_send that
// fills its box, a blocked group_data by the last client's arrival.
func TestWaitWakes(t *testing.T) {
	ctx := t.Context()
	c, _ := newCoord(t, Limits{})
	first := goWait(c, ctx, gd("11", 2), forever)
	waitingOn(t, c, "g", 1)
	if r, err := c.Wait(ctx, gd("12", 2), forever); err != nil || r.Response != RespGroupData {
		t.Fatalf("second group_data: %+v %v", r, err)
	}
	if got := <-first; got.err != nil || got.r.Response != RespGroupData || got.r.Roles["12"] != "client" {
		t.Fatalf("first group_data: %+v", got)
	}

	w := goWait(c, ctx, waitFor("12", "ready"), forever)
	waitingOn(t, c, "g", 1)
	if r, err := c.Handle(ctx, send("11", "ready", map[string]any{"ip": "10.0.0.1"})); err != nil || r.Response != RespAck {
		t.Fatalf("send: %+v %v", r, err)
	}
	got := <-w
	if got.err != nil || !sameJSON(answer(t, got.r), jsonOf(t, ackMsg(`{"11":{"ip":"10.0.0.1"}}`))) {
		t.Fatalf("lava_wait: %+v", got)
	}
}

// TestWaitEnds: without a change, Wait answers "wait" when its hold passes
// or its context ends; a request answered otherwise at once does not wait.
func TestWaitEnds(t *testing.T) {
	c, _ := newCoord(t, Limits{})
	if r, err := c.Wait(t.Context(), gd("11", 2), time.Millisecond); err != nil || r.Response != RespWait {
		t.Errorf("hold passed: %+v %v", r, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	w := goWait(c, ctx, waitFor("11", "m"), forever)
	waitingOn(t, c, "g", 1)
	cancel()
	if got := <-w; got.err != nil || got.r.Response != RespWait {
		t.Errorf("context ended: %+v", got)
	}
	if r, err := c.Wait(t.Context(), waitFor("11", "m", inGroup("none")), forever); err != nil || r.Response != RespNack {
		t.Errorf("unknown group: %+v %v", r, err)
	}
	if r, err := c.Wait(t.Context(), waitFor("11", "m"), 0); err != nil || r.Response != RespWait {
		t.Errorf("no hold: %+v %v", r, err)
	}
}

// TestWaitDropped: dropping a group wakes its waits, which find no group.
func TestWaitDropped(t *testing.T) {
	c, _ := newCoord(t, Limits{})
	if _, err := c.Handle(t.Context(), gd("11", 2)); err != nil {
		t.Fatal(err)
	}
	w := goWait(c, t.Context(), waitFor("11", "m"), forever)
	waitingOn(t, c, "g", 1)
	if err := c.DropGroup(t.Context(), "g"); err != nil {
		t.Fatal(err)
	}
	if got := <-w; got.err != nil || got.r.Response != RespNack {
		t.Errorf("wait on a dropped group: %+v", got)
	}
}

// TestWaitSyncAlone: a group of one passes its barrier in one Wait (the
// second poll LAVA needs happens at once).
func TestWaitSyncAlone(t *testing.T) {
	c, _ := newCoord(t, Limits{})
	if _, err := c.Handle(t.Context(), gd("11", 1)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r, err := c.Wait(t.Context(), syncOn("11", "b"), forever); err != nil || r.Response != RespAck {
			t.Fatalf("sync: %+v %v", r, err)
		}
	}
}

// TestBarrierMany: n clients of one group start together, then pass
// rounds of barriers through Wait; no client passes a barrier before
// every client reached it.
func TestBarrierMany(t *testing.T) {
	c, _ := newCoord(t, Limits{})
	runBarriers(t, []*Coordinator{c}, "big", 40, 12, false)
}

// runBarriers has n clients of group, client i on coordinator cs[i%len],
// register and pass rounds lava_sync barriers in turn (then clear_group,
// with clear): no client may pass a barrier before every client reached
// it.
func runBarriers(t *testing.T, cs []*Coordinator, group string, n, rounds int, clear bool) {
	t.Helper()
	var mu sync.Mutex
	reached := make([]int, rounds) // clients that reached each round
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			c := cs[i%len(cs)]
			me := fmt.Sprint(100 + i)
			base := Request{ClientName: me, GroupName: group, Role: "node", Hostname: "h" + me, GroupSize: n}
			r := base
			r.Request = ReqGroupData
			if resp, err := c.Wait(t.Context(), r, forever); err != nil || resp.Response != RespGroupData || len(resp.Roles) != n {
				errs <- fmt.Errorf("%s group_data: %+v %v", me, resp, err)
				return
			}
			for round := range rounds {
				mu.Lock()
				reached[round]++
				mu.Unlock()
				r := base
				r.Request, r.MessageID = ReqSync, fmt.Sprint("round-", round%2)
				resp, err := c.Wait(t.Context(), r, forever)
				if err != nil || resp.Response != RespAck {
					errs <- fmt.Errorf("%s round %d: %+v %v", me, round, resp, err)
					return
				}
				mu.Lock()
				got := reached[round]
				mu.Unlock()
				if got != n {
					errs <- fmt.Errorf("%s passed barrier %d when %d of %d clients had reached it", me, round, got, n)
					return
				}
			}
			if clear {
				r = base
				r.Request = ReqClearGroup
				if resp, err := c.Handle(t.Context(), r); err != nil || resp.Response != RespAck {
					errs <- fmt.Errorf("%s clear_group: %+v %v", me, resp, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestWaitAllMany: many clients wait for everybody's message; each send
// wakes them and the last one releases them all with every payload.
func TestWaitAllMany(t *testing.T) {
	const n = 30
	c, _ := newCoord(t, Limits{})
	ctx := t.Context()
	base := func(i int) Request {
		me := fmt.Sprint(200 + i)
		return Request{ClientName: me, GroupName: "all", Role: "node", Hostname: "h" + me, GroupSize: n, MessageID: "up"}
	}
	for i := range n {
		r := base(i)
		r.Request = ReqGroupData
		if _, err := c.Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	results := make([]<-chan result, n)
	for i := range n {
		r := base(i)
		r.Request, r.Message = ReqSend, map[string]any{"i": i}
		if _, err := c.Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i < n-1 {
			r.Request, r.Message = ReqWaitAll, nil
			results[i] = goWait(c, ctx, r, forever)
		}
	}
	for i := range n - 1 {
		got := <-results[i]
		if got.err != nil || got.r.Response != RespAck {
			t.Fatalf("waiter %d: %+v", i, got)
		}
		data, ok := decodeJSON(t, got.r.Message).(map[string]any)
		if !ok || len(data) != n {
			t.Fatalf("waiter %d got %d payloads", i, len(data))
		}
	}
}

// blockingPersister blocks SaveGroup of one group until released.
type blockingPersister struct {
	MemPersister
	group   string
	entered chan struct{}
	release chan struct{}
}

func (b *blockingPersister) SaveGroup(ctx context.Context, name string, state []byte) error {
	if name == b.group {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.MemPersister.SaveGroup(ctx, name, state)
}

// TestGroupsIndependent: a group whose save hangs holds up its own
// requests only.
func TestGroupsIndependent(t *testing.T) {
	p := &blockingPersister{group: "slow", entered: make(chan struct{}), release: make(chan struct{})}
	c, err := New(t.Context(), p, quiet(Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	slow := make(chan error, 1)
	go func() {
		_, err := c.Handle(t.Context(), gd("11", 2, inGroup("slow")))
		slow <- err
	}()
	<-p.entered
	for i := range 20 {
		if r, err := c.Handle(t.Context(), gd("11", 1, inGroup(fmt.Sprint("fast", i)))); err != nil || r.Response != RespGroupData {
			t.Fatalf("a request of another group: %+v %v", r, err)
		}
	}
	close(p.release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentMixed hammers several groups with every kind of request
// from many goroutines (for the race detector): nothing fails, and what
// is saved is what is in memory.
func TestConcurrentMixed(t *testing.T) {
	c, p := newCoord(t, Limits{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := range 200 {
				reqs := randomConversation(newRand(uint64(w*1000+i)), 1)
				r := reqs[0]
				r.GroupName = fmt.Sprint("grp", (w+i)%4)
				r.GroupSize = 3
				var err error
				if i%5 == 0 {
					_, err = c.Wait(t.Context(), r, time.Microsecond)
				} else {
					_, err = c.Handle(t.Context(), r)
				}
				if err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					_ = c.Groups()
					_, _ = c.Status(r.GroupName)
				}
			}
		})
	}
	wg.Wait()
	saved, _ := p.LoadGroups(t.Context())
	for name, enc := range snapshot(c) {
		if string(saved[name]) != enc {
			t.Errorf("group %s: saved state differs from memory", name)
		}
	}
}
