package lavarest_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestLogs reads a job's log in LAVA's format, whole and by ranges.
func TestLogs(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			if st, body := e.do(anon, "GET", jobPath(e.pubJob, "logs/"), ""); st != 404 {
				t.Errorf("log of a job without one: %d %s", st, body)
			}
			e.seedResults(e.pubJob)
			resp := e.request(anon, "GET", lavarest.Prefix+jobPath(e.pubJob, "logs/"), "")
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			must(t, err)
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" ||
				resp.Header.Get("Content-Disposition") != fmt.Sprintf("attachment; filename=job_%d.yaml", e.pubJob) {
				t.Fatalf("log: %d %v", resp.StatusCode, resp.Header)
			}
			lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
			if len(lines) != 8 {
				t.Fatalf("log has %d lines: %s", len(lines), body)
			}
			want := `- {"dt": "2026-05-01T10:00:04+00:00", "lvl": "results", "msg": {"definition": "0_baseline", "case": "uname", "result": "pass", "measurement": ! "1.5", "units": "s"}}`
			if lines[4] != want {
				t.Errorf("line 4:\n got %s\nwant %s", lines[4], want)
			}
			var records []map[string]any
			must(t, yaml.Unmarshal(body, &records))
			if len(records) != 8 || records[4]["msg"].(map[string]any)["case"] != "uname" {
				t.Errorf("log as YAML: %v", records)
			}
			for _, c := range []struct {
				query string
				lines []int // first and last line, -1 for 404
			}{
				{"?start=2", []int{2, 7}},
				{"?start=2&end=4", []int{2, 3}},
				{"?end=1", []int{0, 0}},
				{"?start=7&end=100", []int{7, 7}},
				{"?start=8", []int{-1}},
				{"?start=3&end=3", []int{-1}},
			} {
				st, got := e.do(anon, "GET", jobPath(e.pubJob, "logs/"+c.query), "")
				if c.lines[0] < 0 {
					if st != 404 {
						t.Errorf("logs/%s: %d %s", c.query, st, got)
					}
					continue
				}
				if want := strings.Join(lines[c.lines[0]:c.lines[1]+1], "\n") + "\n"; st != 200 || string(got) != want {
					t.Errorf("logs/%s: %d\n%s\nwant\n%s", c.query, st, got, want)
				}
			}
			for _, q := range []string{"?start=-1", "?end=x", "?start=1.5"} {
				if st, got := e.do(anon, "GET", jobPath(e.pubJob, "logs/"+q), ""); st != 400 {
					t.Errorf("logs/%s: %d %s", q, st, got)
				}
			}
			resp = e.request(anon, "HEAD", lavarest.Prefix+jobPath(e.pubJob, "logs/"), "")
			resp.Body.Close()
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/yaml" {
				t.Errorf("HEAD logs: %d", resp.StatusCode)
			}
		})
	}
}

