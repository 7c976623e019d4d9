package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/store/storetest"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dialects are the two databases every test here runs on.
var dialects = []struct {
	name string
	dsn  func(t testing.TB) string // a fresh, empty database
}{
	{"sqlite", func(t testing.TB) string { return filepath.Join(t.TempDir(), "basalt.db") }},
	{"postgres", pgtest.DSN},
}

// open opens dsn and closes the store when the test ends.
func open(t testing.TB, dsn string) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the store contract's suite on SQLite and PostgreSQL.
func TestConformance(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store { return open(t, d.dsn(t)) })
		})
	}
}

// TestTwoServersOnePostgres opens the same PostgreSQL database twice, as
// two server processes would, and races assignments across both.
func TestTwoServersOnePostgres(t *testing.T) {
	races := []struct {
		name string
		run  func(t *testing.T, stores ...store.Store)
	}{
		{"OneJobManyDevices", storetest.RaceOneJobManyDevices},
		{"ManyJobsOneDevice", storetest.RaceManyJobsOneDevice},
		{"ClaimDeliveries", storetest.RaceClaimDeliveries},
		{"Leases", storetest.RaceLeases},
		{"CoordinatorVersions", storetest.RaceCoordinatorVersions},
	}
	for _, r := range races {
		t.Run(r.name, func(t *testing.T) {
			dsn := pgtest.DSN(t)
			s1, s2 := open(t, dsn), open(t, dsn)
			r.run(t, s1, s2)
		})
	}
}

// TestConcurrentWrites runs 32 goroutines doing mixed write transactions
// and reads; not one call may fail (on SQLite: no "database is locked").
func TestConcurrentWrites(t *testing.T) {
	const workers, iterations = 32, 15
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, d.dsn(t))
			if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil {
				t.Fatal(err)
			}
			for w := range workers {
				if err := s.CreateDevice(ctx, lab.Device{Hostname: fmt.Sprintf("d%02d", w), DeviceType: "qemu"}); err != nil {
					t.Fatal(err)
				}
			}
			var mu sync.Mutex
			var errs []error
			fail := func(w, i int, what string, err error) {
				mu.Lock()
				defer mu.Unlock()
				errs = append(errs, fmt.Errorf("worker %d iteration %d: %s: %w", w, i, what, err))
			}
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					host := fmt.Sprintf("d%02d", w)
					for i := range iterations {
						// A read-then-write transaction (the pattern that
						// deadlocks SQLite's deferred transactions).
						err := s.InTx(ctx, func(q store.Queries) error {
							if _, err := q.Queue(ctx); err != nil {
								return err
							}
							id, err := q.CreateJob(ctx, lab.Job{Submitter: "u", SubmitTime: time.Now(), RequestedType: "qemu", Priority: 50})
							if err != nil {
								return err
							}
							if _, err := q.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted},
								To: lab.JobScheduled, Device: host}); err != nil {
								return err
							}
							health := lab.DeviceGood
							if i%2 == 0 {
								health = lab.DeviceUnknown
							}
							if _, err := q.SetDeviceHealth(ctx, host, health, "test", "flip", id); err != nil {
								return err
							}
							_, err = q.TransitionJob(ctx, store.JobTransition{ID: id, From: []lab.JobState{lab.JobScheduled},
								To: lab.JobFinished, Health: lab.JobHealthComplete})
							return err
						})
						if err != nil {
							fail(w, i, "transaction", err)
						}
						// Single writes and reads outside transactions.
						if _, err := s.CreateJob(ctx, lab.Job{Submitter: "v", SubmitTime: time.Now(), RequestedType: "qemu", Priority: 50}); err != nil {
							fail(w, i, "create job", err)
						}
						if _, _, err := s.ListJobs(ctx, store.JobFilter{Limit: 5}); err != nil {
							fail(w, i, "list jobs", err)
						}
						if _, err := s.GetDevice(ctx, host); err != nil {
							fail(w, i, "get device", err)
						}
						if _, err := s.HealthCheckInfo(ctx); err != nil {
							fail(w, i, "health-check info", err)
						}
					}
				})
			}
			wg.Wait()
			for _, err := range errs {
				t.Error(err)
			}
			_, total, err := s.ListJobs(ctx, store.JobFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if want := 2 * workers * iterations; total != want {
				t.Errorf("%d jobs, want %d", total, want)
			}
			hist, err := s.DeviceHistory(ctx, "d00", 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(hist) != iterations {
				t.Errorf("device d00 has %d transitions, want %d", len(hist), iterations)
			}
		})
	}
}

