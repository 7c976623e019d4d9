package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Test results: suites, sets, cases, the ingestion watermark, queries by
// job, suite and case, suite summaries and the cross-job history.

// tcase is a valid case of suite on log line, passing, logged at base.
func tcase(suite, name string, line int) lab.TestCase {
	return lab.TestCase{Suite: suite, Name: name, Result: lab.ResultPass, Line: line, StartLine: line, EndLine: line,
		Logged: base.Add(time.Duration(line) * time.Second)}
}

// add stores cases of job and raises its watermark to lines; it returns
// how many were added.
func (f *fx) add(job int64, lines int, cases ...lab.TestCase) int {
	f.t.Helper()
	n, err := f.s.AddTestCases(f.ctx, job, cases, lines)
	f.ok(err, "add test cases")
	return n
}

// cases lists what filter selects, checking the total against the page
// when the filter does not page.
func (f *fx) cases(cf store.CaseFilter) ([]lab.TestCase, int) {
	f.t.Helper()
	cs, total, err := f.s.ListTestCases(f.ctx, cf)
	f.ok(err, "list test cases")
	return cs, total
}

// names is "suite/set/case@line" of each case.
func names(cs []lab.TestCase) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = fmt.Sprintf("%s/%s/%s@%d", c.Suite, c.Set, c.Name, c.Line)
	}
	return out
}

// want is c as the store returns it for job: with its job and id, times
// in UTC microseconds.
func want(c lab.TestCase, job, id int64) lab.TestCase {
	c.JobID, c.ID = job, id
	c.Logged = stored(c.Logged)
	return c
}

func testResultsRoundTrip(f *fx) {
	job := f.job(lab.Job{})
	full := lab.TestCase{
		Suite: "0_smoke-tests", Set: "set-1", Name: "linux-posix-pwd ünï", Result: lab.ResultFail,
		Measurement: "1.50", Units: "MB/s", Metadata: `{"case":"linux-posix-pwd ünï","definition":"0_smoke-tests","result":"fail"}`,
		Line: 42, StartLine: 10, EndLine: 20, Logged: base, Level: "3.1", Duration: "0.25",
		ErrorType: "Test", ErrorMsg: "it broke",
	}
	odd := []lab.TestCase{
		// Measurements are kept as reported, numbers or not.
		{Suite: "lava", Name: "job", Result: lab.ResultUnknown, Measurement: "12345678901234567890.0123456789", Units: "seconds", Line: 50, StartLine: 50, EndLine: 50, Logged: base},
		{Suite: "lava", Name: "exp", Result: lab.ResultSkip, Measurement: "-1e3", Line: 51, StartLine: 51, EndLine: 51, Logged: base},
		{Suite: "lava", Name: "nan", Result: lab.ResultPass, Measurement: "not a number", Line: 52, StartLine: 52, EndLine: 52, Logged: base},
		{Suite: "lava", Name: "huge", Result: lab.ResultPass, Measurement: "1e400", Line: 53, StartLine: 53, EndLine: 53, Logged: base},
		{Suite: "lava", Name: "", Result: lab.ResultPass, Line: 0, StartLine: 0, EndLine: 0, Logged: base},
	}
	if n := f.add(job, 60, append([]lab.TestCase{full}, odd...)...); n != 6 {
		f.t.Errorf("added %d cases, want 6", n)
	}
	all, total := f.cases(store.CaseFilter{JobID: job})
	if total != 6 || len(all) != 6 {
		f.t.Fatalf("job has %d cases (total %d), want 6", len(all), total)
	}
	f.eq([]string{"lava//@0", "0_smoke-tests/set-1/linux-posix-pwd ünï@42", "lava//job@50", "lava//exp@51", "lava//nan@52", "lava//huge@53"},
		names(all), "cases in log order")
	f.eq(want(full, job, all[1].ID), all[1], "full case")
	for i, c := range odd[:4] {
		f.eq(want(c, job, all[2+i].ID), all[2+i], "case "+c.Name)
	}
	ids := map[int64]bool{}
	for _, c := range all {
		if c.ID <= 0 || ids[c.ID] {
			f.t.Errorf("case %q: id %d not positive and unique", c.Name, c.ID)
		}
		ids[c.ID] = true
	}
}

