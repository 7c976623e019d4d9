package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// crashChildEnv makes the test binary act as TestWatchdogCleansUp's child:
// start a private cluster, print where it is, and exit without Stop.
const crashChildEnv = "PGTEST_CRASH_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) == "1" {
		os.Unsetenv(EnvDSN)
		s, err := get()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Printf("%s %d\n", s.cluster.dir, s.cluster.port)
		os.Exit(0)
	}
	Main(m)
}

// TestWatchdogCleansUp runs a child test binary that starts a private
// cluster and exits without stopping it, then checks that the watchdog
// stopped the server and removed its directory.
func TestWatchdogCleansUp(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	var dir string
	var port int
	if _, err := fmt.Sscanf(string(out), "%s %d", &dir, &port); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	// Wait for the event (the directory removed, the watchdog's last step),
	// with a generous bound so that a broken watchdog fails rather than hangs.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cluster directory %s still exists long after its test binary exited", dir)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		c.Close()
		t.Fatalf("PostgreSQL still listens on port %d after the watchdog ran", port)
	}
}

func TestFindBinDir(t *testing.T) {
	mkbin := func(t *testing.T, root, version string, tools ...string) {
		t.Helper()
		bin := filepath.Join(root, version, "bin")
		if err := os.MkdirAll(bin, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, tool := range tools {
			if err := os.WriteFile(filepath.Join(bin, tool), []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, root string)
		want    string // version directory expected; "" = errNoBinaries
		missing bool   // root does not exist
	}{
		{name: "missing root", missing: true},
		{name: "empty root", setup: func(*testing.T, string) {}},
		{name: "client only", setup: func(t *testing.T, root string) { mkbin(t, root, "16", "psql") }},
		{name: "single", setup: func(t *testing.T, root string) { mkbin(t, root, "15", "initdb", "pg_ctl") }, want: "15"},
		{name: "numeric not lexical order", setup: func(t *testing.T, root string) {
			mkbin(t, root, "9.6", "initdb", "pg_ctl")
			mkbin(t, root, "15", "initdb", "pg_ctl")
			mkbin(t, root, "10", "initdb", "pg_ctl")
		}, want: "15"},
		{name: "highest lacks pg_ctl", setup: func(t *testing.T, root string) {
			mkbin(t, root, "14", "initdb", "pg_ctl")
			mkbin(t, root, "17", "initdb")
		}, want: "14"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "postgresql")
			if !tc.missing {
				if err := os.Mkdir(root, 0o755); err != nil {
					t.Fatal(err)
				}
				tc.setup(t, root)
			}
			got, err := findBinDir(root)
			if tc.want == "" {
				if !errors.Is(err, errNoBinaries) {
					t.Fatalf("findBinDir = %q, %v; want errNoBinaries", got, err)
				}
				return
			}
			if err != nil || got != filepath.Join(root, tc.want, "bin") {
				t.Fatalf("findBinDir = %q, %v; want version %s", got, err, tc.want)
			}
		})
	}
}

func TestMissingBinariesMessage(t *testing.T) {
	msg := errNoBinaries.Error()
	for _, want := range []string{"/usr/lib/postgresql", "make test"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not mention %q", msg, want)
		}
	}
}

func TestWithDatabase(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "postgres://postgres@127.0.0.1:5432/db1?sslmode=disable"},
		{"postgresql://u:p@h/", "postgresql://u:p@h/db1"},
		{"postgres://u@h:1", "postgres://u@h:1/db1"},
		{"postgres:///postgres?host=/run/postgresql", "postgres:///db1?host=/run/postgresql"},
	}
	for _, tc := range tests {
		got, err := withDatabase(tc.in, "db1")
		if err != nil || got != tc.want {
			t.Errorf("withDatabase(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestDSN checks that each call gives a distinct, empty, usable database and
// that it is gone once its test has ended.
func TestDSN(t *testing.T) {
	var names []string
	for i := range 2 {
		t.Run("db", func(t *testing.T) {
			dsn := DSN(t)
			db, err := sql.Open("pgx", dsn)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			ctx := context.Background()
			var name string
			var tables int
			if err := db.QueryRowContext(ctx, "SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')").Scan(&name, &tables); err != nil {
				t.Fatalf("query fresh database: %v", err)
			}
			if !strings.HasPrefix(name, DatabasePrefix) || tables != 0 {
				t.Fatalf("database %q has %d tables; want a fresh %s* database", name, tables, DatabasePrefix)
			}
			if _, err := db.ExecContext(ctx, "CREATE TABLE t (n int)"); err != nil {
				t.Fatalf("create table (run %d): %v", i, err)
			}
			names = append(names, name)
		})
	}
	if len(names) != 2 || names[0] == names[1] {
		t.Fatalf("databases %v; want two distinct ones", names)
	}
	s, err := get()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		var n int
		if err := s.admin.QueryRow("SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}
