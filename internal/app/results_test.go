package app_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// resultsJournal is a job journal of n lines: every line 7k is a malformed
// results record (its msg is not an object, or it has no case), every
// other line 4k+1 a results record of case c<line> in suite s<line%3>,
// every line 10k+5 not a record at all, the rest target output. It returns
// the journal and the lines of its valid results records.
func resultsJournal(t testing.TB, n int) ([]byte, []int) {
	t.Helper()
	var out []byte
	var lines []int
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i := range n {
		var line []byte
		switch {
		case i%7 == 0 && i%14 == 0:
			line = fmt.Appendf(nil, `{"dt":"2026-11-24T12:00:00Z","lvl":"results","msg":"not an object %d"}`+"\n", i)
		case i%7 == 0:
			line = fmt.Appendf(nil, `{"dt":"2026-11-24T12:00:00Z","lvl":"results","msg":{"definition":"s1","result":"pass"}}`+"\n")
		case i%10 == 5:
			line = []byte("plain text, not a record: results\n")
		case i%4 == 1:
			msg := fmt.Sprintf(`{"definition":"s%d","case":"c%d","result":"pass","measurement":"%d.25","units":"ms"}`, i%3, i, i)
			var err error
			if line, err = wp.EncodeRecord(wp.Record{Time: at.Add(time.Duration(i) * time.Millisecond), Level: wp.LevelResults, Msg: []byte(msg)}); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, i)
		default:
			var err error
			if line, err = wp.EncodeRecord(wp.Record{Time: at, Level: wp.LevelTarget, Msg: wp.TextMsg(fmt.Sprintf("output %d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, line...)
	}
	return out, lines
}

// completeLines is the number of complete lines in b.
func completeLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// upTo is the lines of want below n.
func upTo(want []int, n int) []int {
	out := []int{}
	for _, l := range want {
		if l < n {
			out = append(out, l)
		}
	}
	return out
}

// resultsLab is an app with a log store, a worker w1 Online with device
// d1, and one job Scheduled on d1.
type resultsLab struct {
	t       *testing.T
	ctx     context.Context
	backend labtest.Backend
	dsn     string
	logDir  string
	st      store.Store
	logs    *logstore.Store
	app     *app.App
	admin   auth.Principal
	user    auth.Principal
	worker  auth.Principal
	job     int64
	logged  *syncbuf.Buffer // the App's log
}

func newResultsLab(t *testing.T, b labtest.Backend) *resultsLab {
	t.Helper()
	l := &resultsLab{t: t, ctx: context.Background(), backend: b, dsn: b.DSN(t), logDir: t.TempDir(), worker: auth.WorkerPrincipal("w1"),
		logged: &syncbuf.Buffer{}}
	l.open()
	a := l.app
	must(t, a.Bootstrap(l.ctx))
	u, err := a.CreateSuperuser(l.ctx, "admin", "", "")
	must(t, err)
	l.admin = principalOf(t, u)
	alice, err := a.CreateUser(l.ctx, l.admin, app.NewUser{Username: "alice"})
	must(t, err)
	l.user = principalOf(t, alice)
	must(t, a.CreateDeviceType(l.ctx, l.admin, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(l.ctx, l.admin, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(l.ctx, l.admin, lab.Device{Hostname: "d1", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
	_, err = a.Heartbeat(l.ctx, l.worker, "w1", "test")
	must(t, err)
	ids, _, err := a.SubmitJob(l.ctx, l.user, labtest.Job("results", "qemu", "visibility: personal"))
	must(t, err)
	l.job = ids[0]
	_, err = a.SchedulePass(l.ctx)
	must(t, err)
	if j, _ := a.Store().GetJob(l.ctx, l.job); j.State != lab.JobScheduled {
		t.Fatalf("job is %s, want Scheduled", j.State)
	}
	return l
}

// open opens the store and the log store and builds a new App over them,
// as a server starting does.
func (l *resultsLab) open() {
	l.t.Helper()
	l.st = labtest.OpenDSN(l.t, l.dsn)
	logs, err := logstore.Open(l.logDir)
	must(l.t, err)
	l.t.Cleanup(func() { logs.Close() })
	l.logs = logs
	l.app = app.New(l.st, app.Config{Logs: logs, Logger: slog.New(slog.NewTextHandler(l.logged, nil))})
}

// restart closes everything and opens it again: a server restart.
func (l *resultsLab) restart() {
	l.t.Helper()
	must(l.t, l.logs.Close())
	must(l.t, l.st.Close())
	l.open()
}

// append uploads journal[off:end] as the worker does.
func (l *resultsLab) append(journal []byte, off, end int) {
	l.t.Helper()
	stored, err := l.app.AppendLog(l.ctx, l.worker, l.job, int64(off), journal[off:end])
	must(l.t, err)
	if stored < int64(end) {
		l.t.Fatalf("append [%d, %d): stored %d", off, end, stored)
	}
}

// lines returns the log lines of the job's stored cases, checking that
// none is stored twice and that each is the case its record names.
func (l *resultsLab) lines() []int {
	l.t.Helper()
	cases, total, err := l.app.JobResults(l.ctx, l.user, l.job, store.CaseFilter{})
	must(l.t, err)
	if total != len(cases) {
		l.t.Errorf("total %d, %d cases", total, len(cases))
	}
	out := []int{}
	for _, c := range cases {
		if c.Name != fmt.Sprintf("c%d", c.Line) || c.Suite != fmt.Sprintf("s%d", c.Line%3) || c.Measurement != fmt.Sprintf("%d.25", c.Line) {
			l.t.Errorf("case on line %d: %+v", c.Line, c)
		}
		out = append(out, c.Line)
	}
	return out
}

// ingested is the job's watermark as stored.
func (l *resultsLab) ingested() int {
	l.t.Helper()
	n, err := l.st.ResultsIngested(l.ctx, l.job)
	must(l.t, err)
	return n
}

// TestResultsIngestion uploads a journal in chunks that split lines, with
// resends of whole and partial chunks, and checks after every upload that
// the stored cases are exactly those of the complete lines so far, once
// each, and that the watermark follows the log; malformed records are
// skipped without stopping the records after them.
func TestResultsIngestion(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b)
			journal, want := resultsJournal(t, 120)
			sizes := []int{37, 300, 1, 2, 513, 90, 1000, 7}
			off := 0
			for i := 0; off < len(journal); i++ {
				end := min(len(journal), off+sizes[i%len(sizes)])
				l.append(journal, off, end)
				// Resends: the same chunk, and one reaching back into
				// stored bytes.
				l.append(journal, off, end)
				l.append(journal, max(0, off-50), end)
				off = end
				n := completeLines(journal[:end])
				// The watermark is stored with the cases; lines without
				// results move it later.
				if got, w := l.ingested(), upTo(want, n); got > n || len(w) > 0 && got <= w[len(w)-1] {
					t.Fatalf("after %d bytes: watermark %d, want at most %d complete lines and beyond the last result", end, got, n)
				}
				if got := l.lines(); !slices.Equal(got, upTo(want, n)) {
					t.Fatalf("after %d bytes: cases on lines %v, want %v", end, got, upTo(want, n))
				}
			}
			if len(want) < 20 {
				t.Fatalf("journal has only %d results", len(want))
			}
			// A chunk appended again at an offset already stored adds
			// nothing, and a finish then finds the results complete.
			l.append(journal, 0, len(journal))
			sum := sha256.Sum256(journal)
			j, err := l.app.FinishFromWorker(l.ctx, l.worker, l.job, app.WorkerFinish{LogSize: int64(len(journal)), LogSHA256: hex.EncodeToString(sum[:])})
			must(t, err)
			if j.State != lab.JobFinished {
				t.Errorf("job is %s after the finish", j.State)
			}
			if got := l.ingested(); got != completeLines(journal) {
				t.Errorf("watermark %d after the finish, want %d", got, completeLines(journal))
			}
			// Every malformed record was reported (the chunks are small:
			// each holds at most two), and only those.
			for i := 0; i < completeLines(journal); i += 7 {
				if !strings.Contains(l.logged.String(), fmt.Sprintf("log line %d:", i)) {
					t.Errorf("malformed record on line %d not reported", i)
				}
			}
			if strings.Contains(l.logged.String(), "line 1:") {
				t.Errorf("a valid record was reported:\n%s", l.logged.String())
			}
			if got := l.lines(); !slices.Equal(got, want) {
				t.Errorf("final cases on lines %v, want %v", got, want)
			}
			suites, err := l.app.JobSuites(l.ctx, l.user, l.job)
			must(t, err)
			total := 0
			for _, s := range suites {
				total += s.Pass
			}
			if len(suites) != 3 || total != len(want) {
				t.Errorf("suites %+v, want 3 with %d passes in all", suites, len(want))
			}
		})
	}
}

// TestResultsRestart crashes the server between storing a chunk and
// ingesting it, restarts it (new stores, new App) in the middle of the log,
// and checks that the worker's resend loses nothing and doubles nothing;
// then that a finish whose last chunk was never ingested completes the
// results first.
func TestResultsRestart(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b)
			journal, want := resultsJournal(t, 200)
			third := len(journal) / 3
			l.append(journal, 0, third-11) // ends inside a line
			before := l.ingested()
			// The crash: the next chunk is stored and fsynced, its results
			// not committed, and the acknowledgement never sent.
			if _, err := l.logs.Append(context.Background(), l.job, int64(third-11), journal[third-11:2*third]); err != nil {
				t.Fatal(err)
			}
			l.restart()
			if got := l.ingested(); got != before {
				t.Fatalf("watermark %d after the restart, want %d", got, before)
			}
			// The worker resends from its last acknowledged offset.
			l.append(journal, third-11, 2*third)
			n := completeLines(journal[:2*third])
			if got := l.lines(); !slices.Equal(got, upTo(want, n)) {
				t.Fatalf("after the restart: cases on lines %v, want %v", got, upTo(want, n))
			}
			// The last chunk is stored without its ingestion (another crash,
			// say, or an ingestion that failed); the finish is accepted only
			// with every result stored.
			if _, err := l.logs.Append(context.Background(), l.job, int64(2*third), journal[2*third:]); err != nil {
				t.Fatal(err)
			}
			l.restart()
			sum := sha256.Sum256(journal)
			_, err := l.app.FinishFromWorker(l.ctx, l.worker, l.job, app.WorkerFinish{LogSize: int64(len(journal)), LogSHA256: hex.EncodeToString(sum[:])})
			must(t, err)
			if got := l.ingested(); got != completeLines(journal) {
				t.Errorf("watermark %d at the finish, want %d", got, completeLines(journal))
			}
			// Read straight from the store, without the readers' catch-up.
			cases, total, err := l.st.ListTestCases(l.ctx, store.CaseFilter{JobID: l.job})
			must(t, err)
			got := []int{}
			for _, c := range cases {
				got = append(got, c.Line)
			}
			if total != len(want) || !slices.Equal(got, want) {
				t.Errorf("after the finish: cases on lines %v (total %d), want %v", got, total, want)
			}
		})
	}
}

// TestResultsReaders: readers see only jobs they may see, ingest what was
// not ingested yet (jobs logged before results were stored), page and
// filter; the cross-job history follows visibility.
func TestResultsReaders(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b)
			journal, want := resultsJournal(t, 60)
			// Written behind the app's back, as before migration 0003.
			if _, err := l.logs.Append(context.Background(), l.job, 0, journal); err != nil {
				t.Fatal(err)
			}
			if l.ingested() != 0 {
				t.Fatal("ingested without a reader")
			}
			anon := auth.Principal{}
			if _, _, err := l.app.JobResults(l.ctx, anon, l.job, store.CaseFilter{}); !errors.Is(err, lab.ErrNotFound) {
				t.Errorf("anonymous reads a personal job's results: %v", err)
			}
			if _, err := l.app.JobSuites(l.ctx, anon, l.job); !errors.Is(err, lab.ErrNotFound) {
				t.Errorf("anonymous reads a personal job's suites: %v", err)
			}
			suites, err := l.app.JobSuites(l.ctx, l.user, l.job)
			must(t, err)
			if len(suites) != 3 || suites[0].Name != "s1" || suites[0].FirstLine != 1 {
				t.Errorf("suites: %+v", suites)
			}
			page, total, err := l.app.JobResults(l.ctx, l.user, l.job, store.CaseFilter{Suite: "s2", Limit: 2, Offset: 1})
			must(t, err)
			var s2 []int
			for _, n := range want {
				if n%3 == 2 {
					s2 = append(s2, n)
				}
			}
			if total != len(s2) || len(page) != 2 || page[0].Line != s2[1] || page[1].Line != s2[2] {
				t.Errorf("page of s2: %d of %d, want lines %v", len(page), total, s2[1:3])
			}
			one, _, err := l.app.JobResults(l.ctx, l.user, l.job, store.CaseFilter{Suite: "s2", Case: fmt.Sprintf("c%d", s2[0])})
			must(t, err)
			if len(one) != 1 || one[0].Line != s2[0] {
				t.Errorf("job+suite+case: %+v", one)
			}
			hist, n, err := l.app.CaseHistory(l.ctx, l.user, store.HistoryFilter{Suite: "s2"})
			must(t, err)
			if n != len(s2) || len(hist) != len(s2) {
				t.Errorf("history as the submitter: %d of %d, want %d", len(hist), n, len(s2))
			}
			if _, n, err := l.app.CaseHistory(l.ctx, anon, store.HistoryFilter{Suite: "s2"}); err != nil || n != 0 {
				t.Errorf("history as anonymous: %d cases of a personal job, %v", n, err)
			}
			if _, _, err := l.app.CaseHistory(l.ctx, l.worker, store.HistoryFilter{Suite: "s2"}); !errors.Is(err, lab.ErrForbidden) {
				t.Errorf("history as a worker: %v, want forbidden", err)
			}
		})
	}
}

