package web

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/auth"
)

// Results downloads: /jobs/{id}/results.csv, .yaml and .junit.xml, read
// from the store (the test cases ingested from the log). Each answers 404
// for a job the caller may not see, like every job page, and is built in
// memory first so an error never leaves half a file.

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

// exportResults reads a visible job's results; a hidden job is not found.
func (u *UI) exportResults(r *http.Request, p auth.Principal) (int64, []exportRow, error) {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return 0, nil, err
	}
	if _, err := u.app.GetJob(r.Context(), p, id); err != nil {
		return 0, nil, err
	}
	rs, err := u.results(r.Context(), p, id)
	if err != nil {
		return 0, nil, err
	}
	out := make([]exportRow, len(rs))
	for i, x := range rs {
		out[i] = exportRow{Job: id, Suite: x.Definition, Set: x.Set, Case: x.Case, Result: x.Result,
			Measurement: x.Measurement, Units: x.Units, Duration: x.Duration, Level: x.Level,
			Logged: x.Logged.UTC().Format(time.RFC3339Nano), LogLine: x.Line, LogStartLine: x.StartLine, LogEndLine: x.EndLine}
	}
	return id, out, nil
}

// download writes body as an attachment named name.
func download(w http.ResponseWriter, ctype, name string, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ctype)
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(body)
}

// csvHeader is the CSV download's first row.
var csvHeader = []string{"job", "suite", "set", "case", "result", "measurement", "units", "duration", "level", "log_line",
	"logged", "log_start_line", "log_end_line"}

func (u *UI) resultsCSV(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, rows, err := u.exportResults(r, p)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write(csvHeader)
	for _, x := range rows {
		_ = cw.Write([]string{strconv.FormatInt(x.Job, 10), x.Suite, x.Set, x.Case, x.Result, x.Measurement, x.Units,
			x.Duration, x.Level, strconv.Itoa(x.LogLine), x.Logged, strconv.Itoa(x.LogStartLine), strconv.Itoa(x.LogEndLine)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("job %d results as CSV: %w", id, err)
	}
	download(w, "text/csv; charset=utf-8", fmt.Sprintf("job-%d-results.csv", id), buf.Bytes())
	return nil
}

func (u *UI) resultsYAML(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, rows, err := u.exportResults(r, p)
	if err != nil {
		return err
	}
	body := []byte("[]\n")
	if len(rows) > 0 {
		if body, err = yaml.Marshal(rows); err != nil {
			return fmt.Errorf("job %d results as YAML: %w", id, err)
		}
	}
	download(w, "application/yaml; charset=utf-8", fmt.Sprintf("job-%d-results.yaml", id), body)
	return nil
}

// JUnit XML: one testsuite per suite, in first-seen order; a fail result
// is a failure, skip is skipped, and any other result but pass is an
// error.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []junitCase `xml:"testcase"`
}

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

// junit builds the JUnit document of job id's results.
func junit(id int64, rows []exportRow) junitSuites {
	doc := junitSuites{Name: fmt.Sprintf("job %d", id)}
	idx := map[string]int{}
	for _, x := range rows {
		i, ok := idx[x.Suite]
		if !ok {
			i = len(doc.Suites)
			idx[x.Suite] = i
			doc.Suites = append(doc.Suites, junitSuite{Name: x.Suite})
		}
		s := &doc.Suites[i]
		class := x.Suite
		if x.Set != "" {
			class += "." + x.Set
		}
		c := junitCase{Name: x.Case, ClassName: class, Time: x.Duration}
		if x.Measurement != "" {
			c.SystemOut = "measurement: " + x.Measurement
			if x.Units != "" {
				c.SystemOut += " " + x.Units
			}
		}
		switch x.Result {
		case "pass":
		case "fail":
			c.Failure = &junitMessage{Message: "result: fail", Type: "fail"}
			s.Failures++
		case "skip":
			c.Skipped = &junitMessage{Message: "result: skip"}
			s.Skipped++
		default:
			c.Error = &junitMessage{Message: "result: " + x.Result, Type: x.Result}
			s.Errors++
		}
		s.Tests++
		s.Cases = append(s.Cases, c)
	}
	for _, s := range doc.Suites {
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
	}
	return doc
}

func (u *UI) resultsJUnit(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, rows, err := u.exportResults(r, p)
	if err != nil {
		return err
	}
	body, err := xml.MarshalIndent(junit(id, rows), "", "  ")
	if err != nil {
		return fmt.Errorf("job %d results as JUnit: %w", id, err)
	}
	body = append([]byte(xml.Header), append(body, '\n')...)
	download(w, "application/xml; charset=utf-8", fmt.Sprintf("job-%d-results.junit.xml", id), body)
	return nil
}