func TestMigrations(t *testing.T) {
	latest := LatestSchemaVersion()
	if latest < 1 {
		t.Fatalf("LatestSchemaVersion = %d", latest)
	}
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)

			// Fresh database: every migration applied and recorded.
			s := open(t, dsn)
			v, err := s.SchemaVersion(ctx)
			if err != nil || v != latest {
				t.Fatalf("fresh database at version %d (%v), want %d", v, err, latest)
			}
			var n int
			var applied timeDest
			var at time.Time
			applied.p = &at
			if err := s.writer.QueryRowContext(ctx, "SELECT COUNT(*), MAX(applied_at) FROM schema_migrations").Scan(&n, applied); err != nil {
				t.Fatal(err)
			}
			if n != latest || at.IsZero() {
				t.Errorf("schema_migrations: %d rows, applied at %v", n, at)
			}
			if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil {
				t.Fatal(err)
			}
			s.Close()

			// Reopening is a no-op that keeps the data.
			s = open(t, dsn)
			if v, err := s.SchemaVersion(ctx); err != nil || v != latest {
				t.Errorf("reopened database at version %d (%v), want %d", v, err, latest)
			}
			if _, err := s.GetDeviceType(ctx, "qemu"); err != nil {
				t.Errorf("data lost on reopen: %v", err)
			}

			// A database from a newer binary is refused.
			if _, err := s.writer.ExecContext(ctx, s.d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				latest+1, "9999_future", s.d.ts(now())); err != nil {
				t.Fatal(err)
			}
			s.Close()
			s2, err := Open(ctx, dsn)
			if err == nil {
				s2.Close()
				t.Fatal("Open accepted a database newer than the binary")
			}
			if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprint(latest+1)) {
				t.Errorf("Open of a too-new database: %v; want ErrSchemaTooNew naming version %d", err, latest+1)
			}
		})
	}
}

// TestConcurrentOpen opens one fresh database from several goroutines at
// once, as servers starting together would: all must succeed.
func TestConcurrentOpen(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			dsn := d.dsn(t)
			errs := make([]error, 4)
			var wg sync.WaitGroup
			for i := range errs {
				wg.Go(func() {
					s, err := Open(t.Context(), dsn)
					if err == nil {
						s.Close()
					}
					errs[i] = err
				})
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("opener %d: %v", i, err)
				}
			}
		})
	}
}

func TestOpenSQLiteForms(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		dsn  string
		file string // the database file that must appear
	}{
		{"plain path", filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"sqlite URL", "sqlite://" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")},
		{"file URI with parameters", "file:" + filepath.Join(dir, "c.db") + "?cache=private", filepath.Join(dir, "c.db")},
		{"odd characters", filepath.Join(dir, "d ?#%.db"), filepath.Join(dir, "d ?#%.db")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, c.dsn)
			if s.Dialect() != "sqlite" {
				t.Errorf("dialect %s", s.Dialect())
			}
			if _, err := os.Stat(c.file); err != nil {
				t.Errorf("database file: %v", err)
			}
			var mode string
			if err := s.writer.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
				t.Errorf("journal mode %q (%v), want wal", mode, err)
			}
			var fk, sync int
			if err := s.writer.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil || fk != 1 {
				t.Errorf("writer foreign_keys = %d (%v), want 1", fk, err)
			}
			if err := s.writer.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&sync); err != nil || sync != 1 {
				t.Errorf("writer synchronous = %d (%v), want 1 (NORMAL)", sync, err)
			}
			if _, err := s.reader.ExecContext(ctx, "INSERT INTO tags (name) VALUES ('x')"); err == nil {
				t.Error("the reader pool accepted a write")
			}
			if s.writer.Stats().MaxOpenConnections != 1 {
				t.Errorf("writer pool allows %d connections, want 1", s.writer.Stats().MaxOpenConnections)
			}
		})
	}
	for _, dsn := range []string{":memory:", "", "file::memory:?cache=shared", "file:x?mode=memory"} {
		if s, err := Open(t.Context(), dsn); err == nil {
			s.Close()
			t.Errorf("Open(%q) accepted an in-memory database", dsn)
		} else if !errors.Is(err, lab.ErrInvalid) {
			t.Errorf("Open(%q): %v, want ErrInvalid", dsn, err)
		}
	}
}

