package coordinator

import (
	"context"
	"maps"
	"slices"
	"sync"
)

// MemPersister keeps groups' states in memory: for tests, benchmarks and
// a coordinator that need not survive its process. It copies what it is
// given and what it returns.
type MemPersister struct {
	mu     sync.Mutex
	groups map[string][]byte
}

// LoadGroups returns a copy of every saved state.
func (m *MemPersister) LoadGroups(context.Context) (map[string][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string][]byte, len(m.groups))
	for k, v := range m.groups {
		out[k] = slices.Clone(v)
	}
	return out, nil
}

// SaveGroup stores a copy of state under name.
func (m *MemPersister) SaveGroup(_ context.Context, name string, state []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.groups == nil {
		m.groups = map[string][]byte{}
	}
	m.groups[name] = slices.Clone(state)
	return nil
}

// DeleteGroup forgets name's state.
func (m *MemPersister) DeleteGroup(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.groups, name)
	return nil
}

// Names returns the names of the saved groups, sorted.
func (m *MemPersister) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.groups))
}
