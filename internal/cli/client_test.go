package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/cli"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

var smokeJob = labtest.SmokeJob

// badJob has two problems: an unknown visibility (line 3, column 13) and a
// deploy action without images (line 9).
const badJob = `job_name: smoke
device_type: qemu
visibility: publik
priority: medium
timeouts:
  job: {minutes: 10}
actions:
- deploy:
    to: tmpfs
`

// clientLab is a real API server over a fresh SQLite store, with an admin
// identity in a private identity file. The scheduler loop is not running,
// so submitted jobs stay Submitted until canceled.
type clientLab struct {
	t          *testing.T
	dir        string
	cfg        string // identity file
	url        string
	adminToken string
	app        *app.App
}

func newClientLab(t *testing.T) *clientLab {
	t.Helper()
	// The user's environment must not leak into the tests.
	for _, k := range []string{"BASALT_CONFIG", "BASALT_IDENTITY", "BASALT_URI", "BASALT_TOKEN"} {
		t.Setenv(k, "")
	}
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	dir := t.TempDir()
	a, srv, secret := labtest.APIServer(t, labtest.OpenDSN(t, filepath.Join(dir, "basalt.db")))
	l := &clientLab{t: t, dir: dir, cfg: filepath.Join(dir, "config", "basalt.yaml"), url: srv.URL, adminToken: secret, app: a}
	l.ok("identities", "add", "admin", "--uri", srv.URL, "--username", "admin", "--token", secret, "--default")
	return l
}