func testResultsQueries(f *fx) {
	job := f.job(lab.Job{})
	other := f.job(lab.Job{})
	in := []lab.TestCase{
		tcase("lava", "validate", 1),
		tcase("0_smoke", "a", 5),
		tcase("0_smoke", "b", 6),
		tcase("1_perf", "a", 7),
		tcase("0_smoke", "a", 9), // a case name may repeat (lava-test-case in a loop)
		tcase("lava", "job", 12),
	}
	in[2].Result = lab.ResultFail
	in[2].Set, in[4].Set = "s1", "s1"
	in[3].Set = "s1" // the same set name in another suite is another set
	f.add(job, 13, in...)
	f.add(other, 3, tcase("0_smoke", "a", 2))

	fail := lab.ResultFail
	cases := []struct {
		name  string
		cf    store.CaseFilter
		want  []string
		total int
	}{
		{"job", store.CaseFilter{JobID: job},
			[]string{"lava//validate@1", "0_smoke//a@5", "0_smoke/s1/b@6", "1_perf/s1/a@7", "0_smoke/s1/a@9", "lava//job@12"}, 6},
		{"suite", store.CaseFilter{JobID: job, Suite: "0_smoke"}, []string{"0_smoke//a@5", "0_smoke/s1/b@6", "0_smoke/s1/a@9"}, 3},
		{"suite and case", store.CaseFilter{JobID: job, Suite: "0_smoke", Case: "a"}, []string{"0_smoke//a@5", "0_smoke/s1/a@9"}, 2},
		{"case in any suite", store.CaseFilter{JobID: job, Case: "a"}, []string{"0_smoke//a@5", "1_perf/s1/a@7", "0_smoke/s1/a@9"}, 3},
		{"set", store.CaseFilter{JobID: job, Suite: "0_smoke", Set: "s1"}, []string{"0_smoke/s1/b@6", "0_smoke/s1/a@9"}, 2},
		{"result", store.CaseFilter{JobID: job, Result: &fail}, []string{"0_smoke/s1/b@6"}, 1},
		{"page", store.CaseFilter{JobID: job, Limit: 2, Offset: 1}, []string{"0_smoke//a@5", "0_smoke/s1/b@6"}, 6},
		{"offset only", store.CaseFilter{JobID: job, Offset: 4}, []string{"0_smoke/s1/a@9", "lava//job@12"}, 6},
		{"from line", store.CaseFilter{JobID: job, FromLine: 7, Limit: 2}, []string{"1_perf/s1/a@7", "0_smoke/s1/a@9"}, 3},
		{"past the end", store.CaseFilter{JobID: job, Offset: 10}, []string{}, 6},
		{"not counted", store.CaseFilter{JobID: job, FromLine: 7, Limit: 2, NoCount: true}, []string{"1_perf/s1/a@7", "0_smoke/s1/a@9"}, -1},
		{"not counted, all", store.CaseFilter{JobID: job, Suite: "lava", NoCount: true}, []string{"lava//validate@1", "lava//job@12"}, -1},
		{"missing suite", store.CaseFilter{JobID: job, Suite: "nope"}, []string{}, 0},
		{"job without results", store.CaseFilter{JobID: other + 100}, []string{}, 0},
	}
	for _, c := range cases {
		got, total := f.cases(c.cf)
		f.eq(c.want, append([]string{}, names(got)...), c.name)
		if total != c.total {
			f.t.Errorf("%s: total %d, want %d", c.name, total, c.total)
		}
		for _, g := range got {
			if g.JobID != c.cf.JobID {
				f.t.Errorf("%s: case of job %d", c.name, g.JobID)
			}
		}
	}
	// One case by its id, only within its job.
	all, _ := f.cases(store.CaseFilter{JobID: job})
	byID, total := f.cases(store.CaseFilter{JobID: job, ID: all[2].ID})
	f.eq(names(all[2:3]), names(byID), "case by id")
	if total != 1 {
		f.t.Errorf("case by id: total %d, want 1", total)
	}
	if got, _ := f.cases(store.CaseFilter{JobID: other, ID: all[2].ID}); len(got) != 0 {
		f.t.Errorf("case %d found in another job: %v", all[2].ID, names(got))
	}
	if got, _ := f.cases(store.CaseFilter{JobID: job, ID: all[2].ID, Suite: "lava"}); len(got) != 0 {
		f.t.Errorf("case %d found in another suite: %v", all[2].ID, names(got))
	}
	for _, bad := range []store.CaseFilter{{JobID: job, Limit: -1}, {JobID: job, Offset: -1}, {JobID: job, FromLine: -1}} {
		_, _, err := f.s.ListTestCases(f.ctx, bad)
		f.is(err, lab.ErrInvalid, fmt.Sprintf("list with %+v", bad))
	}
}

