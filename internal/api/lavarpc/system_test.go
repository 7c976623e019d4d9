package lavarpc_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/api/lavarpc"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/xmlrpc"
)

// fault returns the fault code of err (0 when it is not a fault).
func fault(err error) int {
	var f *xmlrpc.Fault
	if errors.As(err, &f) {
		return f.Code
	}
	return 0
}

func TestSystemMethods(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnv(t, b)
			tests := []struct {
				name   string
				who    int
				method string
				params []any
				want   any
				fault  int
			}{
				{"version", anon, "system.version", nil, version.Version, 0},
				{"api_version", anon, "system.api_version", nil, int64(2), 0},
				{"whoami anonymous", anon, "system.whoami", nil, nil, 0},
				{"whoami", alice, "system.whoami", nil, "alice", 0},
				{"master_config", anon, "system.master_config", nil, map[string]any{"EVENT_TOPIC": "org.lavasoftware", "EVENT_SOCKET": "", "EVENT_NOTIFICATION": true, "LOG_SIZE_LIMIT": int64(0)}, 0},
				{"methodSignature", anon, "system.methodSignature", []any{"system.user_can_view_jobs"}, []any{[]any{"struct", "array", "string"}}, 0},
				{"methodHelp of nothing", anon, "system.methodHelp", []any{"no.such"}, nil, lavarpc.FaultNoSuchMethod},
				{"unknown method", alice, "scheduler.no_such_method", nil, nil, lavarpc.FaultNoSuchMethod},
				{"too many arguments", anon, "system.version", []any{"x"}, nil, lavarpc.FaultBadParams},
				{"too few arguments", anon, "system.methodHelp", nil, nil, lavarpc.FaultBadParams},
				{"wrong type", anon, "system.methodHelp", []any{int64(3)}, nil, lavarpc.FaultBadParams},
				{"authentication needed", anon, "system.user_can_view_jobs", []any{[]any{}}, nil, 401},
				// bob cannot see alice's personal job: it is left out, not reported false
				{"user_can_view_jobs", bob, "system.user_can_view_jobs", []any{[]any{e.pubJob, e.privJob, int64(999999)}},
					map[string]any{fmt.Sprint(e.pubJob): true}, 0},
				{"user_can_view_jobs as the owner", alice, "system.user_can_view_jobs", []any{[]any{fmt.Sprint(e.privJob)}},
					map[string]any{fmt.Sprint(e.privJob): true}, 0},
				{"user_can_view_jobs on behalf of bob", admin, "system.user_can_view_jobs", []any{[]any{e.pubJob, e.privJob}, "bob"},
					map[string]any{fmt.Sprint(e.pubJob): true, fmt.Sprint(e.privJob): false}, 0},
				{"on behalf needs an administrator", alice, "system.user_can_view_jobs", []any{[]any{e.pubJob}, "bob"}, nil, 403},
				{"on behalf of nobody", admin, "system.user_can_view_jobs", []any{[]any{e.pubJob}, "nobody"}, nil, 404},
				{"user_can_view_devices", bob, "system.user_can_view_devices", []any{[]any{"qemu-01", "nothing"}},
					map[string]any{"qemu": []any{map[string]any{"qemu-01": map[string]any{"visible": true}}}}, 0},
				{"user_can_submit_to_types", bob, "system.user_can_submit_to_types", []any{[]any{"qemu", "nothing"}},
					map[string]any{"qemu": true}, 0},
				{"multicall", alice, "system.multicall", []any{[]any{
					map[string]any{"methodName": "system.whoami", "params": []any{}},
					map[string]any{"methodName": "no.such", "params": []any{}},
					map[string]any{"methodName": "system.api_version"},
					map[string]any{"methodName": "system.multicall", "params": []any{[]any{}}},
				}}, []any{
					[]any{"alice"},
					map[string]any{"faultCode": int64(lavarpc.FaultNoSuchMethod), "faultString": `No such method: "no.such"`},
					map[string]any{"faultCode": int64(lavarpc.FaultBadParams), "faultString": "system.multicall params not specified"},
					map[string]any{"faultCode": int64(lavarpc.FaultBadParams), "faultString": "system.multicall cannot call system.multicall recursively"},
				}, 0},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := e.call(tt.who, tt.method, tt.params...)
					if tt.fault != 0 {
						if fault(err) != tt.fault {
							t.Fatalf("got %v, %v; want fault %d", got, err, tt.fault)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("(-want +got):\n%s", diff)
					}
				})
			}
			t.Run("listMethods", func(t *testing.T) {
				got, err := e.call(anon, "system.listMethods")
				must(t, err)
				names, _ := got.([]any)
				if len(names) != len(lavarpc.Methods()) || !slices.Contains(names, any("system.version")) {
					t.Errorf("listMethods: %v", got)
				}
			})
			t.Run("methodHelp", func(t *testing.T) {
				got, err := e.call(anon, "system.methodHelp", "system.user_can_view_jobs")
				must(t, err)
				if s, _ := got.(string); !strings.HasPrefix(s, "system.user_can_view_jobs(job_list, username=None)\n\n") {
					t.Errorf("methodHelp: %q", got)
				}
			})
		})
	}
}

