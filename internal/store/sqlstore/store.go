package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	"modernc.org/sqlite"               // also the database/sql driver "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Store implements store.Store on SQLite or PostgreSQL. It is safe for
// concurrent use. Open it with Open and release it with Close.
type Store struct {
	classified // the Queries outside any transaction, errors classified

	queries *queries // the same, errors as they come

	d      *dialect
	writer *sql.DB // SQLite: the single writer connection; PostgreSQL: the pool
	reader *sql.DB // SQLite: read-only pool; PostgreSQL: the same pool as writer

	// probe is the one connection of Ping: health checks never queue
	// behind requests for a pooled connection, nor behind SQLite's writer.
	probe *sql.DB

	// SQLite only (nil on PostgreSQL): prepared statements of each pool.
	wcache, rcache *stmtCache

	// writes orders the write transactions, urgent ones first (gate.go).
	writes *gate

	logsOnce sync.Once
	logs     *LogStore // Logs: one per Store, so that its waiters hear its appends

	closeOnce sync.Once
	closeErr  error
}

var _ store.Store = (*Store)(nil)

// postgresPool is the number of connections to PostgreSQL.
const postgresPool = 16

// maxTxAttempts bounds how often InTx runs a transaction that PostgreSQL
// aborted with a serialization failure or a deadlock.
const maxTxAttempts = 5

// sqliteBusyTimeout is how long SQLite waits for a lock held by another
// connection (checkpoints, another process) before failing.
const sqliteBusyTimeout = 10 * time.Second

// Open opens (creating it if needed) the database named by dsn and brings
// its schema up to date:
//
//   - postgres://… or postgresql://… : PostgreSQL through pgx (the URL is
//     passed to pgx as is: sslmode, host=/socket/dir … work).
//   - sqlite:///abs/path/basalt.db or sqlite://rel/path.db : a SQLite file.
//   - file:path.db?param=… : a SQLite URI; its parameters are kept and
//     Basalt's own pragmas are added.
//   - anything else: the path of a SQLite file.
//
// In-memory SQLite databases are refused: the reader pool and the writer
// would each see their own.
func Open(ctx context.Context, dsn string) (*Store, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn)
	case strings.HasPrefix(dsn, "sqlite://"):
		return openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite://"), "")
	case strings.HasPrefix(dsn, "file:"):
		path, query, _ := strings.Cut(strings.TrimPrefix(dsn, "file:"), "?")
		p, err := url.PathUnescape(path)
		if err != nil {
			return nil, fmt.Errorf("open %q: %w: bad file URI: %v", dsn, lab.ErrInvalid, err)
		}
		return openSQLite(ctx, p, query)
	default:
		return openSQLite(ctx, dsn, "")
	}
}

// sqliteURI builds the URI of one of the two SQLite pools.
func sqliteURI(path, userQuery string, pragmas ...string) string {
	var b strings.Builder
	b.WriteString("file:")
	// A file URI's path escapes %, ? and #; SQLite decodes them.
	b.WriteString(strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path))
	b.WriteString("?")
	if userQuery != "" {
		b.WriteString(userQuery)
		b.WriteString("&")
	}
	b.WriteString("_pragma=busy_timeout(" + fmt.Sprint(sqliteBusyTimeout.Milliseconds()) + ")")
	for _, p := range pragmas {
		b.WriteString("&")
		b.WriteString(p)
	}
	return b.String()
}

