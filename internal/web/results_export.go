package web

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Results downloads: /jobs/{id}/results.csv, .yaml and .junit.xml, read
// from the store (the test cases ingested from the log) app.CasesChunk
// cases at a time and written as they are read, so that a download holds
// one chunk in memory whatever the job's number of results and however
// many people download at once. Each answers 404 for a job the caller may
// not see, like every job page, and any error found before the first
// chunk (a hidden job, the store down) is an error page. An error after
// the headers (the store failing in the middle of a long download) aborts
// the response (abort): the HTTP/1.1 connection is closed before the
// chunked body's last chunk, an HTTP/2 stream is reset, and the browser or
// curl reports a failed download instead of keeping half a file as if it
// were whole.

// exportRow is one result as the CSV and YAML downloads write it.
type exportRow struct {
	Job         int64  `yaml:"job"`
	Suite       string `yaml:"suite"`
	Set         string `yaml:"set,omitempty"`
	Case        string `yaml:"name"`
	Result      string `yaml:"result"`
	Measurement string `yaml:"measurement,omitempty"`
	Units       string `yaml:"unit,omitempty"`
	Duration    string `yaml:"duration,omitempty"`
	Level       string `yaml:"level,omitempty"`
	Logged      string `yaml:"logged"`
	// Log lines are 0-based (docs/api.md): LogLine is the results record's
	// own, LogStartLine and LogEndLine LAVA's log_start_line and
	// log_end_line (from starttc/endtc, else the record's line).
	LogLine      int `yaml:"log_line"`
	LogStartLine int `yaml:"log_start_line"`
	LogEndLine   int `yaml:"log_end_line"`
}

// exportRowOf is test case c of job id as the downloads write it.
func exportRowOf(id int64, c lab.TestCase) exportRow {
	return exportRow{Job: id, Suite: c.Suite, Set: c.Set, Case: c.Name, Result: c.Result.String(),
		Measurement: c.Measurement, Units: c.Units, Duration: c.Duration, Level: c.Level,
		Logged: c.Logged.UTC().Format(time.RFC3339Nano), LogLine: c.Line, LogStartLine: c.StartLine, LogEndLine: c.EndLine}
}

// openExport opens the cases of the visible job the request names (filter
// f); a hidden job is not found.
func (u *UI) openExport(r *http.Request, p auth.Principal, f store.CaseFilter) (int64, *app.CaseCursor, error) {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	cur, err := u.app.OpenJobResults(r.Context(), p, id, f)
	if err != nil {
		return 0, nil, err
	}
	return id, cur, nil
}

// eachChunk calls fn with each chunk of cur's cases until the end, then
// flushes the response.
func eachChunk(ctx context.Context, w http.ResponseWriter, cur *app.CaseCursor, fn func([]lab.TestCase) error) error {
	for {
		cases, err := cur.Next(ctx)
		if err != nil {
			return err
		}
		if len(cases) == 0 {
			return nil
		}
		if err := fn(cases); err != nil {
			return err
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			return fmt.Errorf("flush: %w", err)
		}
	}
}

// startDownload sets the headers of an attachment named name; the body
// follows.
func startDownload(w http.ResponseWriter, ctype, name string) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("X-Content-Type-Options", "nosniff")
}

// abort ends a response whose headers are sent after a failure: the error
// is logged unless the client has gone, and the handler panics with
// http.ErrAbortHandler, which the server answers by closing the HTTP/1.1
// connection without the chunked body's end, or by resetting the HTTP/2
// stream; handle lets that panic through.
func (u *UI) abort(r *http.Request, err error) {
	if r.Context().Err() == nil {
		u.log.Warn("download aborted", "path", r.URL.Path, "err", err)
	}
	panic(http.ErrAbortHandler)
}

// csvHeader is the CSV download's first row.
var csvHeader = []string{"job", "suite", "set", "case", "result", "measurement", "units", "duration", "level", "log_line",
	"logged", "log_start_line", "log_end_line"}

func (u *UI) resultsCSV(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, cur, err := u.openExport(r, p, store.CaseFilter{})
	if err != nil {
		return err
	}
	startDownload(w, "text/csv; charset=utf-8", fmt.Sprintf("job-%d-results.csv", id))
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	err = eachChunk(r.Context(), w, cur, func(cases []lab.TestCase) error {
		for _, c := range cases {
			x := exportRowOf(id, c)
			_ = cw.Write([]string{strconv.FormatInt(x.Job, 10), x.Suite, x.Set, x.Case, x.Result, x.Measurement, x.Units,
				x.Duration, x.Level, strconv.Itoa(x.LogLine), x.Logged, strconv.Itoa(x.LogStartLine), strconv.Itoa(x.LogEndLine)})
		}
		cw.Flush()
		return cw.Error()
	})
	if err == nil {
		cw.Flush()
		err = cw.Error()
	}
	if err != nil {
		u.abort(r, fmt.Errorf("job %d results as CSV: %w", id, err))
	}
	return nil
}

