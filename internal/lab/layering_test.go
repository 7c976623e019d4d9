package lab_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/basalt-lab/basalt"

// deps returns every package pkg depends on, transitively.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+"/"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

// TestLayering enforces the import rules of docs/architecture.md.
func TestLayering(t *testing.T) {
	transport := []string{"net/http", module + "/internal/api/"}
	storage := []string{"database/sql", module + "/internal/store", "modernc.org/sqlite", "github.com/jackc/pgx"}
	// allow lists exceptions to a package's forbidden dependencies.
	// (devicedict applies simdevice's rules, so whatever reads dictionaries
	// reaches simdevice through it.)
	simdevice := []string{module + "/internal/dispatcher/simdevice"}
	allow := map[string][]string{"internal/devicedict": simdevice, "internal/web": simdevice, "internal/server": simdevice}
	rules := []struct {
		pkg    string
		forbid []string
	}{
		{"internal/lab", append(append([]string{}, transport...), storage...)},
		{"internal/jobdef", append(append([]string{}, transport...), storage...)},
		{"internal/scheduler", append(append([]string{}, transport...), storage...)},
		{"internal/auth", append(append([]string{}, transport...), storage...)},
		{"internal/store", append(append([]string{}, transport...), "database/sql", module+"/internal/store/sqlstore")},
		{"internal/app", append(append([]string{}, transport...), "database/sql", module+"/internal/store/sqlstore")},
		{"internal/api/rest", []string{module + "/internal/store/sqlstore", "database/sql"}},
		{"internal/api/workerapi", []string{module + "/internal/store/sqlstore", "database/sql"}},
		// LAVA's XML-RPC is a transport beside the REST API.
		{"internal/api/lavarpc", []string{module + "/internal/store/sqlstore", "database/sql", module + "/internal/api/rest", module + "/internal/web"}},
		// The XML-RPC codec knows XML-RPC only.
		{"internal/xmlrpc", append([]string{module + "/internal/app", module + "/internal/lab", "net/http"}, storage...)},
		// LAVA's REST API v0.2 is a transport like /api/v1: it calls the app.
		{"internal/api/lavarest", []string{module + "/internal/store/sqlstore", "database/sql", module + "/internal/api/rest",
			module + "/internal/web", module + "/internal/server"}},
		// LAVA's log format is a format: no transport, no storage.
		{"internal/lavalog", append(append([]string{}, transport...), storage...)},
		// The event stream is a transport: the app's events and the app's
		// rules, never the store or another transport.
		{"internal/api/events", []string{module + "/internal/store/sqlstore", "database/sql", module + "/internal/api/rest", module + "/internal/api/lavarpc",
			module + "/internal/api/workerapi", module + "/internal/web", module + "/internal/server"}},
		{"internal/workerproto", append(append([]string{}, transport...), storage...)},
		{"internal/logstore", append(append([]string{}, transport...), storage...)},
		// Reading results records is domain logic: no transport, no storage.
		{"internal/resultlog", append(append([]string{}, transport...), storage...)},
		// The dispatcher downloads images over HTTP (net/http as a client),
		// but knows nothing of the server's API, the worker or storage.
		{"internal/dispatcher", append([]string{module + "/internal/app", module + "/internal/worker", module + "/internal/server", module + "/internal/api/"}, storage...)},
		{"internal/worker", append([]string{module + "/internal/app", module + "/internal/api/", module + "/internal/server"}, storage...)},
		{"internal/devicedict", append(append([]string{module + "/internal/dispatcher", module + "/internal/app", module + "/internal/worker"}, transport...), storage...)},
		// The web UI is a transport beside the REST API: it calls the app,
		// never the store, another transport, the worker or the dispatcher.
		{"internal/web", append([]string{module + "/internal/store/sqlstore", module + "/internal/api/rest", module + "/internal/api/workerapi",
			module + "/internal/server", module + "/internal/worker", module + "/internal/dispatcher", module + "/internal/client"}, "database/sql")},
		// The server wires the server side only.
		{"internal/server", []string{module + "/internal/worker", module + "/internal/dispatcher", module + "/internal/cli", module + "/internal/client"}},
		// The notifications' sender calls the app (and LAVA's formats), never
		// the store or a server-side transport.
		{"internal/notify", []string{module + "/internal/api/rest", module + "/internal/api/workerapi", module + "/internal/web",
			module + "/internal/server", module + "/internal/store/sqlstore", "database/sql"}},
		// The one error mapping knows errors, not use cases or storage.
		{"internal/api/apierr", append([]string{module + "/internal/app"}, storage...)},
		// The request guard of the JSON APIs runs a handler; it knows no
		// use case, no storage and no API (each passes its error format in).
		{"internal/api/httpserve", append([]string{module + "/internal/app", module + "/internal/api/rest", module + "/internal/api/lavarest",
			module + "/internal/api/lavarpc", module + "/internal/api/events", module + "/internal/api/workerapi", module + "/internal/api/lavawire",
			module + "/internal/web", module + "/internal/server"}, storage...)},
	}
	// only lists the module packages a package may depend on at all.
	only := map[string][]string{
		// The wire types are shared by every client and transport.
		"internal/api/wire": {},
		// So are LAVA's v0.2 shapes.
		"internal/api/lavawire": {},
		// Python's text forms of values, PyYAML's emitter over them, and
		// LAVA's log format written with both: under Jinja2 and LAVA's APIs.
		"internal/pyfmt":   {},
		"internal/pyyaml":  {"internal/pyfmt"},
		"internal/lavalog": {"internal/pyfmt", "internal/pyyaml"},
		// The coordinator is LAVA's protocol as domain logic; its store is
		// an interface it declares. Its TCP listener knows only it (and
		// Python's JSON spelling, pyfmt).
		"internal/coordinator":   {},
		"internal/api/lavacoord": {"internal/coordinator", "internal/pyfmt"},
		// The Go client speaks the wire format, nothing of the server.
		"internal/client": {"internal/api/wire", "internal/tlsconfig", "internal/version"},
	}
	for pkg, allowed := range only {
		for _, d := range deps(t, pkg) {
			rel, ok := strings.CutPrefix(d, module+"/")
			if ok && rel != pkg && !slices.Contains(allowed, rel) {
				t.Errorf("%s depends on %s (it may use only %v of this module)", pkg, rel, allowed)
			}
		}
	}
	for _, r := range rules {
		for _, d := range deps(t, r.pkg) {
			if slices.Contains(allow[r.pkg], d) {
				continue
			}
			for _, f := range r.forbid {
				if d == f || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") || (strings.HasSuffix(f, "/") && strings.HasPrefix(d, f)) {
					t.Errorf("%s depends on %s (forbidden: %s)", r.pkg, d, f)
				}
			}
		}
	}
}