func testResultsSuites(f *fx) {
	job := f.job(lab.Job{})
	in := []lab.TestCase{tcase("lava", "validate", 3), tcase("0_smoke", "a", 4), tcase("0_smoke", "b", 5),
		tcase("0_smoke", "c", 6), tcase("0_smoke", "d", 7), tcase("0_smoke", "e", 8), tcase("lava", "job", 9)}
	in[2].Result, in[3].Result, in[4].Result, in[6].Result = lab.ResultFail, lab.ResultSkip, lab.ResultUnknown, lab.ResultFail
	f.add(job, 10, in...)
	f.add(job, 12, tcase("1_later", "x", 11)) // a later chunk
	got, err := f.s.ListTestSuites(f.ctx, job)
	f.ok(err, "list suites")
	// Each suite has its own id, the same on every reading.
	again, err := f.s.ListTestSuites(f.ctx, job)
	f.ok(err, "list suites again")
	seen := map[int64]bool{}
	for i, s := range got {
		if s.ID <= 0 || seen[s.ID] || again[i].ID != s.ID {
			f.t.Errorf("suite %s: id %d (again %d), ids so far %v", s.Name, s.ID, again[i].ID, seen)
		}
		seen[s.ID] = true
		got[i].ID = 0
	}
	f.eq([]lab.SuiteSummary{
		{Name: "lava", Pass: 1, Fail: 1, FirstLine: 3},
		{Name: "0_smoke", Pass: 2, Fail: 1, Skip: 1, Unknown: 1, FirstLine: 4},
		{Name: "1_later", Pass: 1, FirstLine: 11},
	}, got, "suites")
	if got[1].Total() != 5 {
		f.t.Errorf("0_smoke total %d, want 5", got[1].Total())
	}
	none, err := f.s.ListTestSuites(f.ctx, f.job(lab.Job{}))
	f.ok(err, "suites of a job without results")
	if len(none) != 0 {
		f.t.Errorf("job without results has suites %v", none)
	}
}