// run executes the basalt command line with the lab's identity file.
func (l *clientLab) run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = cli.Main(append([]string{"--config", l.cfg}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

// expect runs args, fails the test unless the exit code is want, and
// returns standard output and standard error.
func (l *clientLab) expect(want int, args ...string) (stdout, stderr string) {
	l.t.Helper()
	code, out, errOut := l.run(args...)
	if code != want {
		l.t.Fatalf("basalt %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// ok runs args, which must succeed, and returns standard output.
func (l *clientLab) ok(args ...string) string {
	l.t.Helper()
	out, _ := l.expect(cli.ExitOK, args...)
	return out
}

func (l *clientLab) file(name, content string) string {
	l.t.Helper()
	p := filepath.Join(l.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		l.t.Fatal(err)
	}
	return p
}

// setup adds device type qemu, tags fast and slow, worker w1 and a Good
// device d1 tagged fast, all through the command line.
func (l *clientLab) setup() {
	l.t.Helper()
	l.ok("device-types", "add", "qemu", "--description", "QEMU virtual machines")
	l.ok("tags", "add", "fast", "--description", "fast machines")
	l.ok("tags", "add", "slow")
	out := l.ok("workers", "add", "w1", "--job-limit", "2", "--description", "rack 1")
	if !regexp.MustCompile(`(?m)^\s+`+regexp.QuoteMeta(auth.SecretPrefix)+`\S+$`).MatchString(out) ||
		!strings.Contains(out, "shown only once") || !strings.Contains(out, l.url) {
		l.t.Fatalf("workers add output lacks the token or the hint:\n%s", out)
	}
	out = l.ok("devices", "add", "d1", "--type", "qemu", "--worker", "w1", "--tags", "fast", "--health", "Good")
	if !strings.Contains(out, "GOOD") {
		l.t.Fatalf("devices add output:\n%s", out)
	}
}

func decode[T any](t *testing.T, s string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %T: %v\n%s", v, err, s)
	}
	return v
}

// submit submits the smoke job and returns its id.
func (l *clientLab) submit() int64 {
	l.t.Helper()
	out := strings.TrimSpace(l.ok("jobs", "submit", l.file("smoke.yaml", smokeJob)))
	id, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		l.t.Fatalf("jobs submit printed %q, want an id", out)
	}
	return id
}

func TestClientIdentities(t *testing.T) {
	l := newClientLab(t)
	l.ok("identities", "add", "other", "--uri", "https://lab.example.com/api/v1", "--token", "bst_0123456789abcdefghij", "--ca-file", "/etc/lab-ca.pem")

	info, err := os.Stat(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("identity file mode %v, want 0600", perm)
	}
	raw, err := os.ReadFile(l.cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), "default: admin") || !strings.Contains(string(raw), "ca_file: /etc/lab-ca.pem") {
		t.Errorf("identity file:\n%s", raw)
	}

	out := l.ok("identities", "list")
	if !regexp.MustCompile(`(?m)^admin\s+\*\s+`+regexp.QuoteMeta(l.url)+`\s+admin\s+bst_…`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^other\s+-\s+https://lab.example.com/api/v1\s+-\s+bst_…ghij$`).MatchString(out) {
		t.Errorf("identities list:\n%s", out)
	}
	for _, args := range [][]string{{"identities", "list"}, {"identities", "show", "admin"}, {"identities", "list", "--json"}} {
		if out := l.ok(args...); strings.Contains(out, l.adminToken) {
			t.Errorf("%v shows the token unmasked:\n%s", args, out)
		}
	}
	views := decode[[]map[string]any](t, l.ok("identities", "list", "--json"))
	if len(views) != 2 || views[0]["name"] != "admin" || views[0]["default"] != true || views[1]["ca_file"] != "/etc/lab-ca.pem" {
		t.Errorf("identities list --json = %v", views)
	}

	// --default moves the default; deleting the default leaves none.
	l.ok("identities", "add", "other", "--uri", "https://lab.example.com", "--token", "bst_x", "--default")
	if out := l.ok("identities", "show", "other"); !regexp.MustCompile(`Default:\s+yes`).MatchString(out) {
		t.Errorf("identities show other:\n%s", out)
	}
	l.ok("identities", "delete", "other")
	l.expect(cli.ExitNotFound, "identities", "show", "other")
	l.expect(cli.ExitNotFound, "identities", "delete", "other")
	// One identity left and no default: it is used.
	if out := l.ok("whoami"); !regexp.MustCompile(`User:\s+admin`).MatchString(out) {
		t.Errorf("whoami with the only identity:\n%s", out)
	}
	l.expect(cli.ExitUsage, "identities", "add", "bad", "--uri", "ftp://lab")
	l.expect(cli.ExitUsage, "identities", "add", "bad", "--token", "x")
}

func TestClientIdentityResolution(t *testing.T) {
	l := newClientLab(t)
	l.ok("identities", "add", "anon", "--uri", l.url)
	l.ok("identities", "add", "wrong", "--uri", l.url, "--username", "admin", "--token", "bst_wrong")

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		wantCode int
		wantUser string // whoami's User line
	}{
		{name: "default identity", args: nil, wantUser: "admin"},
		{name: "identity flag", args: []string{"-i", "anon"}, wantUser: "(anonymous)"},
		{name: "identity env", env: map[string]string{"BASALT_IDENTITY": "anon"}, wantUser: "(anonymous)"},
		{name: "flag beats env", env: map[string]string{"BASALT_IDENTITY": "anon"}, args: []string{"--identity", "admin"}, wantUser: "admin"},
		{name: "unknown identity", args: []string{"-i", "nope"}, wantCode: cli.ExitUsage},
		{name: "wrong token", args: []string{"-i", "wrong"}, wantCode: cli.ExitAuth},
		{name: "token flag replaces the identity's credentials", args: []string{"-i", "wrong", "--token", l.adminToken}, wantUser: "admin"},
		{name: "token env", env: map[string]string{"BASALT_TOKEN": l.adminToken}, args: []string{"-i", "anon"}, wantUser: "admin"},
		// --uri without an identity never reads the file: no token is sent.
		{name: "uri without identity is anonymous", args: []string{"--uri", l.url}, wantUser: "(anonymous)"},
		{name: "uri env", env: map[string]string{"BASALT_URI": l.url}, wantUser: "(anonymous)"},
		{name: "uri and token", args: []string{"--uri", l.url, "--token", l.adminToken}, wantUser: "admin"},
		{name: "uri with explicit identity keeps its token", args: []string{"--uri", l.url, "-i", "admin"}, wantUser: "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			out, _ := l.expect(tt.wantCode, append(tt.args, "whoami")...)
			if tt.wantUser != "" && !regexp.MustCompile(`(?m)^User:\s+`+regexp.QuoteMeta(tt.wantUser)+`$`).MatchString(out) {
				t.Errorf("whoami:\n%s\nwant user %s", out, tt.wantUser)
			}
		})
	}

	t.Run("config env", func(t *testing.T) {
		t.Setenv("BASALT_CONFIG", l.cfg)
		var out, errOut bytes.Buffer
		if code := cli.Main([]string{"whoami", "--json"}, &out, &errOut); code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		if w := decode[wire.Whoami](t, out.String()); w.User != "admin" || w.Kind != "user" || !w.IsSuperuser {
			t.Errorf("whoami --json = %+v", w)
		}
	})
	t.Run("no identity file", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code := cli.Main([]string{"--config", filepath.Join(t.TempDir(), "none.yaml"), "jobs", "list"}, &out, &errOut)
		if code != cli.ExitUsage || !strings.Contains(errOut.String(), "basalt identities add") {
			t.Errorf("exit %d, stderr %q: want ExitUsage and a hint", code, errOut.String())
		}
	})
	t.Run("default path under XDG_CONFIG_HOME", func(t *testing.T) {
		xdg := t.TempDir()
		t.Setenv("XDG_CONFIG_HOME", xdg)
		var out, errOut bytes.Buffer
		if code := cli.Main([]string{"identities", "add", "x", "--uri", l.url}, &out, &errOut); code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		if _, err := os.Stat(filepath.Join(xdg, "basalt.yaml")); err != nil {
			t.Errorf("identity file not in XDG_CONFIG_HOME: %v", err)
		}
	})
}