// TestHTTPLayer: what is refused before any XML-RPC, as LAVA does it.
func TestHTTPLayer(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	post := func(body string, header map[string]string) (int, string) {
		req, err := http.NewRequest("POST", e.srv.URL+"/RPC2/", strings.NewReader(body))
		must(t, err)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") != `Basic realm="XML-RPC Authentication token"` {
			t.Errorf("401 without LAVA's WWW-Authenticate: %q", resp.Header.Get("WWW-Authenticate"))
		}
		return resp.StatusCode, string(b)
	}
	call := "<?xml version='1.0'?><methodCall><methodName>system.whoami</methodName></methodCall>"
	for _, tc := range []struct {
		name   string
		body   string
		header map[string]string
		status int
		want   string
	}{
		{"bad token", call, map[string]string{"Authorization": "Basic " + basic("alice", "wrong")}, 401, "Invalid token"},
		{"token of another user", call, map[string]string{"Authorization": "Basic " + basic("bob", e.Tokens[alice])}, 401, "Invalid token"},
		{"Token scheme", call, map[string]string{"Authorization": "Token " + e.Tokens[alice]}, 400, "only Basic scheme is supported"},
		{"no user:pass", call, map[string]string{"Authorization": "Basic bm9jb2xvbg=="}, 400, "no user:pass"},
		{"not XML-RPC", "<html/>", nil, 200, "<int>-32600</int>"},
		{"too large", "<methodCall>" + strings.Repeat(" ", int(xmlrpc.DefaultLimits.MaxBytes)+10), nil, 413, "too large"},
		{"good", call, map[string]string{"Authorization": "Basic " + basic("alice", e.Tokens[alice])}, 200, "<string>alice</string>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(tc.body, tc.header)
			if status != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("HTTP %d %q; want %d with %q", status, body, tc.status, tc.want)
			}
		})
	}
	resp, err := http.Get(e.srv.URL + "/RPC2")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != 405 {
		t.Errorf("GET: %s", resp.Status)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestLavacliSystem runs Debian's lavacli against the API.
func TestLavacliSystem(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	for _, tc := range []struct {
		who  int
		args []string
		want string
	}{
		{alice, []string{"system", "version"}, version.Version + "\n"},
		{alice, []string{"system", "whoami"}, "alice\n"},
		{anon, []string{"system", "whoami"}, "<AnonymousUser>\n"},
		{bob, []string{"system", "api"}, "2\n"},
		{bob, []string{"system", "methods", "signature", "system.methodHelp"}, "[['string', 'string']]\n"},
	} {
		out, err := e.lavacli(tc.who, tc.args...)
		if err != nil {
			t.Fatal(err)
		}
		if out != tc.want {
			t.Errorf("lavacli %v: %q, want %q", tc.args, out, tc.want)
		}
	}
	out, err := e.lavacli(alice, "system", "methods", "list")
	must(t, err)
	if !strings.Contains(out, "system.multicall\n") {
		t.Errorf("methods list: %q", out)
	}
	out, err = e.lavacli(alice, "system", "methods", "help", "system.whoami")
	must(t, err)
	if !strings.Contains(out, "The caller's user name") {
		t.Errorf("methods help: %q", out)
	}
}
