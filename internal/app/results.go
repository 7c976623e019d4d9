package app

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/resultlog"
	"github.com/basalt-lab/basalt/internal/store"
)

// Test results are data: the results records of a job's log are stored as
// test cases (store.AddTestCases) as the log is ingested, and every reader
// (REST, web UI, exports, the lab command) queries the store.
//
// Ingestion reads the complete lines of the log beyond the job's watermark
// (store.ResultsIngested) and stores their cases together with the new
// watermark in one transaction per batch. A case is keyed by its job and
// log line, so lines ingested twice — a chunk re-sent after a link cut, two
// servers, a crash between the log's fsync and the commit — add nothing;
// and since the watermark only moves in the transaction that stores the
// cases, nothing is skipped either. It runs after every log append, before
// a finish is accepted (so a Finished job's results are complete), and
// before every read (which backfills jobs logged before results were
// stored, and catches up after an ingestion that failed).

// ingestBatch bounds the log lines read and stored in one transaction when
// a job's ingestion catches up (a whole old log, say).
const ingestBatch = 5000

// ingestStripes serialise the ingestion of one job (jobs hash to one of
// them), so that concurrent appends and reads do not ingest the same lines
// twice over; ingesting twice would be harmless, only wasted.
const ingestStripes = 64

// maxIngestMarks bounds the marks one stripe remembers; they are only a
// cache, forgotten all at once when full.
const maxIngestMarks = 1024

// ingestStripe is the lock and the marks of the jobs that hash to it.
type ingestStripe struct {
	mu    sync.Mutex
	marks map[int64]ingestMark
}

// ingestMark is what this process knows of a job's ingestion: every
// results record before line scanned is stored, and the database's
// watermark is stored (≤ scanned). Lines without results records move
// scanned only, so appends of plain console output cost no transaction;
// the watermark catches up with the next record, the finish, or a read of
// a finished job. After a restart, ingestion resumes from the database's
// watermark and reads those lines once more. at is the byte offset where
// line scanned starts, or -1 when not known: with it, an append whose new
// bytes hold no results record moves the mark without reading the log
// back (ingestAppended).
type ingestMark struct {
	scanned, stored int
	at              int64
}

// ingestResults stores the cases of the job's complete log lines not
// ingested yet. With final (a finished job) it also commits the watermark
// up to the log's end. Malformed results records are logged and skipped:
// they never stop the lines after them.
func (a *App) ingestResults(ctx context.Context, jobID int64, final bool) error {
	if a.cfg.Logs == nil {
		return nil
	}
	st := &a.ingest[uint64(jobID)%ingestStripes]
	st.mu.Lock()
	defer st.mu.Unlock()
	n, next, err := a.cfg.Logs.Tail(ctx, jobID)
	if err != nil {
		return fmt.Errorf("ingest results of job %d: %w", jobID, err)
	}
	tail := n // next is where line tail starts
	m, ok := st.marks[jobID]
	if !ok {
		w, err := a.st.ResultsIngested(ctx, jobID)
		if err != nil {
			return fmt.Errorf("ingest results of job %d: %w", jobID, err)
		}
		m = ingestMark{scanned: w, stored: w, at: -1}
	}
	if m.scanned >= n && m.scanned == tail {
		m.at = next // nothing to read: the mark learns where its line starts
	}
	for m.scanned < n {
		lines, err := a.cfg.Logs.ReadLines(ctx, jobID, m.scanned, min(n, m.scanned+ingestBatch))
		if err != nil {
			return fmt.Errorf("ingest results of job %d: %w", jobID, err)
		}
		if len(lines) == 0 {
			break // the log cannot shrink; nothing to read after all
		}
		var cases []lab.TestCase
		var skipped []error
		for i, l := range lines {
			c, ok, err := resultlog.Parse(l, m.scanned+i)
			if err != nil {
				skipped = append(skipped, err)
				continue
			}
			if ok {
				c.JobID = jobID
				cases = append(cases, c)
			}
		}
		if len(skipped) > 0 { // one message per batch, however bad the log
			a.log.Warn("results records skipped", "job", jobID, "count", len(skipped), "first", skipped[0], "last", skipped[len(skipped)-1])
		}
		end := m.scanned + len(lines)
		if len(cases) > 0 || (final && end >= n) {
			if _, err := a.st.AddTestCases(ctx, jobID, cases, end); err != nil {
				return fmt.Errorf("ingest results of job %d, log lines %d–%d: %w", jobID, m.scanned, end-1, err)
			}
			m.stored = end
		}
		if m.at >= 0 {
			for _, l := range lines {
				m.at += int64(len(l)) + 1
			}
		}
		m.scanned = end
		if m.scanned == tail {
			m.at = next
		}
		st.remember(jobID, m)
	}
	if final && m.stored < m.scanned {
		if _, err := a.st.AddTestCases(ctx, jobID, nil, m.scanned); err != nil {
			return fmt.Errorf("ingest results of job %d: %w", jobID, err)
		}
	}
	if final {
		delete(st.marks, jobID) // the database has it all
	}
	return nil
}

// ingestAppended is ingestResults after an append of data at offset that
// left the log stored bytes long, with a fast path for the common case: when
// the job's mark knows where its next line starts and every byte from
// there to the end of the log came in this append without a results
// record (resultlog.MayHold), the lines those bytes complete are counted
// and skipped without reading the log back. Otherwise it ingests as usual.
func (a *App) ingestAppended(ctx context.Context, jobID, offset int64, data []byte, stored int64) error {
	if a.cfg.Logs == nil {
		return nil
	}
	st := &a.ingest[uint64(jobID)%ingestStripes]
	st.mu.Lock()
	m, ok := st.marks[jobID]
	if ok && m.at >= 0 && offset <= m.at && m.at <= stored && stored-offset <= int64(len(data)) {
		region := data[m.at-offset : stored-offset]
		if !resultlog.MayHold(region) {
			if i := bytes.LastIndexByte(region, '\n'); i >= 0 {
				m.scanned += bytes.Count(region[:i+1], []byte{'\n'})
				m.at += int64(i) + 1
				st.remember(jobID, m)
			}
			st.mu.Unlock()
			return nil
		}
	}
	st.mu.Unlock()
	return a.ingestResults(ctx, jobID, false)
}