func testResultsIdempotent(f *fx) {
	job := f.job(lab.Job{})
	n, err := f.s.ResultsIngested(f.ctx, job)
	f.ok(err, "watermark of a new job")
	if n != 0 {
		f.t.Errorf("new job: %d lines ingested, want 0", n)
	}
	chunk := []lab.TestCase{tcase("0_smoke", "a", 2), tcase("0_smoke", "b", 3)}
	if n := f.add(job, 4, chunk...); n != 2 {
		f.t.Errorf("first ingestion added %d, want 2", n)
	}
	// The same lines again (a resent chunk, a restart), and overlapping
	// with new lines: only the new case is added.
	if n := f.add(job, 4, chunk...); n != 0 {
		f.t.Errorf("second ingestion added %d, want 0", n)
	}
	if n := f.add(job, 6, append(chunk, tcase("0_smoke", "c", 5))...); n != 1 {
		f.t.Errorf("overlapping ingestion added %d, want 1", n)
	}
	// A case at a stored line is skipped even if it differs: the line is
	// the record's identity.
	changed := tcase("0_smoke", "a-renamed", 2)
	if n := f.add(job, 6, changed); n != 0 {
		f.t.Errorf("a different case on a stored line was added (%d)", n)
	}
	all, _ := f.cases(store.CaseFilter{JobID: job})
	f.eq([]string{"0_smoke//a@2", "0_smoke//b@3", "0_smoke//c@5"}, names(all), "cases after re-ingestion")
	defer func() {
		all, _ := f.cases(store.CaseFilter{JobID: job})
		f.eq([]string{"0_smoke//a@2", "0_smoke//b@3", "0_smoke//c@5", "0_smoke//d@6", "0_smoke//twice@8"}, names(all), "final cases")
	}()
	// The same line twice in one call is one case.
	if n := f.add(job, 6, tcase("0_smoke", "twice", 5), tcase("0_smoke", "twice", 5)); n != 0 {
		f.t.Errorf("a stored line given twice added %d", n)
	}
	if n := f.add(job, 9, tcase("0_smoke", "twice", 8), tcase("0_smoke", "twice", 8)); n != 1 {
		f.t.Errorf("a new line given twice added %d, want 1", n)
	}
	// The watermark rises without cases and never falls.
	f.add(job, 100)
	f.add(job, 7, tcase("0_smoke", "d", 6))
	n, err = f.s.ResultsIngested(f.ctx, job)
	f.ok(err, "watermark")
	if n != 100 {
		f.t.Errorf("watermark %d, want 100", n)
	}
	if s, _ := f.s.ListTestSuites(f.ctx, job); len(s) != 1 || s[0].Total() != 5 {
		f.t.Errorf("suites after re-ingestion: %+v", s)
	}
}

func testResultsErrors(f *fx) {
	job := f.job(lab.Job{})
	_, err := f.s.AddTestCases(f.ctx, job+1000, []lab.TestCase{tcase("s", "a", 1)}, 2)
	f.is(err, lab.ErrNotFound, "cases of a missing job")
	_, err = f.s.AddTestCases(f.ctx, job+1000, nil, 2)
	f.is(err, lab.ErrNotFound, "watermark of a missing job")
	bad := map[string]func(c *lab.TestCase){
		"no suite":        func(c *lab.TestCase) { c.Suite = "" },
		"NUL in name":     func(c *lab.TestCase) { c.Name = "a\x00b" },
		"NUL in metadata": func(c *lab.TestCase) { c.Metadata = "{\x00}" },
		"not UTF-8":       func(c *lab.TestCase) { c.Units = "\xff" },
		"long suite":      func(c *lab.TestCase) { c.Suite = strings.Repeat("s", lab.MaxResultName+1) },
		"long case":       func(c *lab.TestCase) { c.Name = strings.Repeat("c", lab.MaxResultName+1) },
		"long metadata":   func(c *lab.TestCase) { c.Metadata = strings.Repeat("é", lab.MaxResultMetadata+1) },
		"result":          func(c *lab.TestCase) { c.Result = 4 },
		"negative line":   func(c *lab.TestCase) { c.Line = -1 },
		"negative start":  func(c *lab.TestCase) { c.StartLine = -1 },
		"no time":         func(c *lab.TestCase) { c.Logged = time.Time{} },
		"other job":       func(c *lab.TestCase) { c.JobID = job + 1 },
	}
	for name, mutate := range bad {
		c := tcase("s", "b", 2)
		mutate(&c)
		// One bad case among good ones: nothing is stored, the watermark
		// does not move.
		_, err := f.s.AddTestCases(f.ctx, job, []lab.TestCase{tcase("s", "a", 1), c}, 3)
		f.is(err, lab.ErrInvalid, name)
	}
	_, err = f.s.AddTestCases(f.ctx, job, nil, -1)
	f.is(err, lab.ErrInvalid, "negative watermark")
	// The longest names and metadata fit.
	long := tcase(strings.Repeat("s", lab.MaxResultName), strings.Repeat("c", lab.MaxResultName), 7)
	long.Set = strings.Repeat("t", lab.MaxResultName)
	long.Metadata = strings.Repeat("é", lab.MaxResultMetadata)
	if n := f.add(job, 8, long); n != 1 {
		f.t.Errorf("longest case: added %d", n)
	}
	all, _ := f.cases(store.CaseFilter{JobID: job})
	f.eq([]string{long.Suite + "/" + long.Set + "/" + long.Name + "@7"}, names(all), "only the valid case is stored")
	n, err := f.s.ResultsIngested(f.ctx, job)
	f.ok(err, "watermark")
	if n != 8 {
		f.t.Errorf("watermark %d after refused additions, want 8", n)
	}
}