// TestClientJobWarnings: what LAVA accepts but is most likely a mistake
// (here priority written twice) is submitted, and its warnings go to
// standard error as FILE:line:col lines; validate --strict refuses it.
func TestClientJobWarnings(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	line := strings.Count(smokeJob, "\n") + 1
	warned := l.file("warned.yaml", smokeJob+"priority: low\n")
	warning := fmt.Sprintf(`%s:%d:1: $.priority: warning: key "priority" is written again (first at 3:1): the last value is used, as LAVA reads it`, warned, line)

	out, errOut := l.expect(cli.ExitOK, "jobs", "validate", warned)
	if strings.TrimSpace(out) != warned+": valid" || strings.TrimSpace(errOut) != warning {
		t.Errorf("validate: stdout %q, stderr %q; want valid and %q", out, errOut, warning)
	}
	out, _ = l.expect(cli.ExitUsage, "jobs", "validate", "--strict", warned)
	if want := fmt.Sprintf(`%s:%d:1: $.priority: key "priority" is written more than once in this mapping (first at 3:1)`, warned, line); strings.TrimSpace(out) != want {
		t.Errorf("validate --strict: %q, want %q", out, want)
	}
	if out := l.ok("jobs", "validate", "--strict", l.file("smoke.yaml", smokeJob)); !strings.HasSuffix(strings.TrimSpace(out), ": valid") {
		t.Errorf("validate --strict of a clean job: %q", out)
	}

	out, errOut = l.expect(cli.ExitOK, "jobs", "submit", warned)
	if strings.TrimSpace(out) != "1" || strings.TrimSpace(errOut) != warning {
		t.Errorf("submit: stdout %q, stderr %q; want the id and %q", out, errOut, warning)
	}
	sub := decode[wire.Submitted](t, l.ok("jobs", "submit", "--json", warned))
	if len(sub.Warnings) != 1 || sub.Warnings[0].Line != line || sub.Warnings[0].Path != "$.priority" {
		t.Errorf("submit --json = %+v", sub)
	}
}