// remember records a job's mark.
func (st *ingestStripe) remember(jobID int64, m ingestMark) {
	if st.marks == nil || len(st.marks) >= maxIngestMarks {
		st.marks = map[int64]ingestMark{}
	}
	st.marks[jobID] = m
}

// JobResults returns one page of the test cases of a job p may see, in log
// order, and how many f matches in all (f.JobID is set to jobID). Lines of
// the log not ingested yet are ingested first. The lab command lists a
// job's results through this.
func (a *App) JobResults(ctx context.Context, p auth.Principal, jobID int64, f store.CaseFilter) ([]lab.TestCase, int, error) {
	if err := a.readableResults(ctx, p, jobID); err != nil {
		return nil, 0, err
	}
	f.JobID = jobID
	cases, total, err := a.st.ListTestCases(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("results of job %d: %w", jobID, err)
	}
	return cases, total, nil
}

// CasesChunk is how many test cases a CaseCursor reads from the store at
// a time: what a results download or a page of the API holds in memory.
const CasesChunk = 256

// CaseCursor reads the test cases a filter selects a chunk at a time, in
// log order (OpenJobResults), so that a reader of any number of cases
// holds at most CasesChunk of them.
type CaseCursor struct {
	a     *App
	f     store.CaseFilter // the next chunk's filter
	left  int              // cases still to read; -1: all there are
	first []lab.TestCase   // read by OpenJobResults, not yet returned
	// Total is how many cases the filter matched when the cursor was
	// opened, whatever its Limit and Offset.
	Total int
}

// OpenJobResults is JobResults for any number of cases: it checks that p
// may see the job, ingests what is missing, and returns a cursor over the
// cases f selects (f.Limit 0: all of them, from f.Offset), with their
// total, the first chunk already read so that an error comes before
// anything is written. Later chunks continue after the last line read
// (cases are keyed by their line), so a running job's new cases extend the
// listing and never shift it.
func (a *App) OpenJobResults(ctx context.Context, p auth.Principal, jobID int64, f store.CaseFilter) (*CaseCursor, error) {
	if err := a.readableResults(ctx, p, jobID); err != nil {
		return nil, err
	}
	f.JobID, f.NoCount = jobID, false
	c := &CaseCursor{a: a, f: f, left: -1}
	if f.Limit > 0 {
		c.left = f.Limit
	}
	first, err := c.read(ctx)
	if err != nil {
		return nil, err
	}
	c.first = first
	return c, nil
}

// read reads the next chunk from the store.
func (c *CaseCursor) read(ctx context.Context) ([]lab.TestCase, error) {
	if c.left == 0 {
		return nil, nil
	}
	f := c.f
	f.Limit = CasesChunk
	if c.left > 0 {
		f.Limit = min(f.Limit, c.left)
	}
	cases, total, err := c.a.st.ListTestCases(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("results of job %d: %w", f.JobID, err)
	}
	if !c.f.NoCount {
		c.Total = total
	}
	if len(cases) < f.Limit {
		c.left = 0
	} else if c.left > 0 {
		c.left -= len(cases)
	}
	if len(cases) > 0 {
		c.f.FromLine, c.f.Offset = cases[len(cases)-1].Line+1, 0
	}
	c.f.NoCount = true // counted once
	return cases, nil
}

// Next returns the next chunk of cases, at most CasesChunk of them, or
// none at the end.
func (c *CaseCursor) Next(ctx context.Context) ([]lab.TestCase, error) {
	if c.first != nil {
		first := c.first
		c.first = nil
		return first, nil
	}
	return c.read(ctx)
}

// JobSuites returns the test suites of a job p may see, with their cases
// counted by result, in log order.
func (a *App) JobSuites(ctx context.Context, p auth.Principal, jobID int64) ([]lab.SuiteSummary, error) {
	if err := a.readableResults(ctx, p, jobID); err != nil {
		return nil, err
	}
	suites, err := a.st.ListTestSuites(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("suites of job %d: %w", jobID, err)
	}
	return suites, nil
}

// readableResults checks that p may see the job and brings its results up
// to date with its log.
func (a *App) readableResults(ctx context.Context, p auth.Principal, jobID int64) error {
	j, err := a.GetJob(ctx, p, jobID)
	if err != nil {
		return err
	}
	return a.ingestResults(ctx, jobID, j.State == lab.JobFinished)
}

// CaseHistory returns one page of the cases of a suite (and optionally of
// one case name) across the jobs p may see, newest job first, and the total:
// what trends and LAVA's results queries stand on. Only ingested jobs are
// included: jobs finished since results were stored, and older jobs whose
// results were read once.
func (a *App) CaseHistory(ctx context.Context, p auth.Principal, f store.HistoryFilter) ([]lab.TestCase, int, error) {
	v, ok := p.Viewer()
	if !ok {
		return nil, 0, denied(p, "read results")
	}
	f.VisibleTo = &store.Viewer{Username: v.Username, Superuser: v.Superuser, Groups: v.Groups}
	cases, total, err := a.st.CaseHistory(ctx, f)
	if err != nil {
		return nil, 0, fmt.Errorf("case history: %w", err)
	}
	return cases, total, nil
}
