package coordinator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Request is one call of LAVA's coordinator protocol, with LAVA's fields
// (the wire names are in parentheses). Request, ClientName, GroupName, Role
// and Hostname are required in every request: LAVA's dispatcher always
// sends them.
type Request struct {
	Request    string // request: one of the Req* names
	ClientName string // client_name: the sub-job's id, its identity in the group
	GroupName  string // group_name: the group (LAVA's target_group)
	Role       string // role: the client's role
	Hostname   string // hostname: the client's host
	// GroupSize (group_size) creates the group on first contact; it is
	// ignored once the group exists.
	GroupSize int
	MessageID string // messageID
	// Message (message) is lava_send's payload or lava_sync's; nil is
	// LAVA's absent or null message.
	Message map[string]any
	// WaitRole (waitrole) makes lava_wait_all wait for a role.
	WaitRole string
	// SubID (sub_id) and Bundle (bundle, nil when absent) are the legacy
	// aggregate request's.
	SubID  string
	Bundle json.RawMessage
}

// Response is the coordinator's answer, with LAVA's fields.
type Response struct {
	// Response is RespAck, RespNack, RespWait or RespGroupData; empty for
	// "complete", which LAVA does not answer.
	Response string `json:"response"`
	// Roles is group_data's client_name → role map.
	Roles map[string]string `json:"roles,omitempty"`
	// Message is what a lava_wait, lava_wait_all or lava_sync receives.
	Message json.RawMessage `json:"message,omitempty"`
	// Reason says why a request was refused (nack); it is not sent.
	Reason string `json:"-"`
}

// Persister keeps the groups' states durably. The store implements it
// (through an adapter in internal/app). Every method is called with the
// group's lock held, so calls for one group never overlap; calls for
// different groups may.
type Persister interface {
	// LoadGroups returns every saved group's state by group name.
	LoadGroups(ctx context.Context) (map[string][]byte, error)
	// SaveGroup creates or replaces a group's state; it is durable when
	// SaveGroup returns nil.
	SaveGroup(ctx context.Context, name string, state []byte) error
	// DeleteGroup removes a group's state. The coordinator deletes only
	// groups it saved; an adapter over a store that reports a missing row
	// as an error should return nil for it.
	DeleteGroup(ctx context.Context, name string) error
}

// ErrStale is what a SharedPersister returns when the group's saved
// version is no longer the one the coordinator read: another coordinator
// changed it meanwhile.
var ErrStale = errors.New("the group changed elsewhere")

// SharedPersister is a Persister that several coordinators share (server
// replicas on one database). Each saved state has a version that changes
// at every save. A coordinator over one reads the group's saved state
// before each request (taking another coordinator's changes), and saves or
// deletes it only if its version is still the one read, running the
// request again on ErrStale: each request applies to the latest state,
// whichever coordinator handles it, as if one coordinator handled them
// all.
type SharedPersister interface {
	Persister
	// LoadGroup returns a group's saved state and version; found is false
	// when it is not saved.
	LoadGroup(ctx context.Context, name string) (state []byte, version int64, found bool, err error)
	// SaveGroupIf saves a group's state if its saved version is version (0:
	// if it is not saved) and returns the new version; ErrStale otherwise.
	SaveGroupIf(ctx context.Context, name string, state []byte, version int64) (int64, error)
	// DeleteGroupIf deletes a group's state if its saved version is
	// version; ErrStale if it is another; nil if it is not saved.
	DeleteGroupIf(ctx context.Context, name string, version int64) error
}

// maxStale bounds how often one request is run again because another
// coordinator changed its group meanwhile.
const maxStale = 50

