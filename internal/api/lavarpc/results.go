package lavarpc

import (
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/lavalog"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// resultCaseFields are the columns of LAVA's CSV exports of test cases
// (lava_results_app's testcase_export_fields); duration and timeout are
// always empty, as in LAVA.
var resultCaseFields = []string{"job", "suite", "result", "measurement", "unit", "duration", "timeout", "logged", "level",
	"metadata", "url", "name", "id", "log_start_line", "log_end_line"}

// resultSuiteFields are the columns of LAVA's CSV export of suites.
var resultSuiteFields = []string{"name", "job", "id"}

// resultMethods are results.*.
func resultMethods() []*Method {
	jobID := Param{Name: "job_id", Type: "string"}
	suite := Param{Name: "suite_name", Type: "string"}
	page := []Param{{Name: "limit", Type: "int", Optional: true}, {Name: "offset", Type: "int", Optional: true}}
	const casesYAML = "a YAML list of test cases, each {name, job, suite, result, measurement, unit, level, url, id, logged, log_start_line, log_end_line, metadata} " +
		"(LAVA's export: every value but metadata a string; measurement with 10 decimals or 'None'; metadata the case's results record)"
	const casesCSV = "CSV with LAVA's columns (job, suite, result, measurement, unit, duration, timeout, logged, level, metadata, url, name, id, log_start_line, log_end_line), every field quoted"
	return []*Method{
		{Name: "results.get_testjob_results_yaml", Auth: true, Params: []Param{jobID}, Returns: "string",
			Help: "The job's test results as " + casesYAML + ", suite by suite in the order they first appear.",
			Call: func(c *Call) (any, error) { return resultCases(c, false, false) }},
		{Name: "results.get_testjob_results_csv", Auth: true, Params: []Param{jobID}, Returns: "string",
			Help: "The job's test results as " + casesCSV + ".",
			Call: func(c *Call) (any, error) { return resultCases(c, false, true) }},
		{Name: "results.get_testsuite_results_yaml", Auth: true, Params: append([]Param{jobID, suite}, page...), Returns: "string",
			Help: "The results of one suite of the job as " + casesYAML + "; with limit, at most limit cases from offset. Fault 404 for a suite the job does not have.",
			Call: func(c *Call) (any, error) { return resultCases(c, true, false) }},
		{Name: "results.get_testsuite_results_csv", Auth: true, Params: append([]Param{jobID, suite}, page...), Returns: "string",
			Help: "The results of one suite of the job as " + casesCSV + "; with limit, at most limit cases from offset.",
			Call: func(c *Call) (any, error) { return resultCases(c, true, true) }},
		{Name: "results.get_testsuite_results_count", Auth: true, Params: []Param{jobID, suite}, Returns: "int",
			Help: "The number of test cases of one suite of the job.",
			Call: resultSuiteCount},
		{Name: "results.get_testcase_results_yaml", Auth: true, Params: []Param{jobID, suite, {Name: "case_name", Type: "string"}}, Returns: "string",
			Help: "The cases of that name in one suite of the job as " + casesYAML + " ([] when there is none).",
			Call: func(c *Call) (any, error) { return resultTestCase(c, false) }},
		{Name: "results.get_testcase_results_csv", Auth: true, Params: []Param{jobID, suite, {Name: "case_name", Type: "string"}}, Returns: "string",
			Help: "The cases of that name in one suite of the job as " + casesCSV + ". Fault 404 when there is none.",
			Call: func(c *Call) (any, error) { return resultTestCase(c, true) }},
		{Name: "results.get_testjob_suites_list_yaml", Auth: true, Params: []Param{jobID}, Returns: "string",
			Help: "The job's test suites, in the order they first appear, as a YAML list of {name, job, id}: " +
				"Basalt has no suite ids; id is the suite's position in that order, from 1.",
			Call: func(c *Call) (any, error) { return resultSuites(c, false) }},
		{Name: "results.get_testjob_suites_list_csv", Auth: true, Params: []Param{jobID}, Returns: "string",
			Help: "The job's test suites as CSV with LAVA's columns (name, job, id); id is the suite's position, from 1.",
			Call: func(c *Call) (any, error) { return resultSuites(c, true) }},
		{Name: "results.get_testjob_metadata", Auth: true, Params: []Param{jobID}, Returns: "array",
			Help: "The metadata of the job's definition as a list of one-entry structs [{name: value}], by name.",
			Call: resultMetadata},
	}
}

// resultJob returns the job parameter 0 names, with LAVA's faults: 400
// without an id, 404 "Specified job not found." for a job that does not
// exist or that the caller may not see.
func resultJob(c *Call) (lab.Job, error) {
	if v := c.Arg(0); v == nil || v == "" || v == int64(0) || v == false {
		return lab.Job{}, lavaFault(http.StatusBadRequest, "Bad request: TestJob id was not specified.")
	}
	j, err := jobArg(c, 0)
	var f *xmlrpc.Fault
	if errors.As(err, &f) && f.Code == http.StatusNotFound {
		return lab.Job{}, lavaFault(http.StatusNotFound, "Specified job not found.")
	}
	return j, err
}

// resultJobSuites returns the job parameter 0 names (resultJob) and the
// summaries of its suites.
func resultJobSuites(c *Call) (lab.Job, []lab.SuiteSummary, error) {
	j, err := resultJob(c)
	if err != nil {
		return lab.Job{}, nil, err
	}
	suites, err := c.App.JobSuites(c.ctx, c.P, j.ID)
	return j, suites, err
}

// resultSuite returns the job and the summary of its suite named by
// parameter 1 (fault 404 "Specified test suite not found.").
func resultSuite(c *Call) (lab.Job, lab.SuiteSummary, error) {
	j, err := resultJob(c)
	if err != nil {
		return lab.Job{}, lab.SuiteSummary{}, err
	}
	name, err := c.String(1, "")
	if err != nil {
		return lab.Job{}, lab.SuiteSummary{}, err
	}
	suites, err := c.App.JobSuites(c.ctx, c.P, j.ID)
	if err != nil {
		return lab.Job{}, lab.SuiteSummary{}, err
	}
	for _, s := range suites {
		if s.Name == name {
			return j, s, nil
		}
	}
	return lab.Job{}, lab.SuiteSummary{}, lavaFault(http.StatusNotFound, "Specified test suite not found.")
}

// resultRead reads every case f selects.
func resultRead(c *Call, jobID int64, f store.CaseFilter) ([]lab.TestCase, error) {
	cur, err := c.App.OpenJobResults(c.ctx, c.P, jobID, f)
	if err != nil {
		return nil, err
	}
	var all []lab.TestCase
	for {
		cases, err := cur.Next(c.ctx)
		if err != nil {
			return nil, err
		}
		if len(cases) == 0 {
			return all, nil
		}
		all = append(all, cases...)
	}
}

// resultCases answers the exports of a job's cases, or with oneSuite of
// one suite's (limit and offset as parameters 2 and 3).
func resultCases(c *Call, oneSuite, csv bool) (any, error) {
	var cases []lab.TestCase
	if oneSuite {
		j, s, err := resultSuite(c)
		if err != nil {
			return nil, err
		}
		limit, err := c.Int(2, 0)
		if err != nil {
			return nil, err
		}
		offset, err := c.Int(3, 0)
		if err != nil {
			return nil, err
		}
		f := store.CaseFilter{Suite: s.Name}
		// LAVA: without a limit, every case (the offset too is ignored);
		// a negative limit or offset gives none.
		if limit != 0 {
			if limit < 0 || offset < 0 {
				return resultExport(j.ID, nil, csv)
			}
			f.Limit, f.Offset = int(min(limit, 1<<31)), int(min(offset, 1<<31))
		}
		if cases, err = resultRead(c, j.ID, f); err != nil {
			return nil, err
		}
		return resultExport(j.ID, cases, csv)
	}
	// suite by suite, as LAVA lists them: a job's lava suite comes first
	// although its cases are logged all along the job
	j, suites, err := resultJobSuites(c)
	if err != nil {
		return nil, err
	}
	for _, s := range suites {
		sc, err := resultRead(c, j.ID, store.CaseFilter{Suite: s.Name})
		if err != nil {
			return nil, err
		}
		cases = append(cases, sc...)
	}
	return resultExport(j.ID, cases, csv)
}

func resultTestCase(c *Call, csv bool) (any, error) {
	j, s, err := resultSuite(c)
	if err != nil {
		return nil, err
	}
	name, err := c.String(2, "")
	if err != nil {
		return nil, err
	}
	cases, err := resultRead(c, j.ID, store.CaseFilter{Suite: s.Name, Case: name})
	if err != nil {
		return nil, err
	}
	if csv && len(cases) == 0 {
		return nil, lavaFault(http.StatusNotFound, "Specified test case not found.")
	}
	return resultExport(j.ID, cases, csv)
}

func resultSuiteCount(c *Call) (any, error) {
	_, s, err := resultSuite(c)
	if err != nil {
		return nil, err
	}
	return int64(s.Total()), nil
}

func resultSuites(c *Call, csv bool) (any, error) {
	j, suites, err := resultJobSuites(c)
	if err != nil {
		return nil, err
	}
	job := strconv.FormatInt(j.ID, 10)
	rows := make([]pyfmt.Map, len(suites))
	for i, s := range suites {
		rows[i] = pyfmt.Map{{Key: "name", Value: s.Name}, {Key: "job", Value: job}, {Key: "id", Value: strconv.Itoa(i + 1)}}
	}
	if csv {
		return resultCSV(resultSuiteFields, rows)
	}
	return resultYAML(rows)
}

func resultMetadata(c *Call) (any, error) {
	j, err := resultJob(c)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(j.Metadata))
	for k := range j.Metadata {
		names = append(names, k)
	}
	slices.Sort(names)
	out := make([]any, len(names))
	for i, k := range names {
		out[i] = map[string]any{k: j.Metadata[k]}
	}
	return out, nil
}