func TestClientJobs(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	good := l.file("smoke.yaml", smokeJob)
	bad := l.file("bad.yaml", badJob)

	// validate
	if out := l.ok("jobs", "validate", good); strings.TrimSpace(out) != good+": valid" {
		t.Errorf("validate good: %q", out)
	}
	out, _ := l.expect(cli.ExitUsage, "jobs", "validate", bad)
	problems := regexp.MustCompile(`(?m)^`+regexp.QuoteMeta(bad)+`:(\d+):(\d+): (\S+): (.*)$`).FindAllStringSubmatch(out, -1)
	if len(problems) != 2 || problems[0][1] != "3" || problems[0][2] != "13" || problems[0][3] != "$.visibility" ||
		problems[1][1] != "9" || problems[1][3] != "$.actions[0].deploy" {
		t.Errorf("validate bad printed:\n%s", out)
	}
	out, _ = l.expect(cli.ExitUsage, "jobs", "validate", "--json", bad)
	if v := decode[wire.Validation](t, out); v.Valid || len(v.Errors) != 2 || v.Errors[0].Path != "$.visibility" {
		t.Errorf("validate --json = %+v", v)
	}

	// submit: invalid, then valid
	out, errOut := l.expect(cli.ExitUsage, "jobs", "submit", bad)
	if out != "" || !strings.Contains(errOut, bad+":3:13: $.visibility: ") || !strings.Contains(errOut, bad+":9:") {
		t.Errorf("invalid submit: stdout %q stderr:\n%s", out, errOut)
	}
	id := l.submit()
	if id != 1 {
		t.Errorf("first job id %d", id)
	}
	out, errOut = l.expect(cli.ExitUsage, "jobs", "submit", good, bad)
	if strings.TrimSpace(out) != "2" || !strings.Contains(errOut, "1 of 2 submissions failed") {
		t.Errorf("mixed submit: stdout %q stderr %q", out, errOut)
	}
	sub := decode[wire.Submitted](t, l.ok("jobs", "submit", "--json", good))
	if len(sub.JobIDs) != 1 || sub.JobIDs[0] != 3 {
		t.Errorf("submit --json = %+v", sub)
	}

	// standard input
	var stdout, stderr bytes.Buffer
	root := cli.NewRoot(&stdout, &stderr)
	root.SetIn(strings.NewReader(smokeJob))
	root.SetArgs([]string{"--config", l.cfg, "jobs", "submit", "-"})
	if err := root.Execute(); err != nil || strings.TrimSpace(stdout.String()) != "4" {
		t.Errorf("submit from stdin: %v, stdout %q", err, stdout.String())
	}

	// list
	out = l.ok("jobs", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !regexp.MustCompile(`^ID\s+STATE\s+HEALTH\s+SUBMITTER\s+DEVICE TYPE`).MatchString(lines[0]) ||
		!regexp.MustCompile(`^4\s+Submitted\s+Unknown\s+admin\s+qemu\s+-\s+\S+Z\s+smoke$`).MatchString(lines[1]) {
		t.Errorf("jobs list:\n%s", out)
	}
	page := decode[wire.List[wire.Job]](t, l.ok("jobs", "list", "--json", "--limit", "2", "--offset", "1"))
	if page.Count != 4 || page.Limit != 2 || page.Offset != 1 || len(page.Results) != 2 || page.Results[0].ID != 3 {
		t.Errorf("jobs list --json --limit 2 --offset 1 = %+v", page)
	}
	if _, errOut := l.expect(cli.ExitOK, "jobs", "list", "--limit", "1"); !strings.Contains(errOut, "showing 1-1 of 4 jobs") {
		t.Errorf("paging hint missing: %q", errOut)
	}

	// show, definition
	out = l.ok("jobs", "show", "1")
	for _, re := range []string{`(?m)^State:\s+Submitted$`, `(?m)^Submitter:\s+admin$`, `(?m)^Device type:\s+qemu$`, `(?m)^Priority:\s+50$`} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("jobs show: no match for %s in\n%s", re, out)
		}
	}
	j := decode[wire.Job](t, l.ok("jobs", "show", "1", "--json"))
	if j.ID != 1 || j.State != "Submitted" || j.DeviceType != "qemu" || j.Submitter != "admin" || !strings.Contains(j.Definition, "job_name: smoke") {
		t.Errorf("jobs show --json = %+v", j)
	}
	if def := l.ok("jobs", "definition", "1", "--original"); def != smokeJob {
		t.Errorf("jobs definition --original = %q", def)
	}
	if def := l.ok("jobs", "definition", "1"); !strings.Contains(def, "smoke") {
		t.Errorf("jobs definition = %q", def)
	}

	// cancel, wait, resubmit
	if out := l.ok("jobs", "cancel", "1"); strings.TrimSpace(out) != "job 1: Finished (Canceled)" {
		t.Errorf("cancel: %q", out)
	}
	l.expect(cli.ExitConflict, "jobs", "cancel", "1")
	out, errOut = l.expect(cli.ExitJobFailed, "jobs", "wait", "1", "--interval", "1ms")
	if strings.TrimSpace(out) != "job 1: Finished (Canceled)" || !strings.Contains(errOut, "job 1 finished Canceled") {
		t.Errorf("wait: stdout %q stderr %q", out, errOut)
	}
	out, _ = l.expect(cli.ExitJobFailed, "jobs", "wait", "1", "--json")
	if w := decode[wire.Job](t, out); w.Health != "Canceled" {
		t.Errorf("wait --json = %+v", w)
	}
	canceled := decode[wire.Job](t, l.ok("jobs", "cancel", "2", "--json"))
	if canceled.State != "Finished" || canceled.Health != "Canceled" {
		t.Errorf("cancel --json = %+v", canceled)
	}
	// Several ids: one already finished → the first failure's code.
	out, errOut = l.expect(cli.ExitConflict, "jobs", "cancel", "1", "3")
	if strings.TrimSpace(out) != "job 3: Finished (Canceled)" || !strings.Contains(errOut, "1 of 2 cancellations failed") {
		t.Errorf("cancel 1 3: stdout %q stderr %q", out, errOut)
	}
	// The scheduler is not running: job 4 stays Submitted and the wait ends
	// on its timeout, whatever the machine's speed.
	out, errOut = l.expect(cli.ExitFailure, "jobs", "wait", "4", "--interval", "1ms", "--timeout", "20ms")
	if !strings.HasPrefix(out, "job 4: Submitted\n") || !strings.Contains(errOut, "timed out") {
		t.Errorf("wait with timeout: stdout %q stderr %q", out, errOut)
	}

	out = strings.TrimSpace(l.ok("jobs", "resubmit", "1"))
	if out != "5" {
		t.Fatalf("resubmit printed %q", out)
	}
	re := decode[wire.Job](t, l.ok("jobs", "show", "5", "--json"))
	if re.State != "Submitted" || re.Metadata["job.original"] != "/api/v1/jobs/1" {
		t.Errorf("resubmitted job = %+v", re)
	}

	// filters
	page = decode[wire.List[wire.Job]](t, l.ok("jobs", "list", "--json", "--state", "Finished", "--health", "Canceled"))
	if page.Count != 3 {
		t.Errorf("Finished/Canceled jobs: %d, want 3", page.Count)
	}
	page = decode[wire.List[wire.Job]](t, l.ok("jobs", "list", "--json", "--state", "Submitted", "--device-type", "qemu", "--submitter", "admin"))
	if page.Count != 2 {
		t.Errorf("Submitted qemu jobs by admin: %d, want 2", page.Count)
	}
	l.expect(cli.ExitUsage, "jobs", "list", "--state", "Bogus")
	l.expect(cli.ExitUsage, "jobs", "list", "--limit", "5000")

	// --wait on a job that cannot run ends on the timeout too.
	_, errOut = l.expect(cli.ExitFailure, "jobs", "submit", good, "--wait", "--interval", "1ms", "--timeout", "20ms")
	if !strings.Contains(errOut, "timed out") {
		t.Errorf("submit --wait: %q", errOut)
	}
}