func testResultsInTx(f *fx) {
	job := f.job(lab.Job{})
	boom := errors.New("boom")
	err := f.s.InTx(f.ctx, func(q store.Queries) error {
		if _, err := q.AddTestCases(f.ctx, job, []lab.TestCase{tcase("s", "a", 1)}, 2); err != nil {
			return err
		}
		// The transaction sees its own cases and watermark.
		if cs, total, err := q.ListTestCases(f.ctx, store.CaseFilter{JobID: job}); err != nil || total != 1 || len(cs) != 1 {
			f.t.Errorf("inside the transaction: %d cases, total %d, %v", len(cs), total, err)
		}
		if n, err := q.ResultsIngested(f.ctx, job); err != nil || n != 2 {
			f.t.Errorf("inside the transaction: watermark %d, %v", n, err)
		}
		return boom
	})
	f.is(err, boom, "InTx")
	if cs, _ := f.cases(store.CaseFilter{JobID: job}); len(cs) != 0 {
		f.t.Errorf("rolled-back cases are stored: %v", names(cs))
	}
	if n, _ := f.s.ResultsIngested(f.ctx, job); n != 0 {
		f.t.Errorf("rolled-back watermark %d", n)
	}
}

// testResultsConcurrent ingests the same lines from several goroutines at
// once (two servers, or a resend racing the original): every case is
// stored once, and the additions add up.
func testResultsConcurrent(f *fx) {
	job := f.job(lab.Job{})
	var chunk []lab.TestCase
	for i := range 150 { // batches of 64, 64, 16, 4, 1 and 1 rows
		c := tcase(fmt.Sprintf("suite-%d", i%4), fmt.Sprintf("case-%d", i), i)
		c.Set = fmt.Sprintf("set-%d", i%3)
		chunk = append(chunk, c)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for range 6 {
		wg.Go(func() {
			n, err := f.s.AddTestCases(f.ctx, job, chunk, 150)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				f.t.Errorf("concurrent ingestion: %v", err)
			}
			added += n
		})
	}
	wg.Wait()
	all, total := f.cases(store.CaseFilter{JobID: job})
	if added != 150 || total != 150 || len(all) != 150 {
		f.t.Errorf("concurrent ingestion: %d added, %d stored, want 150", added, total)
	}
	suites, err := f.s.ListTestSuites(f.ctx, job)
	f.ok(err, "suites")
	if len(suites) != 4 {
		f.t.Errorf("%d suites, want 4", len(suites))
	}
}