func openSQLite(ctx context.Context, path, userQuery string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.Contains(userQuery, "mode=memory") {
		return nil, fmt.Errorf("open SQLite %q: %w: in-memory databases are not supported, use a file", path, lab.ErrInvalid)
	}
	writer, err := sql.Open("sqlite", sqliteURI(path, userQuery,
		"_pragma=journal_mode(WAL)", "_pragma=synchronous(NORMAL)", "_pragma=foreign_keys(1)", "_pragma=temp_store(MEMORY)",
		"_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	// One writer: SQLite allows one writing transaction at a time, and
	// BEGIN IMMEDIATE on a single connection queues writers in Go (on the
	// pool) instead of failing them with SQLITE_BUSY.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	s := &Store{d: sqliteDialect, writer: writer, writes: newGate(1)}
	// The writer's first connection switches the file to WAL before any
	// reader opens it.
	if err := pingSQLite(ctx, writer); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	if err := migrate(ctx, writer, s.d); err != nil {
		writer.Close()
		return nil, fmt.Errorf("open SQLite %s: %w", path, err)
	}
	reader, err := sql.Open("sqlite", sqliteURI(path, userQuery, "_pragma=foreign_keys(1)", "_pragma=query_only(1)"))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("open SQLite %s readers: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s.reader = reader
	probe, err := sql.Open("sqlite", sqliteURI(path, userQuery, "_pragma=query_only(1)"))
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("open SQLite %s probe: %w", path, err)
	}
	s.probe = oneConn(probe)
	s.wcache, s.rcache = newStmtCache(writer), newStmtCache(reader)
	s.queries = &queries{s: s, d: s.d}
	s.classified = classified{s.queries}
	return s, nil
}

// pingSQLite opens the writer's first connection. Switching a fresh file to
// WAL takes an exclusive lock for which SQLite does not call the busy
// handler, so when several processes open one new database at once, all
// but one can get SQLITE_BUSY right away: retry those, with a short
// back-off, for as long as the busy timeout.
func pingSQLite(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	wait := 5 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		var se *sqlite.Error
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 200*time.Millisecond)
	}
}

func openPostgres(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	db.SetMaxOpenConns(postgresPool)
	db.SetMaxIdleConns(postgresPool)
	db.SetConnMaxIdleTime(5 * time.Minute)
	// Writes may take up to 3/4 of the pool, so that reads always find a
	// connection.
	s := &Store{d: postgresDialect, writer: db, reader: db, writes: newGate(postgresPool * 3 / 4)}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	if err := migrate(ctx, db, s.d); err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL: %w", err)
	}
	probe, err := sql.Open("pgx", dsn)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL probe: %w", err)
	}
	s.probe = oneConn(probe)
	s.queries = &queries{s: s, d: s.d}
	s.classified = classified{s.queries}
	return s, nil
}

// oneConn limits db to one connection, kept open.
func oneConn(db *sql.DB) *sql.DB {
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(0)
	return db
}

// Ping checks that the database answers a read, on a connection of its
// own: it never waits for a pooled connection nor for SQLite's single
// writer, so it answers quickly however busy the server is. Any failure
// wraps lab.ErrDatabaseUnavailable; bound the wait with ctx.
func (s *Store) Ping(ctx context.Context) error {
	var v int
	err := s.probe.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&v)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("ping: %w: no answer: %w", lab.ErrDatabaseUnavailable, err)
	}
	if err := classify(err); errors.Is(err, lab.ErrDatabaseUnavailable) {
		return fmt.Errorf("ping: %w", err)
	}
	return fmt.Errorf("ping: %w: %w", lab.ErrDatabaseUnavailable, err)
}

// Dialect returns "sqlite" or "postgres".
func (s *Store) Dialect() string { return s.d.name }

// Close closes the database. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		for _, c := range []*stmtCache{s.wcache, s.rcache} {
			if c != nil {
				errs = append(errs, c.close())
			}
		}
		if s.reader != nil && s.reader != s.writer {
			errs = append(errs, s.reader.Close())
		}
		if s.probe != nil {
			errs = append(errs, s.probe.Close())
		}
		errs = append(errs, s.writer.Close())
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// InTx runs fn in one write transaction; the Queries given to fn (and only
// those) are part of it. On SQLite it holds the single writer for its whole
// duration: calling the Store itself for a write inside fn deadlocks, so
// use q. On PostgreSQL the transaction is READ COMMITTED and runs again,
// up to 5 times in all, when it fails with a serialization failure or a
// deadlock: fn must therefore have no effects outside q.
func (s *Store) InTx(ctx context.Context, fn func(q store.Queries) error) error {
	return s.runTx(ctx, func(tx conn) error {
		return fn(&queries{s: s, d: s.d, tx: tx})
	})
}

