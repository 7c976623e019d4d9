package web_test

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestPrivateJobOnLabPages: the pages that show devices (overview, device
// list, device page with its history, worker page) link the personal job
// d1 runs only for its owner and administrators; anonymous visitors and
// other users read "a private job" and never its number. On SQLite and
// PostgreSQL.
func TestPrivateJobOnLabPages(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			link := fmt.Sprintf(`href="/jobs/%d"`, e.privJob)
			named := fmt.Sprintf("job %d", e.privJob)
			sees := [nIdent]bool{alice: true, admin: true}
			pages := []string{"/", "/devices", "/devices/d1", "/workers/w1"}
			check := func(stage string, busy bool) {
				t.Helper()
				for who := range nIdent {
					for _, path := range pages {
						code, body, _ := e.get(who, path)
						if code != 200 {
							t.Fatalf("%s: GET %s as %s: %d", stage, path, identNames[who], code)
						}
						if !sees[who] && (strings.Contains(body, link) || strings.Contains(body, named)) {
							t.Errorf("%s: GET %s as %s names the private job %d", stage, path, identNames[who], e.privJob)
						}
						if path == "/workers/w1" || !busy {
							continue
						}
						if sees[who] != strings.Contains(body, link) {
							t.Errorf("%s: GET %s as %s: links the job %v, want %v", stage, path, identNames[who], !sees[who], sees[who])
						}
						if !sees[who] && !strings.Contains(body, app.PrivateJob) {
							t.Errorf("%s: GET %s as %s does not say %q", stage, path, identNames[who], app.PrivateJob)
						}
					}
				}
			}
			check("reserved", true)

			// The job fails with an infrastructure error: d1's history
			// records the change with the job in its reason.
			_, err := e.App.FinishJob(context.Background(), e.worker, e.privJob, app.JobOutcome{Failed: true, ErrorType: lab.ErrorInfrastructure})
			must(t, err)
			check("finished", false)
			for who := range nIdent {
				_, body, _ := e.get(who, "/devices/d1")
				want := app.PrivateJob
				if sees[who] {
					want = named
				}
				if !strings.Contains(body, "job failed with Infrastructure error ("+want+")") {
					t.Errorf("device history as %s does not say %q", identNames[who], want)
				}
			}
		})
	}
}

// TestHostileFormsAreClientErrors: a definition that is not UTF-8 or holds
// NUL characters, uploaded or pasted, is shown again with the problem at
// its line (400), and other forms with such text answer 400; the same on
// SQLite and PostgreSQL (which answered 500), and nothing is stored.
func TestHostileFormsAreClientErrors(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			upload := func(def string) (int, string) {
				ctype, buf := multipartForm(t, nil, def)
				req, err := http.NewRequest("POST", e.srv.URL+"/jobs/new", buf)
				must(t, err)
				req.Header.Set("Content-Type", ctype)
				req.Header.Set("Authorization", "Token "+e.Tokens[alice])
				resp, err := c.Do(req)
				must(t, err)
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				must(t, err)
				return resp.StatusCode, string(body)
			}
			def := labtest.Job("hostile", "qemu", "")
			for _, s := range []struct {
				name, def, want string
				line            int
			}{
				{"uploaded, not UTF-8", strings.Replace(def, "job_name: hostile", "job_name: host\xefle", 1), "column 15: the text is not UTF-8", 1},
				{"uploaded, a NUL byte", strings.Replace(def, "device_type: qemu", "device_type: qe\x00mu", 1), "column 16: a NUL character (byte 0) is not allowed", 2},
				{"uploaded, Latin-1 comment", def + "# r\xe9sum\xe9\n", "column 4: the text is not UTF-8", strings.Count(def, "\n") + 1},
				{"uploaded, escaped NUL", strings.Replace(def, "job_name: hostile", `job_name: "host\0ile"`, 1), `column 11: a NUL character (\0) is not allowed`, 1},
			} {
				code, body := upload(s.def)
				if code != http.StatusBadRequest {
					t.Errorf("%s: status %d, want 400\n%s", s.name, code, body)
					continue
				}
				checkPage(t, s.name, body)
				if !utf8.ValidString(body) {
					t.Errorf("%s: the page is not UTF-8", s.name)
				}
				li := fmt.Sprintf(`<li id="D%d" class="bad">`, s.line)
				i := strings.Index(body, li)
				if i < 0 {
					t.Errorf("%s: line %d is not marked bad\n%s", s.name, s.line, body)
					continue
				}
				if item := body[i : i+strings.Index(body[i:], "</li>")]; !strings.Contains(item, html.EscapeString(s.want)) {
					t.Errorf("%s: line %d does not say %q: %s", s.name, s.line, s.want, item)
				}
			}
			// Pasted text goes the same way.
			resp, body := e.post(alice, "/jobs/new", url.Values{"definition": {strings.Replace(def, "job_name: hostile", "job_name: \x00", 1)}})
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "a NUL character") {
				t.Errorf("pasted definition with NUL: status %d\n%s", resp.StatusCode, body)
			}
			for _, f := range []struct {
				who  int
				path string
				form url.Values
			}{
				{alice, "/tokens", url.Values{"description": {"ci\x00"}}},
				{admin, "/devices/d1/health", url.Values{"health": {"Bad"}, "reason": {"fan\xff"}}},
				{admin, "/workers/w1/health", url.Values{"health": {"Maintenance"}, "reason": {"\x00"}}},
				{admin, "/users", url.Values{"username": {"carol"}, "email": {"c\x00@example.org"}}},
				{admin, "/groups", url.Values{"name": {"te\x00am"}}},
			} {
				if resp, body := e.post(f.who, f.path, f.form); resp.StatusCode != http.StatusBadRequest {
					t.Errorf("POST %s %q: status %d, want 400\n%s", f.path, f.form, resp.StatusCode, body)
				}
			}
			for _, path := range []string{"/devices/d%001", "/jobs?q=%00", "/workers/w%ff"} {
				if code, body, _ := e.get(anon, path); code/100 != 4 {
					t.Errorf("GET %s: status %d, want 4xx\n%s", path, code, body)
				}
			}
			ctx := context.Background()
			if _, total, err := e.App.ListJobs(ctx, e.Principal(admin), storeAll()); err != nil || total != 2 {
				t.Errorf("jobs after refused submissions: %d, %v; want the fixture's 2", total, err)
			}
			if d, err := e.App.GetDevice(ctx, e.Principal(admin), "d1"); err != nil || d.Health != lab.DeviceGood {
				t.Errorf("d1 after a refused health change: %+v, %v", d, err)
			}
		})
	}
}
