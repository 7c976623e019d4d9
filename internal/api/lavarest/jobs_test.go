package lavarest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// ids lists the ids of a page of jobs.
func jobIDs(p lavawire.Page[lavawire.Job]) []int64 {
	out := []int64{}
	for _, j := range p.Results {
		out = append(out, j.ID)
	}
	return out
}

// TestJobFilters lists jobs with LAVA's filters and orderings, on SQLite
// and PostgreSQL.
func TestJobFilters(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			ctx := context.Background()
			// The public job runs on d1 and finishes Complete; bob's is
			// canceled.
			wp := auth.WorkerPrincipal("w1")
			_, err := e.App.Heartbeat(ctx, wp, "w1", "test")
			must(t, err)
			_, err = e.App.SchedulePass(ctx)
			must(t, err)
			_, err = e.App.StartJob(ctx, wp, e.pubJob)
			must(t, err)
			_, err = e.App.FinishFromWorker(ctx, wp, e.pubJob, app0())
			must(t, err)
			_, err = e.App.CancelJob(ctx, e.Principal(bob), e.bobJob)
			must(t, err)
			pub, err := e.App.GetJob(ctx, e.Principal(admin), e.pubJob)
			must(t, err)
			if pub.State != lab.JobFinished || pub.ActualDevice != "d1" {
				t.Fatalf("public job: %s on %q", pub.State, pub.ActualDevice)
			}
			before := lavawire.FormatTime(pub.SubmitTime)
			bobSubmitted, err := e.App.GetJob(ctx, e.Principal(admin), e.bobJob)
			must(t, err)
			all := []int64{e.bobJob, e.grpJob, e.privJob, e.pubJob}

			cases := []struct {
				query string
				want  []int64
			}{
				{"", all},
				{"?format=json&limit=256&unknown=1", all},
				{"?state=Finished", []int64{e.bobJob, e.pubJob}},
				{"?state=finished", []int64{e.bobJob, e.pubJob}},
				{"?state__in=Submitted,Running", []int64{e.grpJob, e.privJob}},
				{"?health=Complete", []int64{e.pubJob}},
				{"?health__in=complete,CANCELED", []int64{e.bobJob, e.pubJob}},
				{"?health__iexact=canceled", []int64{e.bobJob}},
				{"?submitter=bob", []int64{e.bobJob}},
				{"?submitter__username=alice", []int64{e.grpJob, e.privJob, e.pubJob}},
				{"?requested_device_type=board", []int64{e.bobJob}},
				{"?requested_device_type__name=qemu", []int64{e.grpJob, e.privJob, e.pubJob}},
				{"?actual_device=d1", []int64{e.pubJob}},
				{"?actual_device__hostname=d2", []int64{}},
				{"?health_check=false", all},
				{"?health_check=true", []int64{}},
				{fmt.Sprintf("?id=%d", e.privJob), []int64{e.privJob}},
				{fmt.Sprintf("?id__in=%d,%d", e.privJob, e.bobJob), []int64{e.bobJob, e.privJob}},
				{fmt.Sprintf("?id__gt=%d", e.privJob), []int64{e.bobJob, e.grpJob}},
				{fmt.Sprintf("?id__lt=%d", e.privJob), []int64{e.pubJob}},
				{"?id__lt=0", []int64{}},
				{"?submit_time__gt=" + url.QueryEscape(before), []int64{e.bobJob, e.grpJob, e.privJob}},
				{"?submit_time__lt=" + url.QueryEscape(lavawire.FormatTime(bobSubmitted.SubmitTime)), []int64{e.grpJob, e.privJob, e.pubJob}},
				{"?submit_time__gt=2000-01-01", all},
				{"?submit_time__lt=2000-01-01%2000:00", []int64{}},
				{"?end_time__gt=2000-01-01T00:00:00Z", []int64{e.bobJob, e.pubJob}},
				{"?start_time__lt=2999-01-01T00:00:00%2B02:00", []int64{e.pubJob}},
				{"?description__icontains=JOB", all},
				{"?description__icontains=bob", []int64{e.bobJob}},
				{"?metadata__branch=main", []int64{e.pubJob}},
				{"?metadata__branch__startswith=release/", []int64{e.bobJob}},
				{"?metadata__branch__iexact=MAIN", []int64{e.pubJob}},
				{"?metadata__branch__in=main,release/1.0", []int64{e.bobJob, e.pubJob}},
				{"?metadata__branch__icontains=EASE", []int64{e.bobJob}},
				{"?metadata__arch__isnull=true", []int64{e.bobJob, e.grpJob, e.privJob}},
				{"?metadata__arch__isnull=false", []int64{e.pubJob}},
				{"?metadata__has_key=branch", []int64{e.bobJob, e.pubJob}},
				{"?metadata__has_keys=branch,arch", []int64{e.pubJob}},
				{"?metadata__contains=" + url.QueryEscape(`{"branch": "main", "arch": "arm64"}`), []int64{e.pubJob}},
				{"?metadata__contains=" + url.QueryEscape(`{"branch": "main", "arch": "x86"}`), []int64{}},
				{"?metadata__branch=main&metadata__arch=arm64&state=Finished", []int64{e.pubJob}},
				{"?metadata__branch=", all},
				{"?ordering=id", []int64{e.pubJob, e.privJob, e.grpJob, e.bobJob}},
				{"?ordering=-id", all},
				{"?ordering=bogus,submit_time", []int64{e.pubJob, e.privJob, e.grpJob, e.bobJob}},
				{"?ordering=end_time", []int64{e.pubJob, e.bobJob, e.privJob, e.grpJob}},
				{"?ordering=-start_time", []int64{e.pubJob, e.bobJob, e.grpJob, e.privJob}},
				{"?ordering=priority", all},
			}
			for _, c := range cases {
				var p lavawire.Page[lavawire.Job]
				e.get(admin, "/jobs/"+c.query, &p)
				if got := jobIDs(p); !slices.Equal(got, c.want) || p.Count != len(c.want) {
					t.Errorf("jobs/%s: %v (count %d), want %v", c.query, got, p.Count, c.want)
				}
			}
			bad := []struct{ query, field string }{
				{"?state=Bogus", "state"},
				{"?health__in=Complete,nope", "health__in"},
				{"?id=x", "id"},
				{"?id__gt=1.5", "id__gt"},
				{"?submit_time__gt=yesterday", "submit_time__gt"},
				{"?health_check=maybe", "health_check"},
				{"?metadata__=x", "metadata__"},
				{"?metadata__branch__regex=.*", "metadata__branch__regex"},
				{"?metadata__contains=[1]", "metadata__contains"},
				{"?metadata__has_any_keys=a,b", "metadata__has_any_keys"},
				{"?metadata__a__isnull=perhaps", "metadata__a__isnull"},
				{"?state__in=" + strings.Repeat("Running,", 101), "state__in"},
			}
			for _, c := range bad {
				st, body := e.do(admin, "GET", "/jobs/"+c.query, "")
				var fields map[string][]string
				if st != 400 || json.Unmarshal(body, &fields) != nil || len(fields[c.field]) != 1 {
					t.Errorf("jobs/%s: %d %s, want 400 on %s", c.query, st, body, c.field)
				}
			}
			var many []string
			for i := range 17 {
				many = append(many, fmt.Sprintf("metadata__k%d=v", i))
			}
			if st, body := e.do(admin, "GET", "/jobs/?"+strings.Join(many, "&"), ""); st != 400 {
				t.Errorf("17 metadata filters: %d %s", st, body)
			}

			// A job as LAVA shows it.
			var j map[string]any
			e.get(anon, fmt.Sprintf("/jobs/%d/", e.pubJob), &j)
			want := map[string]any{"id": float64(e.pubJob), "submitter": "alice", "viewing_groups": []any{}, "description": "public-job",
				"health_check": false, "requested_device_type": "qemu", "tags": []any{}, "actual_device": "d1",
				"state": "Finished", "health": "Complete", "priority": float64(50), "metadata": map[string]any{"branch": "main", "arch": "arm64"},
				"multinode_definition": "", "failure_tags": []any{}, "failure_comment": nil}
			for k, v := range want {
				if fmt.Sprint(j[k]) != fmt.Sprint(v) {
					t.Errorf("job field %s: %v, want %v", k, j[k], v)
				}
			}
			for _, k := range []string{"submit_time", "start_time", "end_time"} {
				s, _ := j[k].(string)
				if !strings.HasSuffix(s, "Z") || !strings.Contains(s, "T") {
					t.Errorf("job field %s: %v", k, j[k])
				}
			}
			if len(j) != 20 || j["definition"] != j["original_definition"] || !strings.Contains(j["definition"].(string), "job_name: public-job") {
				t.Errorf("job has %d fields: %v", len(j), j)
			}
		})
	}
}