// Limits bound what one group and the coordinator hold. A request beyond
// them is refused with nack and a Reason. Zero fields take the defaults
// (DefaultLimits).
type Limits struct {
	// MaxGroups is how many groups may exist at once.
	MaxGroups int
	// MaxGroupSize is the largest group_size accepted.
	MaxGroupSize int
	// MaxNameBytes bounds every name of a request (request, client_name,
	// group_name, role, hostname, messageID, waitrole, sub_id).
	MaxNameBytes int
	// MaxMessageBytes bounds one message (or bundle) as JSON.
	MaxMessageBytes int
	// MaxMessageIDs is how many distinct message IDs a group may use.
	MaxMessageIDs int
	// MaxStateBytes bounds a group's whole state as JSON (each message is
	// kept once per client, as LAVA's broadcast keeps it).
	MaxStateBytes int
}

// DefaultLimits are the limits of a zero Limits.
var DefaultLimits = Limits{
	MaxGroups:       10000,
	MaxGroupSize:    1000,
	MaxNameBytes:    256,
	MaxMessageBytes: 64 << 10,
	MaxMessageIDs:   10000,
	MaxStateBytes:   4 << 20,
}

// withDefaults returns l with zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	pick := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	pick(&l.MaxGroups, d.MaxGroups)
	pick(&l.MaxGroupSize, d.MaxGroupSize)
	pick(&l.MaxNameBytes, d.MaxNameBytes)
	pick(&l.MaxMessageBytes, d.MaxMessageBytes)
	pick(&l.MaxMessageIDs, d.MaxMessageIDs)
	pick(&l.MaxStateBytes, d.MaxStateBytes)
	return l
}

// Options configure a Coordinator; the zero value is usable.
type Options struct {
	Limits Limits
	// Logger receives the coordinator's few messages (slog.Default when nil).
	Logger *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Shared says other coordinators share the Persister, which must then
	// be a SharedPersister (New fails otherwise).
	Shared bool
	// OnChange, when set, is called after a group's change is saved or
	// the group is deleted (with the group's lock held: it must not call
	// the coordinator), so the other coordinators can be told to Poke it.
	OnChange func(group string)
}

// Coordinator is LAVA's lava-coordinator as a component of the server:
// the same requests and answers, its state saved through a Persister
// before each answer, groups independent of each other, and waits that
// wake when their group changes. It is safe for concurrent use.
type Coordinator struct {
	p        Persister
	shared   SharedPersister // nil unless Options.Shared
	onChange func(string)
	lim      Limits
	log      *slog.Logger
	now      func() time.Time

	mu     sync.Mutex // guards groups; never held while waiting for a group's lock
	groups map[string]*group
}

// group is one group's committed state and its lock.
type group struct {
	mu sync.Mutex
	st *state // nil only while its creation is in progress
	// enc is st as saved; nil while the group was never saved.
	enc []byte
	// changed is closed at the group's next change (or its end).
	changed chan struct{}
	// gone: the group ended (or its creation failed); look it up again.
	gone    bool
	touched time.Time // last change
	// waiting counts the Waits blocked on changed.
	waiting atomic.Int64
	// ver is the saved version st was read at or saved as (shared
	// persisters only; 0 while never saved).
	ver int64
}

// New returns a coordinator holding every group p has saved.
func New(ctx context.Context, p Persister, opts Options) (*Coordinator, error) {
	if p == nil {
		return nil, fmt.Errorf("new coordinator: no persister")
	}
	c := &Coordinator{p: p, lim: opts.Limits.withDefaults(), log: opts.Logger, now: opts.Now, onChange: opts.OnChange, groups: map[string]*group{}}
	if c.log == nil {
		c.log = slog.Default()
	}
	if c.now == nil {
		c.now = time.Now
	}
	if opts.Shared {
		sp, ok := p.(SharedPersister)
		if !ok {
			return nil, fmt.Errorf("new coordinator: shared, but the persister %T cannot tell another coordinator's changes", p)
		}
		c.shared = sp
		// Groups are read when used: the saved ones may change at any time.
		return c, nil
	}
	saved, err := p.LoadGroups(ctx)
	if err != nil {
		return nil, fmt.Errorf("load coordinator groups: %w", err)
	}
	at := c.now()
	for name, data := range saved {
		st, err := decodeState(name, data)
		if err != nil {
			return nil, fmt.Errorf("load coordinator groups: %w", err)
		}
		enc, err := st.encode()
		if err != nil {
			return nil, fmt.Errorf("load coordinator groups: %w", err)
		}
		c.groups[name] = &group{st: st, enc: enc, changed: make(chan struct{}), touched: at}
	}
	if len(saved) > 0 {
		c.log.Info("coordinator groups loaded", "groups", len(saved))
	}
	return c, nil
}