// resultExport writes cases as LAVA's YAML or CSV export.
func resultExport(jobID int64, cases []lab.TestCase, csv bool) (any, error) {
	rows := make([]pyfmt.Map, len(cases))
	for i, tc := range cases {
		row, err := resultRow(jobID, tc)
		if err != nil {
			return nil, err
		}
		rows[i] = row
	}
	if csv {
		return resultCSV(resultCaseFields, rows)
	}
	return resultYAML(rows)
}

// resultRow is one test case as LAVA's export_testcase gives it.
func resultRow(jobID int64, tc lab.TestCase) (pyfmt.Map, error) {
	meta := resultMetadataMap(tc.Metadata)
	var level any = ""
	for _, it := range meta {
		if it.Key == "level" {
			level = it.Value
		}
	}
	line := func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	return pyfmt.Map{
		{Key: "name", Value: tc.Name},
		{Key: "job", Value: strconv.FormatInt(jobID, 10)},
		{Key: "suite", Value: tc.Suite},
		{Key: "result", Value: tc.Result.String()},
		{Key: "measurement", Value: resultMeasurement(tc.Measurement)},
		{Key: "unit", Value: tc.Units},
		{Key: "level", Value: level},
		{Key: "url", Value: fmt.Sprintf("/jobs/%d/log?start=%d#L%d", jobID, tc.StartLine, tc.StartLine)},
		{Key: "id", Value: strconv.FormatInt(tc.ID, 10)},
		{Key: "logged", Value: pyfmt.DatetimeStrUTC(tc.Logged)},
		{Key: "log_start_line", Value: line(tc.StartLine)},
		{Key: "log_end_line", Value: line(tc.EndLine)},
		{Key: "metadata", Value: meta},
	}, nil
}