func TestOpenPostgresURLForms(t *testing.T) {
	dsn := pgtest.DSN(t)
	for _, form := range []string{dsn, "postgresql://" + strings.TrimPrefix(dsn, "postgres://")} {
		s := open(t, form)
		if s.Dialect() != "postgres" {
			t.Errorf("Open(%q): dialect %s", form, s.Dialect())
		}
	}
}

func TestRebind(t *testing.T) {
	cases := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"x = '?' AND y = ?", "x = '?' AND y = $1"},
		{"x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"},
		{`"we?ird" = ?`, `"we?ird" = $1`},
		{"a LIKE ? ESCAPE '\\' AND b = ?", "a LIKE $1 ESCAPE '\\' AND b = $2"},
		{"a = ? -- why?\nAND b = ?", "a = $1 -- why?\nAND b = $2"},
		{"x = 'open ?", "x = 'open ?"},
	}
	for _, c := range cases {
		if got := rebind(c.in); got != c.want {
			t.Errorf("rebind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestUniqueUnfinishedJobPerDevice checks the database's last line of
// defence directly: even a write that bypasses TransitionJob cannot give a
// device two unfinished jobs.
func TestUniqueUnfinishedJobPerDevice(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, d.dsn(t))
			if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreateDevice(ctx, lab.Device{Hostname: "d1", DeviceType: "qemu"}); err != nil {
				t.Fatal(err)
			}
			mk := func(state lab.JobState) error {
				_, err := s.CreateJob(ctx, lab.Job{Submitter: "a", SubmitTime: time.Now(), ActualDevice: "d1", State: state, Priority: 1})
				return err
			}
			for _, st := range []lab.JobState{lab.JobFinished, lab.JobFinished, lab.JobRunning} {
				if err := mk(st); err != nil {
					t.Fatalf("job %s on d1: %v", st, err)
				}
			}
			if err := mk(lab.JobScheduled); !errors.Is(err, lab.ErrConflict) {
				t.Errorf("second unfinished job on d1: %v, want ErrConflict", err)
			}
		})
	}
}

// TestPostgresRetriesDeadlock makes two transactions lock two devices in
// opposite orders. PostgreSQL aborts one with a deadlock (40P01); InTx must
// run it again, so that both succeed, with three runs of fn in all.
func TestPostgresRetriesDeadlock(t *testing.T) {
	ctx := t.Context()
	s := open(t, pgtest.DSN(t))
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"a", "b"} {
		if err := s.CreateDevice(ctx, lab.Device{Hostname: h, DeviceType: "qemu"}); err != nil {
			t.Fatal(err)
		}
	}
	var (
		mu       sync.Mutex
		runs     int
		locked   sync.WaitGroup // both first attempts hold their first lock
		firstErr = make([]error, 2)
	)
	locked.Add(2)
	order := [][2]string{{"a", "b"}, {"b", "a"}}
	var wg sync.WaitGroup
	for i, o := range order {
		wg.Go(func() {
			attempt := 0
			firstErr[i] = s.InTx(ctx, func(q store.Queries) error {
				mu.Lock()
				runs++
				mu.Unlock()
				attempt++
				health := lab.DeviceHealth(attempt) // a change on every run
				if _, err := q.SetDeviceHealth(ctx, o[0], health, "t", "first", 0); err != nil {
					return err
				}
				if attempt == 1 {
					locked.Done()
					locked.Wait()
				}
				_, err := q.SetDeviceHealth(ctx, o[1], health+2, "t", "second", 0)
				return err
			})
		})
	}
	wg.Wait()
	for i, err := range firstErr {
		if err != nil {
			t.Errorf("transaction %d: %v", i, err)
		}
	}
	if runs != 3 {
		t.Errorf("fn ran %d times, want 3 (two first attempts and one retry)", runs)
	}
}

