package cli_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
)

// TestJobsResults: `jobs results` prints every case over several pages of
// the API, with filters and as JSON; `jobs suites` counts them.
func TestJobsResults(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	id := l.submit()
	var cases []lab.TestCase
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for i := range 2100 { // more than two pages of 1,000
		c := lab.TestCase{Suite: "0_smoke", Name: fmt.Sprintf("c%04d", i), Result: lab.ResultPass, Line: 10 + i, StartLine: 10 + i, EndLine: 10 + i, Logged: at}
		if i%700 == 0 {
			c.Result, c.Set, c.Measurement, c.Units = lab.ResultFail, "net", "1.5", "ms"
		}
		cases = append(cases, c)
	}
	cases = append(cases, lab.TestCase{Suite: "lava", Name: "job", Result: lab.ResultFail, Line: 3000, StartLine: 3000, EndLine: 3000, Logged: at})
	if _, err := l.app.Store().AddTestCases(context.Background(), id, cases, 3001); err != nil {
		t.Fatal(err)
	}
	ids := fmt.Sprint(id)

	out := l.ok("jobs", "results", ids)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1+len(cases) || !strings.Contains(lines[0], "SUITE") || !strings.Contains(lines[0], "LINE") {
		t.Fatalf("jobs results: %d lines, want a header and %d cases", len(lines), len(cases))
	}
	if f := strings.Fields(lines[1]); strings.Join(f, " ") != "0_smoke net c0000 fail 1.5 ms 10" {
		t.Errorf("first row: %q", lines[1])
	}
	if f := strings.Fields(lines[len(lines)-1]); strings.Join(f, " ") != "lava - job fail - - 3000" {
		t.Errorf("last row: %q", lines[len(lines)-1])
	}

	page := decode[wire.List[wire.Result]](t, l.ok("jobs", "results", ids, "--result", "fail", "--json"))
	if page.Count != 4 || len(page.Results) != 4 || page.Results[1].Case != "c0700" || page.Results[1].LogLine != 710 || page.Results[3].Suite != "lava" {
		t.Errorf("failures as JSON: %+v", page)
	}
	out = l.ok("jobs", "results", ids, "--suite", "0_smoke", "--set", "net", "--case", "c1400")
	if !strings.Contains(out, "c1400") || strings.Count(out, "\n") != 2 {
		t.Errorf("one case:\n%s", out)
	}
	out = l.ok("jobs", "suites", ids)
	if !strings.Contains(out, "0_smoke") || !strings.Contains(strings.Join(strings.Fields(out), " "), "0_smoke 2097 3 0 0 2100 lava 0 1 0 0 1") {
		t.Errorf("jobs suites:\n%s", out)
	}
	if _, errOut := l.expect(2, "jobs", "results", ids, "--result", "maybe"); !strings.Contains(errOut, "maybe") {
		t.Errorf("bad result filter: %s", errOut)
	}
	l.expect(3, "jobs", "results", "999") // not found
}
