package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/testutil/memtest"
)

// resultsRecords is a job log of n results records over three suites, with
// a console line before each, names that JSON escapes for HTML (<, >, &),
// every result, and a measurement of pad bytes when pad > 0.
func resultsRecords(n, pad int) []byte {
	var b bytes.Buffer
	suites := []string{"lava", "0_smoke", "1_perf <&>"}
	results := []string{"pass", "fail", "skip", "unknown"}
	for i := range n {
		fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"line %d"}`+"\n", i)
		msg := map[string]any{"definition": suites[i%3], "case": fmt.Sprintf("case %d <b>&\"x\"", i), "result": results[i%4]}
		if i%5 == 1 {
			msg["measurement"], msg["units"], msg["set"] = 1.5, "ms", "s1"
		}
		if pad > 0 {
			msg["measurement"] = strings.Repeat("m", pad)
		}
		rec, _ := json.Marshal(map[string]any{"dt": "2026-01-02T03:04:06.25Z", "lvl": "results", "msg": msg})
		b.Write(rec)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestJobResultsStreamed: pages of /results spanning several chunks of the
// store, with filters, and empty ones, are byte for byte what encoding the
// whole page at once gives (the handler's output before it streamed), and
// hold the cases app.JobResults reads for the same filter.
func TestJobResultsStreamed(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, err := e.Logs.Append(context.Background(), e.pubJob, 0, resultsRecords(1234, 0))
	must(t, err)
	admin := e.Principal(admin)
	fail := lab.ResultFail
	for _, q := range []struct {
		query string
		f     store.CaseFilter
	}{
		{"", store.CaseFilter{Limit: 1000}},
		{"?limit=10000", store.CaseFilter{Limit: 10000}},
		{"?limit=1100&offset=7", store.CaseFilter{Limit: 1100, Offset: 7}},
		{"?limit=500&offset=500", store.CaseFilter{Limit: 500, Offset: 500}},
		{"?limit=1&offset=1233", store.CaseFilter{Limit: 1, Offset: 1233}},
		{"?offset=5000", store.CaseFilter{Limit: 1000, Offset: 5000}},
		{"?suite=0_smoke&limit=10000&offset=3", store.CaseFilter{Suite: "0_smoke", Limit: 10000, Offset: 3}},
		{"?result=fail&set=s1", store.CaseFilter{Result: &fail, Set: "s1", Limit: 1000}},
		{"?suite=nope", store.CaseFilter{Suite: "nope", Limit: 1000}},
	} {
		resp, err := http.Get(fmt.Sprintf("%s%s/jobs/%d/results%s", e.srv.URL, rest.Prefix, e.pubJob, q.query))
		must(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		must(t, err)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: status %d, headers %v", q.query, resp.StatusCode, resp.Header)
		}
		var page wire.List[wire.Result]
		must(t, json.Unmarshal(body, &page))
		var again bytes.Buffer
		enc := json.NewEncoder(&again)
		enc.SetIndent("", "  ")
		must(t, enc.Encode(page))
		if !bytes.Equal(body, again.Bytes()) {
			t.Fatalf("%s: the streamed page differs from the page encoded at once:\n%.300s\n---\n%.300s", q.query, body, again.Bytes())
		}
		want, total, err := e.App.JobResults(context.Background(), admin, e.pubJob, q.f)
		must(t, err)
		if page.Count != total || page.Limit != q.f.Limit || page.Offset != q.f.Offset || len(page.Results) != len(want) {
			t.Fatalf("%s: count %d, limit %d, offset %d, %d results; want %d, %d, %d, %d", q.query,
				page.Count, page.Limit, page.Offset, len(page.Results), total, q.f.Limit, q.f.Offset, len(want))
		}
		for i, c := range want {
			if r := page.Results[i]; r.ID != c.ID || r.LogLine != c.Line || r.Case != c.Name || r.Suite != c.Suite {
				t.Fatalf("%s: result %d is %+v, want case %d on line %d", q.query, i, r, c.ID, c.Line)
			}
		}
	}
}

// TestResultsReadMemoryBound: four clients that stop reading a page of
// 10,000 cases (two thirds of them with a 4 KiB measurement: a 31 MiB
// page) leave the server holding less than 64 MiB of live heap between
// them, measured after a full collection: a chunk of cases each (2–4 MiB),
// where the page built in memory held all its cases and all its JSON
// (over 60 MiB per client).
func TestResultsReadMemoryBound(t *testing.T) {
	const (
		cases   = 10000
		pad     = 4 << 10
		readers = 4
		bound   = 64 << 20
	)
	e := newEnv(t, labtest.Backends()[0])
	_, err := e.Logs.Append(context.Background(), e.pubJob, 0, resultsRecords(cases, pad))
	must(t, err)
	url := fmt.Sprintf("%s%s/jobs/%d/results?limit=%d", e.srv.URL, rest.Prefix, e.pubJob, cases)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// The first read ingests the results; the measured ones only read.
	_, sizes := memtest.HeldWhileStalled(t, client, []string{url}, 1)
	grown, got := memtest.HeldWhileStalled(t, client, slices.Repeat([]string{url}, readers), 64<<10)
	t.Logf("%d stalled readers of a %d MiB page: live heap grew by %.1f MiB", readers, sizes[0]>>20, float64(grown)/(1<<20))
	for _, n := range got {
		if n != sizes[0] {
			t.Fatalf("a reader got %d bytes, the first %d", n, sizes[0])
		}
	}
	if grown > bound {
		t.Errorf("%d stalled readers of a %d MiB page of results: the server holds %d MiB, want under %d MiB",
			readers, sizes[0]>>20, grown>>20, bound>>20)
	}
}