// TestStmtCache checks that SQLite statements get prepared once and reused,
// including those first seen inside a transaction, and that the cache
// stays bounded when queries vary.
func TestStmtCache(t *testing.T) {
	ctx := t.Context()
	s := open(t, filepath.Join(t.TempDir(), "basalt.db"))
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil {
		t.Fatal(err)
	}
	const insert = "INSERT INTO device_types (" + deviceTypeCols + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
	cached := func(c *stmtCache, q string) bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.stmts[q] != nil
	}
	if !cached(s.wcache, insert) {
		// First seen inside the first transaction: queued, prepared at the
		// start of the next.
		if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "bbb"}); err != nil {
			t.Fatal(err)
		}
	}
	if !cached(s.wcache, insert) {
		t.Fatal("the insert is not prepared after two transactions")
	}
	before := s.wcache.stmts[insert]
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "x86"}); err != nil {
		t.Fatal(err)
	}
	if s.wcache.stmts[insert] != before {
		t.Error("the insert was prepared again")
	}
	if _, err := s.GetDeviceType(ctx, "qemu"); err != nil {
		t.Fatal(err)
	}
	if !cached(s.rcache, "SELECT "+deviceTypeCols+" FROM device_types WHERE name = ?") {
		t.Error("a single read outside transactions is not prepared on the reader pool")
	}

	// Varying queries: all run, the cache stays bounded.
	for i := range maxCachedStmts + 50 {
		var n int
		if err := q(s).row(ctx, q(s).r(), fmt.Sprintf("SELECT %d", i)).Scan(&n); err != nil || n != i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if n := len(s.rcache.stmts); n > maxCachedStmts {
		t.Errorf("reader cache holds %d statements, more than %d", n, maxCachedStmts)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.wcache.stmts)+len(s.rcache.stmts) != 0 {
		t.Error("Close left statements in the caches")
	}
}

func q(s *Store) *queries { return s.queries }

// rawOpen opens dsn without migrating it, with the dialect's driver.
func rawOpen(t *testing.T, dsn string) (*sql.DB, *dialect) {
	t.Helper()
	var db *sql.DB
	var d *dialect
	var err error
	if strings.HasPrefix(dsn, "postgres://") {
		db, err = sql.Open("pgx", dsn)
		d = postgresDialect
	} else {
		db, err = sql.Open("sqlite", sqliteURI(dsn, "", "_pragma=foreign_keys(1)"))
		d = sqliteDialect
	}
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db, d
}

