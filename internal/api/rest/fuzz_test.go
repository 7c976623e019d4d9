package rest_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// FuzzAPI throws arbitrary methods, paths, bodies and credentials at the
// whole API as an administrator and as an anonymous caller. Whatever comes
// in, the server must answer with a status below 500 and, for errors, the
// documented JSON error shape — never a panic or an internal error.
func FuzzAPI(f *testing.F) {
	for _, r := range rest.Routes() {
		path := strings.NewReplacer("{id}", "1", "{hostname}", "d1", "{name}", "qemu", "{username}", "alice").Replace(r.Pattern)
		f.Add(r.Method, path, "", true)
		f.Add(r.Method, path, `{}`, false)
	}
	f.Add("POST", "/jobs", jsonDef(job("f", "public")), true)
	f.Add("POST", "/jobs/validate", `{"definition":"a: [b"}`, false)
	f.Add("PATCH", "/devices/d1", `{"tags":["fast","nope"]}`, true)
	f.Add("GET", "/jobs?state=Running,Finished&limit=5&offset=9999999999", "", true)
	f.Add("POST", "/devices/d1/health", `{"health":"retired","reason":"\u0000"}`, true)
	f.Add("POST", "/reservations/1/console", `{"data":"ls\r","bytes":"AP8=","power":"reset"}`, true)
	f.Add("POST", "/devices/d1/reservations", `{"duration":"9999999h","reason":"\u0000","priority":-1}`, true)
	f.Add("POST", "/devices/d1/reservations", `{"duration":"1h"}`, true)
	f.Add("POST", "/reservations/1/extend", `{"duration":"-1h"}`, true)
	f.Add("GET", "/reservations?device=d1&holder=admin&finished=true&limit=1000", "", false)
	e := newEnv(f, labtest.Backends()[0])
	h := rest.New(e.App, nil)
	f.Fuzz(func(t *testing.T, method, path, body string, asAdmin bool) {
		token := ""
		if asAdmin {
			token = "Token " + e.Tokens[admin]
		}
		rec, ok := labtest.ServeFuzzed(t, h, method, rest.Prefix, path, body, "Authorization", token)
		if !ok {
			return // not a request a client can send
		}
		if rec.Code >= 400 {
			var ej wire.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &ej); err != nil || ej.Error.Code == "" || ej.Error.Message == "" {
				t.Fatalf("%s %s: error body not in the documented shape: %s", method, path, rec.Body.String())
			}
		}
	})
}
