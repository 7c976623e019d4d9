package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

//go:embed migrations
var migrationFiles embed.FS

// ErrSchemaTooNew is returned by Open when the database was migrated by a
// newer Basalt than this binary: it would not understand the schema.
var ErrSchemaTooNew = errors.New("database schema is newer than this binary")

// migration is one versioned schema change, read from
// migrations/<dialect>/<NNNN>_<name>.sql.
type migration struct {
	version int
	name    string
	sql     string
}

// migrationLockKey is the PostgreSQL advisory lock that serializes
// migrations of servers starting together ("basalt" in ASCII).
const migrationLockKey = 0x626173616c74

// loadMigrations returns the embedded migrations of a dialect, by version.
// Versions must run 1, 2, … without gaps.
func loadMigrations(dialect string) ([]migration, error) {
	dir := path.Join("migrations", dialect)
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	var out []migration
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".sql") {
			continue
		}
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s/%s: name must be NNNN_description.sql", dir, name)
		}
		body, err := fs.ReadFile(migrationFiles, path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: strings.TrimSuffix(name, ".sql"), sql: string(body)})
	}
	for i, m := range out { // ReadDir sorts by name, and names start with the zero-padded version
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations in %s: expected version %d, found %s", dir, i+1, m.name)
		}
	}
	return out, nil
}

// LatestSchemaVersion is the schema version this binary creates and
// understands.
func LatestSchemaVersion() int {
	ms, err := loadMigrations(sqliteDialect.name)
	if err != nil {
		panic(err) // the embedded files are part of the binary: tests catch this
	}
	return len(ms)
}

// migrate brings the database up to the latest version. Each migration runs
// in its own transaction together with its schema_migrations row, so a
// failed migration leaves the previous version intact. Concurrent openers
// are serialized: by an advisory lock on PostgreSQL, by the write lock of
// BEGIN IMMEDIATE on SQLite; each migration is re-checked inside its
// transaction.
func migrate(ctx context.Context, db *sql.DB, d *dialect) error {
	return migrateTo(ctx, db, d, 0)
}

// migrateTo brings the database up to version target (0: the latest); the
// upgrade tests use it to build databases of earlier versions.
func migrateTo(ctx context.Context, db *sql.DB, d *dialect, target int) error {
	ms, err := loadMigrations(d.name)
	if err != nil {
		return err
	}
	if target > 0 && target < len(ms) {
		ms = ms[:target]
	}
	c, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer c.Close()
	if d.numbered {
		if _, err := c.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
			return fmt.Errorf("migrate: take lock: %w", err)
		}
		defer c.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey)
	}
	if _, err := c.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER NOT NULL PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at `+d.timeType+` NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	var current int
	if err := c.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return fmt.Errorf("migrate: read version: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: %w: database is at version %d, this binary knows up to %d; run a newer Basalt",
			ErrSchemaTooNew, current, len(ms))
	}
	for _, m := range ms[current:] {
		if err := applyMigration(ctx, c, d, m); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.name, err)
		}
	}
	return nil
}

func applyMigration(ctx context.Context, c *sql.Conn, d *dialect, m migration) error {
	tx, err := c.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, d.q("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil // another opener applied it meanwhile
	}
	if _, err := tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
		m.version, m.name, d.ts(now())); err != nil {
		return err
	}
	return tx.Commit()
}

// SchemaVersion returns the highest migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	if err := s.writer.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}
