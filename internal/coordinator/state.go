package coordinator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// stateVersion is the version of the JSON form of a group's state (the
// bytes the Persister stores). A state of another version is refused when
// loaded: it was written by a Basalt this one does not know.
const stateVersion = 1

// state is one group's bookkeeping, as lava-coordinator keeps it in its
// group dictionary: the group's size (count), how many clear_group calls
// it had (complete), its clients and roles, the message boxes of each
// client, the senders and payloads of each message ID for lava_wait_all
// (waits), the barriers (syncs) and the legacy aggregation (bundles,
// rpc_delay). It is serialised as versioned JSON with sorted keys, so that
// the same state always has the same bytes.
type state struct {
	V        int    `json:"v"`
	Name     string `json:"group"`
	Count    int    `json:"count"`
	Complete int    `json:"complete"`
	RPCDelay int    `json:"rpc_delay"`
	// Clients maps client_name to the hostname it registered with.
	Clients map[string]string `json:"clients"`
	// Roles maps a role to its clients in registration order (LAVA's
	// lava_wait_all with waitrole looks at the first one).
	Roles map[string][]string `json:"roles"`
	// Messages maps client_name, then messageID, to that client's box.
	Messages map[string]map[string]box `json:"messages"`
	// Waits maps messageID to who sent it and every sender's payload.
	Waits map[string]*waitEntry `json:"waits"`
	// Syncs maps messageID to the clients seen at the barrier: 1 while a
	// client has not yet been answered ack, 0 once it has.
	Syncs map[string]map[string]int `json:"syncs"`
	// Bundles are the legacy aggregate request's bundles by client.
	Bundles map[string]json.RawMessage `json:"bundles"`
}

// waitEntry is LAVA's waits[messageID]: the clients that sent the message
// (its client keys) and "data", every sender's payload.
type waitEntry struct {
	Senders map[string]bool            `json:"senders"`
	Data    map[string]json.RawMessage `json:"data"`
}

// box is one client's message box for one messageID: usually an object
// (sender → payload, filled by lava_send's broadcast, or the object a
// lava_sync carried), or any other JSON value a lava_sync stored (the
// messageID string when it carried no message). Values are never changed
// in place: a box is replaced or its object's map is copied first.
type box struct {
	Obj map[string]json.RawMessage // when the value is an object
	Raw json.RawMessage            // otherwise
}

// MarshalJSON writes the box as its JSON value.
func (b box) MarshalJSON() ([]byte, error) {
	if b.Obj != nil {
		return json.Marshal(b.Obj)
	}
	if len(b.Raw) == 0 {
		return []byte("null"), nil
	}
	return b.Raw, nil
}

// UnmarshalJSON reads any JSON value into the box.
func (b *box) UnmarshalJSON(data []byte) error {
	t := bytes.TrimSpace(data)
	if len(t) > 0 && t[0] == '{' {
		b.Raw = nil
		b.Obj = map[string]json.RawMessage{}
		return json.Unmarshal(t, &b.Obj)
	}
	b.Obj = nil
	b.Raw = append(json.RawMessage(nil), t...)
	return nil
}

// newState returns the state of a group LAVA creates on first contact.
func newState(name string, count int) *state {
	s := &state{V: stateVersion, Name: name, Count: count, RPCDelay: rpcDelay}
	s.normalise()
	return s
}

// rpcDelay is LAVA's rpc_delay: how many extra "wait" answers the legacy
// aggregate request gives sub_id .0 once every bundle is in.
const rpcDelay = 2

// normalise makes every nil map of s empty, so that handlers need not
// check.
func (s *state) normalise() {
	if s.Clients == nil {
		s.Clients = map[string]string{}
	}
	if s.Roles == nil {
		s.Roles = map[string][]string{}
	}
	if s.Messages == nil {
		s.Messages = map[string]map[string]box{}
	}
	if s.Waits == nil {
		s.Waits = map[string]*waitEntry{}
	}
	for id, w := range s.Waits {
		if w == nil {
			w = &waitEntry{}
			s.Waits[id] = w
		}
		if w.Senders == nil {
			w.Senders = map[string]bool{}
		}
		if w.Data == nil {
			w.Data = map[string]json.RawMessage{}
		}
	}
	if s.Syncs == nil {
		s.Syncs = map[string]map[string]int{}
	}
	for id, m := range s.Syncs {
		if m == nil {
			s.Syncs[id] = map[string]int{}
		}
	}
	if s.Bundles == nil {
		s.Bundles = map[string]json.RawMessage{}
	}
	for c, m := range s.Messages {
		if m == nil {
			s.Messages[c] = map[string]box{}
		}
	}
}

// clone returns a copy of s that shares only immutable payloads
// (json.RawMessage values are never modified once stored).
func (s *state) clone() *state {
	c := *s
	c.Clients = maps.Clone(s.Clients)
	c.Roles = make(map[string][]string, len(s.Roles))
	for r, cl := range s.Roles {
		c.Roles[r] = slices.Clone(cl)
	}
	c.Messages = make(map[string]map[string]box, len(s.Messages))
	for cl, boxes := range s.Messages {
		nb := make(map[string]box, len(boxes))
		for id, b := range boxes {
			nb[id] = box{Obj: maps.Clone(b.Obj), Raw: b.Raw}
		}
		c.Messages[cl] = nb
	}
	c.Waits = make(map[string]*waitEntry, len(s.Waits))
	for id, w := range s.Waits {
		c.Waits[id] = &waitEntry{Senders: maps.Clone(w.Senders), Data: maps.Clone(w.Data)}
	}
	c.Syncs = make(map[string]map[string]int, len(s.Syncs))
	for id, m := range s.Syncs {
		c.Syncs[id] = maps.Clone(m)
	}
	c.Bundles = maps.Clone(s.Bundles)
	return &c
}

// encode returns the state's JSON form.
func (s *state) encode() ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode coordinator group %q: %w", s.Name, err)
	}
	return b, nil
}

// errBadState marks a stored state that cannot be used.
var errBadState = errors.New("bad coordinator group state")

// decodeState reads a state written by encode, for the group name it was
// stored under.
func decodeState(name string, data []byte) (*state, error) {
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w %q: %v", errBadState, name, err)
	}
	if s.V != stateVersion {
		return nil, fmt.Errorf("%w %q: version %d, this Basalt reads version %d", errBadState, name, s.V, stateVersion)
	}
	if s.Name != name {
		return nil, fmt.Errorf("%w %q: it names group %q", errBadState, name, s.Name)
	}
	s.normalise()
	return &s, nil
}

// messageIDs returns how many distinct message IDs the group knows (every
// ID enters waits through lava_send or syncs through lava_sync).
func (s *state) messageIDs() int {
	n := len(s.Waits)
	for id := range s.Syncs {
		if _, ok := s.Waits[id]; !ok {
			n++
		}
	}
	return n
}

// knowsID reports whether the group has seen message ID id.
func (s *state) knowsID(id string) bool {
	_, w := s.Waits[id]
	_, y := s.Syncs[id]
	return w || y
}
