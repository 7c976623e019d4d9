package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore/logstoretest"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/pgtest"
	"github.com/basalt-lab/basalt/internal/testutil/tinyfs"
)

// TestClassify: PostgreSQL's error codes for a full disk, for a server
// shutting down or out of resources and for lost connections are
// classified as the server's conditions; constraint violations are not.
func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want error // nil: not a condition
	}{
		{&pgconn.PgError{Code: "53100", Message: "could not extend file: No space left on device"}, lab.ErrStorageFull},
		{&pgconn.PgError{Code: "53300", Message: "too many connections"}, lab.ErrDatabaseUnavailable},
		{&pgconn.PgError{Code: "53200", Message: "out of memory"}, lab.ErrDatabaseUnavailable},
		{&pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, lab.ErrDatabaseUnavailable},
		{&pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, lab.ErrDatabaseUnavailable},
		{&pgconn.PgError{Code: "08006", Message: "connection failure"}, lab.ErrDatabaseUnavailable},
		{fmt.Errorf("get job: %w", pgconn.ErrConnClosed), lab.ErrDatabaseUnavailable},
		{&pgconn.PgError{Code: "23505", Message: "duplicate key"}, nil},
		{&pgconn.PgError{Code: "22021", Message: "invalid byte sequence"}, nil},
		{errors.New("something else"), nil},
		{context.Canceled, nil},
	}
	for _, tt := range tests {
		got := classify(tt.err)
		for _, cond := range []error{lab.ErrStorageFull, lab.ErrDatabaseUnavailable} {
			if errors.Is(got, cond) != (cond == tt.want) {
				t.Errorf("classify(%v) = %v: wraps %v = %v, want %v", tt.err, got, cond, errors.Is(got, cond), cond == tt.want)
			}
		}
		if !errors.Is(got, tt.err) {
			t.Errorf("classify(%v) lost the error", tt.err)
		}
	}
}

// TestSQLiteDiskFull: on a real full filesystem (a small tmpfs) SQLite's
// writes fail with an error wrapping lab.ErrStorageFull while reads and
// Ping go on working; once space is freed, writes work again and nothing
// written before is lost.
func TestSQLiteDiskFull(t *testing.T) {
	dir := tinyfs.Mount(t, 4<<20)
	s := open(t, dir+"/basalt.db")
	ctx := context.Background()
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	filler := tinyfs.Fill(t, dir)
	// a write may still fit in pages the WAL already has: write until one
	// needs a new block
	dict := strings.Repeat("# a long dictionary line to fill pages\n", 2000)
	var err error
	n := 0
	for ; n < 200 && err == nil; n++ {
		err = s.CreateDevice(ctx, lab.Device{Hostname: fmt.Sprintf("d%03d", n), DeviceType: "before",
			Health: lab.DeviceGood, Dictionary: dict})
	}
	if !errors.Is(err, lab.ErrStorageFull) {
		t.Fatalf("write %d on a full disk: %v, want an error wrapping lab.ErrStorageFull", n, err)
	}
	if err := s.InTx(ctx, func(q store.Queries) error {
		return q.CreateDeviceType(ctx, lab.DeviceType{Name: "in-tx", Description: dict})
	}); !errors.Is(err, lab.ErrStorageFull) {
		t.Errorf("InTx on a full disk: %v, want an error wrapping lab.ErrStorageFull", err)
	}
	if _, err := s.GetDeviceType(ctx, "before"); err != nil {
		t.Errorf("read on a full disk: %v", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		t.Errorf("Ping on a full disk: %v (the database answers reads)", err)
	}

	tinyfs.Free(t, filler)
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "after"}); err != nil {
		t.Fatalf("write after space was freed: %v", err)
	}
	for _, name := range []string{"before", "after"} {
		if _, err := s.GetDeviceType(ctx, name); err != nil {
			t.Errorf("device type %s: %v", name, err)
		}
	}
	if _, err := s.GetDevice(ctx, "d000"); n > 1 && err != nil {
		t.Errorf("device written before the disk filled up: %v", err)
	}
}

