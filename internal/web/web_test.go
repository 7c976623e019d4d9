package web_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/web"
)

func TestMain(m *testing.M) { labtest.Main(m) }

// Identities pages are requested as.
const (
	anon   = labtest.Anon
	alice  = labtest.Alice
	bob    = labtest.Bob
	admin  = labtest.Admin
	nIdent = labtest.Worker // the users, without the worker
)

var identNames = labtest.Names[:nIdent]

var must = labtest.Must

// env is a UI over the standard lab (labtest.Lab): worker w1 (Online),
// device d1 running alice's personal job, and alice's public job queued
// behind it. Both jobs have logs; the public one has results.
type env struct {
	*labtest.Lab
	srv     *httptest.Server
	pubJob  int64
	privJob int64
	worker  auth.Principal // w1, for tests that run jobs (live_test.go)
}

// pubLog is the public job's log: five records, one results record and one
// line that is not a record at all.
var pubLog = strings.Join([]string{
	`{"dt":"2026-01-02T03:04:05.006Z","lvl":"info","msg":"start: 1 deploy"}`,
	`{"dt":"2026-01-02T03:04:06Z","lvl":"target","msg":"Linux version <6.1>"}`,
	`{"dt":"2026-01-02T03:04:07Z","lvl":"error","msg":"something broke"}`,
	`{"dt":"2026-01-02T03:04:08Z","lvl":"results","msg":{"definition":"smoke","case":"echo-ok","result":"pass","measurement":"1.5","units":"s"}}`,
	`not a record`,
	`{"dt":"2026-01-02T03:04:09Z","lvl":"results","msg":{"definition":"smoke","case":"boot","result":"fail"}}`,
}, "\n") + "\n"

func newEnv(t testing.TB, b labtest.Backend) *env { return newEnvOver(t, b, nil) }

// newEnvOver is newEnv with the store wrapped by wrap (nil: as it is).
func newEnvOver(t testing.TB, b labtest.Backend, wrap func(store.Store) store.Store) *env {
	t.Helper()
	return newEnvConfig(t, b, labtest.Config{Store: wrap})
}

// newEnvConfig is newEnv over the lab of cfg.
func newEnvConfig(t testing.TB, b labtest.Backend, cfg labtest.Config) *env {
	t.Helper()
	ctx := context.Background()
	l := labtest.NewLab(t, b, cfg)
	e := &env{Lab: l, worker: l.Principal(labtest.Worker)}
	_, err := l.App.Heartbeat(ctx, e.worker, "w1", "1.2.3")
	must(t, err)
	e.privJob = e.Submit(alice, labtest.Job("personal-job", "qemu", "visibility: personal\npriority: high"))
	_, err = l.App.SchedulePass(ctx)
	must(t, err)
	e.pubJob = e.Submit(alice, labtest.Job("public-job", "qemu", "visibility: public\npriority: medium"))
	_, err = l.Logs.Append(context.Background(), e.pubJob, 0, []byte(pubLog))
	must(t, err)
	_, err = l.Logs.Append(context.Background(), e.privJob, 0, []byte(`{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"secret-line"}`+"\n"))
	must(t, err)
	e.srv = l.Serve(web.New(l.App, nil))
	return e
}

