package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// markedLog is a job log whose results use starttc/endtc, a set, a
// measurement given as a number, and a malformed results record between
// them.
var markedLog = strings.Join([]string{
	`{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"start: 3.1 lava-test-shell"}`,
	`{"dt":"2026-01-02T03:04:06Z","lvl":"debug","msg":"Received signal: <STARTTC> pwd"}`,
	`{"dt":"2026-01-02T03:04:07Z","lvl":"target","msg":"/root"}`,
	`{"dt":"2026-01-02T03:04:08Z","lvl":"debug","msg":"Received signal: <ENDTC> pwd"}`,
	`{"dt":"2026-01-02T03:04:08.25Z","lvl":"results","msg":{"definition":"0_smoke","case":"pwd","result":"pass","starttc":1,"endtc":3}}`,
	`{"dt":"2026-01-02T03:04:09Z","lvl":"results","msg":{"definition":"0_smoke"}}`,
	`{"dt":"2026-01-02T03:04:10Z","lvl":"results","msg":{"definition":"0_smoke","case":"bw","result":"fail","set":"net","measurement":12.5,"units":"MB/s"}}`,
	`{"dt":"2026-01-02T03:04:11Z","lvl":"results","msg":{"definition":"lava","case":"lava-test-shell","result":"pass","duration":"6.00","level":"3.1"}}`,
}, "\n") + "\n"

// TestResultsSameEverywhere reads one job's results through the REST API,
// the web UI's CSV and YAML downloads and its results page: the same
// cases with the same (0-based) line numbers. Each number is the line
// REST's /logs?start=N returns for the record, and each web link lands on
// the log viewer's item that shows the record.
func TestResultsSameEverywhere(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	mux := http.NewServeMux()
	mux.Handle(rest.Prefix+"/", rest.New(e.App, nil))
	mux.Handle("/", web.New(e.App, nil))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		must(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		must(t, err)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d\n%s", path, resp.StatusCode, b)
		}
		return string(b)
	}
	for _, log := range []string{treeLog, markedLog} {
		ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("same", "qemu", ""))
		must(t, err)
		id := ids[0]
		_, err = e.Logs.Append(context.Background(), id, 0, []byte(log))
		must(t, err)

		var api wire.List[wire.Result]
		must(t, json.Unmarshal([]byte(get(fmt.Sprintf("%s/jobs/%d/results", rest.Prefix, id))), &api))
		type key struct {
			Suite, Set, Case, Result, Measurement, Units, Logged string
			Line, Start, End                                     int
		}
		var want []key
		for _, r := range api.Results {
			want = append(want, key{r.Suite, r.Set, r.Case, r.Result, r.Measurement, r.Units, r.Logged.Format(time.RFC3339Nano), r.LogLine, r.StartLogLine, r.EndLogLine})
			// The number is the record's line in the API's addressing.
			rec := get(fmt.Sprintf("%s/jobs/%d/logs?start=%d&end=%d", rest.Prefix, id, r.LogLine, r.LogLine+1))
			if !strings.Contains(rec, `"lvl":"results"`) || !strings.Contains(rec, fmt.Sprintf(`"case":%q`, r.Case)) {
				t.Errorf("job %d: log line %d is not %s's record: %s", id, r.LogLine, r.Case, rec)
			}
		}
		if len(want) < 3 {
			t.Fatalf("job %d: only %d results from REST", id, len(want))
		}

		rows, err := csv.NewReader(strings.NewReader(get(fmt.Sprintf("/jobs/%d/results.csv", id)))).ReadAll()
		must(t, err)
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		var fromCSV []key
		for _, r := range rows[1:] {
			n := func(h string) int { v, err := strconv.Atoi(r[col[h]]); must(t, err); return v }
			fromCSV = append(fromCSV, key{r[col["suite"]], r[col["set"]], r[col["case"]], r[col["result"]], r[col["measurement"]], r[col["units"]],
				r[col["logged"]], n("log_line"), n("log_start_line"), n("log_end_line")})
		}
		if fmt.Sprint(fromCSV) != fmt.Sprint(want) {
			t.Errorf("job %d: CSV\n%v\nREST\n%v", id, fromCSV, want)
		}

		var ys []struct {
			Suite       string `yaml:"suite"`
			Set         string `yaml:"set"`
			Name        string `yaml:"name"`
			Result      string `yaml:"result"`
			Measurement string `yaml:"measurement"`
			Unit        string `yaml:"unit"`
			Logged      string `yaml:"logged"`
			Line        int    `yaml:"log_line"`
			Start       int    `yaml:"log_start_line"`
			End         int    `yaml:"log_end_line"`
		}
		must(t, yaml.Unmarshal([]byte(get(fmt.Sprintf("/jobs/%d/results.yaml", id))), &ys))
		var fromYAML []key
		for _, y := range ys {
			fromYAML = append(fromYAML, key{y.Suite, y.Set, y.Name, y.Result, y.Measurement, y.Unit, y.Logged, y.Line, y.Start, y.End})
		}
		if fmt.Sprint(fromYAML) != fmt.Sprint(want) {
			t.Errorf("job %d: YAML\n%v\nREST\n%v", id, fromYAML, want)
		}

		page := get(fmt.Sprintf("/jobs/%d/results", id))
		for _, k := range want {
			link := fmt.Sprintf(`href="/jobs/%d/log?start=0&amp;end=500#L%d">line %d</a>`, id, k.Line, k.Line)
			if !strings.Contains(page, link) {
				t.Errorf("job %d: the results page lacks %s", id, link)
			}
			// The link lands on the item of the viewer that shows the
			// record.
			viewer := get(html.UnescapeString(strings.TrimSuffix(strings.TrimPrefix(link, `href="`), fmt.Sprintf(`">line %d</a>`, k.Line))))
			item := fmt.Sprintf(`<li id="L%d" class="lvl-results`, k.Line)
			at := strings.Index(viewer, item)
			if at < 0 || !strings.Contains(viewer[at:min(len(viewer), at+400)], html.EscapeString(k.Case)) {
				t.Errorf("job %d: the viewer's %s does not show %s/%s", id, item, k.Suite, k.Case)
			}
		}
	}
}