// TestUpgradeFrom0002 upgrades a database at version 2 (before results
// were stored) holding a finished public job, whose log has results
// records, and a join token: the data survive, and the job's results are
// readable, ingested from its log by the first read.
func TestUpgradeFrom0002(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			db, dl := rawOpen(t, dsn)
			if err := migrateTo(ctx, db, dl, 2); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
			var id int64
			for _, q := range []struct {
				sql  string
				args []any
			}{
				{"INSERT INTO device_types (name) VALUES ('qemu')", nil},
				{"INSERT INTO tokens (kind, owner, description, hash, created) VALUES ('join', 'w1', 'join w1', ?, ?)", []any{[]byte("hash"), dl.ts(at)}},
			} {
				if _, err := db.ExecContext(ctx, dl.q(q.sql), q.args...); err != nil {
					t.Fatalf("%s: %v", q.sql, err)
				}
			}
			if err := db.QueryRowContext(ctx, dl.q(`INSERT INTO jobs (description, submitter, visibility, state, health, priority,
				requested_type, submit_time, start_time, end_time, definition) VALUES ('old job', 'alice', 0, 5, 1, 50, 'qemu', ?, ?, ?, 'job_name: old')
				RETURNING id`), dl.ts(at), dl.ts(at), dl.ts(at.Add(time.Minute))).Scan(&id); err != nil {
				t.Fatal(err)
			}
			db.Close()
			logs, err := logstore.Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { logs.Close() })
			log := strings.Join([]string{
				`{"dt":"2026-10-01T12:00:01Z","lvl":"info","msg":"start: 1 deploy"}`,
				`{"dt":"2026-10-01T12:00:02Z","lvl":"results","msg":{"definition":"lava","case":"tmpfs-deploy","result":"pass","duration":"1.00","level":"1"}}`,
				`{"dt":"2026-10-01T12:00:03Z","lvl":"results","msg":{"definition":"0_smoke","case":"uname","result":"fail","starttc":0,"endtc":1}}`,
				`{"dt":"2026-10-01T12:00:04Z","lvl":"results","msg":{"definition":"lava","case":"job","result":"fail","error_type":"Test","error_msg":"uname failed"}}`,
			}, "\n") + "\n"
			if _, err := logs.Append(context.Background(), id, 0, []byte(log)); err != nil {
				t.Fatal(err)
			}

			s := open(t, dsn)
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() || v < 3 {
				t.Fatalf("upgraded to version %d (%v)", v, err)
			}
			j, err := s.GetJob(ctx, id)
			if err != nil || j.Description != "old job" || j.State != lab.JobFinished || !j.EndTime.Equal(at.Add(time.Minute)) {
				t.Errorf("job after the upgrade: %+v, %v", j, err)
			}
			if toks, err := s.ListTokens(ctx, lab.TokenJoin, "w1"); err != nil || len(toks) != 1 {
				t.Errorf("join tokens after the upgrade: %v, %v", toks, err)
			}
			if n, err := s.ResultsIngested(ctx, id); err != nil || n != 0 {
				t.Errorf("watermark after the upgrade: %d, %v", n, err)
			}
			a := app.New(s, app.Config{Logs: logs})
			cases, total, err := a.JobResults(ctx, auth.Principal{}, id, store.CaseFilter{})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range cases {
				got = append(got, fmt.Sprintf("%s/%s %s %d-%d@%d %s%s", c.Suite, c.Name, c.Result, c.StartLine, c.EndLine, c.Line, c.Measurement, c.Units))
			}
			want := []string{"lava/tmpfs-deploy pass 1-1@1 1.00seconds", "0_smoke/uname fail 0-1@2 ", "lava/job fail 3-3@3 "}
			if total != 3 || !slices.Equal(got, want) {
				t.Errorf("results of the old job: %q (total %d), want %q", got, total, want)
			}
			if cases[2].ErrorType != "Test" || cases[2].ErrorMsg != "uname failed" {
				t.Errorf("lava/job: %+v", cases[2])
			}
			if n, err := s.ResultsIngested(ctx, id); err != nil || n != 4 {
				t.Errorf("watermark after the first read: %d, %v; want the 4 lines", n, err)
			}
		})
	}
}