// Handle runs one request, as one connection to lava-coordinator does, and
// returns LAVA's answer. A change of the group's state is saved before the
// answer is returned; the error is set only when saving (or deleting) the
// group failed, and then nothing changed. Bad requests are answered nack
// (Response.Reason says why), never an error.
func (c *Coordinator) Handle(ctx context.Context, req Request) (Response, error) {
	resp, _, _, err := c.handle(ctx, req)
	return resp, err
}

// Wait runs the request like Handle and, while the answer is "wait",
// waits for the group to change and runs it again, as a LAVA client
// polling would, but without delay. It returns the first other answer, or
// "wait" when hold passed or ctx ended first.
func (c *Coordinator) Wait(ctx context.Context, req Request, hold time.Duration) (Response, error) {
	timer := time.NewTimer(hold)
	defer timer.Stop()
	own := 0
	for {
		resp, changed, w, err := c.handle(ctx, req)
		if err != nil || resp.Response != RespWait || hold <= 0 {
			return resp, err
		}
		// A request that changed the group answered "wait" (it registered
		// the caller at a barrier, say): poll again at once, since the
		// change may be what releases it. The bound keeps a request whose
		// every poll changes something from spinning.
		if changed && own < 8 {
			own++
			continue
		}
		own = 0
		if w.ch == nil || !w.block(ctx, timer.C) {
			return resp, nil
		}
	}
}

// watch is how a Wait learns that a group changed: the group's channel
// as it was when the request was answered.
type watch struct {
	g  *group
	ch <-chan struct{} // nil: nothing to watch
}

// block waits for the group to change (true), or for the hold or ctx to
// end (false).
func (w watch) block(ctx context.Context, hold <-chan time.Time) bool {
	w.g.waiting.Add(1)
	defer w.g.waiting.Add(-1)
	select {
	case <-w.ch:
		return true
	case <-hold:
	case <-ctx.Done():
	}
	return false
}

// handle runs one request and returns its answer, whether it changed the
// group, and how to watch the group's next change.
func (c *Coordinator) handle(ctx context.Context, req Request) (Response, bool, watch, error) {
	if why := c.check(req); why != "" {
		return nack("%s", why), false, watch{}, nil
	}
	for range maxStale {
		g, created, refused := c.lookup(req)
		if g == nil {
			return refused, false, watch{}, nil
		}
		resp, changed, w, err := c.handleLocked(ctx, req, g, created)
		g.mu.Unlock()
		if !errors.Is(err, ErrStale) {
			return resp, changed, w, err
		}
	}
	return Response{}, false, watch{}, fmt.Errorf("coordinator: group %q: %w %d times in a row", req.GroupName, ErrStale, maxStale)
}

