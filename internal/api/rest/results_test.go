package rest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// resultsLog is a job log: results on lines 1, 3, 4 and 6 (0-based),
// a malformed results record on line 5.
var resultsLog = strings.Join([]string{
	`{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"start: 1 deploy"}`,
	`{"dt":"2026-01-02T03:04:06Z","lvl":"results","msg":{"definition":"lava","case":"tmpfs-deploy","result":"pass","duration":"1.50","level":"1"}}`,
	`{"dt":"2026-01-02T03:04:07Z","lvl":"target","msg":"Received signal: <STARTTC> uname"}`,
	`{"dt":"2026-01-02T03:04:08Z","lvl":"results","msg":{"definition":"0_smoke","case":"uname","result":"pass","starttc":2,"endtc":2,"measurement":3,"units":"ms"}}`,
	`{"dt":"2026-01-02T03:04:09.5Z","lvl":"results","msg":{"definition":"0_smoke","case":"pwd","result":"fail","set":"s1"}}`,
	`{"dt":"2026-01-02T03:04:10Z","lvl":"results","msg":"broken"}`,
	`{"dt":"2026-01-02T03:04:11Z","lvl":"results","msg":{"definition":"lava","case":"job","result":"fail","error_type":"Test","error_msg":"pwd failed"}}`,
}, "\n") + "\n"

func TestJobResults(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			_, err := e.Logs.Append(context.Background(), e.pubJob, 0, []byte(resultsLog))
			must(t, err)
			get := func(path string, out any) int {
				t.Helper()
				status, body := e.do(anon, "GET", fmt.Sprintf("/jobs/%d%s", e.pubJob, path), "")
				if status == 200 {
					must(t, json.Unmarshal(body, out))
				}
				return status
			}
			var all wire.List[wire.Result]
			if st := get("/results", &all); st != 200 {
				t.Fatalf("results: %d", st)
			}
			if all.Count != 4 || all.Limit != 1000 || all.Offset != 0 || len(all.Results) != 4 {
				t.Fatalf("results page: %+v", all)
			}
			uname := all.Results[1]
			want := wire.Result{ID: uname.ID, Job: e.pubJob, Suite: "0_smoke", Case: "uname", Result: "pass", Measurement: "3", Units: "ms",
				Metadata: `{"case":"uname","definition":"0_smoke","measurement":3,"result":"pass","units":"ms"}`,
				Logged:   time.Date(2026, 1, 2, 3, 4, 8, 0, time.UTC), LogLine: 3, StartLogLine: 2, EndLogLine: 2}
			if uname != want {
				t.Errorf("uname:\n got %+v\nwant %+v", uname, want)
			}
			if d := all.Results[0]; d.Suite != "lava" || d.Measurement != "1.50" || d.Units != "seconds" || d.Duration != "1.50" || d.Level != "1" || d.LogLine != 1 {
				t.Errorf("lava/tmpfs-deploy: %+v", d)
			}
			if j := all.Results[3]; j.Case != "job" || j.ErrorType != "Test" || j.ErrorMsg != "pwd failed" || j.LogLine != 6 {
				t.Errorf("lava/job: %+v", j)
			}
			filters := []struct {
				query string
				lines []int
				count int
			}{
				{"?suite=0_smoke", []int{3, 4}, 2},
				{"?suite=0_smoke&case=pwd", []int{4}, 1},
				{"?suite=0_smoke&set=s1", []int{4}, 1},
				{"?result=FAIL", []int{4, 6}, 2},
				{"?limit=2&offset=1", []int{3, 4}, 4},
				{"?suite=nope", []int{}, 0},
			}
			for _, f := range filters {
				var page wire.List[wire.Result]
				if st := get("/results"+f.query, &page); st != 200 {
					t.Errorf("%s: status %d", f.query, st)
					continue
				}
				lines := []int{}
				for _, r := range page.Results {
					lines = append(lines, r.LogLine)
				}
				if fmt.Sprint(lines) != fmt.Sprint(f.lines) || page.Count != f.count {
					t.Errorf("%s: lines %v of %d, want %v of %d", f.query, lines, page.Count, f.lines, f.count)
				}
			}
			for _, bad := range []string{"?limit=0", "?limit=10001", "?offset=-1", "?result=maybe", "?limit=x"} {
				if st := get("/results"+bad, &all); st != 400 {
					t.Errorf("%s: status %d, want 400", bad, st)
				}
			}
			var suites wire.List[wire.Suite]
			if st := get("/suites", &suites); st != 200 {
				t.Fatalf("suites: %d", st)
			}
			wantSuites := []wire.Suite{{Name: "lava", Pass: 1, Fail: 1, Total: 2}, {Name: "0_smoke", Pass: 1, Fail: 1, Total: 2}}
			if suites.Count != 2 || fmt.Sprint(suites.Results) != fmt.Sprint(wantSuites) {
				t.Errorf("suites: %+v", suites)
			}
			// Hidden jobs are not found, as everywhere.
			for _, path := range []string{"/results", "/suites"} {
				if st, _ := e.do(anon, "GET", fmt.Sprintf("/jobs/%d%s", e.privJob, path), ""); st != 404 {
					t.Errorf("%s of a personal job as anonymous: %d", path, st)
				}
			}
		})
	}
}
