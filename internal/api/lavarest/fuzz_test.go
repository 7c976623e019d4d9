package lavarest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// FuzzAPI throws arbitrary methods, paths, queries, bodies and content
// types at the whole v0.2 API, as a superuser and as an anonymous caller.
// Whatever comes in, the answer is below 500 and an error's body is a JSON
// object (DRF's shapes) — never a panic or an internal error.
func FuzzAPI(f *testing.F) {
	for _, r := range lavarest.Routes() {
		path := strings.NewReplacer("{id}", "1", "{sid}", "1", "{tid}", "1", "{name}", "d1").Replace(r.Pattern)
		f.Add(r.Method, path, "", "", true)
		f.Add(r.Method, path+"?limit=2&offset=1&ordering=-id", `{}`, "application/json", false)
	}
	f.Add("POST", "/jobs/", jsonDef(job("f", "qemu", "public", "")), "application/json", true)
	f.Add("POST", "/jobs/", "definition=a%3A+b", "application/x-www-form-urlencoded", true)
	f.Add("POST", "/jobs/", "--x\r\nContent-Disposition: form-data; name=\"definition\"\r\n\r\nx\r\n--x--\r\n", "multipart/form-data; boundary=x", true)
	f.Add("POST", "/jobs/validate/", `{"definition":"a: [b","strict":1}`, "", false)
	f.Add("POST", "/jobs/batch-cancel/", `{"job_ids":["1",2,-3,"x"]}`, "application/json", true)
	f.Add("POST", "/token/", `{"username":"admin","password":"admin-password"}`, "application/json", false)
	f.Add("GET", "/jobs/?metadata__a__b__in=x,y&state__in=Running,finished&submit_time__gt=2026-01-01", "", "", true)
	f.Add("GET", "/jobs/1/logs/?start=99999999999&end=1", "", "", false)
	f.Add("GET", "/devices/?all=1&health__in=good,BAD&ordering=-health", "", "", false)
	e := newEnv(f, labtest.Backends()[0])
	e.seedResults(e.pubJob)
	h := lavarest.New(e.App, nil)
	f.Fuzz(func(t *testing.T, method, path, body, ctype string, asAdmin bool) {
		token := ""
		if asAdmin {
			token = "Token " + e.Tokens[admin]
		}
		rec, ok := labtest.ServeFuzzed(t, h, method, lavarest.Prefix, path, body, "Content-Type", ctype, "Authorization", token)
		if !ok {
			return // not a request a client can send
		}
		if rec.Code >= 400 {
			var obj map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &obj); err != nil || len(obj) == 0 {
				t.Fatalf("%s %s: error body not a JSON object: %s", method, path, rec.Body.String())
			}
		}
	})
}
