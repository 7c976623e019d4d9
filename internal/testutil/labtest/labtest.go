// Package labtest gives tests above the store a real database on each
// backend: SQLite in a temporary directory and a fresh database on the
// private PostgreSQL cluster (internal/testutil/pgtest). Tests that range
// over Backends run the same assertions on both; a missing PostgreSQL fails
// the test, it never skips it.
//
// Above that, Lab is the small lab the tests of every HTTP surface build
// their fixture on (users, tokens, a worker and a device on a real app;
// Main is their TestMain), APIServer serves the real /api/v1 for the
// client's tests, and ServeFuzzed is the request scaffolding of the
// handler fuzz targets.
package labtest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/store/sqlstore"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

// Backend names a database kind and opens a fresh, migrated, empty store of
// that kind, closed when the test ends.
type Backend struct {
	Name string
	Open func(t testing.TB) store.Store
}

// DSN returns a DSN for a fresh database of this backend (for tests that
// open several stores on one database, like two servers sharing it).
func (b Backend) DSN(t testing.TB) string {
	if b.Name == "postgres" {
		return pgtest.DSN(t)
	}
	return filepath.Join(t.TempDir(), "basalt.db")
}

// Backends lists SQLite and PostgreSQL.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", Open: func(t testing.TB) store.Store { return OpenDSN(t, filepath.Join(t.TempDir(), "basalt.db")) }},
		{Name: "postgres", Open: func(t testing.TB) store.Store { return OpenDSN(t, pgtest.DSN(t)) }},
	}
}

// OpenDSN opens a store on dsn and closes it at cleanup.
func OpenDSN(t testing.TB, dsn string) store.Store {
	t.Helper()
	st, err := sqlstore.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
