package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/xml"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

// storeAll is a job filter that lists every job of the test lab.
func storeAll() store.JobFilter { return store.JobFilter{Limit: 100} }

// post sends a form as who (by token; anonymous sends none) without
// following redirects.
func (e *env) post(who int, path string, form url.Values) (*http.Response, string) {
	e.T.Helper()
	hdr := map[string]string{}
	if who != anon {
		hdr["Authorization"] = "Token " + e.Tokens[who]
	}
	if form == nil {
		form = url.Values{}
	}
	return e.send("POST", path, "", form, hdr)
}

// checkPage fails t unless body is a valid page.
func checkPage(t *testing.T, what, body string) {
	t.Helper()
	if err := checkHTML(body); err != nil {
		t.Errorf("%s: invalid HTML: %v\n%s", what, err, body)
	}
}

// treeLog is a finished job's log: lava results of nested actions, in the
// order the dispatcher writes them (an action's result after its
// children's), and a test suite with pass, fail, skip and unknown.
var treeLog = strings.Join([]string{
	`{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":{"definition":"lava","case":"http-download","result":"pass","duration":"1.50","level":"1.1"}}`,
	`{"dt":"2026-01-02T03:04:06Z","lvl":"results","msg":{"definition":"lava","case":"tmpfs-deploy","result":"pass","duration":"2.00","level":"1"}}`,
	`{"dt":"2026-01-02T03:04:07Z","lvl":"results","msg":{"definition":"lava","case":"auto-login","result":"fail","duration":"30.00","level":"2.10"}}`,
	`{"dt":"2026-01-02T03:04:07Z","lvl":"results","msg":{"definition":"lava","case":"boot-qemu","result":"pass","duration":"3.00","level":"2.2"}}`,
	`{"dt":"2026-01-02T03:04:08Z","lvl":"results","msg":{"definition":"lava","case":"qemu-boot","result":"fail","duration":"33.00","level":"2"}}`,
	`{"dt":"2026-01-02T03:04:09Z","lvl":"results","msg":{"definition":"lava","case":"job","result":"fail"}}`,
	`{"dt":"2026-01-02T03:04:10Z","lvl":"results","msg":{"definition":"1_smoke","case":"a","result":"pass","duration":"0.10"}}`,
	`{"dt":"2026-01-02T03:04:10Z","lvl":"results","msg":{"definition":"1_smoke","case":"b","result":"fail","measurement":"3","units":"s"}}`,
	`{"dt":"2026-01-02T03:04:10Z","lvl":"results","msg":{"definition":"1_smoke","case":"c","result":"skip"}}`,
	`{"dt":"2026-01-02T03:04:10Z","lvl":"results","msg":{"definition":"1_smoke","case":"d <&>","result":"unknown"}}`,
}, "\n") + "\n"

// treeJob submits a public job for alice and writes treeLog as its log.
func (e *env) treeJob() int64 {
	e.T.Helper()
	ids, _, err := e.App.SubmitJob(context.Background(), e.Principal(alice), labtest.Job("tree-job", "qemu", ""))
	must(e.T, err)
	_, err = e.Logs.Append(context.Background(), ids[0], 0, []byte(treeLog))
	must(e.T, err)
	return ids[0]
}