// refresh reads g's saved state when other coordinators share the
// persister, and takes it if another one changed it. It returns whether
// the request still creates the group, or ErrStale when another
// coordinator deleted it (g is then gone: look it up again).
func (c *Coordinator) refresh(ctx context.Context, name string, g *group, created bool) (bool, error) {
	data, ver, found, err := c.shared.LoadGroup(ctx, name)
	if err != nil {
		if created {
			g.gone = true
			c.remove(name, g)
		}
		return created, fmt.Errorf("coordinator: load group %q: %w", name, err)
	}
	switch {
	case !found && created:
		return true, nil
	case !found:
		// ended elsewhere (clear_group, or its jobs ended)
		g.gone = true
		c.remove(name, g)
		close(g.changed)
		return false, ErrStale
	case ver == g.ver:
		return false, nil
	}
	st, err := decodeState(name, data)
	if err != nil {
		return created, fmt.Errorf("coordinator: load group %q: %w", name, err)
	}
	enc, err := st.encode()
	if err != nil {
		return created, fmt.Errorf("coordinator: load group %q: %w", name, err)
	}
	g.st, g.enc, g.ver, g.touched = st, enc, ver, c.now()
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
	return false, nil
}

// handleLocked runs req on g, locked (created: the request creates it).
func (c *Coordinator) handleLocked(ctx context.Context, req Request, g *group, created bool) (Response, bool, watch, error) {
	name := req.GroupName
	if c.shared != nil {
		var err error
		if created, err = c.refresh(ctx, name, g, created); err != nil {
			return Response{}, false, watch{}, err
		}
		if created {
			if refused, ok := creatable(req, c.lim); !ok {
				g.gone = true
				c.remove(name, g)
				return refused, false, watch{}, nil
			}
		}
	}
	t := &txn{cur: g.st}
	if created {
		t.cur, t.cloned = newState(name, req.GroupSize), true
	}
	resp := apply(t, req, c.lim)
	if !t.cloned {
		return resp, false, watch{g, g.changed}, nil
	}
	// abandon forgets a group whose creation did not commit.
	abandon := func() {
		if created {
			g.gone = true
			c.remove(name, g)
		}
	}
	if t.drop {
		if g.enc != nil {
			if err := c.deleteSaved(ctx, name, g); err != nil {
				return Response{}, false, watch{}, err
			}
		}
		g.gone = true
		c.remove(name, g)
		close(g.changed)
		c.changed(name)
		return resp, true, watch{}, nil
	}
	enc, err := t.cur.encode()
	if err != nil {
		abandon()
		return nack("%v", err), false, watch{}, nil
	}
	if !created && bytes.Equal(enc, g.enc) {
		return resp, false, watch{g, g.changed}, nil
	}
	if len(enc) > c.lim.MaxStateBytes {
		abandon()
		return nack("group %q would hold %d bytes, more than the limit of %d", name, len(enc), c.lim.MaxStateBytes), false, watch{g, g.changed}, nil
	}
	ver, err := c.save(ctx, name, g, enc)
	if err != nil {
		abandon()
		return Response{}, false, watch{}, err
	}
	g.st, g.enc, g.ver, g.touched = t.cur, enc, ver, c.now()
	if g.changed != nil {
		close(g.changed)
	}
	g.changed = make(chan struct{})
	c.changed(name)
	return resp, true, watch{g, g.changed}, nil
}

// save saves g's new state enc (g locked) and returns its new version:
// if it is still at the version read, when the persister is shared.
func (c *Coordinator) save(ctx context.Context, name string, g *group, enc []byte) (int64, error) {
	if c.shared != nil {
		ver, err := c.shared.SaveGroupIf(ctx, name, enc, g.ver)
		if err != nil && !errors.Is(err, ErrStale) {
			err = fmt.Errorf("coordinator: save group %q: %w", name, err)
		}
		return ver, err
	}
	if err := c.p.SaveGroup(ctx, name, enc); err != nil {
		return 0, fmt.Errorf("coordinator: save group %q: %w", name, err)
	}
	return 0, nil
}

// deleteSaved deletes g's saved state (g locked): if it is still at the
// version read, when the persister is shared.
func (c *Coordinator) deleteSaved(ctx context.Context, name string, g *group) error {
	var err error
	if c.shared != nil {
		err = c.shared.DeleteGroupIf(ctx, name, g.ver)
	} else {
		err = c.p.DeleteGroup(ctx, name)
	}
	if err != nil && !errors.Is(err, ErrStale) {
		err = fmt.Errorf("coordinator: delete group %q: %w", name, err)
	}
	return err
}

