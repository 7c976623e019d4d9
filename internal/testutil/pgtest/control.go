package pgtest

import (
	"database/sql"
	"fmt"
	"testing"
	"time"
)

// Cluster is a private PostgreSQL cluster of one test, which the test may
// stop and start again (on the same port, with its data) to see what a
// database outage does to the code under test. Get one with NewCluster.
type Cluster struct {
	c     *cluster
	admin *sql.DB
}

// NewCluster starts a private cluster for t, whatever BASALT_TEST_PG_DSN
// says (a shared server cannot be stopped), and removes it when t ends.
// Starting one takes a few seconds; tests that need no outage use DSN.
func NewCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := startCluster()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := c.stop(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	admin, err := sql.Open("pgx", c.adminDSN())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	admin.SetMaxOpenConns(1)
	t.Cleanup(func() { admin.Close() })
	if err := waitReady(admin, 30*time.Second); err != nil {
		t.Fatalf("pgtest: private cluster not reachable: %v", err)
	}
	return &Cluster{c: c, admin: admin}
}

// DSN returns the postgres:// URL of a new, empty database on the cluster.
// It lives as long as the cluster.
func (cl *Cluster) DSN(t testing.TB) string {
	t.Helper()
	name := DatabasePrefix + randomHex(8)
	if err := waitReady(cl.admin, 30*time.Second); err != nil {
		t.Fatalf("pgtest: cluster not reachable: %v", err)
	}
	if _, err := cl.admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	dsn, err := withDatabase(cl.c.adminDSN(), name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// Stop shuts the server down (pg_ctl stop -m fast: connections are
// terminated, as when an administrator stops PostgreSQL) and waits until
// it is gone. Connections to it are refused until Start.
func (cl *Cluster) Stop(t testing.TB) {
	t.Helper()
	cmd := cl.c.command("pg_ctl", "-D", cl.c.data(), "-m", "fast", "-w", "-t", "60", "stop")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pgtest: pg_ctl stop: %v\n%s", err, out)
	}
}

// Start starts the stopped server again, on the same port with the same
// data, and waits until it accepts connections.
func (cl *Cluster) Start(t testing.TB) {
	t.Helper()
	if err := cl.c.start(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
}

// String names the cluster for messages.
func (cl *Cluster) String() string { return fmt.Sprintf("PostgreSQL on 127.0.0.1:%d", cl.c.port) }