func TestJobButtons(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	pub := fmt.Sprintf("/jobs/%d", e.pubJob)
	cancelForm := fmt.Sprintf(`<form method="post" action="%s/cancel">`, pub)
	resubmitForm := fmt.Sprintf(`<form method="post" action="%s/resubmit">`, pub)
	for who, want := range [nIdent]bool{anon: false, alice: true, bob: false, admin: true} {
		_, body, _ := e.get(who, pub)
		checkPage(t, "job page as "+identNames[who], body)
		if strings.Contains(body, cancelForm) != want || strings.Contains(body, resubmitForm) != want {
			t.Errorf("job page as %s: cancel/resubmit buttons shown = %v, want %v", identNames[who], !want, want)
		}
	}

	// Cancel: anonymous and bob may see the public job but not cancel it;
	// bob may not even see the private one.
	for _, c := range []struct {
		who  int
		path string
		want int
	}{
		{anon, pub + "/cancel", 403},
		{bob, pub + "/cancel", 403},
		{bob, fmt.Sprintf("/jobs/%d/cancel", e.privJob), 404},
		{anon, fmt.Sprintf("/jobs/%d/resubmit", e.privJob), 404},
		{bob, pub + "/resubmit", 403},
		{alice, "/jobs/999999/cancel", 404},
	} {
		resp, body := e.post(c.who, c.path, nil)
		if resp.StatusCode != c.want {
			t.Errorf("POST %s as %s: status %d, want %d", c.path, identNames[c.who], resp.StatusCode, c.want)
		}
		checkPage(t, "POST "+c.path, body)
	}
	if j, _ := e.App.Store().GetJob(context.Background(), e.pubJob); j.State != lab.JobSubmitted {
		t.Fatalf("refused cancels changed the job: %s", j.State)
	}

	resp, _ := e.post(alice, pub+"/cancel", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != pub {
		t.Fatalf("cancel as alice: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	j, err := e.App.Store().GetJob(context.Background(), e.pubJob)
	must(t, err)
	if j.State != lab.JobFinished || j.Health != lab.JobHealthCanceled {
		t.Errorf("after cancel: %s/%s, want Finished/Canceled", j.State, j.Health)
	}
	if resp, _ := e.post(alice, pub+"/cancel", nil); resp.StatusCode != http.StatusConflict {
		t.Errorf("second cancel: status %d, want 409", resp.StatusCode)
	}
	_, body, _ := e.get(alice, pub)
	if strings.Contains(body, cancelForm) || !strings.Contains(body, resubmitForm) {
		t.Errorf("finished job: cancel shown or resubmit missing")
	}

	// The running private job goes to Canceling when its owner cancels it.
	if resp, _ := e.post(alice, fmt.Sprintf("/jobs/%d/cancel", e.privJob), nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("cancel running job: status %d", resp.StatusCode)
	}
	if j, _ := e.App.Store().GetJob(context.Background(), e.privJob); j.State != lab.JobCanceling {
		t.Errorf("running job after cancel: %s, want Canceling", j.State)
	}

	resp, _ = e.post(admin, pub+"/resubmit", nil)
	loc := resp.Header.Get("Location")
	var nid int64
	if _, err := fmt.Sscanf(loc, "/jobs/%d", &nid); resp.StatusCode != http.StatusSeeOther || err != nil || nid == e.pubJob {
		t.Fatalf("resubmit: status %d, Location %q", resp.StatusCode, loc)
	}
	nj, err := e.App.Store().GetJob(context.Background(), nid)
	must(t, err)
	if nj.Submitter != "admin" || nj.State != lab.JobSubmitted || nj.Description != "public-job" || nj.Metadata["job.original"] == "" {
		t.Errorf("resubmitted job: %+v", nj)
	}

	// Cross-site posts are refused before anything happens.
	resp, _ = e.send("POST", fmt.Sprintf("/jobs/%d/cancel", nid), "", url.Values{}, map[string]string{"Authorization": "Token " + e.Tokens[admin], "Sec-Fetch-Site": "cross-site"})
	if j, _ := e.App.Store().GetJob(context.Background(), nid); resp.StatusCode != http.StatusForbidden || j.State != lab.JobSubmitted {
		t.Errorf("cross-site cancel: status %d, job %s", resp.StatusCode, j.State)
	}
}

func TestActionTree(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := e.treeJob()
	_, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d", id))
	checkPage(t, "job page", body)
	_, results, _ := e.get(anon, fmt.Sprintf("/jobs/%d/results", id))
	checkPage(t, "results page", results)
	for name, page := range map[string]string{"job page": body, "results page": results} {
		// Levels in numeric order (2.2 before 2.10), children nested in
		// their parent's item.
		var at []int
		for _, s := range []string{`<span class="lvl">1</span>`, `<span class="lvl">1.1</span>`, `<span class="lvl">2</span>`,
			`<span class="lvl">2.2</span>`, `<span class="lvl">2.10</span>`} {
			at = append(at, strings.Index(page, s))
		}
		for i := range at {
			if at[i] < 0 || (i > 0 && at[i] < at[i-1]) {
				t.Errorf("%s: action levels missing or out of order: %v", name, at)
				break
			}
		}
		for _, want := range []string{
			`<span class="act">auto-login</span> <span class="badge r-fail">fail</span> <span class="took">30.00 s</span>`,
			// line 2, counted from 0 as the API and the viewer do
			fmt.Sprintf(`href="/jobs/%d/log?start=0&amp;end=500#L2">line 2</a>`, id),
			fmt.Sprintf(`href="/jobs/%d/results.junit.xml"`, id),
		} {
			if !strings.Contains(page, want) {
				t.Errorf("%s lacks %q", name, want)
			}
		}
		if n := strings.Count(page, `<ol class="tree">`); n != 3 {
			t.Errorf("%s: %d tree lists, want 3 (top, under 1, under 2)", name, n)
		}
		if strings.Contains(page, `<span class="act">job</span>`) {
			t.Errorf("%s: the lava job result (no level) is in the action tree", name)
		}
	}
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d", e.pubJob))
	if !strings.Contains(body, "No actions recorded yet.") {
		t.Error("job without lava results: no empty-tree note")
	}
	// A job with more cases than the job page lists still shows its tree
	// there: it comes from the store, not from a scan of the log.
	defer web.SetInlineCases(1)()
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d", id))
	if strings.Count(body, `<ol class="tree">`) != 3 || strings.Contains(body, `<th scope="row">qemu-boot</th>`) ||
		!strings.Contains(body, "This job has 10 test cases") {
		t.Errorf("many cases: the job page lacks the tree or lists the cases:\n%s", body)
	}
}

// junitDoc is what a JUnit consumer reads.
type junitDoc struct {
	Tests    int `xml:"tests,attr"`
	Failures int `xml:"failures,attr"`
	Skipped  int `xml:"skipped,attr"`
	Errors   int `xml:"errors,attr"`
	Suites   []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Errors   int    `xml:"errors,attr"`
		Cases    []struct {
			Name    string    `xml:"name,attr"`
			Time    string    `xml:"time,attr"`
			Failure *struct{} `xml:"failure"`
			Skipped *struct{} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestResultsDownloads(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	id := e.treeJob()
	base := fmt.Sprintf("/jobs/%d/results", id)

	code, body, h := e.get(bob, base+".csv")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/csv") || !strings.Contains(h.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV: status %d, headers %v", code, h)
	}
	rows, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	must(t, err)
	if len(rows) != 11 || rows[0][0] != "job" || rows[8][1] != "1_smoke" || rows[8][3] != "b" || rows[8][4] != "fail" || rows[8][5] != "3" || rows[8][6] != "s" || rows[1][8] != "1.1" {
		t.Errorf("CSV rows: %q", rows)
	}

	code, body, _ = e.get(anon, base+".yaml")
	var ys []map[string]any
	if code != 200 {
		t.Fatalf("YAML: status %d", code)
	}
	must(t, yaml.Unmarshal([]byte(body), &ys))
	if len(ys) != 10 || ys[9]["name"] != "d <&>" || ys[9]["suite"] != "1_smoke" || ys[0]["level"] != "1.1" {
		t.Errorf("YAML: %v", ys)
	}

	code, body, h = e.get(anon, base+".junit.xml")
	if code != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/xml") {
		t.Fatalf("JUnit: status %d, type %q", code, h.Get("Content-Type"))
	}
	var doc junitDoc
	must(t, xml.Unmarshal([]byte(body), &doc))
	if doc.Tests != 10 || doc.Failures != 4 || doc.Skipped != 1 || doc.Errors != 1 || len(doc.Suites) != 2 {
		t.Fatalf("JUnit totals: %+v", doc)
	}
	lava, smoke := doc.Suites[0], doc.Suites[1]
	if lava.Name != "lava" || lava.Tests != 6 || lava.Failures != 3 || smoke.Name != "1_smoke" || smoke.Tests != 4 || smoke.Failures != 1 || smoke.Skipped != 1 || smoke.Errors != 1 {
		t.Errorf("JUnit suites: %+v", doc.Suites)
	}
	if c := smoke.Cases[1]; c.Name != "b" || c.Failure == nil || c.Skipped != nil {
		t.Errorf("JUnit failing case: %+v", c)
	}
	if c := smoke.Cases[2]; c.Name != "c" || c.Skipped == nil || c.Failure != nil {
		t.Errorf("JUnit skipped case: %+v", c)
	}
	if lava.Cases[0].Time != "1.50" {
		t.Errorf("JUnit case time: %q", lava.Cases[0].Time)
	}

	// Hidden jobs are not found, whatever the format; an empty job is an
	// empty document.
	for _, ext := range []string{".csv", ".yaml", ".junit.xml"} {
		path := fmt.Sprintf("/jobs/%d/results%s", e.privJob, ext)
		for who, want := range [nIdent]int{404, 200, 404, 200} {
			code, body, _ := e.get(who, path)
			if code != want {
				t.Errorf("GET %s as %s: status %d, want %d", path, identNames[who], code, want)
			}
			if code == 404 {
				checkPage(t, "404 for "+path, body)
			}
		}
	}
	_, body, _ = e.get(alice, fmt.Sprintf("/jobs/%d/results.junit.xml", e.privJob))
	doc = junitDoc{}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil || doc.Tests != 0 || len(doc.Suites) != 0 {
		t.Errorf("JUnit of a job without results: %v %+v", err, doc)
	}
}

// multipartForm encodes fields and one file field "file".
func multipartForm(t *testing.T, fields map[string]string, file string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		must(t, mw.WriteField(k, v))
	}
	fw, err := mw.CreateFormFile("file", "job.yaml")
	must(t, err)
	_, err = fw.Write([]byte(file))
	must(t, err)
	must(t, mw.Close())
	return mw.FormDataContentType(), &buf
}

func TestSubmitPage(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	resp, _ := e.send("GET", "/jobs/new", "", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fjobs%2Fnew" {
		t.Errorf("anonymous submit page: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	code, body, _ := e.get(alice, "/jobs/new")
	checkPage(t, "submit page", body)
	if code != 200 || !strings.Contains(body, `enctype="multipart/form-data"`) {
		t.Errorf("submit page: status %d", code)
	}

	// Line 3 has a bad priority; the message is shown right under it.
	bad := labtest.Job("bad-job", "qemu", "priority: urgent")
	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {bad}})
	checkPage(t, "rejected submission", body)
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid definition: status %d", resp.StatusCode)
	}
	li := body[strings.Index(body, `<li id="D3" class="bad">`):]
	li = li[:strings.Index(li, "</li>")]
	if !strings.Contains(li, "<code>priority: urgent</code>") || !strings.Contains(li, "<strong>Line 3:</strong>") || !strings.Contains(li, "priority") {
		t.Errorf("line 3 does not carry its problem: %s", li)
	}
	if strings.Count(body, `class="bad"`) != 1 || !strings.Contains(body, "1 problem.") || !strings.Contains(body, "bad-job</textarea>") && !strings.Contains(body, "job_name: bad-job") {
		t.Errorf("rejected page: wrong problem count or form not refilled:\n%s", body)
	}
	if jobs, total, _ := e.App.ListJobs(context.Background(), e.Principal(admin), storeAll()); total != 2 {
		t.Errorf("a rejected definition created a job: %d jobs %v", total, jobs)
	}

	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {"  \n"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Paste a job definition") {
		t.Errorf("empty definition: status %d", resp.StatusCode)
	}
	checkPage(t, "empty submission", body)
	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {labtest.Job("x", "no-such-type", "")}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "role=\"alert\"") {
		t.Errorf("unknown device type: status %d\n%s", resp.StatusCode, body)
	}
	checkPage(t, "unknown type", body)
	// A type with no usable device: 422 as on the REST API (it was 500),
	// the definition shown again with the reason.
	ctx := context.Background()
	must(t, e.App.CreateDeviceType(ctx, e.Principal(admin), lab.DeviceType{Name: "empty-type"}))
	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {labtest.Job("x", "empty-type", "")}})
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "no usable device") || !strings.Contains(body, "empty-type</") && !strings.Contains(body, "device_type: empty-type") {
		t.Errorf("type without devices: status %d, want 422 with the reason\n%s", resp.StatusCode, body)
	}
	checkPage(t, "type without devices", body)
	if resp, _ := e.post(anon, "/jobs/new", url.Values{"definition": {labtest.Job("x", "qemu", "")}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("anonymous submit: status %d, want 403", resp.StatusCode)
	}

	// Pasted, then uploaded (the file wins over the text area).
	resp, _ = e.post(bob, "/jobs/new", url.Values{"definition": {labtest.Job("pasted-job", "qemu", "")}})
	var id int64
	if _, err := fmt.Sscanf(resp.Header.Get("Location"), "/jobs/%d", &id); resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("paste: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if j, err := e.App.Store().GetJob(context.Background(), id); err != nil || j.Description != "pasted-job" || j.Submitter != "bob" {
		t.Errorf("pasted job: %+v %v", j, err)
	}
	ctype, buf := multipartForm(t, map[string]string{"definition": "ignored"}, labtest.Job("uploaded-job", "qemu", ""))
	req, err := http.NewRequest("POST", e.srv.URL+"/jobs/new", buf)
	must(t, err)
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Token "+e.Tokens[bob])
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err = c.Do(req)
	must(t, err)
	resp.Body.Close()
	if _, err := fmt.Sscanf(resp.Header.Get("Location"), "/jobs/%d", &id); resp.StatusCode != http.StatusSeeOther || err != nil {
		t.Fatalf("upload: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if j, err := e.App.Store().GetJob(context.Background(), id); err != nil || j.Description != "uploaded-job" {
		t.Errorf("uploaded job: %+v %v", j, err)
	}
}

func TestAdminForms(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	ctx := context.Background()
	for who := range nIdent {
		_, dev, _ := e.get(who, "/devices/d1")
		_, wk, _ := e.get(who, "/workers/w1")
		checkPage(t, "device page", dev)
		checkPage(t, "worker page", wk)
		want := who == admin
		if strings.Contains(dev, `action="/devices/d1/health"`) != want || strings.Contains(wk, `action="/workers/w1/health"`) != want {
			t.Errorf("as %s: admin forms shown = %v", identNames[who], !want)
		}
	}
	for _, who := range []int{anon, alice, bob} {
		for _, path := range []string{"/devices/d1/health", "/workers/w1/health"} {
			resp, body := e.post(who, path, url.Values{"health": {"Maintenance"}, "reason": {"x"}})
			if resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s as %s: status %d, want 403", path, identNames[who], resp.StatusCode)
			}
			checkPage(t, "403", body)
		}
	}
	for _, c := range []struct {
		path string
		form url.Values
		want int
	}{
		{"/devices/d1/health", url.Values{"health": {"Maintenance"}}, 400},
		{"/devices/d1/health", url.Values{"health": {"Shiny"}, "reason": {"r"}}, 400},
		{"/devices/nope/health", url.Values{"health": {"Bad"}, "reason": {"r"}}, 404},
		{"/workers/w1/health", url.Values{"health": {"Retired"}, "reason": {"r"}}, 400},
		{"/workers/nope/health", url.Values{"health": {"Maintenance"}, "reason": {"r"}}, 404},
	} {
		if resp, _ := e.post(admin, c.path, c.form); resp.StatusCode != c.want {
			t.Errorf("POST %s %v as admin: status %d, want %d", c.path, c.form, resp.StatusCode, c.want)
		}
	}
	if d, _ := e.App.GetDevice(ctx, auth.Anonymous(), "d1"); d.Health != lab.DeviceGood {
		t.Fatalf("refused forms changed the device: %s", d.Health)
	}

	resp, _ := e.post(admin, "/devices/d1/health", url.Values{"health": {"Maintenance"}, "reason": {"new PDU <cable>"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/devices/d1" {
		t.Fatalf("set device health: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if d, _ := e.App.GetDevice(ctx, auth.Anonymous(), "d1"); d.Health != lab.DeviceMaintenance {
		t.Errorf("device health after the form: %s", d.Health)
	}
	_, body, _ := e.get(admin, "/devices/d1")
	if !strings.Contains(body, "new PDU &lt;cable&gt;") || !strings.Contains(body, `<option selected="selected">Maintenance</option>`) {
		t.Errorf("device page lacks the reason in its history or the current health in the form")
	}

	resp, _ = e.post(admin, "/workers/w1/health", url.Values{"health": {"Maintenance"}, "reason": {"kernel update"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/workers/w1" {
		t.Fatalf("set worker health: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if w, _ := e.App.GetWorker(ctx, "w1"); w.Health != lab.WorkerMaintenance {
		t.Errorf("worker health after the form: %s", w.Health)
	}
	if resp, _ = e.post(admin, "/workers/w1/health", url.Values{"health": {"Active"}, "reason": {"done"}}); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("worker back to Active: status %d", resp.StatusCode)
	}
	if w, _ := e.App.GetWorker(ctx, "w1"); w.Health != lab.WorkerActive {
		t.Errorf("worker health after Active: %s", w.Health)
	}
}