// get fetches path as who and returns status and body.
func (e *env) get(who int, path string) (int, string, http.Header) {
	e.T.Helper()
	resp, err := http.DefaultClient.Do(e.Request(who, "GET", e.srv.URL+path, ""))
	must(e.T, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	must(e.T, err)
	return resp.StatusCode, string(body), resp.Header
}

func TestPages(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			pub, priv := fmt.Sprint(e.pubJob), fmt.Sprint(e.privJob)
			// want is the status for anonymous, alice, bob, admin.
			cases := []struct {
				path string
				want [nIdent]int
			}{
				{"/", [nIdent]int{200, 200, 200, 200}},
				{"/jobs", [nIdent]int{200, 200, 200, 200}},
				{"/jobs?state=Submitted&device_type=qemu&submitter=alice&q=job&limit=1&offset=0", [nIdent]int{200, 200, 200, 200}},
				{"/jobs?state=Bogus", [nIdent]int{400, 400, 400, 400}},
				{"/jobs?limit=0", [nIdent]int{400, 400, 400, 400}},
				{"/jobs/" + pub, [nIdent]int{200, 200, 200, 200}},
				{"/jobs/" + priv, [nIdent]int{404, 200, 404, 200}},
				{"/jobs/" + pub + "/log?start=1&end=3", [nIdent]int{200, 200, 200, 200}},
				{"/jobs/" + pub + "/log", [nIdent]int{200, 200, 200, 200}},
				{"/jobs/" + pub + "/log?start=3&end=1", [nIdent]int{400, 400, 400, 400}},
				{"/jobs/" + pub + "/log?start=x", [nIdent]int{400, 400, 400, 400}},
				{"/jobs/" + priv + "/log", [nIdent]int{404, 200, 404, 200}},
				{"/jobs/" + pub + "/results", [nIdent]int{200, 200, 200, 200}},
				{"/jobs/" + priv + "/results", [nIdent]int{404, 200, 404, 200}},
				{"/jobs/999999", [nIdent]int{404, 404, 404, 404}},
				{"/jobs/abc", [nIdent]int{404, 404, 404, 404}},
				{"/devices", [nIdent]int{200, 200, 200, 200}},
				{"/devices?device_type=qemu", [nIdent]int{200, 200, 200, 200}},
				{"/devices/d1", [nIdent]int{200, 200, 200, 200}},
				{"/devices/nope", [nIdent]int{404, 404, 404, 404}},
				{"/workers", [nIdent]int{200, 200, 200, 200}},
				{"/workers/w1", [nIdent]int{200, 200, 200, 200}},
				{"/workers/nope", [nIdent]int{404, 404, 404, 404}},
				{"/no/such/page", [nIdent]int{404, 404, 404, 404}},
				{"/login", [nIdent]int{200, 200, 200, 200}},
			}
			for _, c := range cases {
				for who := range nIdent {
					code, body, h := e.get(who, c.path)
					if code != c.want[who] {
						t.Errorf("GET %s as %s: status %d, want %d\n%s", c.path, identNames[who], code, c.want[who], body)
						continue
					}
					if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
						t.Errorf("GET %s as %s: Content-Type %q", c.path, identNames[who], ct)
					}
					if err := checkHTML(body); err != nil {
						t.Errorf("GET %s as %s: invalid HTML: %v\n%s", c.path, identNames[who], err, body)
					}
					if who != alice && who != admin && strings.Contains(body, "personal-job") {
						t.Errorf("GET %s as %s shows the private job", c.path, identNames[who])
					}
				}
			}
		})
	}
}

func TestBadCredentials(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	req, err := http.NewRequest("GET", e.srv.URL+"/", nil)
	must(t, err)
	req.Header.Set("Authorization", "Token not-a-token")
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: status %d, want 401", resp.StatusCode)
	}
	if err := checkHTML(string(body)); err != nil {
		t.Errorf("401 page: %v", err)
	}
}

// send does one request without following redirects; cookie, when not
// empty, is sent as the session cookie.
func (e *env) send(method, path, cookie string, form url.Values, hdr map[string]string) (*http.Response, string) {
	e.T.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	must(e.T, err)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "basalt_session", Value: cookie})
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	must(e.T, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	must(e.T, err)
	return resp, string(b)
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "basalt_session" {
			return c
		}
	}
	return nil
}