// TestResults reads a job's suites and tests as JSON and its results as
// CSV, YAML and TAP13 (JUnit: TestKernelCIFlow).
func TestResults(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			lavaID, _ := e.seedResults(e.pubJob)
			var suites lavawire.Page[lavawire.Suite]
			e.get(bob, jobPath(e.pubJob, "suites/"), &suites)
			if suites.Count != 2 || suites.Results[0].Name != "lava" || suites.Results[0].ID != lavaID || suites.Results[1].Name != "0_baseline" ||
				suites.Results[1].Job != e.pubJob || suites.Results[1].ResourceURI != fmt.Sprintf("%s/api/v0.2/jobs/%d/suites/%d/", e.srv.URL, e.pubJob, suites.Results[1].ID) {
				t.Fatalf("suites: %+v", suites)
			}
			base := suites.Results[1]
			var one lavawire.Suite
			e.get(bob, jobPath(e.pubJob, fmt.Sprintf("suites/%d/", base.ID)), &one)
			if one != base {
				t.Errorf("suite %d: %+v", base.ID, one)
			}
			if st, _ := e.do(bob, "GET", jobPath(e.pubJob, "suites/999999/"), ""); st != 404 {
				t.Errorf("missing suite: %d", st)
			}
			if st, _ := e.do(bob, "GET", jobPath(e.privJob, fmt.Sprintf("suites/%d/", base.ID)), ""); st != 404 {
				t.Errorf("suite of another (hidden) job: %d", st)
			}

			var tests lavawire.Page[lavawire.TestCase]
			e.get(bob, jobPath(e.pubJob, fmt.Sprintf("suites/%d/tests/", base.ID)), &tests)
			if tests.Count != 2 || tests.Results[0].Name != "uname" || tests.Results[1].Name != "dmesg" {
				t.Fatalf("tests of 0_baseline: %+v", tests)
			}
			uname := tests.Results[0]
			m, start, end := "1.5000000000", 4, 4
			want := lavawire.TestCase{ID: uname.ID, Result: "pass", Unit: "s", Name: "uname", Measurement: &m,
				ResourceURI:  fmt.Sprintf("%s/api/v0.2/jobs/%d/suites/%d/tests/%d/", e.srv.URL, e.pubJob, base.ID, uname.ID),
				Metadata:     `{"case":"uname","definition":"0_baseline","measurement":1.5,"result":"pass","units":"s"}`,
				StartLogLine: &start, EndLogLine: &end, Logged: uname.Logged, Suite: base.ID}
			if !equalJSON(uname, want) || lavawire.FormatTime(timeOf(uname.Logged)) != "2026-05-01T10:00:04Z" {
				t.Errorf("uname:\n got %+v\nwant %+v", uname, want)
			}
			var single lavawire.TestCase
			e.get(bob, jobPath(e.pubJob, fmt.Sprintf("tests/%d/", uname.ID)), &single)
			if !equalJSON(single, uname) {
				t.Errorf("test %d: %+v", uname.ID, single)
			}
			if st, _ := e.do(bob, "GET", jobPath(e.pubJob, fmt.Sprintf("suites/%d/tests/%d/", lavaID, uname.ID)), ""); st != 404 {
				t.Errorf("test of another suite: %d", st)
			}
			for _, c := range []struct {
				query string
				want  string
			}{
				{"", "auto-login-action uname dmesg job"},
				{"?result=FAIL", "dmesg"},
				{"?name=job", "job"},
				{"?limit=2&offset=1", "uname dmesg"},
			} {
				var p lavawire.Page[lavawire.TestCase]
				e.get(bob, jobPath(e.pubJob, "tests/"+c.query), &p)
				var got []string
				for _, tc := range p.Results {
					got = append(got, tc.Name)
				}
				if strings.Join(got, " ") != c.want {
					t.Errorf("tests/%s: %v, want %s", c.query, got, c.want)
				}
			}
			if st, body := e.do(bob, "GET", jobPath(e.pubJob, "tests/?result=maybe"), ""); st != 400 || !strings.Contains(string(body), `"result":[`) {
				t.Errorf("bad result filter: %d %s", st, body)
			}

			// CSV: LAVA's export fields, every value quoted.
			st, body := e.do(bob, "GET", jobPath(e.pubJob, "csv/"), "")
			if st != 200 {
				t.Fatalf("csv: %d %s", st, body)
			}
			if !strings.HasPrefix(string(body), `"job","suite","result","measurement","unit","duration","timeout","logged","level","metadata","url","name","id","log_start_line","log_end_line"`+"\r\n") {
				t.Errorf("csv header: %.200s", body)
			}
			rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll()
			must(t, err)
			if len(rows) != 5 {
				t.Fatalf("csv has %d rows", len(rows))
			}
			wantRow := []string{fmt.Sprint(e.pubJob), "0_baseline", "pass", "1.5000000000", "s", "", "", "2026-05-01 10:00:04+00:00", "",
				`{"case":"uname","definition":"0_baseline","measurement":1.5,"result":"pass","units":"s"}`,
				fmt.Sprintf("/api/v0.2/jobs/%d/tests/%d/", e.pubJob, uname.ID), "uname", fmt.Sprint(uname.ID), "4", "4"}
			if fmt.Sprint(rows[2]) != fmt.Sprint(wantRow) {
				t.Errorf("csv row of uname:\n got %q\nwant %q", rows[2], wantRow)
			}
			if rows[3][3] != "None" || rows[4][11] != "job" {
				t.Errorf("csv rows: %q", rows[3:])
			}
			st, body = e.do(bob, "GET", jobPath(e.pubJob, fmt.Sprintf("suites/%d/csv/?limit=1&offset=1", base.ID)), "")
			if rows, err := csv.NewReader(strings.NewReader(string(body))).ReadAll(); st != 200 || err != nil || len(rows) != 2 || rows[1][11] != "dmesg" {
				t.Errorf("suite csv page: %d %s", st, body)
			}

			// YAML: a list of LAVA's export items, values as strings.
			st, body = e.do(bob, "GET", jobPath(e.pubJob, "yaml/?offset=1&limit=2"), "")
			var items []map[string]any
			if st != 200 || yaml.Unmarshal(body, &items) != nil || len(items) != 2 {
				t.Fatalf("yaml: %d %s", st, body)
			}
			u := items[0]
			if u["name"] != "uname" || u["job"] != fmt.Sprint(e.pubJob) || u["measurement"] != "1.5000000000" || u["logged"] != "2026-05-01 10:00:04+00:00" ||
				u["log_start_line"] != "4" || u["metadata"].(map[string]any)["units"] != "s" {
				t.Errorf("yaml item: %v", u)
			}
			if !strings.HasPrefix(string(body), "- name: \"uname\"\n  job: ") {
				t.Errorf("yaml text: %.100s", body)
			}
			st, body = e.do(bob, "GET", jobPath(e.pubJob, fmt.Sprintf("suites/%d/yaml/", lavaID)), "")
			if st != 200 || yaml.Unmarshal(body, &items) != nil || len(items) != 2 || items[1]["name"] != "job" {
				t.Errorf("suite yaml: %d %s", st, body)
			}
			if st, body := e.do(bob, "GET", jobPath(e.privJob+100, "yaml/"), ""); st != 404 {
				t.Errorf("yaml of a missing job: %d %s", st, body)
			}
			st, body = e.do(bob, "GET", jobPath(e.grpJob, "yaml/"), "")
			if st != 404 {
				t.Errorf("yaml of a hidden job: %d %s", st, body)
			}
			st, body = e.do(alice, "GET", jobPath(e.grpJob, "yaml/"), "")
			if st != 200 || string(body) != "[]\n" {
				t.Errorf("yaml of a job without results: %d %q", st, body)
			}

			// TAP13.
			st, body = e.do(bob, "GET", jobPath(e.pubJob, "tap13/"), "")
			wantTAP := "TAP version 13\n1..4\n# TAP results for lava\nok 1 lava auto-login-action\n# TAP results for 0_baseline\n" +
				"ok 2 0_baseline uname\nnot ok 3 0_baseline dmesg\n  ---\n" +
				`  - {"dt": "2026-05-01T10:00:05+00:00", "lvl": "target", "msg": "dmesg: error: bad thing"}` + "\n  ...\n" +
				"# TAP results for lava\nok 4 lava job\n"
			if st != 200 || string(body) != wantTAP {
				t.Errorf("tap13: %d\n%s\nwant\n%s", st, body, wantTAP)
			}
			// JUnit with a class name prefix.
			st, body = e.do(bob, "GET", jobPath(e.pubJob, "junit/?classname_prefix=kci"), "")
			if st != 200 || !strings.Contains(string(body), `classname="kci_0_baseline"`) {
				t.Errorf("junit with a prefix: %d %s", st, body)
			}
			var meta lavawire.JobMetadata
			e.get(bob, jobPath(e.pubJob, "metadata/"), &meta)
			if b, _ := json.Marshal(meta); string(b) != `{"metadata":[{"arch":"arm64"},{"branch":"main"}]}` {
				t.Errorf("metadata: %s", b)
			}
		})
	}
}

