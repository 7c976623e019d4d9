package lavarest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
	"github.com/basalt-lab/basalt/internal/store"
)

func resultRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/jobs/{id}/suites/", handler: (*API).listSuites, Summary: "The job's test suites, in log order (limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/suites/{sid}/", handler: (*API).getSuite, Summary: "One test suite"},
		{Method: "GET", Pattern: "/jobs/{id}/suites/{sid}/tests/", handler: (*API).listTests, Summary: "The suite's test cases (filters: result, name; limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/suites/{sid}/tests/{tid}/", handler: (*API).getTest, Summary: "One test case"},
		{Method: "GET", Pattern: "/jobs/{id}/suites/{sid}/csv/", handler: (*API).resultsCSV, Summary: "The suite's test cases as CSV (limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/suites/{sid}/yaml/", handler: (*API).resultsYAML, Summary: "The suite's test cases as YAML (limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/tests/", handler: (*API).listTests, Summary: "The job's test cases, in log order (filters: result, name; limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/tests/{tid}/", handler: (*API).getTest, Summary: "One test case"},
		{Method: "GET", Pattern: "/jobs/{id}/csv/", handler: (*API).resultsCSV, Summary: "The job's test cases as CSV, LAVA's export fields (limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/yaml/", handler: (*API).resultsYAML, Summary: "The job's test cases as YAML, LAVA's export fields (limit, offset)"},
		{Method: "GET", Pattern: "/jobs/{id}/junit/", handler: (*API).resultsJUnit, Summary: "The job's test cases as JUnit XML (?classname_prefix=)"},
		{Method: "GET", Pattern: "/jobs/{id}/tap13/", handler: (*API).resultsTAP, Summary: "The job's test cases as TAP version 13"},
	}
}

// maxCaseLogLines bounds the log lines JUnit and TAP embed for one failed
// case.
const maxCaseLogLines = 1000

// jobSuites reads the {id} job's suites (it must be visible to p) and the
// {sid} suite when the path has one (0 otherwise).
func (api *API) jobSuites(r *http.Request, p auth.Principal) (id int64, suites []lab.SuiteSummary, suite *lab.SuiteSummary, err error) {
	if id, err = httpparam.PathID(r, "id"); err != nil {
		return 0, nil, nil, err
	}
	if suites, err = api.app.JobSuites(r.Context(), p, id); err != nil {
		return 0, nil, nil, err
	}
	if r.PathValue("sid") == "" {
		return id, suites, nil, nil
	}
	sid, err := httpparam.PathID(r, "sid")
	if err != nil {
		return 0, nil, nil, err
	}
	for i := range suites {
		if suites[i].ID == sid {
			return id, suites, &suites[i], nil
		}
	}
	return 0, nil, nil, fmt.Errorf("job %d has no test suite %d: %w", id, sid, lab.ErrNotFound)
}

func suiteJSON(r *http.Request, job int64, s lab.SuiteSummary) lavawire.Suite {
	return lavawire.Suite{ID: s.ID, Name: s.Name, Job: job,
		ResourceURI: absURL(r, fmt.Sprintf("%s/jobs/%d/suites/%d/", Prefix, job, s.ID), nil)}
}

func (api *API) listSuites(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, suites, _, err := api.jobSuites(r, p)
	if err != nil {
		return err
	}
	pg := readPaging(r)
	out := make([]lavawire.Suite, 0, len(suites))
	for _, s := range window(suites, pg) {
		out = append(out, suiteJSON(r, id, s))
	}
	writeJSON(w, http.StatusOK, page(r, pg, len(suites), out))
	return nil
}

func (api *API) getSuite(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, _, s, err := api.jobSuites(r, p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, suiteJSON(r, id, *s))
	return nil
}

// decimal10 is a measurement as LAVA's DecimalField shows it: ten decimal
// places ("1.5000000000"), nil when there is none; a text that is not a
// decimal number is shown as it is.
func decimal10(m string) *string {
	if m == "" {
		return nil
	}
	if strings.ContainsAny(m, "/") {
		return &m
	}
	v, ok := new(big.Rat).SetString(m)
	if !ok {
		return &m
	}
	s := v.FloatString(10)
	return &s
}