func TestSession(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	priv := fmt.Sprintf("/jobs/%d", e.privJob)

	resp, body := e.send("GET", "/login?next="+url.QueryEscape(priv), "", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, fmt.Sprintf(`name="next" value="%s"`, priv)) {
		t.Fatalf("login form: %d\n%s", resp.StatusCode, body)
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("login form: %v", err)
	}

	resp, body = e.send("POST", "/login", "", url.Values{"username": {"alice"}, "password": {"wrong"}, "next": {priv}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong username or password.") || sessionCookie(resp) != nil {
		t.Errorf("wrong password: status %d, cookie %v\n%s", resp.StatusCode, sessionCookie(resp), body)
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("failed login page: %v", err)
	}

	resp, _ = e.send("POST", "/login", "", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {"//evil.example/"}}, map[string]string{"Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden || sessionCookie(resp) != nil {
		t.Errorf("cross-site login: status %d, want 403 without a cookie", resp.StatusCode)
	}
	for _, next := range []string{"//evil.example/", "/\t/evil.example", "/%09/evil.example", "/\\evil.example", "https:evil.example"} {
		resp, _ = e.send("POST", "/login", "", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {next}}, nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/" {
			t.Errorf("login with next %q: status %d, Location %q; want 303 to /", next, resp.StatusCode, loc)
		}
		resp, body = e.send("GET", "/login?next="+url.QueryEscape(next), "", nil, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, `name="next" value="/"`) {
			t.Errorf("login form with next %q: %d, the form does not carry / as next", next, resp.StatusCode)
		}
	}

	resp, _ = e.send("POST", "/login", "", url.Values{"username": {"alice"}, "password": {"alice-password"}, "next": {priv}}, nil)
	c := sessionCookie(resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != priv || c == nil {
		t.Fatalf("login: status %d, Location %q, cookie %v", resp.StatusCode, resp.Header.Get("Location"), c)
	}
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" {
		t.Errorf("session cookie attributes: %+v", c)
	}
	resp, body = e.send("GET", priv, c.Value, nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(body, "Signed in as <strong>alice</strong>") || !strings.Contains(body, `action="/logout"`) {
		t.Fatalf("private job with alice's session: %d\n%s", resp.StatusCode, body)
	}

	resp, _ = e.send("POST", "/logout", c.Value, url.Values{}, nil)
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == nil || sessionCookie(resp).MaxAge >= 0 {
		t.Errorf("logout: status %d, cookie %v; want 303 clearing the cookie", resp.StatusCode, sessionCookie(resp))
	}
	// The old cookie no longer works: its token is revoked. The caller is
	// anonymous (the private job is not found) and the cookie is cleared.
	resp, body = e.send("GET", priv, c.Value, nil, nil)
	if resp.StatusCode != http.StatusNotFound || sessionCookie(resp) == nil || strings.Contains(body, "personal-job") {
		t.Errorf("revoked session: status %d, cookie %v", resp.StatusCode, sessionCookie(resp))
	}
	for _, junk := range []string{"garbage", "0.x", "12.", "99.not-a-secret"} {
		resp, body = e.send("GET", "/", junk, nil, nil)
		if resp.StatusCode != 200 || !strings.Contains(body, "Anonymous") {
			t.Errorf("cookie %q: status %d, want an anonymous page", junk, resp.StatusCode)
		}
	}
}

func TestOverview(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, anonBody, _ := e.get(anon, "/")
	_, aliceBody, _ := e.get(alice, "/")
	for _, want := range []string{
		// qemu: d1 busy with the private job, nothing idle or offline; the
		// queue holds the public job (visible to everyone).
		`<th scope="row"><a href="/devices?device_type=qemu">qemu</a></th><td class="num">0</td><td class="num">1</td><td class="num">0</td>`,
		`device_type=qemu">1</a>`,
		`a private job`,
		`<span class="badge s-online">Online</span>`,
		`1.2.3`,
		`1 busy of 1 device`,
	} {
		if !strings.Contains(anonBody, want) {
			t.Errorf("anonymous overview lacks %q", want)
		}
	}
	if strings.Contains(anonBody, fmt.Sprintf(`href="/jobs/%d"`, e.privJob)) {
		t.Error("anonymous overview links the private job")
	}
	if !strings.Contains(aliceBody, fmt.Sprintf(`href="/jobs/%d"`, e.privJob)) {
		t.Error("alice's overview does not link her running job")
	}
	if !strings.Contains(aliceBody, "Signed in as <strong>alice</strong>") {
		t.Error("alice's overview does not say who is signed in")
	}
}

func TestJobsList(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, body, _ := e.get(alice, "/jobs")
	if !strings.Contains(body, "personal-job") || !strings.Contains(body, "public-job") || !strings.Contains(body, "Jobs 1–2 of 2") {
		t.Errorf("alice's job list is not both jobs:\n%s", body)
	}
	_, body, _ = e.get(bob, "/jobs")
	if !strings.Contains(body, "public-job") || !strings.Contains(body, "Jobs 1–1 of 1") {
		t.Errorf("bob's job list is not the public job:\n%s", body)
	}
	_, body, _ = e.get(alice, "/jobs?limit=1")
	if !strings.Contains(body, "Jobs 1–1 of 2") || !strings.Contains(body, `href="/jobs?limit=1&amp;offset=1"`) || strings.Contains(body, `rel="prev"`) {
		t.Errorf("first page of one job: wrong count or pager:\n%s", body)
	}
	_, body, _ = e.get(alice, "/jobs?limit=1&offset=1")
	if !strings.Contains(body, "Jobs 2–2 of 2") || !strings.Contains(body, `rel="prev" href="/jobs?limit=1"`) || strings.Contains(body, `rel="next"`) {
		t.Errorf("second page of one job: wrong count or pager:\n%s", body)
	}
	_, body, _ = e.get(alice, "/jobs?limit=1&offset=5")
	if !strings.Contains(body, "No jobs on this page (2 in all)") {
		t.Errorf("page past the end: %s", body)
	}
	_, body, _ = e.get(alice, "/jobs?state=Submitted")
	if !strings.Contains(body, "Jobs 1–1 of 1") || strings.Contains(body, "personal-job") || !strings.Contains(body, `<option selected="selected">Submitted</option>`) {
		t.Errorf("state filter Submitted: wrong jobs or form state:\n%s", body)
	}
	_, body, _ = e.get(alice, "/jobs?q=PUBLIC")
	if !strings.Contains(body, "public-job") || strings.Contains(body, "personal-job") {
		t.Errorf("text filter: wrong jobs:\n%s", body)
	}
	_, body, _ = e.get(alice, "/jobs?submitter=bob")
	if !strings.Contains(body, "No matching jobs") {
		t.Errorf("submitter filter bob: expected no jobs:\n%s", body)
	}
}

func TestJobPage(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.pubJob))
	for _, want := range []string{
		"public-job", "visibility: public", // definition
		`<th scope="row">smoke</th><td class="num">1</td><td class="num">1</td>`, // suite counts
		`<th scope="row">echo-ok</th><td><span class="badge r-pass">pass</span></td><td>1.5 s</td>`,
		fmt.Sprintf(`href="/jobs/%d/log?start=0&amp;end=500#L3"`, e.pubJob), // result → its log line (0-based)
		`<li id="L2" class="lvl-error">`,
		`Linux version &lt;6.1&gt;`, // log text is escaped
		`<li id="L4" class="lvl-raw">`, `not a record`,
		"03:04:05.006",
		"Lines 0–5 of 6",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	_, body, _ = e.get(alice, fmt.Sprintf("/jobs/%d", e.privJob))
	if !strings.Contains(body, "secret-line") || !strings.Contains(body, "No results recorded.") {
		t.Errorf("alice's private job page lacks its log or the empty results note:\n%s", body)
	}
}