func TestClientDevices(t *testing.T) {
	l := newClientLab(t)
	l.setup()

	out := l.ok("devices", "list")
	// w1 never sent a heartbeat: d1 is not idle.
	if !regexp.MustCompile(`(?m)^HOSTNAME\s+TYPE\s+WORKER\s+STATE\s+HEALTH.*\n^d1\s+qemu\s+w1\s+Idle\s+GOOD\s+offline \(worker w1 Offline\)\s+-\s+fast$`).MatchString(out) {
		t.Errorf("devices list:\n%s", out)
	}
	page := decode[wire.List[wire.Device]](t, l.ok("devices", "list", "--json", "--device-type", "qemu", "--health", "Good"))
	if page.Count != 1 || page.Results[0].Hostname != "d1" || page.Results[0].Worker != "w1" {
		t.Errorf("devices list --json = %+v", page)
	}
	if page := decode[wire.List[wire.Device]](t, l.ok("devices", "list", "--json", "--health", "Bad")); page.Count != 0 {
		t.Errorf("Bad devices: %+v", page)
	}

	// health with a reason, then the history shows it
	if out := l.ok("devices", "health", "d1", "Maintenance", "--reason", "fan broken"); strings.TrimSpace(out) != "d1: health MAINTENANCE" {
		t.Errorf("devices health: %q", out)
	}
	out = l.ok("devices", "history", "d1")
	if !regexp.MustCompile(`(?m)^\S+Z\s+admin\s+GOOD\s+MAINTENANCE\s+-\s+fan broken$`).MatchString(out) {
		t.Errorf("devices history:\n%s", out)
	}
	hist := decode[wire.List[wire.DeviceTransition]](t, l.ok("devices", "history", "d1", "--json"))
	if len(hist.Results) < 2 || hist.Results[0].Reason != "fan broken" || hist.Results[0].NewHealth != "MAINTENANCE" || hist.Results[0].Actor != "admin" {
		t.Errorf("devices history --json = %+v", hist)
	}
	l.expect(cli.ExitUsage, "devices", "health", "d1", "Sick")

	// update, tags
	d := decode[wire.Device](t, l.ok("devices", "update", "d1", "--description", "bench 3", "--json"))
	if d.Description != "bench 3" || d.DeviceType != "qemu" || len(d.Tags) != 1 {
		t.Errorf("devices update = %+v", d)
	}
	l.expect(cli.ExitUsage, "devices", "update", "d1")
	if out := l.ok("devices", "tags", "add", "d1", "slow"); strings.TrimSpace(out) != "d1: tags fast,slow" {
		t.Errorf("tags add: %q", out)
	}
	if out := l.ok("devices", "tags", "remove", "d1", "fast"); strings.TrimSpace(out) != "d1: tags slow" {
		t.Errorf("tags remove: %q", out)
	}
	l.expect(cli.ExitNotFound, "devices", "tags", "remove", "d1", "fast")
	l.expect(cli.ExitUsage, "devices", "tags", "add", "d1", "no-such-tag")

	// dictionary
	dict := "{% extends 'qemu.jinja2' %}\n{% set netdevice = 'tap' %}\n"
	l.ok("devices", "dict", "set", "d1", l.file("d1.jinja2", dict))
	if got := l.ok("devices", "dict", "get", "d1"); got != dict {
		t.Errorf("dict get = %q, want %q", got, dict)
	}

	// show
	out = l.ok("devices", "show", "d1")
	if !regexp.MustCompile(`(?m)^Health:\s+MAINTENANCE$`).MatchString(out) || !regexp.MustCompile(`(?m)^Description:\s+bench 3$`).MatchString(out) {
		t.Errorf("devices show:\n%s", out)
	}
	l.expect(cli.ExitNotFound, "devices", "show", "nope")
	l.expect(cli.ExitConflict, "devices", "add", "d1", "--type", "qemu", "--worker", "w1")
	l.expect(cli.ExitUsage, "devices", "add", "d2", "--worker", "w1")
}

