// Package pgtest gives tests a fresh, empty PostgreSQL database each.
//
// Use it from tests only. DSN(t) creates a database named basalt_test_<random>
// and drops it when the test ends. Where the databases live:
//
//   - When the environment variable BASALT_TEST_PG_DSN is set (make test
//     starts one cluster and exports it, e.g.
//     postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable), DSN
//     connects there with that role, which must be allowed to create
//     databases, and creates the test databases next to the one named.
//   - Otherwise the first call starts a private cluster for the whole test
//     binary: initdb and pg_ctl from the highest version under
//     /usr/lib/postgresql/*/bin, run as the postgres user when the test runs
//     as root, on a free loopback port, trust authentication, fsync off, in a
//     temporary directory. Main (or Stop) stops it and removes the
//     directory; a small watchdog process does the same if the test binary
//     dies without doing so.
//
// NewCluster gives one test a private cluster of its own, whatever
// BASALT_TEST_PG_DSN says, which the test may Stop and Start again (same
// port, same data) to see what a database outage does.
//
// A missing PostgreSQL is a test failure, never a skip: the test fails with
// a message saying how to get the server binaries.
package pgtest
