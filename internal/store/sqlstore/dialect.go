package sqlstore

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/basalt-lab/basalt/internal/lab"
)

// dialect holds every difference between the two databases that the query
// code must know about. Queries are written once, in the common subset of
// SQLite and PostgreSQL, with ? placeholders; the dialect rebinds them,
// converts time arguments and classifies driver errors.
type dialect struct {
	name string // "sqlite" or "postgres": also the migrations directory
	// numbered: placeholders are $1, $2, … (PostgreSQL) instead of ?.
	numbered bool
	// forUpdate is appended to a SELECT that reads a row it will update in
	// the same transaction (row lock on PostgreSQL; SQLite has one writer).
	forUpdate string
	// skipLocked is appended to a SELECT of queue rows a caller will claim:
	// rows another transaction holds are passed over instead of waited
	// for (PostgreSQL; SQLite has one writer).
	skipLocked string
	// like is the case-insensitive LIKE operator.
	like string
	// readTx are the options of multi-statement read transactions: a
	// read-only snapshot.
	readTx sql.TxOptions
	// timeType is the column type of times in schema_migrations.
	timeType string
	// micros is a placeholder for a number of microseconds in the form
	// the difference of two time columns takes (an integer on SQLite, an
	// interval on PostgreSQL).
	micros string
	// metaEach is the table of a job's metadata entries (columns key and
	// value, text), as a table function of the jobs row.
	metaEach string
	// strpos is the function giving the 1-based position of a substring
	// (0: absent), with the text first.
	strpos string

	rebound sync.Map // query text → rebound text
}

var (
	sqliteDialect = &dialect{
		name:     "sqlite",
		like:     "LIKE", // case-insensitive for ASCII in SQLite
		readTx:   sql.TxOptions{ReadOnly: true},
		timeType: "INTEGER",
		micros:   "?",
		metaEach: "json_each(jobs.metadata)",
		strpos:   "instr",
	}
	postgresDialect = &dialect{
		name:       "postgres",
		numbered:   true,
		forUpdate:  " FOR UPDATE",
		skipLocked: " FOR UPDATE SKIP LOCKED",
		like:       "ILIKE",
		readTx:     sql.TxOptions{ReadOnly: true, Isolation: sql.LevelRepeatableRead},
		timeType:   "TIMESTAMPTZ",
		micros:     "(CAST(? AS BIGINT) * INTERVAL '1 microsecond')",
		metaEach:   "jsonb_each_text(jobs.metadata::jsonb)",
		strpos:     "strpos",
	}
)

// q returns query with its placeholders in the dialect's form.
func (d *dialect) q(query string) string {
	if !d.numbered {
		return query
	}
	if r, ok := d.rebound.Load(query); ok {
		return r.(string)
	}
	r := rebind(query)
	d.rebound.Store(query, r)
	return r
}

// rebind turns each ? outside quotes and comments into $1, $2, …
func rebind(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'' || c == '"':
			// Copy the quoted text; a doubled quote stays inside it.
			j := i + 1
			for j < len(query) {
				if query[j] == c {
					if j+1 < len(query) && query[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(query) {
				j = len(query) - 1
			}
			b.WriteString(query[i : j+1])
			i = j
		case c == '-' && i+1 < len(query) && query[i+1] == '-':
			j := strings.IndexByte(query[i:], '\n')
			if j < 0 {
				j = len(query) - i - 1
			}
			b.WriteString(query[i : i+j+1])
			i += j
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// placeholders returns "?, ?, …" with n marks (n ≥ 1).
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// now is the store's clock reading: UTC, microsecond precision.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// normTime is t as the store keeps it: UTC, truncated to microseconds (both
// databases hold microseconds; PostgreSQL would round, so Go truncates first).
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

// ts converts a time argument: NULL for the zero time, microseconds since
// the epoch on SQLite, a microsecond-truncated UTC time on PostgreSQL. A
// time outside the years 1 to 9999 (which JSON and RFC 3339 cannot write,
// and the databases hold differently) becomes a badArg: the statement
// fails with lab.ErrInvalid on both.
func (d *dialect) ts(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return badArg{fmt.Errorf("%w: time %s is outside the years 1 to 9999", lab.ErrInvalid, t.UTC().Format(time.RFC3339))}
	}
	if d.numbered {
		return normTime(t)
	}
	return t.UnixMicro()
}

// errKind classifies a driver error.
type errKind int

const (
	errOther errKind = iota
	errUnique
	errForeignKey
	errCheck // CHECK or NOT NULL constraint
	errRetry // serialization failure or deadlock: run the transaction again
)

// kind classifies err, from either driver.
func kind(err error) errKind {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505":
			return errUnique
		case "23503":
			return errForeignKey
		case "23514", "23502":
			return errCheck
		case "40001", "40P01":
			return errRetry
		}
		return errOther
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return errUnique
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return errForeignKey
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return errCheck
		}
	}
	return errOther
}

// wrap adds op as context to err and maps constraint violations to the
// domain's sentinel errors: unique → ErrConflict, foreign key and check →
// ErrInvalid. Errors that already carry a sentinel and other driver errors
// keep their chain.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, lab.ErrNotFound) || errors.Is(err, lab.ErrConflict) || errors.Is(err, lab.ErrInvalid) {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch kind(err) {
	case errUnique:
		return fmt.Errorf("%s: %w: %v", op, lab.ErrConflict, err)
	case errForeignKey:
		return fmt.Errorf("%s: %w: it references a missing object (%v)", op, lab.ErrInvalid, err)
	case errCheck:
		return fmt.Errorf("%s: %w: %v", op, lab.ErrInvalid, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// classify marks the errors that are conditions of the server rather than
// of the request: a full disk (SQLite's SQLITE_FULL, "database or disk is
// full"; PostgreSQL's 53100 disk_full) wraps lab.ErrStorageFull, a
// database that does not answer or refuses work for want of resources
// (PostgreSQL stopped or restarting: connection refused, connection
// exceptions 08xxx, 57P01-57P03 shutting down or starting up, 53xxx
// insufficient resources; a connection lost mid-query) wraps
// lab.ErrDatabaseUnavailable. Other errors are returned as they are.
func classify(err error) error {
	if err == nil || errors.Is(err, lab.ErrStorageFull) || errors.Is(err, lab.ErrDatabaseUnavailable) {
		return err
	}
	switch fault(err) {
	case faultFull:
		return fmt.Errorf("database: %w: %w", lab.ErrStorageFull, err)
	case faultDown:
		return fmt.Errorf("%w: %w", lab.ErrDatabaseUnavailable, err)
	}
	return err
}

// faultKind is what classify makes of a driver error.
type faultKind int

const (
	faultNone faultKind = iota
	faultFull
	faultDown
)

func fault(err error) faultKind {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return faultFull
		case strings.HasPrefix(pe.Code, "53"), // insufficient resources: out of memory, too many connections…
			strings.HasPrefix(pe.Code, "08"),                           // connection exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // admin shutdown, crash shutdown, cannot connect now
			return faultDown
		}
		return faultNone
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch {
		case se.Code()&0xff == sqlite3.SQLITE_FULL,
			se.Code() == sqlite3.SQLITE_IOERR_SHMSIZE: // the WAL index cannot grow: the disk is full
			return faultFull
		}
		return faultNone
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), errors.As(err, &ne),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, io.ErrUnexpectedEOF):
		return faultDown
	}
	return faultNone
}