// TestResultsCascade deletes a job directly (Basalt has no job deletion
// yet): its suites, sets, cases and watermark go with it, another job's
// stay.
func TestResultsCascade(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, d.dsn(t))
			var jobs []int64
			for range 2 {
				id, err := s.CreateJob(ctx, lab.Job{Submitter: "alice", SubmitTime: time.Now(), Priority: 50})
				if err != nil {
					t.Fatal(err)
				}
				c := lab.TestCase{Suite: "0_smoke", Set: "s", Name: "a", Line: 1, StartLine: 1, EndLine: 1, Logged: time.Now()}
				if _, err := s.AddTestCases(ctx, id, []lab.TestCase{c}, 2); err != nil {
					t.Fatal(err)
				}
				jobs = append(jobs, id)
			}
			if _, err := s.writer.ExecContext(ctx, s.d.q("DELETE FROM jobs WHERE id = ?"), jobs[0]); err != nil {
				t.Fatal(err)
			}
			for table, want := range map[string]int{"test_suites": 1, "test_sets": 1, "test_cases": 1, "result_ingestion": 1} {
				var n int
				if err := s.writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != want {
					t.Errorf("%s: %d rows (%v), want %d", table, n, err, want)
				}
			}
			if cs, _, err := s.ListTestCases(ctx, store.CaseFilter{JobID: jobs[1]}); err != nil || len(cs) != 1 {
				t.Errorf("the other job's cases: %v, %v", cs, err)
			}
		})
	}
}

// TestMeasurementColumn: decimal measurements are numbers in the database
// (for numeric queries), others NULL; the text is kept as reported.
func TestMeasurementColumn(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, d.dsn(t))
			id, err := s.CreateJob(ctx, lab.Job{Submitter: "alice", SubmitTime: time.Now(), Priority: 50})
			if err != nil {
				t.Fatal(err)
			}
			var cs []lab.TestCase
			for i, m := range []string{"1.50", "-2e3", ".5", "", "abc", "0x10", "Inf", "NaN", "1e400", "1_000", "12345678901234567890.0123456789"} {
				cs = append(cs, lab.TestCase{Suite: "perf", Name: fmt.Sprint(i), Measurement: m, Line: i, StartLine: i, EndLine: i, Logged: time.Now()})
			}
			if _, err := s.AddTestCases(ctx, id, cs, len(cs)); err != nil {
				t.Fatal(err)
			}
			rows, err := s.writer.QueryContext(ctx, "SELECT measurement_text, measurement IS NULL, COALESCE(measurement, 0) > 1 FROM test_cases ORDER BY log_line")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var got []string
			for rows.Next() {
				var text string
				var null, big bool
				if err := rows.Scan(&text, &null, &big); err != nil {
					t.Fatal(err)
				}
				got = append(got, fmt.Sprintf("%s:%v:%v", text, null, big))
			}
			want := []string{"1.50:false:true", "-2e3:false:false", ".5:false:false", ":true:false", "abc:true:false", "0x10:true:false",
				"Inf:true:false", "NaN:true:false", "1e400:true:false", "1_000:true:false", "12345678901234567890.0123456789:false:true"}
			if !slices.Equal(got, want) {
				t.Errorf("measurements (text:null:>1):\n got %q\nwant %q", got, want)
			}
			if d.name == "postgres" {
				var exact string
				if err := s.writer.QueryRowContext(ctx, "SELECT measurement::text FROM test_cases WHERE log_line = 10").Scan(&exact); err != nil || exact != "12345678901234567890.0123456789" {
					t.Errorf("PostgreSQL keeps %q (%v), want the exact decimal", exact, err)
				}
			}
		})
	}
}

// TestUpgradeFrom0003 upgrades a database at version 3 (before templates
// were stored) holding a device type: the type survives, has no template,
// takes one, and deleting it deletes the template.
func TestUpgradeFrom0003(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			db, dl := rawOpen(t, dsn)
			if err := migrateTo(ctx, db, dl, 3); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO device_types (name) VALUES ('qemu')"); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s := open(t, dsn)
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() || v < 4 {
				t.Fatalf("upgraded to version %d (%v)", v, err)
			}
			if _, err := s.GetDeviceTemplate(ctx, "qemu"); !errors.Is(err, lab.ErrNotFound) {
				t.Errorf("template of an old type: %v, want ErrNotFound", err)
			}
			if err := s.SetDeviceTemplate(ctx, "qemu", "{% extends 'base.jinja2' %}\n"); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteDeviceType(ctx, "qemu"); err != nil {
				t.Fatal(err)
			}
			if list, err := s.ListDeviceTemplates(ctx); err != nil || len(list) != 0 {
				t.Errorf("templates after deleting the type: %v, %v", list, err)
			}
		})
	}
}