// TestPostgresOutage stops a private PostgreSQL under an open store: reads,
// writes, transactions and Ping fail with errors wrapping
// lab.ErrDatabaseUnavailable (not as bugs); once it is started again the
// store recovers by itself, with its data.
func TestPostgresOutage(t *testing.T) {
	cl := pgtest.NewCluster(t)
	s := open(t, cl.DSN(t))
	ctx := context.Background()
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, []byte("x")); !errors.Is(err, lab.ErrNotFound) {
		t.Fatalf("token lookup: %v", err)
	}
	logs := s.Logs()
	logData := bytes.Repeat([]byte("a line of the job log\n"), 3<<20/22) // more than a reader's batch
	if _, err := logs.Append(ctx, 1, 0, logData); err != nil {
		t.Fatal(err)
	}
	lr, _, _, err := logs.OpenLines(ctx, 1, 0, math.MaxInt) // reads its batches once PostgreSQL is down
	if err != nil {
		t.Fatal(err)
	}
	defer lr.Close()
	cl.Stop(t)

	calls := map[string]func() error{
		"log append":     func() error { _, err := logs.Append(ctx, 1, int64(len(logData)), []byte("more\n")); return err },
		"log size":       func() error { _, err := logs.Size(ctx, 1); return err },
		"log read lines": func() error { _, err := logs.ReadLines(ctx, 1, 10, 20); return err },
		"log open lines": func() error { _, _, _, err := logs.OpenLines(ctx, 1, 10, 20); return err },
		"log checksum":   func() error { _, err := logs.SHA256(ctx, 1); return err },
		"log wait lines": func() error { _, err := logs.WaitLines(ctx, 1, len(logData)); return err },
		"log remove":     func() error { return logs.Remove(ctx, 2) },
		"ping": func() error {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			return s.Ping(ctx)
		},
		"read":         func() error { _, err := s.GetDeviceType(ctx, "before"); return err },
		"list":         func() error { _, _, err := s.ListJobs(ctx, store.JobFilter{Limit: 10}); return err },
		"token lookup": func() error { _, err := s.TokenByHash(ctx, []byte("x")); return err },
		"write":        func() error { return s.CreateDeviceType(ctx, lab.DeviceType{Name: "during"}) },
		"transaction": func() error {
			return s.InTx(ctx, func(q store.Queries) error { return q.CreateTag(ctx, lab.Tag{Name: "during"}) })
		},
	}
	for round := range 2 { // stale pooled connections first, then new ones refused
		for name, call := range calls {
			if err := call(); !errors.Is(err, lab.ErrDatabaseUnavailable) {
				t.Errorf("round %d: %s with PostgreSQL stopped: %v, want an error wrapping lab.ErrDatabaseUnavailable", round, name, err)
			}
		}
	}

	if _, err := io.ReadAll(lr); !errors.Is(err, lab.ErrDatabaseUnavailable) {
		t.Errorf("reading an open log with PostgreSQL stopped: %v, want an error wrapping lab.ErrDatabaseUnavailable", err)
	}

	cl.Start(t)
	deadline := time.Now().Add(30 * time.Second)
	for calls["ping"]() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Ping after PostgreSQL restarted: %v", calls["ping"]())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "after"}); err != nil {
		t.Fatalf("write after the restart: %v", err)
	}
	for _, name := range []string{"before", "after"} {
		if _, err := s.GetDeviceType(ctx, name); err != nil {
			t.Errorf("device type %s after the restart: %v", name, err)
		}
	}
	if n, err := logs.Append(ctx, 1, int64(len(logData)), []byte("more\n")); err != nil || n != int64(len(logData))+5 {
		t.Errorf("log append after the restart: %d, %v", n, err)
	}
	logstoretest.Check(t, logs, 1, append(logData, "more\n"...))
}