// changed tells Options.OnChange that a group changed.
func (c *Coordinator) changed(name string) {
	if c.onChange != nil {
		c.onChange(name)
	}
}

// Poke wakes the Waits on a group, which run their request again (reading
// the group's saved state anew when the persister is shared): call it when
// another coordinator changed the group. Poking a group this coordinator
// does not hold does nothing.
func (c *Coordinator) Poke(name string) {
	c.mu.Lock()
	g := c.groups[name]
	c.mu.Unlock()
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone || g.changed == nil {
		return
	}
	close(g.changed)
	g.changed = make(chan struct{})
}

// lookup returns the request's group, locked, and whether this request
// creates it; or nil and the answer when the group does not exist and
// cannot be created.
func (c *Coordinator) lookup(req Request) (*group, bool, Response) {
	name := req.GroupName
	for {
		c.mu.Lock()
		g := c.groups[name]
		if g == nil {
			g, refused := c.create(req)
			c.mu.Unlock()
			return g, g != nil, refused
		}
		c.mu.Unlock()
		g.mu.Lock()
		if !g.gone {
			return g, false, Response{}
		}
		g.mu.Unlock()
	}
}

// create adds the request's group, locked, or returns why it may not
// (the caller holds c.mu).
func (c *Coordinator) create(req Request) (*group, Response) {
	if len(c.groups) >= c.lim.MaxGroups {
		return nil, nack("the coordinator already has %d groups, the limit", len(c.groups))
	}
	// Shared: another coordinator may have saved the group; handleLocked
	// reads it first, and checks the creation only if it is not saved.
	if c.shared == nil {
		if refused, ok := creatable(req, c.lim); !ok {
			return nil, refused
		}
	}
	g := &group{changed: make(chan struct{})}
	g.mu.Lock() // a new lock nobody else holds: never waits
	c.groups[req.GroupName] = g
	return g, Response{}
}

// creatable says whether req may create its group, and the answer when
// it may not.
func creatable(req Request, lim Limits) (Response, bool) {
	switch {
	case req.GroupSize <= 0:
		return nack("unknown group %q and no group_size to create it", req.GroupName), false
	case req.GroupSize > lim.MaxGroupSize:
		return nack("group_size %d is more than the limit of %d", req.GroupSize, lim.MaxGroupSize), false
	}
	return Response{}, true
}

// remove forgets group g under name (the caller holds g's lock).
func (c *Coordinator) remove(name string, g *group) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[name] == g {
		delete(c.groups, name)
	}
}

// check returns why a request is malformed, or "".
func (c *Coordinator) check(req Request) string {
	switch {
	case req.Request == "":
		return "missing request"
	case req.ClientName == "":
		return "missing client_name"
	case req.GroupName == "":
		return "missing group_name"
	case req.Role == "":
		return "missing role"
	case req.Hostname == "":
		return "missing hostname"
	}
	fields := []struct{ name, v string }{
		{"request", req.Request}, {"client_name", req.ClientName}, {"group_name", req.GroupName},
		{"role", req.Role}, {"hostname", req.Hostname}, {"messageID", req.MessageID},
		{"waitrole", req.WaitRole}, {"sub_id", req.SubID},
	}
	for _, f := range fields {
		if len(f.v) > c.lim.MaxNameBytes {
			return fmt.Sprintf("%s has %d bytes, more than the limit of %d", f.name, len(f.v), c.lim.MaxNameBytes)
		}
		if !utf8.ValidString(f.v) || strings.ContainsRune(f.v, 0) {
			return fmt.Sprintf("%s is not valid text", f.name)
		}
	}
	return ""
}