// TestUpgradeFrom0004 upgrades a database with a finished job to 0005
// (notifications): the job reads back, gets deliveries, and is found as
// the previous job of its metadata.
func TestUpgradeFrom0004(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			db, dl := rawOpen(t, dsn)
			if err := migrateTo(ctx, db, dl, 4); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
			if _, err := db.ExecContext(ctx, "INSERT INTO device_types (name) VALUES ('qemu')"); err != nil {
				t.Fatal(err)
			}
			var id int64
			if err := db.QueryRowContext(ctx, dl.q(`INSERT INTO jobs (description, submitter, visibility, state, health, priority,
				requested_type, submit_time, start_time, end_time, definition, metadata) VALUES ('old job', 'alice', 0, 5, 1, 50, 'qemu', ?, ?, ?,
				'job_name: old', '{"kernel":"6.1"}') RETURNING id`), dl.ts(at), dl.ts(at), dl.ts(at.Add(time.Minute))).Scan(&id); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s := open(t, dsn)
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() || v < 5 {
				t.Fatalf("upgraded to version %d (%v)", v, err)
			}
			if ds, err := s.ListDeliveries(ctx, id); err != nil || len(ds) != 0 {
				t.Errorf("deliveries of an old job: %v, %v", ds, err)
			}
			prev, err := s.LatestFinishedJob(ctx, store.PreviousJobFilter{Metadata: map[string]string{"kernel": "6.1"}})
			if err != nil || prev.ID != id {
				t.Errorf("previous job of the old job's metadata: %d, %v", prev.ID, err)
			}
			if _, err := s.AddDeliveries(ctx, []lab.Delivery{{JobID: id, Kind: lab.DeliveryEmail, Target: "qa@example.org",
				State: lab.JobFinished, Health: lab.JobHealthComplete, Status: lab.DeliveryPending, Created: at, NextAttempt: at}}); err != nil {
				t.Fatal(err)
			}
			ds, err := s.ClaimDeliveries(ctx, store.DeliveryClaim{Claim: "c", Now: at, Until: at.Add(time.Minute)})
			if err != nil || len(ds) != 1 || ds[0].JobID != id {
				t.Errorf("claim on the upgraded database: %v, %v", ds, err)
			}
		})
	}
}

// TestUpgradeFrom0006 upgrades a database with a job to 0007 (the
// coordinator's groups): the job reads back, no group exists, and groups
// can be saved.
func TestUpgradeFrom0006(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			db, dl := rawOpen(t, dsn)
			if err := migrateTo(ctx, db, dl, 6); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
			if _, err := db.ExecContext(ctx, "INSERT INTO device_types (name) VALUES ('qemu')"); err != nil {
				t.Fatal(err)
			}
			var id int64
			if err := db.QueryRowContext(ctx, dl.q(`INSERT INTO jobs (description, submitter, visibility, state, health, priority,
				requested_type, submit_time, definition) VALUES ('old job', 'alice', 0, 0, 0, 50, 'qemu', ?, 'job_name: old') RETURNING id`),
				dl.ts(at)).Scan(&id); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s := open(t, dsn)
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() || v < 7 {
				t.Fatalf("upgraded to version %d (%v)", v, err)
			}
			if j, err := s.GetJob(ctx, id); err != nil || j.Description != "old job" {
				t.Errorf("old job after the upgrade: %+v, %v", j, err)
			}
			if gs, err := s.ListCoordinatorGroups(ctx); err != nil || len(gs) != 0 {
				t.Errorf("coordinator groups of an upgraded database: %v, %v", gs, err)
			}
			if err := s.SaveCoordinatorGroup(ctx, "g", []byte(`{"v":1}`)); err != nil {
				t.Fatal(err)
			}
			if gs, err := s.ListCoordinatorGroups(ctx); err != nil || string(gs["g"]) != `{"v":1}` {
				t.Errorf("saved group on the upgraded database: %v, %v", gs, err)
			}
		})
	}
}

