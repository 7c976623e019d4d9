package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// SQLite parses every statement it runs; with modernc.org/sqlite, parsing
// is about half the cost of a small write. stmtCache keeps statements
// prepared per pool, by query text, so that each is parsed once per
// connection. (PostgreSQL needs none: pgx caches prepared statements on
// each connection itself.)
//
// Preparing on a pool takes one of its connections. Code inside a
// transaction holds one already, and the writer pool has only that one,
// so a statement first seen inside a transaction is not prepared there:
// it runs unprepared and is queued, and the next transaction prepares the
// queue before it begins, holding nothing.
type stmtCache struct {
	db *sql.DB

	mu      sync.Mutex
	stmts   map[string]*sql.Stmt // nil value: preparing failed, do not retry
	pending map[string]struct{}
	closed  bool
}

// maxCachedStmts bounds the cache; queries built with a variable number of
// placeholders could otherwise fill it.
const maxCachedStmts = 512

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, pending: map[string]struct{}{}}
}

// lookup returns the prepared statement for query, or nil after queueing
// it for preparation.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.stmts[query]
	if !ok && !c.closed && len(c.stmts)+len(c.pending) < maxCachedStmts {
		c.pending[query] = struct{}{}
	}
	return st
}

// preparePending prepares the queued statements. The caller must hold no
// connection of the pool.
func (c *stmtCache) preparePending(ctx context.Context) {
	c.mu.Lock()
	if len(c.pending) == 0 {
		c.mu.Unlock()
		return
	}
	queries := make([]string, 0, len(c.pending))
	for q := range c.pending {
		queries = append(queries, q)
	}
	clear(c.pending)
	c.mu.Unlock()
	for _, q := range queries {
		c.prepare(ctx, q)
	}
}

// prepare prepares query on the pool unless already done, and returns it
// (nil when it cannot be prepared). The caller must hold no connection of
// the pool.
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	c.mu.Lock()
	if st, ok := c.stmts[query]; ok || c.closed || len(c.stmts) >= maxCachedStmts {
		c.mu.Unlock()
		return st
	}
	c.mu.Unlock()
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		if ctx.Err() != nil {
			return nil // try again another time
		}
		st = nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[query]; ok || c.closed { // another goroutine was first, or closed meanwhile
		if st != nil {
			st.Close()
		}
		return old
	}
	if len(c.stmts) < maxCachedStmts {
		c.stmts[query] = st
	} else if st != nil {
		st.Close()
		return nil
	}
	return st
}

// close closes every statement; lookups find nothing afterwards.
func (c *stmtCache) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	var errs []error
	for _, st := range c.stmts {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	clear(c.stmts)
	clear(c.pending)
	return errors.Join(errs...)
}

// cachedTx runs queries in a transaction with the cache's statements.
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

func (x cachedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := x.c.lookup(query); st != nil {
		return x.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return x.tx.ExecContext(ctx, query, args...)
}

func (x cachedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := x.c.lookup(query); st != nil {
		return x.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return x.tx.QueryContext(ctx, query, args...)
}

func (x cachedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := x.c.lookup(query); st != nil {
		return x.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return x.tx.QueryRowContext(ctx, query, args...)
}

// cachedPool runs single statements on a pool (outside any transaction of
// it), preparing them on first use.
type cachedPool struct{ c *stmtCache }

func (p cachedPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := p.c.prepare(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return p.c.db.ExecContext(ctx, query, args...)
}

func (p cachedPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := p.c.prepare(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return p.c.db.QueryContext(ctx, query, args...)
}

func (p cachedPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := p.c.prepare(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return p.c.db.QueryRowContext(ctx, query, args...)
}