// TestResultsPages: the results page pages through many cases; the job
// page then lists the suites only.
func TestResultsPages(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("many", "qemu", ""))
	must(t, err)
	id := ids[0]
	var cases []lab.TestCase
	for i := range 2500 {
		r := lab.ResultPass
		if i%100 == 0 {
			r = lab.ResultFail
		}
		cases = append(cases, lab.TestCase{Suite: "0_many", Name: fmt.Sprintf("case-%04d", i), Result: r, Line: i, StartLine: i, EndLine: i,
			Logged: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	_, err = e.App.Store().AddTestCases(context.Background(), id, cases, 2500)
	must(t, err)
	base := fmt.Sprintf("/jobs/%d/results", id)
	_, body, _ := e.get(anon, base)
	checkPage(t, "results page", body)
	for _, want := range []string{"Test cases 1–1000 of 2500", `<th scope="row">case-0999</th>`, fmt.Sprintf(`href="%s?offset=1000"`, base)} {
		if !strings.Contains(body, want) {
			t.Errorf("first page lacks %q", want)
		}
	}
	if strings.Contains(body, "case-1000") || strings.Contains(body, `rel="prev"`) {
		t.Error("first page shows the second page's cases or an earlier link")
	}
	_, body, _ = e.get(anon, base+"?offset=2000")
	for _, want := range []string{"Test cases 2001–2500 of 2500", `<th scope="row">case-2499</th>`, fmt.Sprintf(`href="%s?offset=1000"`, base)} {
		if !strings.Contains(body, want) {
			t.Errorf("last page lacks %q", want)
		}
	}
	if strings.Contains(body, `rel="next"`) || strings.Contains(body, "case-1999") {
		t.Error("last page links a later page or shows earlier cases")
	}
	if code, _, _ := e.get(anon, base+"?offset=-1"); code != 400 {
		t.Errorf("negative offset: %d", code)
	}
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d", id))
	checkPage(t, "job page", body)
	for _, want := range []string{"This job has 2500 test cases",
		fmt.Sprintf(`<a href="/jobs/%d/results">0_many</a></th><td class="num">2475</td><td class="num">25</td>`, id)} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if strings.Contains(body, "case-0001") {
		t.Error("job page lists the cases of a job with many")
	}
}
