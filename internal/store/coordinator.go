package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/lab"
)

// CoordinatorGroups keeps the multinode coordinator's groups in a store:
// it is the coordinator's Persister (internal/coordinator) over the
// coordinator_groups methods of Queries.
type CoordinatorGroups struct{ Q Queries }

// LoadGroups returns every saved group's state.
func (g CoordinatorGroups) LoadGroups(ctx context.Context) (map[string][]byte, error) {
	return g.Q.ListCoordinatorGroups(ctx)
}

// SaveGroup creates or replaces a group's state.
func (g CoordinatorGroups) SaveGroup(ctx context.Context, name string, state []byte) error {
	return g.Q.SaveCoordinatorGroup(ctx, name, state)
}

// DeleteGroup removes a group's state; a group that is not saved is no
// error.
func (g CoordinatorGroups) DeleteGroup(ctx context.Context, name string) error {
	if err := g.Q.DeleteCoordinatorGroup(ctx, name); err != nil && !errors.Is(err, lab.ErrNotFound) {
		return err
	}
	return nil
}

var _ coordinator.SharedPersister = CoordinatorGroups{}

// LoadGroup returns a group's saved state and version; found is false when
// it is not saved.
func (g CoordinatorGroups) LoadGroup(ctx context.Context, name string) ([]byte, int64, bool, error) {
	st, ver, err := g.Q.GetCoordinatorGroup(ctx, name)
	if errors.Is(err, lab.ErrNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, err
	}
	return st, ver, true, nil
}

// SaveGroupIf saves a group's state if it is still at version (0: not
// saved); coordinator.ErrStale when another replica changed it.
func (g CoordinatorGroups) SaveGroupIf(ctx context.Context, name string, state []byte, version int64) (int64, error) {
	ver, err := g.Q.SaveCoordinatorGroupIf(ctx, name, state, version)
	if errors.Is(err, lab.ErrConflict) {
		return 0, fmt.Errorf("%w: %w", coordinator.ErrStale, err)
	}
	return ver, err
}

// DeleteGroupIf deletes a group's state if it is still at version;
// coordinator.ErrStale when another replica changed it; nil when it is not
// saved.
func (g CoordinatorGroups) DeleteGroupIf(ctx context.Context, name string, version int64) error {
	err := g.Q.DeleteCoordinatorGroupIf(ctx, name, version)
	switch {
	case errors.Is(err, lab.ErrNotFound):
		return nil
	case errors.Is(err, lab.ErrConflict):
		return fmt.Errorf("%w: %w", coordinator.ErrStale, err)
	}
	return err
}