func TestResultsOfLongLogs(t *testing.T) {
	defer web.SetInlineCases(1)()
	e := newEnv(t, labtest.Backends()[0])
	_, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d", e.pubJob))
	if strings.Contains(body, `<th scope="row">echo-ok</th>`) || !strings.Contains(body, fmt.Sprintf(`<a href="/jobs/%d/results">the results page</a>`, e.pubJob)) {
		t.Errorf("job page of a log over the threshold scans results or lacks the link:\n%s", body)
	}
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d/results", e.pubJob))
	for _, want := range []string{`<th scope="row">echo-ok</th>`, `<th scope="row">boot</th><td><span class="badge r-fail">fail</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("results page lacks %q", want)
		}
	}
}

func TestLogWindow(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, body, _ := e.get(anon, fmt.Sprintf("/jobs/%d/log?start=1&end=3", e.pubJob))
	for _, want := range []string{
		`<ol class="log" start="1"`, `id="L1"`, `id="L2"`, "Lines 1–2 of 6",
		fmt.Sprintf(`href="/jobs/%d/log?start=0&amp;end=2"`, e.pubJob), // earlier
		fmt.Sprintf(`href="/jobs/%d/log?start=3&amp;end=5"`, e.pubJob), // later
		fmt.Sprintf(`href="/jobs/%d/log?start=4&amp;end=6"`, e.pubJob), // last
	} {
		if !strings.Contains(body, want) {
			t.Errorf("log window 1–3 lacks %q", want)
		}
	}
	for _, unwanted := range []string{`id="L0"`, `id="L3"`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("log window 1–3 has %q", unwanted)
		}
	}
	// A window past the end is empty, not an error, and offers no "later".
	_, body, _ = e.get(anon, fmt.Sprintf("/jobs/%d/log?start=100&end=200", e.pubJob))
	if strings.Contains(body, `rel="next"`) || strings.Contains(body, `<ol class="log"`) {
		t.Errorf("window past the end: %s", body)
	}
}

func TestStaticAssets(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for path, ctype := range map[string]string{"/static/basalt.css": "text/css", "/static/basalt.js": "javascript"} {
		code, body, h := e.get(anon, path)
		if code != 200 || !strings.Contains(h.Get("Content-Type"), ctype) || len(body) < 100 {
			t.Errorf("GET %s: status %d, type %q, %d bytes", path, code, h.Get("Content-Type"), len(body))
		}
	}
	if code, _, _ := e.get(anon, "/static/nope.css"); code != 404 {
		t.Errorf("missing asset: status %d, want 404", code)
	}
}

// checkHTML checks a page is well-formed (the templates emit XHTML-style
// markup, so a strict XML parse proves every element is closed and nested
// and every attribute quoted) and has the accessible structure every page
// shares: a language, one main landmark, one h1, a scope on every th, a
// label on every form control, no duplicate ids and no template leftovers.
func checkHTML(body string) error {
	if !strings.HasPrefix(body, "<!DOCTYPE html>\n") {
		return errors.New("no <!DOCTYPE html> first")
	}
	if strings.Contains(body, "{{") || strings.Contains(body, "<no value>") {
		return errors.New("template leftovers")
	}
	d := xml.NewDecoder(strings.NewReader(body))
	d.Strict = true
	d.Entity = xml.HTMLEntity
	counts := map[string]int{}
	ids := map[string]bool{}
	var stack []string
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			name := tok.Name.Local
			counts[name]++
			attrs := map[string]string{}
			for _, a := range tok.Attr {
				attrs[a.Name.Local] = a.Value
			}
			if id, ok := attrs["id"]; ok {
				if ids[id] {
					return fmt.Errorf("duplicate id %q", id)
				}
				ids[id] = true
			}
			switch name {
			case "html":
				if attrs["lang"] == "" {
					return errors.New("<html> without lang")
				}
			case "th":
				if s := attrs["scope"]; s != "col" && s != "row" {
					return fmt.Errorf("<th> without scope (%q)", s)
				}
			case "input", "select":
				if attrs["type"] != "hidden" && !contains(stack, "label") {
					return fmt.Errorf("<%s name=%q> outside a label", name, attrs["name"])
				}
			}
			stack = append(stack, name)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		}
	}
	if counts["html"] != 1 || counts["main"] != 1 || counts["h1"] != 1 || counts["title"] != 1 {
		return fmt.Errorf("want one html, main, h1 and title; have %v", counts)
	}
	return nil
}

// TestCheckHTML shows the page checker rejects what it claims to.
func TestCheckHTML(t *testing.T) {
	page := func(body string) string {
		return "<!DOCTYPE html>\n<html lang=\"en\"><head><title>t</title></head><body><main><h1>x</h1>" + body + "</main></body></html>"
	}
	if err := checkHTML(page(`<table><tr><th scope="col">a</th></tr></table>`)); err != nil {
		t.Fatalf("good page rejected: %v", err)
	}
	for name, bad := range map[string]string{
		"unclosed":     page(`<p>open`),
		"misnested":    page(`<p><b>x</p></b>`),
		"th no scope":  page(`<table><tr><th>a</th></tr></table>`),
		"dup id":       page(`<p id="a"></p><p id="a"></p>`),
		"bare input":   page(`<input name="q" />`),
		"two h1":       page(`<h1>again</h1>`),
		"leftover":     page(`{{.X}}`),
		"no doctype":   `<html lang="en"></html>`,
		"unquoted att": page(`<p class=x></p>`),
	} {
		if checkHTML(bad) == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