// TestResultsIngestionWholeLines uploads a journal as the worker usually
// does, in chunks of whole lines, so that appends of plain console output
// take the fast path (no read back): with chunks that end inside a record,
// that split the word "results" between two chunks, and resends, the
// stored cases are always exactly those of the complete lines so far.
func TestResultsIngestionWholeLines(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			l := newResultsLab(t, b)
			journal, want := resultsJournal(t, 200)
			var ends []int // the end of each line
			for i, c := range journal {
				if c == '\n' {
					ends = append(ends, i+1)
				}
			}
			off, line := 0, 0
			for step := 0; off < len(journal); step++ {
				end := ends[min(len(ends)-1, line+step%4)] // 1 to 4 whole lines
				line = min(len(ends), line+step%4+1)
				if step%9 == 8 { // now and then, end inside the next line: mid-tag when it is a record
					if at := bytes.Index(journal[end:], []byte("resu")); at >= 0 && at < 40 {
						end += at + 4
					}
				}
				l.append(journal, off, end)
				if step%5 == 0 {
					l.append(journal, off, end) // a resend
				}
				off = end
				if got, w := l.lines(), upTo(want, completeLines(journal[:end])); !slices.Equal(got, w) {
					t.Fatalf("after %d bytes: cases on lines %v, want %v", end, got, w)
				}
				for line < len(ends) && ends[line] <= end {
					line++
				}
			}
			if got := l.lines(); !slices.Equal(got, want) {
				t.Errorf("final cases on lines %v, want %v", got, want)
			}
		})
	}
}