// resultMeasurement is str() of LAVA's measurement: a decimal with 10
// places (the database's scale), or "None".
func resultMeasurement(m string) string {
	if m == "" {
		return "None"
	}
	r, ok := new(big.Rat).SetString(strings.TrimSpace(m))
	if !ok {
		return m
	}
	return r.FloatString(10)
}

// resultMetadataMap is a case's metadata (its results record, stored as
// JSON) as LAVA's export shows it: the measurement a float, as LAVA's
// dispatcher logs it, and extra a list of one-entry mappings.
func resultMetadataMap(metadata string) pyfmt.Map {
	v, err := pyfmt.ParseJSON([]byte(metadata))
	m, ok := v.(pyfmt.Map)
	if err != nil || !ok {
		return pyfmt.Map{}
	}
	lavalog.FloatMeasurement(m)
	for i, it := range m {
		if it.Key == "extra" {
			if extra, ok := it.Value.(pyfmt.Map); ok {
				l := make([]any, len(extra))
				for k, e := range extra {
					l[k] = pyfmt.Map{e}
				}
				m[i].Value = l
			}
		}
	}
	return m
}

// resultYAML is LAVA's yaml_safe_dump of the rows.
func resultYAML(rows []pyfmt.Map) (any, error) {
	l := make([]any, len(rows))
	for i, r := range rows {
		l[i] = r
	}
	return pyyaml.Dump(l)
}

// resultCSV writes rows as Python's csv.DictWriter with QUOTE_ALL: a
// header, every field quoted (quotes doubled), str() of values that are
// not strings, "" for None and missing fields, lines ended by CRLF.
func resultCSV(fields []string, rows []pyfmt.Map) (any, error) {
	var b strings.Builder
	writeRow := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(v, `"`, `""`))
			b.WriteByte('"')
		}
		b.WriteString("\r\n")
	}
	writeRow(fields)
	for _, r := range rows {
		vals := make([]string, len(fields))
		for i, f := range fields {
			for _, it := range r {
				if it.Key != f {
					continue
				}
				if s, ok := it.Value.(string); ok {
					vals[i] = s
					break
				}
				if it.Value == nil { // csv writes None as ""
					break
				}
				s, err := pyfmt.Repr(it.Value)
				if err != nil {
					return nil, err
				}
				vals[i] = s
				break
			}
		}
		writeRow(vals)
	}
	return b.String(), nil
}