func timeOf(t lavawire.Time) time.Time { return time.Time(t) }

// TestDownloadNames: an export's file name is quoted when the suite's name
// needs it.
func TestDownloadNames(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, err := e.Logs.Append(context.Background(), e.pubJob, 0, []byte(`{"dt":"2026-05-01T10:00:00Z","lvl":"results","msg":{"definition":"0_a b;c\"d","case":"x","result":"pass"}}`+"\n"))
	must(t, err)
	var suites lavawire.Page[lavawire.Suite]
	e.get(anon, jobPath(e.pubJob, "suites/"), &suites)
	for path, want := range map[string]string{
		jobPath(e.pubJob, fmt.Sprintf("suites/%d/csv/", suites.Results[0].ID)): `attachment; filename="suite_0_a b;c\"d.csv"`,
		jobPath(e.pubJob, "yaml/"): fmt.Sprintf("attachment; filename=job_%d.yaml", e.pubJob),
		jobPath(e.pubJob, "logs/"): fmt.Sprintf("attachment; filename=job_%d.yaml", e.pubJob),
	} {
		resp := e.request(anon, "GET", lavarest.Prefix+path, "")
		resp.Body.Close()
		if got := resp.Header.Get("Content-Disposition"); resp.StatusCode != 200 || got != want {
			t.Errorf("%s: %d %q, want %q", path, resp.StatusCode, got, want)
		}
	}
}