// TestUpgradeFrom0008 upgrades a database holding a coordinator group to
// 0009 (group versions, for replicas sharing the coordinator): the group
// keeps its state, has a version, and saves on condition of it.
func TestUpgradeFrom0008(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			db, dl := rawOpen(t, dsn)
			if err := migrateTo(ctx, db, dl, 8); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			if _, err := db.ExecContext(ctx, dl.q("INSERT INTO coordinator_groups (name, state, updated) VALUES ('g', ?, ?)"),
				[]byte(`{"v":1}`), dl.ts(at)); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s := open(t, dsn)
			st, ver, err := s.GetCoordinatorGroup(ctx, "g")
			if err != nil || string(st) != `{"v":1}` || ver <= 0 {
				t.Fatalf("the group after the upgrade: %q version %d, %v", st, ver, err)
			}
			if _, err := s.SaveCoordinatorGroupIf(ctx, "g", []byte(`{"v":2}`), ver+1); !errors.Is(err, lab.ErrConflict) {
				t.Errorf("save at another version: %v", err)
			}
			nv, err := s.SaveCoordinatorGroupIf(ctx, "g", []byte(`{"v":2}`), ver)
			if err != nil || nv == ver {
				t.Errorf("save at the version read: %d, %v", nv, err)
			}
		})
	}
}

// TestUpgradeFrom0010 upgrades a database holding a device type and a job
// to 0011 (reservations): the type keeps its fields and runs a health
// check after reservations (the column's default), the job reads back as
// an ordinary job, and a reservation can be created and updated.
func TestUpgradeFrom0010(t *testing.T) {
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := d.dsn(t)
			db, dl := rawOpen(t, dsn)
			if err := migrateTo(ctx, db, dl, 10); err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
			if _, err := db.ExecContext(ctx, "INSERT INTO device_types (name, description) VALUES ('qemu', 'old type')"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO devices (hostname, device_type) VALUES ('qemu-01', 'qemu')"); err != nil {
				t.Fatal(err)
			}
			var id int64
			if err := db.QueryRowContext(ctx, dl.q(`INSERT INTO jobs (description, submitter, visibility, state, health, priority,
				requested_type, requested_device, submit_time, definition) VALUES ('old job', 'alice', 0, 0, 0, 50, 'qemu', 'qemu-01', ?, 'job_name: old') RETURNING id`),
				dl.ts(at)).Scan(&id); err != nil {
				t.Fatal(err)
			}
			db.Close()

			s := open(t, dsn)
			if v, err := s.SchemaVersion(ctx); err != nil || v != LatestSchemaVersion() || v < 11 {
				t.Fatalf("upgraded to version %d (%v)", v, err)
			}
			dt, err := s.GetDeviceType(ctx, "qemu")
			if err != nil || dt.Description != "old type" || dt.NoHealthCheckAfterReservation {
				t.Errorf("old type after the upgrade: %+v, %v", dt, err)
			}
			if j, err := s.GetJob(ctx, id); err != nil || j.Description != "old job" || j.Reservation != nil {
				t.Errorf("old job after the upgrade: %+v, %v", j, err)
			}
			rid, err := s.CreateJob(ctx, lab.Job{Submitter: "alice", SubmitTime: at, Priority: 50, RequestedType: "qemu",
				RequestedDevice: "qemu-01", Reservation: &lab.Reservation{Duration: time.Hour, Reason: "r"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.UpdateReservation(ctx, rid, lab.Reservation{Duration: time.Hour, Reason: "r"},
				lab.Reservation{Duration: 2 * time.Hour, Reason: "r"}); err != nil {
				t.Fatal(err)
			}
			if j, err := s.GetJob(ctx, rid); err != nil || j.Reservation == nil || j.Reservation.Duration != 2*time.Hour {
				t.Errorf("reservation on the upgraded database: %+v, %v", j, err)
			}
		})
	}
}
