package sqlstore

import (
	"context"
	"fmt"

	"github.com/basalt-lab/basalt/internal/lab"
)

// ---- multinode coordinator groups (migration 0007) ----

// SaveCoordinatorGroup creates or replaces a group's state; updated is the
// store's clock.
func (q *queries) SaveCoordinatorGroup(ctx context.Context, name string, state []byte) error {
	op := fmt.Sprintf("save coordinator group %q", name)
	if name == "" {
		return wrap(op, fmt.Errorf("%w: group name is empty", lab.ErrInvalid))
	}
	if state == nil {
		state = []byte{}
	}
	return wrap(op, q.write(ctx, func(c conn) error {
		_, err := q.exec(ctx, c, `INSERT INTO coordinator_groups (name, state, updated) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated = excluded.updated`,
			name, state, q.d.ts(now()))
		return err
	}))
}

// ListCoordinatorGroups returns every group's state by name.
func (q *queries) ListCoordinatorGroups(ctx context.Context) (map[string][]byte, error) {
	rows, err := q.query(ctx, q.r(), "SELECT name, state FROM coordinator_groups")
	type row struct {
		name  string
		state []byte
	}
	rs, err := collect(rows, err, func(r scanner) (row, error) {
		var x row
		return x, r.Scan(&x.name, &x.state)
	})
	if err != nil {
		return nil, wrap("list coordinator groups", err)
	}
	out := make(map[string][]byte, len(rs))
	for _, x := range rs {
		if x.state == nil {
			x.state = []byte{}
		}
		out[x.name] = x.state
	}
	return out, nil
}

// DeleteCoordinatorGroup removes a group's state.
func (q *queries) DeleteCoordinatorGroup(ctx context.Context, name string) error {
	return wrap(fmt.Sprintf("delete coordinator group %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM coordinator_groups WHERE name = ?", name)
		if err == nil && n == 0 {
			return lab.ErrNotFound
		}
		return err
	}))
}