// testJSON is case c of job as LAVA's TestCase serializer shows it;
// suites maps suite names to their ids.
func testJSON(r *http.Request, job int64, suites map[string]int64, c lab.TestCase) lavawire.TestCase {
	sid := suites[c.Suite]
	start, end := c.StartLine, c.EndLine
	return lavawire.TestCase{ID: c.ID, Result: c.Result.String(), Unit: c.Units, Name: c.Name,
		ResourceURI: absURL(r, fmt.Sprintf("%s/jobs/%d/suites/%d/tests/%d/", Prefix, job, sid, c.ID), nil),
		Measurement: decimal10(c.Measurement), Metadata: c.Metadata, StartLogLine: &start, EndLogLine: &end,
		Logged: lavawire.Time(c.Logged), Suite: sid, TestSet: strOrNull(c.Set)}
}

// suiteIDs maps the names of suites to their ids.
func suiteIDs(suites []lab.SuiteSummary) map[string]int64 {
	m := make(map[string]int64, len(suites))
	for _, s := range suites {
		m[s.Name] = s.ID
	}
	return m
}

// caseFilter reads the filters of tests/: result (pass, fail, skip,
// unknown, any case) and name (exact), in the suite of the path if any.
func caseFilter(r *http.Request, suite *lab.SuiteSummary) (store.CaseFilter, error) {
	q := r.URL.Query()
	var f store.CaseFilter
	if suite != nil {
		f.Suite = suite.Name
	}
	if s := q.Get("result"); s != "" {
		res, err := lab.ParseTestResult(s)
		if err != nil {
			return f, fieldErr("result", "Select a valid choice. %s is not one of the available choices: pass, fail, skip, unknown.", s)
		}
		f.Result = &res
	}
	f.Case = q.Get("name")
	return f, nil
}

func (api *API) listTests(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, suites, suite, err := api.jobSuites(r, p)
	if err != nil {
		return err
	}
	f, err := caseFilter(r, suite)
	if err != nil {
		return err
	}
	pg := readPaging(r)
	f.Limit, f.Offset = pg.limit, pg.offset
	cases, total, err := api.app.JobResults(r.Context(), p, id, f)
	if err != nil {
		return err
	}
	ids := suiteIDs(suites)
	out := make([]lavawire.TestCase, len(cases))
	for i, c := range cases {
		out[i] = testJSON(r, id, ids, c)
	}
	writeJSON(w, http.StatusOK, page(r, pg, total, out))
	return nil
}

func (api *API) getTest(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, suites, suite, err := api.jobSuites(r, p)
	if err != nil {
		return err
	}
	tid, err := httpparam.PathID(r, "tid")
	if err != nil {
		return err
	}
	f := store.CaseFilter{ID: tid, Limit: 1}
	if suite != nil {
		f.Suite = suite.Name
	}
	cases, _, err := api.app.JobResults(r.Context(), p, id, f)
	if err != nil {
		return err
	}
	if len(cases) == 0 {
		return fmt.Errorf("job %d has no test case %d: %w", id, tid, lab.ErrNotFound)
	}
	writeJSON(w, http.StatusOK, testJSON(r, id, suiteIDs(suites), cases[0]))
	return nil
}

// exportFields are the columns of LAVA's CSV export, in its order
// (duration and timeout are always empty there too).
var exportFields = []string{"job", "suite", "result", "measurement", "unit", "duration", "timeout", "logged", "level",
	"metadata", "url", "name", "id", "log_start_line", "log_end_line"}

