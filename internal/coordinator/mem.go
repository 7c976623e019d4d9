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
	mu       sync.Mutex
	groups   map[string][]byte
	versions map[string]int64
}

var _ SharedPersister = (*MemPersister)(nil)

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
	m.bump(name)
	return nil
}

// bump gives name's state a new version (m.mu held).
func (m *MemPersister) bump(name string) int64 {
	if m.versions == nil {
		m.versions = map[string]int64{}
	}
	m.versions[name]++
	return m.versions[name]
}

// LoadGroup returns a copy of name's state and its version.
func (m *MemPersister) LoadGroup(_ context.Context, name string) ([]byte, int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st, ok := m.groups[name]
	if !ok {
		return nil, 0, false, nil
	}
	return slices.Clone(st), m.versions[name], true, nil
}

// SaveGroupIf stores a copy of state under name if its version is still
// version (0: not saved).
func (m *MemPersister) SaveGroupIf(_ context.Context, name string, state []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.groups[name]
	if (version == 0) == ok || (ok && m.versions[name] != version) {
		return 0, ErrStale
	}
	if m.groups == nil {
		m.groups = map[string][]byte{}
	}
	m.groups[name] = slices.Clone(state)
	return m.bump(name), nil
}

// DeleteGroupIf forgets name's state if its version is still version.
func (m *MemPersister) DeleteGroupIf(_ context.Context, name string, version int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.groups[name]; !ok {
		return nil
	}
	if m.versions[name] != version {
		return ErrStale
	}
	delete(m.groups, name)
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
