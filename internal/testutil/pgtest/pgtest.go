package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// EnvDSN names the environment variable that points the tests at an
// existing PostgreSQL server instead of a private cluster. Its value is a
// postgres:// URL for a role that may create databases.
const EnvDSN = "BASALT_TEST_PG_DSN"

// DatabasePrefix starts the name of every database DSN creates.
const DatabasePrefix = "basalt_test_"

// server is the PostgreSQL the test binary creates its databases on.
type server struct {
	adminDSN string   // postgres:// URL of a database to run CREATE DATABASE from
	admin    *sql.DB  // pool on adminDSN
	cluster  *cluster // nil when the server came from EnvDSN
}

var (
	mu      sync.Mutex
	srv     *server
	srvErr  error
	stopped bool
)

// get returns the test binary's server, starting it on first use.
func get() (*server, error) {
	mu.Lock()
	defer mu.Unlock()
	if stopped {
		return nil, errors.New("DSN called after Stop")
	}
	if srv == nil && srvErr == nil {
		srv, srvErr = connect()
	}
	return srv, srvErr
}

// connect opens the admin pool on EnvDSN or on a freshly started private
// cluster.
func connect() (*server, error) {
	s := &server{adminDSN: os.Getenv(EnvDSN)}
	if s.adminDSN != "" {
		if !strings.HasPrefix(s.adminDSN, "postgres://") && !strings.HasPrefix(s.adminDSN, "postgresql://") {
			return nil, fmt.Errorf("%s must be a postgres:// URL, got %q", EnvDSN, s.adminDSN)
		}
	} else {
		c, err := startCluster()
		if err != nil {
			return nil, err
		}
		s.cluster = c
		s.adminDSN = c.adminDSN()
	}
	db, err := sql.Open("pgx", s.adminDSN)
	if err != nil {
		s.stopCluster()
		return nil, fmt.Errorf("open admin connection %s: %w", redact(s.adminDSN), err)
	}
	db.SetMaxOpenConns(4)
	s.admin = db
	if err := waitReady(db, 30*time.Second); err != nil {
		db.Close()
		s.stopCluster()
		return nil, fmt.Errorf("PostgreSQL at %s is not reachable: %w", redact(s.adminDSN), err)
	}
	return s, nil
}

func (s *server) stopCluster() error {
	if s.cluster == nil {
		return nil
	}
	return s.cluster.stop()
}

// waitReady pings db until it answers or the time is up.
func waitReady(db *sql.DB, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// DSN returns the postgres:// URL of a new, empty database that exists for
// the duration of the test t and is dropped (with any connections left to
// it) when t ends. Close pools on it in a t.Cleanup registered after DSN
// returns: cleanups run last-registered first, so they close before the drop.
//
// If no PostgreSQL can be had, t fails with a message that says why; it is
// never skipped.
func DSN(t testing.TB) string {
	t.Helper()
	s, err := get()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	name := DatabasePrefix + randomHex(8)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := s.drop(name); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	dsn, err := withDatabase(s.adminDSN, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// drop removes a test database, disconnecting whoever is still on it.
func (s *server) drop(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42601" { // syntax error: server older than 13
		_, err = s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
	}
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// Stop closes the admin connection and, when this test binary started a
// private cluster, stops it and removes its directory. It is safe to call
// when nothing was started and more than once; DSN fails after it.
func Stop() error {
	mu.Lock()
	defer mu.Unlock()
	stopped = true
	if srv == nil {
		return nil
	}
	s := srv
	srv = nil
	s.admin.Close()
	return s.stopCluster()
}

// Main runs the tests of m, then Stop, and exits with the tests' status (or
// 1 when stopping the private cluster failed). Call it from TestMain:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	if err := Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "pgtest: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// withDatabase returns dsn (a postgres:// URL) naming database name instead.
func withDatabase(dsn, name string) (string, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return "", fmt.Errorf("parse DSN %s: %w", redact(dsn), err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redact hides a password in a DSN for messages.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable DSN)"
	}
	return u.Redacted()
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand panics rather than return an error)
	return hex.EncodeToString(b)
}
