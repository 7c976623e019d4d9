package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Test results: suites, sets and cases (migration 0003). A case is keyed by
// its job and the log line of its results record, which makes ingestion
// idempotent: INSERT … ON CONFLICT DO NOTHING.

// caseCols are the columns caseScanner reads; queries join test_suites s
// and LEFT JOIN test_sets t to test_cases c.
const caseCols = `c.id, c.job_id, s.name, t.name, c.name, c.result, c.measurement_text, c.units, c.metadata,
	c.log_line, c.start_log_line, c.end_log_line, c.logged, c.level, c.duration, c.error_type, c.error_msg`

const caseFrom = ` FROM test_cases c JOIN test_suites s ON s.id = c.suite_id LEFT JOIN test_sets t ON t.id = c.set_id`

func caseScanner(r scanner) (lab.TestCase, error) {
	var c lab.TestCase
	err := r.Scan(&c.ID, &c.JobID, &c.Suite, strDest{&c.Set}, &c.Name, asInt(&c.Result), &c.Measurement, &c.Units,
		&c.Metadata, &c.Line, &c.StartLine, &c.EndLine, timeDest{&c.Logged}, &c.Level, &c.Duration, &c.ErrorType, &c.ErrorMsg)
	return c, err
}

// decimalText matches the decimal numbers a measurement's numeric column
// takes (strconv.ParseFloat alone would also take hex, "Inf" and "NaN").
var decimalText = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$`)

// measurement is the numeric column's argument for a measurement text: NULL
// unless it is a decimal within float64's finite range; then the float on
// SQLite and the exact text on PostgreSQL (NUMERIC).
func (d *dialect) measurement(text string) any {
	if !decimalText.MatchString(text) {
		return nil
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return nil
	}
	if d.numbered {
		return text
	}
	return f
}

// AddTestCases stores cases and raises the ingestion watermark in one
// write transaction (or in the caller's).
func (q *queries) AddTestCases(ctx context.Context, jobID int64, cases []lab.TestCase, lines int) (int, error) {
	op := fmt.Sprintf("add test cases of job %d", jobID)
	if lines < 0 {
		return 0, wrap(op, fmt.Errorf("%w: negative line count %d", lab.ErrInvalid, lines))
	}
	for _, c := range cases {
		if c.JobID != 0 && c.JobID != jobID {
			return 0, wrap(op, fmt.Errorf("%w: case %q belongs to job %d", lab.ErrInvalid, c.Name, c.JobID))
		}
		if err := c.Validate(); err != nil {
			return 0, wrap(op, err)
		}
	}
	added := 0
	err := q.write(ctx, func(cn conn) error {
		added = 0 // the transaction may run again
		// A missing job fails the first insert on its foreign key (the
		// suites and sets are this transaction's own): ErrNotFound below.
		suites := map[string]int64{}
		type setKey struct {
			suite int64
			name  string
		}
		sets := map[setKey]int64{}
		rows := make([][]any, len(cases))
		for i, c := range cases {
			sid, ok := suites[c.Suite]
			if !ok {
				var err error
				if sid, err = q.getOrCreate(ctx, cn, "test_suites", "job_id", jobID, c.Suite); err != nil {
					return fmt.Errorf("suite %q: %w", c.Suite, err)
				}
				suites[c.Suite] = sid
			}
			var set any
			if c.Set != "" {
				k := setKey{sid, c.Set}
				id, ok := sets[k]
				if !ok {
					var err error
					if id, err = q.getOrCreate(ctx, cn, "test_sets", "suite_id", sid, c.Set); err != nil {
						return fmt.Errorf("set %q of suite %q: %w", c.Set, c.Suite, err)
					}
					sets[k] = id
				}
				set = id
			}
			rows[i] = []any{jobID, sid, set, c.Name, int(c.Result), q.d.measurement(c.Measurement), c.Measurement, c.Units,
				c.Metadata, c.Line, c.StartLine, c.EndLine, q.d.ts(c.Logged), c.Level, c.Duration, c.ErrorType, c.ErrorMsg}
		}
		if q.d.numbered && len(rows) > 0 {
			// PostgreSQL: every case in one statement, one round trip.
			n, err := q.execN(ctx, cn, insertCasesArrays, columnsOf(rows)...)
			if err != nil {
				return fmt.Errorf("cases on log lines %d–%d: %w", cases[0].Line, cases[len(cases)-1].Line, err)
			}
			added = int(n)
			rows = nil
		}
		for i := 0; i < len(rows); {
			k := insertBatch(len(rows) - i)
			args := make([]any, 0, k*len(rows[i]))
			for _, r := range rows[i : i+k] {
				args = append(args, r...)
			}
			n, err := q.execN(ctx, cn, insertCases[k], args...)
			if err != nil {
				return fmt.Errorf("cases on log lines %d–%d: %w", cases[i].Line, cases[i+k-1].Line, err)
			}
			added += int(n)
			i += k
		}
		_, err := q.exec(ctx, cn, `INSERT INTO result_ingestion (job_id, lines) VALUES (?, ?)
			ON CONFLICT (job_id) DO UPDATE SET lines = excluded.lines WHERE result_ingestion.lines < excluded.lines`, jobID, lines)
		return err
	})
	if kind(err) == errForeignKey {
		return 0, wrap(op, fmt.Errorf("job %d: %w", jobID, lab.ErrNotFound))
	}
	if err != nil {
		return 0, wrap(op, err)
	}
	return added, nil
}

// insertBatchSizes are the numbers of rows one INSERT of cases holds: a
// few fixed sizes, so that SQLite's statement cache holds four statements
// rather than one per chunk size.
var insertBatchSizes = []int{64, 16, 4, 1}

// insertBatch is the largest batch size not above n (n ≥ 1).
func insertBatch(n int) int {
	for _, k := range insertBatchSizes {
		if k <= n {
			return k
		}
	}
	return 1
}

// insertCases are the INSERTs of k cases by batch size, skipping the cases
// whose job and line are stored already.
var insertCases = func() map[int]string {
	row := "(" + placeholders(17) + ")"
	out := map[int]string{}
	for _, k := range insertBatchSizes {
		out[k] = `INSERT INTO test_cases (job_id, suite_id, set_id, name, result, measurement, measurement_text, units,
		metadata, log_line, start_log_line, end_log_line, logged, level, duration, error_type, error_msg)
		VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", k), ", ") + ` ON CONFLICT (job_id, log_line) DO NOTHING`
	}
	return out
}()

