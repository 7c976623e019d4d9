package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// The clients of the tests' groups and their roles.
var roleOf = map[string]string{"11": "server", "12": "client", "13": "client", "14": "observer"}

// req builds a request of client c in group "g" (size 2), as LAVA's
// dispatcher sends it; opts adjust it.
func req(kind, c string, opts ...func(*Request)) Request {
	r := Request{Request: kind, ClientName: c, GroupName: "g", Role: roleOf[c], Hostname: "host-" + c}
	for _, o := range opts {
		o(&r)
	}
	return r
}

func size(n int) func(*Request)       { return func(r *Request) { r.GroupSize = n } }
func id(m string) func(*Request)      { return func(r *Request) { r.MessageID = m } }
func inGroup(g string) func(*Request) { return func(r *Request) { r.GroupName = g } }
func role(ro string) func(*Request)   { return func(r *Request) { r.Role = ro } }
func waitrole(ro string) func(*Request) {
	return func(r *Request) { r.WaitRole = ro }
}
func msg(m map[string]any) func(*Request) { return func(r *Request) { r.Message = m } }

// Shorthands of the dispatcher's calls (group_data and clear_group carry
// group_size, as MultinodeProtocol sends them).
func gd(c string, n int, o ...func(*Request)) Request {
	return req(ReqGroupData, c, append([]func(*Request){size(n)}, o...)...)
}
func clearGroup(c string, n int, o ...func(*Request)) Request {
	return req(ReqClearGroup, c, append([]func(*Request){size(n)}, o...)...)
}
func send(c, m string, payload map[string]any, o ...func(*Request)) Request {
	return req(ReqSend, c, append([]func(*Request){id(m), msg(payload)}, o...)...)
}
func waitFor(c, m string, o ...func(*Request)) Request {
	return req(ReqWait, c, append([]func(*Request){id(m)}, o...)...)
}
func waitAll(c, m, wr string, o ...func(*Request)) Request {
	return req(ReqWaitAll, c, append([]func(*Request){id(m), waitrole(wr)}, o...)...)
}
func syncOn(c, m string, o ...func(*Request)) Request {
	return req(ReqSync, c, append([]func(*Request){id(m)}, o...)...)
}

// newCoord returns a coordinator over a fresh memory persister.
func newCoord(t testing.TB, lim Limits) (*Coordinator, *MemPersister) {
	t.Helper()
	p := &MemPersister{}
	c, err := New(context.Background(), p, quiet(lim))
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// quiet returns Options with limits lim and a logger that discards.
func quiet(lim Limits) Options {
	return Options{Limits: lim, Logger: slog.New(slog.DiscardHandler)}
}

// answer is a Response as LAVA's client reads it: the decoded JSON, nil
// for no answer.
func answer(t testing.TB, r Response) any {
	t.Helper()
	if r.Response == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("marshal %+v: %v", r, err)
	}
	return decodeJSON(t, b)
}

// decodeJSON decodes b keeping numbers exact.
func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("bad JSON %s: %v", short(string(b)), err)
	}
	return v
}

// jsonOf decodes s (a JSON text) for comparison with answer.
func jsonOf(t testing.TB, s string) any {
	t.Helper()
	return decodeJSON(t, []byte(s))
}

// wire returns r as LAVA's dispatcher puts it on the wire (with the
// fields it echoes from its configuration).
func wire(r Request) map[string]any {
	m := map[string]any{"port": 3079, "blocksize": 4096, "poll_delay": 1, "host": "localhost"}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("request", r.Request)
	set("client_name", r.ClientName)
	set("group_name", r.GroupName)
	set("role", r.Role)
	set("hostname", r.Hostname)
	set("messageID", r.MessageID)
	set("waitrole", r.WaitRole)
	set("sub_id", r.SubID)
	if r.GroupSize != 0 {
		m["group_size"] = r.GroupSize
	}
	if r.Message != nil {
		m["message"] = r.Message
	}
	if r.Bundle != nil {
		m["bundle"] = r.Bundle
	}
	return m
}

// failingPersister fails every call after arm, and counts calls.
type failingPersister struct {
	MemPersister
	mu    sync.Mutex
	fail  bool
	saves int
}

var errDisk = errors.New("disk on fire")

func (f *failingPersister) arm(on bool) { f.mu.Lock(); f.fail = on; f.mu.Unlock() }

func (f *failingPersister) SaveGroup(ctx context.Context, name string, state []byte) error {
	f.mu.Lock()
	fail := f.fail
	f.saves++
	f.mu.Unlock()
	if fail {
		return errDisk
	}
	return f.MemPersister.SaveGroup(ctx, name, state)
}

func (f *failingPersister) DeleteGroup(ctx context.Context, name string) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errDisk
	}
	return f.MemPersister.DeleteGroup(ctx, name)
}

// snapshot returns every group's encoded state held in memory.
func snapshot(c *Coordinator) map[string]string {
	out := map[string]string{}
	c.mu.Lock()
	gs := maps.Clone(c.groups)
	c.mu.Unlock()
	for name, g := range gs {
		g.mu.Lock()
		out[name] = string(g.enc)
		g.mu.Unlock()
	}
	return out
}

// sameJSON reports whether a and b are the same JSON values.
func sameJSON(a, b any) bool { return reflect.DeepEqual(a, b) }

// short keeps failure messages readable.
func short(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return strings.TrimSpace(s)
}

// newRand returns a deterministic random source.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 13)) }
