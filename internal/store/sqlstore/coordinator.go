package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

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
		_, err := q.exec(ctx, c, `INSERT INTO coordinator_groups (name, state, updated, version) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated = excluded.updated, version = excluded.version`,
			name, state, q.d.ts(now()), newGroupVersion())
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

// newGroupVersion is a saved group state's version: random, so that a
// group ended and created again never repeats an old version.
func newGroupVersion() int64 { return rand.Int64N(math.MaxInt64-1) + 1 }

// GetCoordinatorGroup returns a group's state and version.
func (q *queries) GetCoordinatorGroup(ctx context.Context, name string) ([]byte, int64, error) {
	var state []byte
	var ver int64
	err := q.row(ctx, q.r(), "SELECT state, version FROM coordinator_groups WHERE name = ?", name).Scan(&state, &ver)
	if errors.Is(err, sql.ErrNoRows) {
		err = lab.ErrNotFound
	}
	if err != nil {
		return nil, 0, wrap(fmt.Sprintf("get coordinator group %q", name), err)
	}
	if state == nil {
		state = []byte{}
	}
	return state, ver, nil
}

// SaveCoordinatorGroupIf saves a group's state with one conditional
// statement: an insert that does nothing when the group exists (version
// 0), or an update of the row still at version.
func (q *queries) SaveCoordinatorGroupIf(ctx context.Context, name string, state []byte, version int64) (int64, error) {
	op := fmt.Sprintf("save coordinator group %q", name)
	if name == "" || version < 0 {
		return 0, wrap(op, fmt.Errorf("%w: a group needs a name and a version of at least 0", lab.ErrInvalid))
	}
	if state == nil {
		state = []byte{}
	}
	ver := newGroupVersion()
	err := q.write(ctx, func(c conn) error {
		var n int64
		var err error
		if version == 0 {
			n, err = q.execN(ctx, c, `INSERT INTO coordinator_groups (name, state, updated, version) VALUES (?, ?, ?, ?)
				ON CONFLICT (name) DO NOTHING`, name, state, q.d.ts(now()), ver)
		} else {
			n, err = q.execN(ctx, c, `UPDATE coordinator_groups SET state = ?, updated = ?, version = ?
				WHERE name = ? AND version = ?`, state, q.d.ts(now()), ver, name, version)
		}
		if err == nil && n == 0 {
			err = fmt.Errorf("%w: the group changed since version %d", lab.ErrConflict, version)
		}
		return err
	})
	if err != nil {
		return 0, wrap(op, err)
	}
	return ver, nil
}

// DeleteCoordinatorGroupIf removes a group's state if it is still at
// version.
func (q *queries) DeleteCoordinatorGroupIf(ctx context.Context, name string, version int64) error {
	return wrap(fmt.Sprintf("delete coordinator group %q", name), q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, "DELETE FROM coordinator_groups WHERE name = ? AND version = ?", name, version)
		if err != nil || n == 1 {
			return err
		}
		var x int
		err = q.row(ctx, c, "SELECT 1 FROM coordinator_groups WHERE name = ?", name).Scan(&x)
		if errors.Is(err, sql.ErrNoRows) {
			return lab.ErrNotFound
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: the group changed since version %d", lab.ErrConflict, version)
	}))
}