// runTx runs fn in a write transaction, retrying on PostgreSQL's
// serialization failures and deadlocks.
func (s *Store) runTx(ctx context.Context, fn func(tx conn) error) error {
	for attempt := 1; ; attempt++ {
		err := s.tryTx(ctx, fn)
		if err == nil || kind(err) != errRetry || attempt == maxTxAttempts {
			return classify(err)
		}
		// Back off a little, randomly, so that the contenders spread out.
		delay := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx conn) error) error {
	if s.wcache != nil {
		s.wcache.preparePending(ctx) // before taking the only writer connection
	}
	if err := s.writes.acquire(ctx, store.IsUrgent(ctx)); err != nil {
		return fmt.Errorf("wait for the database's writer: %w", err)
	}
	defer s.writes.release()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(s.txConn(tx, s.wcache)); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// txConn returns what the queries of a transaction run on.
func (s *Store) txConn(tx *sql.Tx, c *stmtCache) conn {
	if c == nil {
		return tx
	}
	return cachedTx{tx: tx, c: c}
}

// conn is what queries run on: a pool or a transaction.
type conn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements store.Queries, either on the store's pools (tx nil:
// each call is its own transaction) or inside one InTx transaction.
type queries struct {
	s  *Store
	d  *dialect
	tx conn // the InTx transaction, nil outside one
}

var _ store.Queries = (*queries)(nil)

// write runs fn on the current transaction, or in a new write transaction
// when there is none.
func (q *queries) write(ctx context.Context, fn func(c conn) error) error {
	if q.tx != nil {
		return fn(q.tx)
	}
	return q.s.runTx(ctx, fn)
}

// view runs fn, which reads with several statements, on one consistent
// snapshot: the current transaction, or a read-only transaction on the
// reader pool.
func (q *queries) view(ctx context.Context, fn func(c conn) error) error {
	if q.tx != nil {
		return fn(q.tx)
	}
	if q.s.rcache != nil {
		q.s.rcache.preparePending(ctx) // before taking a reader connection
	}
	tx, err := q.s.reader.BeginTx(ctx, &q.d.readTx)
	if err != nil {
		return fmt.Errorf("begin read transaction: %w", err)
	}
	defer tx.Rollback()
	return fn(q.s.txConn(tx, q.s.rcache))
}

// r is where single-statement reads run: the current transaction (so that
// they see its writes) or the reader pool.
func (q *queries) r() conn {
	if q.tx != nil {
		return q.tx
	}
	if q.s.rcache != nil {
		return cachedPool{q.s.rcache}
	}
	return q.s.reader
}

func (q *queries) exec(ctx context.Context, c conn, query string, args ...any) (sql.Result, error) {
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	return c.ExecContext(ctx, q.d.q(query), args...)
}

// execN runs an UPDATE or DELETE and returns the number of rows it changed.
func (q *queries) execN(ctx context.Context, c conn, query string, args ...any) (int64, error) {
	if err := checkArgs(args); err != nil {
		return 0, err
	}
	res, err := c.ExecContext(ctx, q.d.q(query), args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (q *queries) query(ctx context.Context, c conn, query string, args ...any) (*sql.Rows, error) {
	if err := checkArgs(args); err != nil {
		return nil, err
	}
	return c.QueryContext(ctx, q.d.q(query), args...)
}

func (q *queries) row(ctx context.Context, c conn, query string, args ...any) checkedRow {
	if err := checkArgs(args); err != nil {
		return checkedRow{err: err}
	}
	return checkedRow{r: c.QueryRowContext(ctx, q.d.q(query), args...)}
}

// checkedRow is the row of a single-row query, or the error that kept the
// query from running (checkArgs).
type checkedRow struct {
	r   *sql.Row
	err error
}

// Scan is sql.Row's Scan, or the argument error.
func (r checkedRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.r.Scan(dest...)
}

// badArg is an argument that cannot be stored (see dialect.ts); checkArgs
// returns its error before any query runs.
type badArg struct{ err error }

// checkArgs refuses, with lab.ErrInvalid and before the database sees
// them, the arguments only one dialect would refuse: text that is not
// UTF-8 or holds NUL characters (PostgreSQL fails on both, SQLite stores
// them) and times out of range. Every statement goes through it, reads
// included, so the same input gets the same error on both databases.
func checkArgs(args []any) error {
	for _, a := range args {
		switch v := a.(type) {
		case string:
			if err := lab.CheckText("a text value", v); err != nil {
				return err
			}
		case badArg:
			return v.err
		}
	}
	return nil
}

// exists reports whether query (a SELECT 1 …) returns a row.
func (q *queries) exists(ctx context.Context, c conn, query string, args ...any) (bool, error) {
	var one int
	err := q.row(ctx, c, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// notFound maps sql.ErrNoRows to lab.ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return lab.ErrNotFound
	}
	return err
}