// insertCasesArrays is PostgreSQL's INSERT of any number of cases: one
// array per column (columnsOf), the job once.
const insertCasesArrays = `INSERT INTO test_cases (job_id, suite_id, set_id, name, result, measurement, measurement_text, units,
	metadata, log_line, start_log_line, end_log_line, logged, level, duration, error_type, error_msg)
	SELECT ?::bigint, u.suite_id, u.set_id, u.name, u.result, u.measurement::numeric, u.measurement_text, u.units, u.metadata,
		u.log_line, u.start_log_line, u.end_log_line, u.logged, u.level, u.duration, u.error_type, u.error_msg
	FROM unnest(?::bigint[], ?::bigint[], ?::text[], ?::integer[], ?::text[], ?::text[], ?::text[], ?::text[],
		?::bigint[], ?::bigint[], ?::bigint[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[])
		AS u(suite_id, set_id, name, result, measurement, measurement_text, units, metadata,
		log_line, start_log_line, end_log_line, logged, level, duration, error_type, error_msg)
	ON CONFLICT (job_id, log_line) DO NOTHING`

// columnsOf turns rows of case arguments (as the multi-row INSERT takes
// them, the job first) into the job and one typed array per column.
func columnsOf(rows [][]any) []any {
	n := len(rows)
	suite, line, start, end := make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
	result := make([]int32, n)
	set, measure := make([]*int64, n), make([]*string, n)
	logged := make([]time.Time, n)
	texts := make([][]string, 8) // name, measurement_text, units, metadata, level, duration, error_type, error_msg
	for i := range texts {
		texts[i] = make([]string, n)
	}
	for i, r := range rows {
		suite[i] = r[1].(int64)
		if id, ok := r[2].(int64); ok {
			set[i] = &id
		}
		if m, ok := r[5].(string); ok {
			measure[i] = &m
		}
		result[i], line[i], start[i], end[i] = int32(r[4].(int)), int64(r[9].(int)), int64(r[10].(int)), int64(r[11].(int))
		logged[i] = r[12].(time.Time)
		for k, col := range []int{3, 6, 7, 8, 13, 14, 15, 16} {
			texts[k][i] = r[col].(string)
		}
	}
	return []any{rows[0][0], suite, set, texts[0], result, measure, texts[1], texts[2], texts[3], line, start, end, logged,
		texts[4], texts[5], texts[6], texts[7]}
}

// getOrCreate returns the id of the row (parent, name) of a suites or sets
// table, inserting it when missing. Another transaction may insert it
// concurrently: the insert then does nothing and the row is read again.
func (q *queries) getOrCreate(ctx context.Context, c conn, table, parent string, parentID int64, name string) (int64, error) {
	sel := "SELECT id FROM " + table + " WHERE " + parent + " = ? AND name = ?"
	var id int64
	err := q.row(ctx, c, sel, parentID, name).Scan(&id)
	if !errors.Is(err, sql.ErrNoRows) {
		return id, err
	}
	err = q.row(ctx, c, "INSERT INTO "+table+" ("+parent+", name) VALUES (?, ?) ON CONFLICT ("+parent+", name) DO NOTHING RETURNING id",
		parentID, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = q.row(ctx, c, sel, parentID, name).Scan(&id)
	}
	return id, err
}

// ResultsIngested returns the job's watermark, 0 when it has none.
func (q *queries) ResultsIngested(ctx context.Context, jobID int64) (int, error) {
	var n int
	err := q.row(ctx, q.r(), "SELECT lines FROM result_ingestion WHERE job_id = ?", jobID).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap(fmt.Sprintf("results ingested of job %d", jobID), err)
	}
	return n, nil
}