// resultsYAML writes a YAML sequence of the results, one item per case:
// each item is marshalled on its own, which gives the same text as the
// whole sequence marshalled at once.
func (u *UI) resultsYAML(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, cur, err := u.openExport(r, p, store.CaseFilter{})
	if err != nil {
		return err
	}
	startDownload(w, "application/yaml; charset=utf-8", fmt.Sprintf("job-%d-results.yaml", id))
	bw := bufio.NewWriterSize(w, 32<<10)
	n := 0
	err = eachChunk(r.Context(), w, cur, func(cases []lab.TestCase) error {
		for _, c := range cases {
			b, err := yaml.Marshal([]exportRow{exportRowOf(id, c)})
			if err != nil {
				return fmt.Errorf("case on line %d: %w", c.Line, err)
			}
			bw.Write(b)
			n++
		}
		return bw.Flush()
	})
	if err == nil {
		if n == 0 {
			bw.WriteString("[]\n")
		}
		err = bw.Flush()
	}
	if err != nil {
		u.abort(r, fmt.Errorf("job %d results as YAML: %w", id, err))
	}
	return nil
}

// JUnit XML: one testsuite per suite, in first-seen order; a fail result
// is a failure, skip is skipped, and any other result but pass is an
// error.
type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr,omitempty"`
	Failure   *junitMessage `xml:"failure"`
	Error     *junitMessage `xml:"error"`
	Skipped   *junitMessage `xml:"skipped"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitMessage struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
}

// junitCaseOf is test case c as a JUnit testcase.
func junitCaseOf(c lab.TestCase) junitCase {
	class := c.Suite
	if c.Set != "" {
		class += "." + c.Set
	}
	jc := junitCase{Name: c.Name, ClassName: class, Time: c.Duration}
	if c.Measurement != "" {
		jc.SystemOut = "measurement: " + c.Measurement
		if c.Units != "" {
			jc.SystemOut += " " + c.Units
		}
	}
	switch res := c.Result.String(); res {
	case "pass":
	case "fail":
		jc.Failure = &junitMessage{Message: "result: fail", Type: "fail"}
	case "skip":
		jc.Skipped = &junitMessage{Message: "result: skip"}
	default:
		jc.Error = &junitMessage{Message: "result: " + res, Type: res}
	}
	return jc
}

// resultsJUnit writes the JUnit document element by element. The counts
// in the testsuites and testsuite elements come first, so they are taken
// from the suite summaries (JobSuites: the suites in first-seen order and
// their cases counted by result), and each suite's cases are then read on
// their own, at most as many as were counted: a running job's later cases
// cannot make the document disagree with its counts.
func (u *UI) resultsJUnit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	suites, err := u.app.JobSuites(r.Context(), p, id)
	if err != nil {
		return err
	}
	attrs := func(name string, pairs ...any) []xml.Attr {
		out := []xml.Attr{{Name: xml.Name{Local: "name"}, Value: name}}
		for i := 0; i < len(pairs); i += 2 {
			out = append(out, xml.Attr{Name: xml.Name{Local: pairs[i].(string)}, Value: strconv.Itoa(pairs[i+1].(int))})
		}
		return out
	}
	var tests, failures, errs, skipped int
	for _, s := range suites {
		tests, failures, errs, skipped = tests+s.Total(), failures+s.Fail, errs+s.Unknown, skipped+s.Skip
	}
	startDownload(w, "application/xml; charset=utf-8", fmt.Sprintf("job-%d-results.junit.xml", id))
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString(xml.Header)
	enc := xml.NewEncoder(bw)
	enc.Indent("", "  ")
	root := xml.StartElement{Name: xml.Name{Local: "testsuites"},
		Attr: attrs(fmt.Sprintf("job %d", id), "tests", tests, "failures", failures, "errors", errs, "skipped", skipped)}
	err = enc.EncodeToken(root)
	caseElem := xml.StartElement{Name: xml.Name{Local: "testcase"}}
	for _, s := range suites {
		if err != nil {
			break
		}
		se := xml.StartElement{Name: xml.Name{Local: "testsuite"},
			Attr: attrs(s.Name, "tests", s.Total(), "failures", s.Fail, "errors", s.Unknown, "skipped", s.Skip)}
		if err = enc.EncodeToken(se); err != nil {
			break
		}
		var cur *app.CaseCursor
		if cur, err = u.app.OpenJobResults(r.Context(), p, id, store.CaseFilter{Suite: s.Name, Limit: s.Total()}); err != nil {
			break
		}
		err = eachChunk(r.Context(), w, cur, func(cases []lab.TestCase) error {
			for _, c := range cases {
				if err := enc.EncodeElement(junitCaseOf(c), caseElem); err != nil {
					return err
				}
			}
			if err := enc.Flush(); err != nil {
				return err
			}
			return bw.Flush()
		})
		if err == nil {
			err = enc.EncodeToken(se.End())
		}
	}
	if err == nil {
		err = enc.EncodeToken(root.End())
	}
	if err == nil {
		err = enc.Close()
	}
	if err == nil {
		bw.WriteString("\n")
		err = bw.Flush()
	}
	if err != nil {
		u.abort(r, fmt.Errorf("job %d results as JUnit: %w", id, err))
	}
	return nil
}
