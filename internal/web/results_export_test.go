package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/memtest"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	"github.com/basalt-lab/basalt/internal/web"
)

// manyResultsLog is a job log of n results records, with console lines
// between them, over four suites met in turn (one only after a while), with
// sets, every result, measurements that CSV, YAML and XML must escape, and
// a measurement of pad bytes in every record when pad > 0.
func manyResultsLog(n, pad int) []byte {
	var b bytes.Buffer
	suites := []string{"lava", "0_smoke", `1_perf <&> "q"`, "2_late"}
	results := []string{"pass", "fail", "skip", "unknown", "weird"}
	for i := range n {
		fmt.Fprintf(&b, `{"dt":"2026-01-02T03:%02d:%02d.%03dZ","lvl":"target","msg":"console line %d"}`+"\n", i/60%60, i%60, i%1000, i)
		msg := map[string]any{"definition": suites[i%3], "case": fmt.Sprintf("case %d <a&b> \"x\", y: z #c", i), "result": results[i%5]}
		if i > n/2 && i%7 == 0 {
			msg["definition"] = suites[3]
		}
		switch i % 6 {
		case 1:
			msg["measurement"], msg["units"] = 12.5, "MB/s"
		case 2:
			msg["measurement"] = "a,b\n\"c\" - d: e"
		case 3:
			msg["set"] = "set-1"
		}
		if msg["definition"] == "lava" {
			msg["duration"], msg["level"] = "0.25", "1.2"
		}
		if pad > 0 {
			msg["measurement"] = strings.Repeat("m", pad)
		}
		rec, _ := json.Marshal(map[string]any{"dt": fmt.Sprintf("2026-01-02T04:%02d:%02d.5Z", i/60%60, i%60), "lvl": "results", "msg": msg})
		b.Write(rec)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// The downloads as they were built in memory before they were streamed:
// the reference the streamed files must equal byte for byte.
type refRow struct {
	Job          int64  `yaml:"job"`
	Suite        string `yaml:"suite"`
	Set          string `yaml:"set,omitempty"`
	Case         string `yaml:"name"`
	Result       string `yaml:"result"`
	Measurement  string `yaml:"measurement,omitempty"`
	Units        string `yaml:"unit,omitempty"`
	Duration     string `yaml:"duration,omitempty"`
	Level        string `yaml:"level,omitempty"`
	Logged       string `yaml:"logged"`
	LogLine      int    `yaml:"log_line"`
	LogStartLine int    `yaml:"log_start_line"`
	LogEndLine   int    `yaml:"log_end_line"`
}

type refSuites struct {
	XMLName  xml.Name   `xml:"testsuites"`
	Name     string     `xml:"name,attr"`
	Tests    int        `xml:"tests,attr"`
	Failures int        `xml:"failures,attr"`
	Errors   int        `xml:"errors,attr"`
	Skipped  int        `xml:"skipped,attr"`
	Suites   []refSuite `xml:"testsuite"`
}

type refSuite struct {
	Name     string    `xml:"name,attr"`
	Tests    int       `xml:"tests,attr"`
	Failures int       `xml:"failures,attr"`
	Errors   int       `xml:"errors,attr"`
	Skipped  int       `xml:"skipped,attr"`
	Cases    []refCase `xml:"testcase"`
}

type refCase struct {
	Name      string  `xml:"name,attr"`
	ClassName string  `xml:"classname,attr"`
	Time      string  `xml:"time,attr,omitempty"`
	Failure   *refMsg `xml:"failure"`
	Error     *refMsg `xml:"error"`
	Skipped   *refMsg `xml:"skipped"`
	SystemOut string  `xml:"system-out,omitempty"`
}

type refMsg struct {
	Message string `xml:"message,attr,omitempty"`
	Type    string `xml:"type,attr,omitempty"`
}

// refDownloads builds the three files of job id's cases in memory.
func refDownloads(t *testing.T, id int64, cases []lab.TestCase) (csvFile, yamlFile, junitFile []byte) {
	rows := make([]refRow, len(cases))
	for i, c := range cases {
		rows[i] = refRow{Job: id, Suite: c.Suite, Set: c.Set, Case: c.Name, Result: c.Result.String(), Measurement: c.Measurement,
			Units: c.Units, Duration: c.Duration, Level: c.Level, Logged: c.Logged.UTC().Format(time.RFC3339Nano),
			LogLine: c.Line, LogStartLine: c.StartLine, LogEndLine: c.EndLine}
	}
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	_ = cw.Write([]string{"job", "suite", "set", "case", "result", "measurement", "units", "duration", "level", "log_line",
		"logged", "log_start_line", "log_end_line"})
	for _, x := range rows {
		_ = cw.Write([]string{strconv.FormatInt(x.Job, 10), x.Suite, x.Set, x.Case, x.Result, x.Measurement, x.Units,
			x.Duration, x.Level, strconv.Itoa(x.LogLine), x.Logged, strconv.Itoa(x.LogStartLine), strconv.Itoa(x.LogEndLine)})
	}
	cw.Flush()
	csvFile = buf.Bytes()

	yamlFile = []byte("[]\n")
	if len(rows) > 0 {
		var err error
		yamlFile, err = yaml.Marshal(rows)
		must(t, err)
	}

	doc := refSuites{Name: fmt.Sprintf("job %d", id)}
	idx := map[string]int{}
	for _, x := range rows {
		i, ok := idx[x.Suite]
		if !ok {
			i = len(doc.Suites)
			idx[x.Suite] = i
			doc.Suites = append(doc.Suites, refSuite{Name: x.Suite})
		}
		s := &doc.Suites[i]
		class := x.Suite
		if x.Set != "" {
			class += "." + x.Set
		}
		c := refCase{Name: x.Case, ClassName: class, Time: x.Duration}
		if x.Measurement != "" {
			c.SystemOut = "measurement: " + x.Measurement
			if x.Units != "" {
				c.SystemOut += " " + x.Units
			}
		}
		switch x.Result {
		case "pass":
		case "fail":
			c.Failure = &refMsg{Message: "result: fail", Type: "fail"}
			s.Failures++
		case "skip":
			c.Skipped = &refMsg{Message: "result: skip"}
			s.Skipped++
		default:
			c.Error = &refMsg{Message: "result: " + x.Result, Type: x.Result}
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
	body, err := xml.MarshalIndent(doc, "", "  ")
	must(t, err)
	junitFile = append([]byte(xml.Header), append(body, '\n')...)
	return csvFile, yamlFile, junitFile
}

// TestResultsDownloadsStreamed: the CSV, YAML and JUnit downloads, now
// written a chunk of cases at a time, are byte for byte the files the
// downloads built in memory before, for a job of 1,234 cases (three
// chunks and more) and for a job without results.
func TestResultsDownloadsStreamed(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	admin := e.Principal(admin)
	ids, _, err := e.App.SubmitJob(ctx, e.Principal(alice), labtest.Job("many", "qemu", "visibility: public"))
	must(t, err)
	many := ids[0]
	_, err = e.Logs.Append(context.Background(), many, 0, manyResultsLog(1234, 0))
	must(t, err)
	ids, _, err = e.App.SubmitJob(ctx, e.Principal(alice), labtest.Job("none", "qemu", "visibility: public"))
	must(t, err)
	none := ids[0]
	for _, id := range []int64{many, none} {
		cases, total, err := e.App.JobResults(ctx, admin, id, store.CaseFilter{})
		must(t, err)
		if id == many && (total != 1234 || len(cases) != 1234) {
			t.Fatalf("job %d has %d cases (total %d), want 1234", id, len(cases), total)
		}
		wantCSV, wantYAML, wantJUnit := refDownloads(t, id, cases)
		for ext, want := range map[string][]byte{".csv": wantCSV, ".yaml": wantYAML, ".junit.xml": wantJUnit} {
			code, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d/results%s", id, ext))
			if code != 200 {
				t.Fatalf("job %d %s: status %d", id, ext, code)
			}
			if body != string(want) {
				i := 0
				for i < min(len(body), len(want)) && body[i] == want[i] {
					i++
				}
				t.Errorf("job %d %s: %d bytes, want %d; first difference at byte %d:\n got %q\nwant %q", id, ext, len(body), len(want),
					i, body[max(0, i-40):min(len(body), i+40)], want[max(0, i-40):min(len(want), i+40)])
			}
		}
	}
}

// TestResultsDownloadsMemoryBound: four clients that stop reading each
// download of a job with 4,000 cases (two thirds of them with a 4 KiB
// measurement: files of 11 MiB) leave the server holding under 32 MiB of
// live heap, measured after a full collection: about two chunks of cases
// per download (1–4 MiB), where the files built in memory held at least
// the whole file each while it was written (47 MiB for four, the CSV
// 64 MiB with its rows).
func TestResultsDownloadsMemoryBound(t *testing.T) {
	const (
		cases   = 4000
		pad     = 4 << 10
		readers = 4
		bound   = 32 << 20
	)
	e := newEnv(t, labtest.Backends()[0])
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("big", "qemu", "visibility: public"))
	must(t, err)
	_, err = e.Logs.Append(context.Background(), ids[0], 0, manyResultsLog(cases, pad))
	must(t, err)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, ext := range []string{".csv", ".yaml", ".junit.xml"} {
		url := fmt.Sprintf("%s/jobs/%d/results%s", e.srv.URL, ids[0], ext)
		// The first download ingests the results; the measured ones only read.
		_, sizes := memtest.HeldWhileStalled(t, client, []string{url}, 1)
		grown, got := memtest.HeldWhileStalled(t, client, slices.Repeat([]string{url}, readers), 64<<10)
		t.Logf("%s: %d stalled readers of %d MiB: live heap grew by %.1f MiB", ext, readers, sizes[0]>>20, float64(grown)/(1<<20))
		for _, n := range got {
			if n != sizes[0] {
				t.Fatalf("%s: a reader got %d bytes, the first %d", ext, n, sizes[0])
			}
		}
		if grown > bound {
			t.Errorf("%s: %d stalled readers of a %d MiB download: the server holds %d MiB, want under %d MiB",
				ext, readers, sizes[0]>>20, grown>>20, bound>>20)
		}
	}
}

// TestDownloadAbortedMidStream: a download that fails after its first
// bytes reaches the browser as a broken body, never completed with an
// error page (which would make half a file look whole), and the failure is
// logged.
func TestDownloadAbortedMidStream(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	var logged syncbuf.Buffer
	u := web.New(e.App, slog.New(slog.NewTextHandler(&logged, nil)))
	web.HandleAborting(u, "GET /test/abort", "job,suite,set\n1,")
	srv := httptest.NewServer(u)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/test/abort")
	must(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || resp.StatusCode != 200 || string(body) != "job,suite,set\n1," {
		t.Errorf("status %d, body %q, read error %v; want the first bytes, then a read error", resp.StatusCode, body, err)
	}
	if !strings.Contains(logged.String(), "the store failed halfway") {
		t.Errorf("the failure was not logged: %q", logged.String())
	}
}