// ListTestCases returns a page of one job's cases in log order.
func (q *queries) ListTestCases(ctx context.Context, f store.CaseFilter) ([]lab.TestCase, int, error) {
	op := fmt.Sprintf("list test cases of job %d", f.JobID)
	if f.Limit < 0 || f.Offset < 0 || f.FromLine < 0 {
		return nil, 0, wrap(op, fmt.Errorf("%w: negative limit, offset or line", lab.ErrInvalid))
	}
	var w where
	w.add("c.job_id = ?", f.JobID)
	if f.ID != 0 {
		w.add("c.id = ?", f.ID)
	}
	if f.Suite != "" {
		w.add("s.name = ?", f.Suite)
	}
	if f.Set != "" {
		w.add("t.name = ?", f.Set)
	}
	if f.Case != "" {
		w.add("c.name = ?", f.Case)
	}
	if f.Result != nil {
		w.add("c.result = ?", int(*f.Result))
	}
	if f.FromLine > 0 {
		w.add("c.log_line >= ?", f.FromLine)
	}
	page := ""
	if f.Limit > 0 {
		page = fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	if f.Offset > 0 {
		if page == "" {
			page = " LIMIT -1"
			if q.d.numbered {
				page = " LIMIT ALL"
			}
		}
		page += fmt.Sprintf(" OFFSET %d", f.Offset)
	}
	var out []lab.TestCase
	total := -1
	err := q.view(ctx, func(c conn) error {
		if !f.NoCount {
			if err := q.row(ctx, c, "SELECT COUNT(*)"+caseFrom+w.sql(), w.args...).Scan(&total); err != nil {
				return err
			}
		}
		rows, err := q.query(ctx, c, "SELECT "+caseCols+caseFrom+w.sql()+" ORDER BY c.log_line"+page, w.args...)
		out, err = collect(rows, err, caseScanner)
		return err
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}

// ListTestSuites counts a job's cases per suite and result.
func (q *queries) ListTestSuites(ctx context.Context, jobID int64) ([]lab.SuiteSummary, error) {
	rows, err := q.query(ctx, q.r(), `SELECT s.id, s.name,
		SUM(CASE WHEN c.result = 0 THEN 1 ELSE 0 END), SUM(CASE WHEN c.result = 1 THEN 1 ELSE 0 END),
		SUM(CASE WHEN c.result = 2 THEN 1 ELSE 0 END), SUM(CASE WHEN c.result = 3 THEN 1 ELSE 0 END),
		MIN(c.log_line)
		FROM test_suites s JOIN test_cases c ON c.suite_id = s.id
		WHERE s.job_id = ? GROUP BY s.id, s.name ORDER BY MIN(c.log_line)`, jobID)
	out, err := collect(rows, err, func(r scanner) (lab.SuiteSummary, error) {
		var s lab.SuiteSummary
		err := r.Scan(&s.ID, &s.Name, &s.Pass, &s.Fail, &s.Skip, &s.Unknown, &s.FirstLine)
		return s, err
	})
	if err != nil {
		return nil, wrap(fmt.Sprintf("list test suites of job %d", jobID), err)
	}
	return out, nil
}

// DefaultHistoryLimit is the page size of CaseHistory when the filter sets
// none.
const DefaultHistoryLimit = 50

// CaseHistory returns a page of one suite's cases across visible jobs.
func (q *queries) CaseHistory(ctx context.Context, f store.HistoryFilter) ([]lab.TestCase, int, error) {
	op := fmt.Sprintf("history of test suite %q", f.Suite)
	if f.Suite == "" {
		return nil, 0, wrap(op, fmt.Errorf("%w: a suite name is required", lab.ErrInvalid))
	}
	if f.Limit < 0 || f.Offset < 0 {
		return nil, 0, wrap(op, fmt.Errorf("%w: negative limit or offset", lab.ErrInvalid))
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultHistoryLimit
	}
	var w where
	w.add("s.name = ?", f.Suite)
	if f.Case != "" {
		w.add("c.name = ?", f.Case)
	}
	if !f.Since.IsZero() {
		w.add("c.logged >= ?", q.d.ts(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("c.logged < ?", q.d.ts(f.Until))
	}
	if f.VisibleTo != nil || f.DeviceType != "" {
		jw := q.jobWhere(store.JobFilter{VisibleTo: f.VisibleTo, DeviceType: f.DeviceType})
		if cond := jw.sql(); cond != "" {
			w.add("c.job_id IN (SELECT id FROM jobs"+cond+")", jw.args...)
		}
	}
	var out []lab.TestCase
	var total int
	err := q.view(ctx, func(c conn) error {
		if err := q.row(ctx, c, "SELECT COUNT(*)"+caseFrom+w.sql(), w.args...).Scan(&total); err != nil {
			return err
		}
		rows, err := q.query(ctx, c, fmt.Sprintf("SELECT %s%s%s ORDER BY c.job_id DESC, c.log_line LIMIT %d OFFSET %d",
			caseCols, caseFrom, w.sql(), limit, f.Offset), w.args...)
		out, err = collect(rows, err, caseScanner)
		return err
	})
	if err != nil {
		return nil, 0, wrap(op, err)
	}
	return out, total, nil
}