// lineOrEmpty is a line number as LAVA's export writes it: empty for 0.
func lineOrEmpty(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// exportRow is case c as LAVA's export_testcase gives it: every value a
// string, the metadata the results record.
func exportRow(job int64, c lab.TestCase) map[string]string {
	m := "None"
	if d := decimal10(c.Measurement); d != nil {
		m = *d
	}
	return map[string]string{
		"name": c.Name, "job": strconv.FormatInt(job, 10), "suite": c.Suite, "result": c.Result.String(),
		"measurement": m, "unit": c.Units, "level": c.Level, "url": fmt.Sprintf("%s/jobs/%d/tests/%d/", Prefix, job, c.ID),
		"id": strconv.FormatInt(c.ID, 10), "logged": pyfmt.DatetimeStrUTC(c.Logged),
		"log_start_line": lineOrEmpty(c.StartLine), "log_end_line": lineOrEmpty(c.EndLine), "metadata": c.Metadata,
	}
}

// openExport opens the cases an export selects: the job's, or the suite's
// of the path, from ?offset= and at most ?limit= of them (all when absent).
func (api *API) openExport(r *http.Request, p auth.Principal) (int64, string, *app.CaseCursor, error) {
	id, _, suite, err := api.jobSuites(r, p)
	if err != nil {
		return 0, "", nil, err
	}
	var f store.CaseFilter
	name := fmt.Sprintf("job_%d", id)
	if suite != nil {
		f.Suite, name = suite.Name, "suite_"+suite.Name
	}
	q := r.URL.Query()
	for _, x := range []struct {
		param string
		dst   *int
	}{{"limit", &f.Limit}, {"offset", &f.Offset}} {
		if s := q.Get(x.param); s != "" {
			n, ok := positive(s)
			if !ok {
				return 0, "", nil, fieldErr(x.param, "A valid integer is required.")
			}
			*x.dst = n
		}
	}
	cur, err := api.app.OpenJobResults(r.Context(), p, id, f)
	if err != nil {
		return 0, "", nil, err
	}
	return id, name, cur, nil
}

// startDownload sets the headers of an attachment.
func startDownload(w http.ResponseWriter, ctype, filename string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": filename}))
	h.Set("X-Content-Type-Options", "nosniff")
}

// eachCase calls fn with each case of cur, writing through bw, which is
// flushed after each chunk.
func eachCase(r *http.Request, cur *app.CaseCursor, bw *bufio.Writer, fn func(lab.TestCase) error) error {
	for {
		cases, err := cur.Next(r.Context())
		if err != nil {
			return err
		}
		if len(cases) == 0 {
			return bw.Flush()
		}
		for _, c := range cases {
			if err := fn(c); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

// csvField writes v quoted, as Python's csv.QUOTE_ALL does.
func csvField(bw *bufio.Writer, v string) {
	bw.WriteByte('"')
	bw.WriteString(strings.ReplaceAll(v, `"`, `""`))
	bw.WriteByte('"')
}

// csvRow writes one CSV row of vals (CRLF-terminated, as Python's csv).
func csvRow(bw *bufio.Writer, vals []string) {
	for i, v := range vals {
		if i > 0 {
			bw.WriteByte(',')
		}
		csvField(bw, v)
	}
	bw.WriteString("\r\n")
}

// resultsCSV writes the cases as LAVA's CSV export: a header of its
// fields, every value quoted, the metadata as the record's JSON.
func (api *API) resultsCSV(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, name, cur, err := api.openExport(r, p)
	if err != nil {
		return err
	}
	startDownload(w, "application/csv", name+".csv")
	bw := bufio.NewWriterSize(w, 32<<10)
	csvRow(bw, exportFields)
	vals := make([]string, len(exportFields))
	err = eachCase(r, cur, bw, func(c lab.TestCase) error {
		row := exportRow(id, c)
		for i, f := range exportFields {
			vals[i] = row[f]
		}
		csvRow(bw, vals)
		return nil
	})
	if err != nil {
		api.guard.Abort(r, fmt.Errorf("results of job %d as CSV: %w", id, err))
	}
	return nil
}

// exportOrder is the order of the keys of a YAML export item (LAVA's).
var exportOrder = []string{"name", "job", "suite", "result", "measurement", "unit", "level", "url", "id", "logged",
	"log_start_line", "log_end_line"}

// resultsYAML writes the cases as LAVA's YAML export: a list of mappings
// of its fields, every value a double-quoted string (so that no reader
// takes a time, a number or "on" for anything but text), and the metadata
// a mapping of the record's keys to its JSON values (JSON being YAML).
func (api *API) resultsYAML(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, name, cur, err := api.openExport(r, p)
	if err != nil {
		return err
	}
	startDownload(w, "application/yaml", name+".yaml")
	bw := bufio.NewWriterSize(w, 32<<10)
	n := 0
	var buf []byte
	err = eachCase(r, cur, bw, func(c lab.TestCase) error {
		buf = appendExportYAML(buf[:0], id, c)
		n++
		_, err := bw.Write(buf)
		return err
	})
	if err == nil && n == 0 {
		bw.WriteString("[]\n")
		err = bw.Flush()
	}
	if err != nil {
		api.guard.Abort(r, fmt.Errorf("results of job %d as YAML: %w", id, err))
	}
	return nil
}

// appendExportYAML appends case c of job as one item of the YAML export.
func appendExportYAML(out []byte, job int64, c lab.TestCase) []byte {
	row := exportRow(job, c)
	for i, k := range exportOrder {
		if i == 0 {
			out = append(out, "- "...)
		} else {
			out = append(out, "  "...)
		}
		out = append(out, k...)
		out = append(out, ": "...)
		out = pyyaml.AppendDoubleQuoted(out, row[k])
		out = append(out, '\n')
	}
	var meta map[string]json.RawMessage
	keys := jsonKeys(c.Metadata)
	if json.Unmarshal([]byte(c.Metadata), &meta) != nil || len(keys) == 0 {
		return append(out, "  metadata: {}\n"...)
	}
	out = append(out, "  metadata:\n"...)
	for _, k := range keys {
		out = append(out, "    "...)
		out = pyyaml.AppendDoubleQuoted(out, k)
		out = append(out, ": "...)
		out = appendJSONYAML(out, meta[k])
		out = append(out, '\n')
	}
	return out
}

// appendJSONYAML appends a JSON value as YAML: a string double-quoted
// with YAML's escapes, anything else as its compact JSON (a flow YAML
// value).
func appendJSONYAML(out []byte, raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return pyyaml.AppendDoubleQuoted(out, s)
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return append(out, "null"...)
	}
	return append(out, b.Bytes()...)
}

// jsonKeys returns the keys of a JSON object in their order, once each.
func jsonKeys(text string) []string {
	dec := json.NewDecoder(strings.NewReader(text))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var keys []string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		k, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	return keys
}

// JUnit XML in the shape of the junit-xml library LAVA writes it with:
// one testsuite per suite in log order, a failed case a failure holding
// the log lines of its range (LAVA's YAML), a skipped one skipped; an
// unknown result is a plain testcase, as in LAVA.
type junitCase struct {
	XMLName   xml.Name      `xml:"testcase"`
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr,omitempty"`
	Timestamp string        `xml:"timestamp,attr"`
	Failure   *junitMessage `xml:"failure"`
	Skipped   *junitMessage `xml:"skipped"`
}

type junitMessage struct {
	Type    string `xml:"type,attr"`
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

// caseLog returns the log lines [start, end) of a case in LAVA's format,
// at most maxCaseLogLines of them; "" when there are none.
func caseLog(ctx context.Context, follower *app.LogFollower, c lab.TestCase) (string, error) {
	if c.EndLine <= c.StartLine {
		return "", nil
	}
	lines, _, err := follower.Lines(ctx, c.StartLine, min(c.EndLine, c.StartLine+maxCaseLogLines))
	if err != nil {
		return "", err
	}
	return logText(lines), nil
}

// seconds is a case's duration as a float, "" when it has none.
func seconds(d string) (float64, bool) {
	f, err := strconv.ParseFloat(d, 64)
	return f, err == nil && d != ""
}

// resultsJUnit writes the job's results as JUnit XML. The totals of the
// document come from the suite summaries; each suite's cases (at most as
// many as were counted, so that a running job's new cases cannot make the
// document disagree with its totals) are read before its element is
// written, which carries their time and the last one's timestamp.
func (api *API) resultsJUnit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, suites, _, err := api.jobSuites(r, p)
	if err != nil {
		return err
	}
	follower, err := api.app.FollowJobLog(r.Context(), p, id)
	if err != nil {
		return err
	}
	prefix := r.URL.Query().Get("classname_prefix")
	if prefix != "" {
		prefix += "_"
	}
	var tests, failures, skipped int
	for _, s := range suites {
		tests, failures, skipped = tests+s.Total(), failures+s.Fail, skipped+s.Skip
	}
	startDownload(w, "application/xml", fmt.Sprintf("job_%d.xml", id))
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString(`<?xml version="1.0" encoding="utf-8"?>` + "\n")
	fmt.Fprintf(bw, `<testsuites disabled="0" errors="0" failures="%d" skipped="%d" tests="%d">`+"\n", failures, skipped, tests)
	enc := xml.NewEncoder(bw)
	enc.Indent("\t", "\t")
	for _, s := range suites {
		if err = api.junitSuite(r, p, id, follower, enc, s, prefix); err != nil {
			break
		}
	}
	if err == nil {
		err = enc.Flush()
	}
	if err == nil {
		if len(suites) > 0 {
			bw.WriteString("\n")
		}
		bw.WriteString("</testsuites>\n")
		err = bw.Flush()
	}
	if err != nil {
		api.guard.Abort(r, fmt.Errorf("results of job %d as JUnit: %w", id, err))
	}
	return nil
}

// junitSuite writes the testsuite element of suite s.
func (api *API) junitSuite(r *http.Request, p auth.Principal, id int64, follower *app.LogFollower, enc *xml.Encoder,
	s lab.SuiteSummary, prefix string) error {
	cur, err := api.app.OpenJobResults(r.Context(), p, id, store.CaseFilter{Suite: s.Name, Limit: s.Total()})
	if err != nil {
		return err
	}
	var cases []junitCase
	var stime float64
	var end time.Time
	var sfail, sskip int
	for {
		chunk, err := cur.Next(r.Context())
		if err != nil {
			return err
		}
		if len(chunk) == 0 {
			break
		}
		for _, c := range chunk {
			jc := junitCase{Name: c.Name, ClassName: prefix + s.Name, Timestamp: pyfmt.IsoformatUTC(c.Logged)}
			if d, ok := seconds(c.Duration); ok {
				jc.Time, stime = pyfmt.FloatRepr(d), stime+d
			}
			switch c.Result {
			case lab.ResultFail:
				text, err := caseLog(r.Context(), follower, c)
				if err != nil {
					return err
				}
				jc.Failure, sfail = &junitMessage{Type: "failure", Message: "failed", Text: text}, sfail+1
			case lab.ResultSkip:
				jc.Skipped, sskip = &junitMessage{Type: "skipped", Message: "skipped"}, sskip+1
			}
			if c.Logged.After(end) {
				end = c.Logged
			}
			cases = append(cases, jc)
		}
	}
	attr := func(k, v string) xml.Attr { return xml.Attr{Name: xml.Name{Local: k}, Value: v} }
	se := xml.StartElement{Name: xml.Name{Local: "testsuite"}, Attr: []xml.Attr{
		attr("disabled", "0"), attr("errors", "0"), attr("failures", strconv.Itoa(sfail)), attr("name", s.Name),
		attr("skipped", strconv.Itoa(sskip)), attr("tests", strconv.Itoa(len(cases))),
		attr("time", pyfmt.FloatRepr(stime)), attr("timestamp", pyfmt.IsoformatUTC(end))}}
	if err := enc.EncodeToken(se); err != nil {
		return err
	}
	for _, jc := range cases {
		if err := enc.Encode(jc); err != nil {
			return err
		}
	}
	return enc.EncodeToken(se.End())
}

// resultsTAP writes the cases as TAP version 13: the plan, then per case
// "ok"/"not ok" with the suite and case names; a failed case carries its
// log range as a YAML block, a skipped one the SKIP directive, an unknown
// one TODO (LAVA's choices).
func (api *API) resultsTAP(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, suites, _, err := api.jobSuites(r, p)
	if err != nil {
		return err
	}
	follower, err := api.app.FollowJobLog(r.Context(), p, id)
	if err != nil {
		return err
	}
	count := 0
	for _, s := range suites {
		count += s.Total()
	}
	cur, err := api.app.OpenJobResults(r.Context(), p, id, store.CaseFilter{Limit: max(count, 1)})
	if err != nil {
		return err
	}
	startDownload(w, "application/yaml", fmt.Sprintf("job_%d.yaml", id))
	bw := bufio.NewWriterSize(w, 32<<10)
	fmt.Fprintf(bw, "TAP version 13\n1..%d\n", count)
	n, suite := 0, ""
	err = eachCase(r, cur, bw, func(c lab.TestCase) error {
		if n >= count {
			return nil // a case logged since the plan was counted
		}
		n++
		if c.Suite != suite {
			suite = c.Suite
			fmt.Fprintf(bw, "# TAP results for %s\n", suite)
		}
		desc := c.Suite + " " + c.Name
		switch c.Result {
		case lab.ResultPass:
			fmt.Fprintf(bw, "ok %d %s\n", n, desc)
		case lab.ResultSkip:
			fmt.Fprintf(bw, "ok %d %s # SKIP test skipped\n", n, desc)
		case lab.ResultUnknown:
			fmt.Fprintf(bw, "not ok %d %s # TODO unknown result\n", n, desc)
		default:
			fmt.Fprintf(bw, "not ok %d %s\n", n, desc)
			text, err := caseLog(r.Context(), follower, c)
			if err != nil {
				return err
			}
			if text != "" {
				bw.WriteString("  ---\n")
				for _, l := range strings.SplitAfter(strings.TrimSuffix(text, "\n"), "\n") {
					bw.WriteString("  " + strings.TrimSuffix(l, "\n") + "\n")
				}
				bw.WriteString("  ...\n")
			}
		}
		return nil
	})
	if err != nil {
		api.guard.Abort(r, fmt.Errorf("results of job %d as TAP: %w", id, err))
	}
	return nil
}