func testResultsHistory(f *fx) {
	f.deviceType("qemu")
	f.deviceType("bbb")
	f.group("g1")
	at := func(d time.Duration) time.Time { return base.Add(d * time.Hour) }
	mk := func(j lab.Job, logged time.Time, cases ...string) int64 {
		f.t.Helper()
		id := f.job(j)
		var cs []lab.TestCase
		for i, name := range cases {
			suite, name, _ := strings.Cut(name, "/")
			c := tcase(suite, name, i)
			c.Logged = logged
			cs = append(cs, c)
		}
		f.add(id, len(cases), cs...)
		return id
	}
	pub := mk(lab.Job{RequestedType: "qemu"}, at(1), "0_smoke/boot", "0_smoke/net", "lava/job")
	pers := mk(lab.Job{RequestedType: "qemu", Visibility: lab.VisibilityPersonal}, at(2), "0_smoke/boot")
	grp := mk(lab.Job{RequestedType: "bbb", Visibility: lab.VisibilityGroup, ViewingGroups: []string{"g1"}, Submitter: "carol"},
		at(3), "0_smoke/boot", "0_smoke/boot")
	late := mk(lab.Job{RequestedType: "bbb"}, at(4), "1_other/boot", "0_smoke/net")

	type hit struct {
		Job  int64
		Name string
		Line int
	}
	hits := func(cs []lab.TestCase) []hit {
		out := []hit{}
		for _, c := range cs {
			out = append(out, hit{c.JobID, c.Name, c.Line})
		}
		return out
	}
	cases := []struct {
		name  string
		hf    store.HistoryFilter
		want  []hit
		total int
	}{
		{"one case everywhere", store.HistoryFilter{Suite: "0_smoke", Case: "boot"},
			[]hit{{grp, "boot", 0}, {grp, "boot", 1}, {pers, "boot", 0}, {pub, "boot", 0}}, 4},
		{"whole suite", store.HistoryFilter{Suite: "0_smoke"},
			[]hit{{late, "net", 1}, {grp, "boot", 0}, {grp, "boot", 1}, {pers, "boot", 0}, {pub, "boot", 0}, {pub, "net", 1}}, 6},
		{"anonymous", store.HistoryFilter{Suite: "0_smoke", Case: "boot", VisibleTo: &store.Viewer{}}, []hit{{pub, "boot", 0}}, 1},
		{"submitter", store.HistoryFilter{Suite: "0_smoke", Case: "boot", VisibleTo: &store.Viewer{Username: "alice"}},
			[]hit{{pers, "boot", 0}, {pub, "boot", 0}}, 2},
		{"group member", store.HistoryFilter{Suite: "0_smoke", Case: "boot", VisibleTo: &store.Viewer{Username: "bob", Groups: []string{"g1"}}},
			[]hit{{grp, "boot", 0}, {grp, "boot", 1}, {pub, "boot", 0}}, 3},
		{"device type", store.HistoryFilter{Suite: "0_smoke", DeviceType: "bbb"}, []hit{{late, "net", 1}, {grp, "boot", 0}, {grp, "boot", 1}}, 3},
		{"time range", store.HistoryFilter{Suite: "0_smoke", Since: at(2), Until: at(4)},
			[]hit{{grp, "boot", 0}, {grp, "boot", 1}, {pers, "boot", 0}}, 3},
		{"page", store.HistoryFilter{Suite: "0_smoke", Limit: 2, Offset: 1}, []hit{{grp, "boot", 0}, {grp, "boot", 1}}, 6},
		{"visible page of a type", store.HistoryFilter{Suite: "0_smoke", Case: "boot", DeviceType: "qemu", VisibleTo: &store.Viewer{}, Limit: 1},
			[]hit{{pub, "boot", 0}}, 1},
		{"unknown suite", store.HistoryFilter{Suite: "nope"}, []hit{}, 0},
	}
	for _, c := range cases {
		got, total, err := f.s.CaseHistory(f.ctx, c.hf)
		f.ok(err, c.name)
		f.eq(c.want, hits(got), c.name)
		if total != c.total {
			f.t.Errorf("%s: total %d, want %d", c.name, total, c.total)
		}
	}
	got, _, err := f.s.CaseHistory(f.ctx, store.HistoryFilter{Suite: "lava", Case: "job"})
	f.ok(err, "lava/job")
	if len(got) != 1 || got[0].Suite != "lava" || !got[0].Logged.Equal(stored(at(1))) || got[0].Logged.Location() != time.UTC {
		f.t.Errorf("lava/job history: %+v", got)
	}
	for _, bad := range []store.HistoryFilter{{}, {Suite: "0_smoke", Limit: -1}, {Suite: "0_smoke", Offset: -1}} {
		_, _, err := f.s.CaseHistory(f.ctx, bad)
		f.is(err, lab.ErrInvalid, fmt.Sprintf("history with %+v", bad))
	}
}