// TestPagination pages through jobs as DRF's LimitOffsetPagination does.
func TestPagination(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for i := range 8 {
		e.Submit(bob, job(fmt.Sprintf("more-%d", i), "qemu", "public", ""))
	}
	// 12 jobs in all, all Submitted: read them 5 at a time, with a filter
	// the links keep.
	var p lavawire.Page[lavawire.Job]
	e.get(admin, "/jobs/?limit=5&state=Submitted&format=json", &p)
	if p.Count != 12 || len(p.Results) != 5 || p.Previous != nil || p.Next == nil {
		t.Fatalf("first page: count %d, %d results, next %v, previous %v", p.Count, len(p.Results), p.Next, p.Previous)
	}
	wantNext := e.srv.URL + "/api/v0.2/jobs/?format=json&limit=5&offset=5&state=Submitted"
	if *p.Next != wantNext {
		t.Errorf("next: %s, want %s", *p.Next, wantNext)
	}
	var seen []int64
	seen = append(seen, jobIDs(p)...)
	pages := 1
	for p.Next != nil {
		next := strings.TrimPrefix(*p.Next, e.srv.URL+lavarest.Prefix)
		p = lavawire.Page[lavawire.Job]{}
		e.get(admin, next, &p)
		seen = append(seen, jobIDs(p)...)
		pages++
		if pages == 2 && (p.Previous == nil || *p.Previous != e.srv.URL+"/api/v0.2/jobs/?format=json&limit=5&state=Submitted") {
			t.Errorf("previous of page 2: %v", p.Previous)
		}
	}
	if pages != 3 || len(seen) != 12 || !slices.IsSortedFunc(seen, func(a, b int64) int { return int(b - a) }) {
		t.Errorf("%d pages, jobs %v", pages, seen)
	}
	for _, c := range []struct {
		query      string
		count, len int
	}{
		{"?limit=0", 12, 12},           // not a positive limit: the default (50)
		{"?limit=-3&offset=x", 12, 12}, // bad offset: 0
		{"?limit=abc", 12, 12},
		{"?offset=10", 12, 2},
		{"?offset=99", 12, 0},
		{"?limit=100000", 12, 12}, // at most 500 a page
	} {
		p = lavawire.Page[lavawire.Job]{}
		e.get(admin, "/jobs/"+c.query, &p)
		if p.Count != c.count || len(p.Results) != c.len {
			t.Errorf("jobs/%s: count %d, %d results, want %d, %d", c.query, p.Count, len(p.Results), c.count, c.len)
		}
	}
	p = lavawire.Page[lavawire.Job]{}
	e.get(admin, "/jobs/?offset=10", &p)
	if p.Next != nil || p.Previous == nil || *p.Previous != e.srv.URL+"/api/v0.2/jobs/?limit=50" {
		t.Errorf("last page links: next %v, previous %v", p.Next, p.Previous)
	}
	// A page longer than the chunks the server reads is whole, in order.
	for i := range 30 {
		e.Submit(alice, job(fmt.Sprintf("chunk-%d", i), "qemu", "personal", ""))
	}
	for _, c := range []struct {
		query string
		cmp   func(a, b int64) int
	}{
		{"?limit=45", func(a, b int64) int { return int(b - a) }},
		{"?limit=45&ordering=id", func(a, b int64) int { return int(a - b) }},
		{"?limit=45&ordering=submit_time", func(a, b int64) int { return int(a - b) }},
		{"?limit=40&offset=2&ordering=-id", func(a, b int64) int { return int(b - a) }},
	} {
		var p lavawire.Page[lavawire.Job]
		e.get(admin, "/jobs/"+c.query, &p)
		got := jobIDs(p)
		want := 42
		if strings.Contains(c.query, "offset=2") {
			want = 40
		}
		if p.Count != 42 || len(got) != want || !slices.IsSortedFunc(got, c.cmp) || len(slices.Compact(slices.Clone(got))) != want {
			t.Errorf("jobs/%s: count %d, %d jobs %v", c.query, p.Count, len(got), got)
		}
	}
	st, body := e.do(admin, "GET", "/jobs/?limit=1", "")
	if st != 200 || !strings.HasPrefix(string(body), `{"count":42,"next":"http://`) || !strings.HasSuffix(string(body), "}]}\n") {
		t.Errorf("jobs page text: %s", body)
	}

	// Lists kept in memory page the same way.
	var tags lavawire.Page[lavawire.Tag]
	e.get(anon, "/tags/?limit=1&offset=1", &tags)
	if tags.Count != 2 || len(tags.Results) != 1 || tags.Results[0].Name != "slow" || tags.Next != nil || tags.Previous == nil {
		t.Errorf("tags page 2: %+v", tags)
	}
}

// app0 is the finish report of a job whose log is empty.
func app0() app.WorkerFinish {
	return app.WorkerFinish{LogSHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
}
