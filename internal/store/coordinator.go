package store

import (
	"context"
	"errors"

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
