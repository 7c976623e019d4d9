package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// ---- leases (migration 0008) ----

// AcquireLease takes or renews a lease with one conditional upsert: the
// row is written when it is missing, expired at now, or held by holder.
// On PostgreSQL the upsert locks the row and checks its condition on the
// version committed last, so of two replicas racing for a free lease one
// writes it and the other's condition fails; SQLite has one writer.
func (q *queries) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (lab.Lease, error) {
	op := fmt.Sprintf("acquire lease %q for %q", name, holder)
	switch {
	case name == "" || holder == "":
		return lab.Lease{}, wrap(op, fmt.Errorf("%w: a lease needs a name and a holder", lab.ErrInvalid))
	case now.IsZero() || ttl <= 0:
		return lab.Lease{}, wrap(op, fmt.Errorf("%w: a lease needs a time and a positive duration", lab.ErrInvalid))
	}
	want := lab.Lease{Name: name, Holder: holder, Expires: normTime(now.Add(ttl))}
	var got lab.Lease
	err := q.write(ctx, func(c conn) error {
		n, err := q.execN(ctx, c, `INSERT INTO leases (name, holder, expires) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires
			WHERE leases.holder = excluded.holder OR leases.expires <= ?`,
			name, holder, q.d.ts(want.Expires), q.d.ts(now))
		if err != nil || n == 1 {
			got = want
			return err
		}
		got, err = q.lease(ctx, c, name)
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: held by %q until %s", lab.ErrConflict, got.Holder, got.Expires.Format(time.RFC3339Nano))
	})
	return got, wrap(op, err)
}

// ReleaseLease drops the lease when holder holds it.
func (q *queries) ReleaseLease(ctx context.Context, name, holder string) error {
	return wrap(fmt.Sprintf("release lease %q for %q", name, holder), q.write(ctx, func(c conn) error {
		_, err := q.execN(ctx, c, "DELETE FROM leases WHERE name = ? AND holder = ?", name, holder)
		return err
	}))
}

// GetLease returns a lease as stored.
func (q *queries) GetLease(ctx context.Context, name string) (lab.Lease, error) {
	l, err := q.lease(ctx, q.r(), name)
	return l, wrap(fmt.Sprintf("get lease %q", name), err)
}

func (q *queries) lease(ctx context.Context, c conn, name string) (lab.Lease, error) {
	l := lab.Lease{Name: name}
	err := q.row(ctx, c, "SELECT holder, expires FROM leases WHERE name = ?", name).Scan(&l.Holder, timeDest{&l.Expires})
	if errors.Is(err, sql.ErrNoRows) {
		return lab.Lease{}, lab.ErrNotFound
	}
	return l, err
}