// DropGroup ends a group whatever its state (the server calls it when all
// the group's jobs finished): its saved state is deleted and its waits
// wake. Dropping a group that does not exist does nothing.
func (c *Coordinator) DropGroup(ctx context.Context, name string) error {
	c.mu.Lock()
	g := c.groups[name]
	c.mu.Unlock()
	if g == nil {
		if c.shared != nil {
			// another coordinator may hold it
			if err := c.p.DeleteGroup(ctx, name); err != nil {
				return fmt.Errorf("coordinator: drop group %q: %w", name, err)
			}
			c.changed(name)
		}
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone {
		return nil
	}
	if g.enc != nil || c.shared != nil {
		if err := c.p.DeleteGroup(ctx, name); err != nil {
			return fmt.Errorf("coordinator: drop group %q: %w", name, err)
		}
	}
	g.gone = true
	c.remove(name, g)
	close(g.changed)
	c.changed(name)
	return nil
}

// DropIdle drops the groups that did not change since before (groups of
// LAVA dispatchers that died without clear_group) and returns their
// names. A group loaded at start counts as changed then.
func (c *Coordinator) DropIdle(ctx context.Context, before time.Time) ([]string, error) {
	if c.shared != nil {
		// Groups other coordinators made count as changed when this one
		// first sees them.
		saved, err := c.p.LoadGroups(ctx)
		if err != nil {
			return nil, fmt.Errorf("coordinator: list groups: %w", err)
		}
		at := c.now()
		c.mu.Lock()
		for name, data := range saved {
			if c.groups[name] != nil {
				continue
			}
			if st, err := decodeState(name, data); err == nil {
				// version 0: the first request reads it again
				c.groups[name] = &group{st: st, changed: make(chan struct{}), touched: at}
			}
		}
		c.mu.Unlock()
	}
	var dropped []string
	for _, name := range c.Groups() {
		st, ok := c.Status(name)
		if !ok || !st.Changed.Before(before) {
			continue
		}
		if err := c.DropGroup(ctx, name); err != nil {
			return dropped, err
		}
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// Groups returns the names of the groups that exist, sorted.
func (c *Coordinator) Groups() []string {
	c.mu.Lock()
	names := slices.Collect(maps.Keys(c.groups))
	c.mu.Unlock()
	sort.Strings(names)
	return names
}

// GroupStatus is a view of one group, for status pages and tests.
type GroupStatus struct {
	Name     string
	Size     int // group_size
	Complete int // clear_group calls so far
	// Clients maps client_name to hostname.
	Clients map[string]string
	// Roles maps a role to its clients, in registration order.
	Roles map[string][]string
	// Sent maps each message ID sent with lava_send to its senders, sorted.
	Sent map[string][]string
	// Barriers maps each lava_sync ID in use to the clients seen at it,
	// sorted.
	Barriers map[string][]string
	Changed  time.Time
	// Waiting is how many Waits are blocked on the group now.
	Waiting int
}

// Status returns a view of the named group; false when it does not exist.
func (c *Coordinator) Status(name string) (GroupStatus, bool) {
	c.mu.Lock()
	g := c.groups[name]
	c.mu.Unlock()
	if g == nil {
		return GroupStatus{}, false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.gone || g.st == nil {
		return GroupStatus{}, false
	}
	s := g.st
	out := GroupStatus{Name: name, Size: s.Count, Complete: s.Complete, Clients: maps.Clone(s.Clients),
		Roles: map[string][]string{}, Sent: map[string][]string{}, Barriers: map[string][]string{}, Changed: g.touched,
		Waiting: int(g.waiting.Load())}
	for r, cl := range s.Roles {
		out.Roles[r] = slices.Clone(cl)
	}
	for id, w := range s.Waits {
		out.Sent[id] = slices.Sorted(maps.Keys(w.Senders))
	}
	for id, m := range s.Syncs {
		if len(m) > 0 {
			out.Barriers[id] = slices.Sorted(maps.Keys(m))
		}
	}
	return out, true
}