// TestClientDevicePrivateJob: a device running a personal job shows its
// number to the job's owner (here the admin) and "private" to anyone else
// (the server gives them 0).
func TestClientDevicePrivateJob(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	personal := strings.Replace(smokeJob, "visibility: public", "visibility: personal", 1)
	out := strings.TrimSpace(l.ok("jobs", "submit", l.file("personal.yaml", personal)))
	id, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		t.Fatalf("jobs submit printed %q", out)
	}
	ctx := t.Context()
	wp := auth.WorkerPrincipal("w1")
	if _, err := l.app.Heartbeat(ctx, wp, "w1", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.app.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.app.StartJob(ctx, wp, id); err != nil {
		t.Fatal(err)
	}
	row := func(job string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^d1\s+qemu\s+w1\s+Running\s+GOOD\s+running\s+` + regexp.QuoteMeta(job) + `\s+fast$`)
	}
	if out := l.ok("devices", "list"); !row(strconv.FormatInt(id, 10)).MatchString(out) {
		t.Errorf("devices list as the job's owner:\n%s", out)
	}
	if out := l.ok("--uri", l.url, "devices", "list"); !row("private").MatchString(out) {
		t.Errorf("devices list as anonymous:\n%s", out)
	}
	if out := l.ok("--uri", l.url, "devices", "show", "d1"); !regexp.MustCompile(`(?m)^Current job:\s+a private job$`).MatchString(out) {
		t.Errorf("devices show as anonymous:\n%s", out)
	}
	if d := decode[wire.Device](t, l.ok("--uri", l.url, "devices", "show", "d1", "--json")); d.CurrentJob != 0 || d.Status != "running" {
		t.Errorf("devices show --json as anonymous: current job %d, status %q", d.CurrentJob, d.Status)
	}
}

func TestClientLabObjects(t *testing.T) {
	l := newClientLab(t)
	l.setup()

	// device types
	out := l.ok("device-types", "list")
	if !regexp.MustCompile(`(?m)^qemu\s+no\s+every 24 hours\s+no\s+yes\s+QEMU virtual machines$`).MatchString(out) {
		t.Errorf("device-types list:\n%s", out)
	}
	dt := decode[wire.DeviceType](t, l.ok("device-types", "update", "qemu", "--health-frequency", "5", "--health-denominator", "jobs", "--json"))
	if dt.HealthFrequency != 5 || dt.HealthDenominator != "jobs" || dt.Description != "QEMU virtual machines" {
		t.Errorf("device-types update = %+v", dt)
	}
	l.ok("device-types", "health-check", "set", "qemu", l.file("hc.yaml", smokeJob))
	if got := l.ok("device-types", "health-check", "get", "qemu"); got != smokeJob {
		t.Errorf("health-check get = %q", got)
	}
	if dt := decode[wire.DeviceType](t, l.ok("device-types", "show", "qemu", "--json")); !dt.HasHealthCheck {
		t.Errorf("device type has no health check after set: %+v", dt)
	}
	_, errOut := l.expect(cli.ExitUsage, "device-types", "health-check", "set", "qemu", l.file("bad.yaml", badJob))
	if !strings.Contains(errOut, "bad.yaml:3:13: $.visibility") {
		t.Errorf("invalid health check: %q", errOut)
	}
	l.expect(cli.ExitUsage, "device-types", "health-check", "set", "qemu")
	l.ok("device-types", "health-check", "set", "qemu", "--remove")
	if hc := decode[wire.DefinitionInput](t, l.ok("device-types", "health-check", "get", "qemu", "--json")); hc.Definition != "" {
		t.Errorf("health check after remove: %q", hc.Definition)
	}
	l.expect(cli.ExitConflict, "device-types", "add", "qemu")
	l.ok("device-types", "add", "bbb", "--display=false")
	if dt := decode[wire.DeviceType](t, l.ok("device-types", "show", "bbb", "--json")); dt.Display {
		t.Errorf("--display=false ignored: %+v", dt)
	}
	l.ok("device-types", "delete", "bbb")
	l.expect(cli.ExitNotFound, "device-types", "show", "bbb")

	// aliases
	l.ok("aliases", "add", "kvm", "qemu")
	if out := l.ok("aliases", "list"); !regexp.MustCompile(`(?m)^kvm\s+qemu$`).MatchString(out) {
		t.Errorf("aliases list:\n%s", out)
	}
	l.ok("aliases", "delete", "kvm")
	if al := decode[wire.List[wire.Alias]](t, l.ok("aliases", "list", "--json")); al.Count != 0 {
		t.Errorf("aliases after delete: %+v", al)
	}

	// tags
	if tg := decode[wire.Tag](t, l.ok("tags", "show", "fast", "--json")); tg.Description != "fast machines" {
		t.Errorf("tags show = %+v", tg)
	}
	if out := l.ok("tags", "list"); !regexp.MustCompile(`(?m)^fast\s+fast machines$`).MatchString(out) {
		t.Errorf("tags list:\n%s", out)
	}
	l.ok("tags", "delete", "slow")
	l.expect(cli.ExitNotFound, "tags", "show", "slow")

	// workers
	out = l.ok("workers", "list")
	if !regexp.MustCompile(`(?m)^w1\s+\S+\s+Active\s+2\s+-\s+-\s+rack 1$`).MatchString(out) {
		t.Errorf("workers list:\n%s", out)
	}
	l.expect(cli.ExitUsage, "workers", "maintenance", "w1")
	l.ok("workers", "maintenance", "w1", "--reason", "kernel upgrade")
	if w := decode[wire.Worker](t, l.ok("workers", "show", "w1", "--json")); w.Health != "Maintenance" || w.JobLimit != 2 {
		t.Errorf("worker after maintenance: %+v", w)
	}
	if out := l.ok("workers", "history", "w1"); !regexp.MustCompile(`(?m)^\S+Z\s+admin\s+\S+\s+Active->Maintenance\s+kernel upgrade$`).MatchString(out) {
		t.Errorf("workers history:\n%s", out)
	}
	l.ok("workers", "activate", "w1")
	w := decode[wire.Worker](t, l.ok("workers", "update", "w1", "--job-limit", "4", "--json"))
	if w.Health != "Active" || w.JobLimit != 4 || w.Description != "rack 1" {
		t.Errorf("workers update = %+v", w)
	}
	tok := decode[wire.WorkerToken](t, l.ok("workers", "token", "w1", "--json"))
	if !strings.HasPrefix(tok.Token, auth.SecretPrefix) {
		t.Errorf("workers token = %+v", tok)
	}
	nw := decode[wire.NewWorker](t, l.ok("workers", "add", "w2", "--json"))
	if nw.Worker.Name != "w2" || !strings.HasPrefix(nw.Token, auth.SecretPrefix) {
		t.Errorf("workers add --json = %+v", nw)
	}
	l.ok("workers", "retire", "w2", "--reason", "gone")
	l.expect(cli.ExitNotFound, "workers", "show", "w3")
}

func TestClientUsersAndPermissions(t *testing.T) {
	l := newClientLab(t)
	l.setup()

	u := decode[wire.User](t, l.ok("users", "add", "bob", "--email", "bob@example.org", "--first-name", "Bob", "--json"))
	if u.Username != "bob" || u.Email != "bob@example.org" || u.IsSuperuser || !u.IsActive {
		t.Errorf("users add = %+v", u)
	}
	l.ok("groups", "add", "team")
	g := decode[wire.Group](t, l.ok("groups", "add-member", "team", "bob", "--json"))
	if len(g.Members) != 1 || g.Members[0] != "bob" {
		t.Errorf("groups add-member = %+v", g)
	}
	if out := l.ok("users", "list"); !regexp.MustCompile(`(?m)^bob\s+Bob\s+bob@example.org\s+no\s+yes\s+team$`).MatchString(out) {
		t.Errorf("users list:\n%s", out)
	}
	if out := l.ok("groups", "list"); !regexp.MustCompile(`(?m)^team\s+bob$`).MatchString(out) {
		t.Errorf("groups list:\n%s", out)
	}
	u = decode[wire.User](t, l.ok("users", "update", "bob", "--last-name", "Builder", "--json"))
	if u.LastName != "Builder" || u.FirstName != "Bob" {
		t.Errorf("users update = %+v", u)
	}

	// An admin makes bob a token; bob uses it through his own identity.
	tk := decode[wire.Token](t, l.ok("tokens", "add", "--owner", "bob", "--description", "ci", "--expires", "30d", "--json"))
	if tk.Owner != "bob" || !strings.HasPrefix(tk.Secret, auth.SecretPrefix) || tk.Expires == nil {
		t.Fatalf("tokens add = %+v", tk)
	}
	l.ok("identities", "add", "bob", "--uri", l.url, "--username", "bob", "--token", tk.Secret)
	if out := l.ok("-i", "bob", "whoami"); !regexp.MustCompile(`(?m)^User:\s+bob$`).MatchString(out) {
		t.Errorf("whoami as bob:\n%s", out)
	}
	if out := l.ok("-i", "bob", "tokens", "list"); !regexp.MustCompile(`(?m)^` + strconv.FormatInt(tk.ID, 10) + `\s+bob\s+\S+Z\s+\S+\s+\S+Z\s+ci$`).MatchString(out) {
		t.Errorf("bob's tokens:\n%s", out)
	}

	// What bob may not do: exit ExitAuth, with the server's reason.
	denied := [][]string{
		{"devices", "add", "d9", "--type", "qemu", "--worker", "w1"},
		{"devices", "health", "d1", "Bad", "--reason", "x"},
		{"users", "list"},
		{"users", "show", "admin"},
		{"workers", "add", "w9"},
		{"tags", "add", "t9"},
		{"groups", "list"},
		{"devices", "dict", "get", "d1"},
	}
	for _, args := range denied {
		_, errOut := l.expect(cli.ExitAuth, append([]string{"-i", "bob"}, args...)...)
		if !strings.Contains(errOut, "HTTP 403") {
			t.Errorf("bob %v: stderr %q", args, errOut)
		}
	}
	// bob's own job: he may cancel it; admin's job he may see but not cancel.
	bobJob := strings.TrimSpace(l.ok("-i", "bob", "jobs", "submit", l.file("j.yaml", smokeJob)))
	adminJob := strconv.FormatInt(l.submit(), 10)
	l.expect(cli.ExitAuth, "-i", "bob", "jobs", "cancel", adminJob)
	l.ok("-i", "bob", "jobs", "cancel", bobJob)
	// Anonymous callers are told to authenticate (401 → ExitAuth too).
	_, errOut := l.expect(cli.ExitAuth, "--uri", l.url, "jobs", "submit", l.file("k.yaml", smokeJob))
	if !strings.Contains(errOut, "HTTP 401") {
		t.Errorf("anonymous submit: %q", errOut)
	}

	// Revoking bob's token locks him out.
	l.ok("tokens", "delete", strconv.FormatInt(tk.ID, 10))
	l.expect(cli.ExitAuth, "-i", "bob", "whoami")

	l.ok("groups", "remove-member", "team", "bob")
	if g := decode[wire.Group](t, l.ok("groups", "show", "team", "--json")); len(g.Members) != 0 {
		t.Errorf("members after remove: %v", g.Members)
	}
	l.ok("groups", "delete", "team")
	l.ok("users", "delete", "bob")
	l.expect(cli.ExitNotFound, "users", "show", "bob")
}

func TestClientExitCodes(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	closed := httptest.NewServer(nil)
	closedURL := closed.URL
	closed.Close()

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // must appear in standard error
	}{
		{"job not found", []string{"jobs", "show", "999"}, cli.ExitNotFound, "HTTP 404"},
		{"device not found", []string{"devices", "show", "nope"}, cli.ExitNotFound, "not found"},
		{"worker not found", []string{"workers", "history", "nope"}, cli.ExitNotFound, ""},
		{"device type exists", []string{"device-types", "add", "qemu"}, cli.ExitConflict, "HTTP 409"},
		{"tag exists", []string{"tags", "add", "fast"}, cli.ExitConflict, ""},
		{"bad job id", []string{"jobs", "show", "abc"}, cli.ExitUsage, "not a positive integer"},
		{"missing argument", []string{"jobs", "show"}, cli.ExitUsage, ""},
		{"unknown flag", []string{"jobs", "list", "--bogus"}, cli.ExitUsage, ""},
		{"unknown subcommand", []string{"jobs", "frobnicate"}, cli.ExitUsage, "unknown command"},
		{"group without subcommand", []string{"devices"}, cli.ExitUsage, "needs a subcommand"},
		{"missing file", []string{"jobs", "submit", "/nonexistent.yaml"}, cli.ExitUsage, "/nonexistent.yaml"},
		{"bad interval", []string{"jobs", "wait", "1", "--interval", "0s"}, cli.ExitUsage, "--interval"},
		{"bad expiry", []string{"tokens", "add", "--expires", "soon"}, cli.ExitUsage, "--expires"},
		{"no device for the type", []string{"jobs", "submit", l.file("arm.yaml", strings.Replace(smokeJob, "device_type: qemu", "device_type: arm", 1))}, cli.ExitUsage, "arm"},
		{"server down", []string{"--uri", closedURL, "jobs", "list"}, cli.ExitFailure, "cannot reach the Basalt server at " + closedURL},
		{"server down, version", []string{"--uri", closedURL, "version"}, cli.ExitFailure, closedURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut := l.expect(tt.code, tt.args...)
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr %q lacks %q", errOut, tt.stderr)
			}
		})
	}
}

func TestClientUnavailable(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	// The only qemu device is retired: a submission has no usable device.
	l.ok("devices", "health", "d1", "Retired", "--reason", "dead")
	_, errOut := l.expect(cli.ExitUnavailable, "jobs", "submit", l.file("smoke.yaml", smokeJob))
	if !strings.Contains(errOut, "HTTP 422") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestClientVersion(t *testing.T) {
	l := newClientLab(t)
	out := l.ok("version")
	if !regexp.MustCompile(`^client: \S+\nserver: \S+ \(` + regexp.QuoteMeta(l.url) + `\)\n$`).MatchString(out) {
		t.Errorf("version:\n%s", out)
	}
	v := decode[map[string]string](t, l.ok("version", "--json"))
	if v["client"] == "" || v["server"] == "" {
		t.Errorf("version --json = %v", v)
	}
}
