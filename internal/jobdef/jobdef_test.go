package jobdef

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
)

// base is a minimal valid job; tests replace or append lines.
const base = `job_name: table test
device_type: qemu
visibility: public
timeouts:
  job:
    minutes: 30
actions:
- command:
    name: relay_on
`

// with returns base with the top-level key replaced (or appended) by the
// given YAML text.
func with(key, text string) string {
	lines := strings.Split(base, "\n")
	var out []string
	skipping := false
	for _, l := range lines {
		if strings.HasPrefix(l, key+":") {
			skipping = true
			continue
		}
		if skipping && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "-")) {
			continue
		}
		skipping = false
		out = append(out, l)
	}
	return strings.Join(out, "\n") + text + "\n"
}

// parseErrs parses src and returns the error items (nil if it parsed).
func parseErrs(t *testing.T, src string) (*Job, []Error) {
	t.Helper()
	job, err := Parse([]byte(src))
	if err == nil {
		return job, nil
	}
	var list *Errors
	if !errors.As(err, &list) {
		t.Fatalf("error is %T, want *Errors: %v", err, err)
	}
	checkErrors(t, list)
	return nil, list.Items
}

// wantOneError asserts that src fails with exactly one error containing msg
// at path.
func wantOneError(t *testing.T, src, path, msg string) {
	t.Helper()
	_, errs := parseErrs(t, src)
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1:\n%v", len(errs), (&Errors{Items: errs}).Error())
	}
	if errs[0].Path != path || !strings.Contains(errs[0].Msg, msg) {
		t.Errorf("got %v, want path %q and a message containing %q", errs[0], path, msg)
	}
}

// wantOneWarning asserts that src is accepted with exactly one warning
// containing msg at path, and that Strict refuses it with one error at
// the same place.
func wantOneWarning(t *testing.T, src, path, msg string) *Job {
	t.Helper()
	job, errs := parseErrs(t, src)
	if errs != nil {
		t.Fatalf("unexpected errors:\n%v", (&Errors{Items: errs}).Error())
	}
	if len(job.Warnings) != 1 {
		t.Fatalf("got %d warnings, want 1: %v", len(job.Warnings), job.Warnings)
	}
	w := job.Warnings[0]
	if w.Path != path || !strings.Contains(w.Msg, msg) {
		t.Errorf("got warning %v, want path %q and a message containing %q", w, path, msg)
	}
	_, err := Parse([]byte(src), Strict())
	var list *Errors
	if !errors.As(err, &list) || len(list.Items) != 1 {
		t.Fatalf("Strict: got %v, want one error", err)
	}
	if e := list.Items[0]; e.Line != w.Line || e.Column != w.Column || e.Path != w.Path {
		t.Errorf("Strict: error %v is not where the warning %v is", e, w)
	}
	return job
}

func TestBaseIsValid(t *testing.T) {
	job, errs := parseErrs(t, base)
	if errs != nil {
		t.Fatalf("base job rejected: %v", errs)
	}
	if job.Priority != lab.PriorityMedium {
		t.Errorf("default priority = %d, want %d", job.Priority, lab.PriorityMedium)
	}
	if job.QueueTimeout() != 0 {
		t.Errorf("QueueTimeout without timeouts.queue = %v, want 0", job.QueueTimeout())
	}
	if job.Pos != (Pos{1, 1}) || job.Actions[0].Pos != (Pos{8, 3}) {
		t.Errorf("positions: job %v, action %v; want 1:1 and 8:3", job.Pos, job.Actions[0].Pos)
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want Timeout
		err  string // substring of the only error; "" means valid
	}{
		{"seconds", "{seconds: 90}", Timeout{Duration: 90 * time.Second}, ""},
		{"minutes", "{minutes: 3}", Timeout{Duration: 3 * time.Minute}, ""},
		{"hours", "{hours: 2}", Timeout{Duration: 2 * time.Hour}, ""},
		{"days", "{days: 1}", Timeout{Duration: 24 * time.Hour}, ""},
		{"skip", "{minutes: 1, skip: true}", Timeout{Duration: time.Minute, Skip: true}, ""},
		{"skip false", "{minutes: 1, skip: false}", Timeout{Duration: time.Minute}, ""},
		{"zero", "{minutes: 0}", Timeout{}, "at least 1"},
		{"negative", "{seconds: -5}", Timeout{}, "at least 1"},
		{"two units", "{minutes: 1, seconds: 30}", Timeout{}, "exactly one of"},
		{"no unit", "{skip: true}", Timeout{}, "needs one of days"},
		{"empty", "{}", Timeout{}, "needs one of days"},
		{"string value", "{minutes: ten}", Timeout{}, "expected an integer"},
		{"float value", "{minutes: 1.5}", Timeout{}, "expected an integer"},
		{"quoted number", `{minutes: "10"}`, Timeout{}, "expected an integer"},
		{"leading zero", "{minutes: 010}", Timeout{}, "ambiguous integer"},
		{"huge", "{days: 9999999999}", Timeout{}, "too long"},
		{"out of int64", "{days: 99999999999999999999999}", Timeout{}, "out of range"},
		{"unknown unit", "{weeks: 1, minutes: 1}", Timeout{}, `unknown key "weeks"`},
		{"yaml 1.1 skip", "{minutes: 1, skip: yes}", Timeout{}, "expected a boolean (true/false)"},
		{"not a mapping", "10", Timeout{}, "expected a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := with("timeouts", "timeouts:\n  job: {days: 2}\n  action: "+tt.yaml)
			job, errs := parseErrs(t, src)
			if tt.err == "" {
				if errs != nil {
					t.Fatalf("unexpected errors: %v", errs)
				}
				if diff := cmp.Diff(tt.want, *job.Timeouts.Action); diff != "" {
					t.Errorf("timeout mismatch (-want +got):\n%s", diff)
				}
				return
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Msg, tt.err) {
				t.Fatalf("got %v, want one error containing %q", errs, tt.err)
			}
			if !strings.HasPrefix(errs[0].Path, "$.timeouts.action") {
				t.Errorf("path = %q, want under $.timeouts.action", errs[0].Path)
			}
		})
	}
}

func TestTimeoutsBlock(t *testing.T) {
	src := with("timeouts", `timeouts:
  job: {hours: 2}
  queue: {days: 3}
  connection: {seconds: 20}
  actions:
    http-download: {minutes: 5}
  connections:
    lava-test-shell: {seconds: 10}`)
	job, errs := parseErrs(t, src)
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	want := Timeouts{
		Job:         Timeout{Duration: 2 * time.Hour},
		Queue:       &Timeout{Duration: 72 * time.Hour},
		Connection:  &Timeout{Duration: 20 * time.Second},
		Actions:     map[string]Timeout{"http-download": {Duration: 5 * time.Minute}},
		Connections: map[string]Timeout{"lava-test-shell": {Duration: 10 * time.Second}},
	}
	if diff := cmp.Diff(want, job.Timeouts); diff != "" {
		t.Errorf("timeouts mismatch (-want +got):\n%s", diff)
	}
	if got := job.QueueTimeout(); got != 72*time.Hour {
		t.Errorf("QueueTimeout = %v, want 72h", got)
	}
	// The queue timeout is not bounded by the job timeout.
	if _, errs := parseErrs(t, with("timeouts", "timeouts:\n  job: {minutes: 1}\n  queue: {days: 1}")); errs != nil {
		t.Errorf("queue timeout above job timeout rejected: %v", errs)
	}
	// Equal to the job timeout is fine, one second more is not.
	if _, errs := parseErrs(t, with("timeouts", "timeouts:\n  job: {minutes: 1}\n  action: {seconds: 60}")); errs != nil {
		t.Errorf("action timeout equal to job timeout rejected: %v", errs)
	}
	wantOneError(t, with("timeouts", "timeouts:\n  job: {minutes: 1}\n  connection: {seconds: 61}"),
		"$.timeouts.connection", "longer than the job timeout 1m0s")
	wantOneError(t, with("timeouts", "timeouts:\n  job: {minutes: 1}\n  actions:\n    HTTP: {seconds: 1}"),
		"$.timeouts.actions.HTTP", "not a valid action name")
}

func TestTimeoutJSONRoundTrip(t *testing.T) {
	for _, in := range []Timeout{{Duration: 90 * time.Second}, {Duration: 48 * time.Hour, Skip: true}} {
		b, err := in.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var out Timeout
		if err := out.UnmarshalJSON(b); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if out != in {
			t.Errorf("round trip of %+v gave %+v (json %s)", in, out, b)
		}
	}
	var tm Timeout
	if err := tm.UnmarshalJSON([]byte(`{"duration":"soon"}`)); err == nil {
		t.Errorf("bad duration accepted")
	}
}

func TestPriority(t *testing.T) {
	tests := []struct {
		yaml string
		want int
		err  string
	}{
		{"high", 100, ""},
		{"medium", 50, ""},
		{"low", 0, ""},
		{"HIGH", 100, ""},
		{"0", 0, ""},
		{"100", 100, ""},
		{"42", 42, ""},
		{`"42"`, 42, ""},
		{"101", 0, "must be high, medium, low or an integer from 0 to 100"},
		{"-1", 0, "must be high, medium, low or an integer from 0 to 100"},
		{"urgent", 0, "must be high, medium, low or an integer from 0 to 100"},
		{"4.5", 0, "expected high, medium, low or an integer"},
		{"true", 0, "expected high, medium, low or an integer"},
		{"[high]", 0, "expected high, medium, low or an integer"},
		{"050", 0, "ambiguous integer"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			job, errs := parseErrs(t, base+"priority: "+tt.yaml+"\n")
			if tt.err == "" {
				if errs != nil {
					t.Fatalf("unexpected errors: %v", errs)
				}
				if job.Priority != tt.want {
					t.Errorf("priority = %d, want %d", job.Priority, tt.want)
				}
				return
			}
			if len(errs) != 1 || errs[0].Path != "$.priority" || !strings.Contains(errs[0].Msg, tt.err) {
				t.Errorf("got %v, want one $.priority error containing %q", errs, tt.err)
			}
		})
	}
}

func TestVisibility(t *testing.T) {
	tests := []struct {
		yaml   string
		want   lab.Visibility
		groups []string
		err    string
	}{
		{"public", lab.VisibilityPublic, nil, ""},
		{"personal", lab.VisibilityPersonal, nil, ""},
		{"{group: [qa]}", lab.VisibilityGroup, []string{"qa"}, ""},
		{"\n  group:\n  - qa\n  - kernel", lab.VisibilityGroup, []string{"qa", "kernel"}, ""},
		{"group", 0, nil, "group visibility needs the groups"},
		{"{group: []}", 0, nil, "must not be an empty list"},
		{"{group: qa}", 0, nil, "expected a list of strings"},
		{`{group: [""]}`, 0, nil, "must not be empty"},
		{"{group: [qa], users: [bob]}", 0, nil, `unknown key "users"`},
		{"{}", 0, nil, `missing required key "group"`},
		{"Public", 0, nil, `unknown visibility "Public"`},
		{"true", 0, nil, "expected a string"},
	}
	for _, tt := range tests {
		t.Run(tt.yaml, func(t *testing.T) {
			job, errs := parseErrs(t, with("visibility", "visibility: "+tt.yaml))
			if tt.err == "" {
				if errs != nil {
					t.Fatalf("unexpected errors: %v", errs)
				}
				if job.Visibility != tt.want || !cmp.Equal(job.VisibilityGroups, tt.groups) {
					t.Errorf("got %v %v, want %v %v", job.Visibility, job.VisibilityGroups, tt.want, tt.groups)
				}
				return
			}
			if len(errs) != 1 || !strings.HasPrefix(errs[0].Path, "$.visibility") || !strings.Contains(errs[0].Msg, tt.err) {
				t.Errorf("got %v, want one $.visibility error containing %q", errs, tt.err)
			}
		})
	}
	wantOneError(t, with("visibility", ""), "$", `missing required key "visibility"`)
}

func TestPaths(t *testing.T) {
	tests := []struct {
		build func() string
		want  string
	}{
		{func() string { return KeyPath("$", "actions") }, "$.actions"},
		{func() string { return IndexPath(KeyPath("$", "actions"), 3) }, "$.actions[3]"},
		{func() string { return KeyPath(IndexPath("$.actions", 0), "deploy") }, "$.actions[0].deploy"},
		{func() string { return KeyPath("$.metadata", "build-id_2") }, "$.metadata.build-id_2"},
		{func() string { return KeyPath("$.metadata", "kernel.version") }, "$.metadata['kernel.version']"},
		{func() string { return KeyPath("$.metadata", "it's") }, `$.metadata['it\'s']`},
		{func() string { return KeyPath("$.m", `a\b`) }, `$.m['a\\b']`},
		{func() string { return KeyPath("$.m", "") }, "$.m['']"},
		{func() string { return KeyPath("$.m", "a b") }, "$.m['a b']"},
	}
	for _, tt := range tests {
		got := tt.build()
		if got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
			continue
		}
		steps, ok := PathSteps(got)
		if !ok {
			t.Errorf("PathSteps(%q) failed", got)
			continue
		}
		// Rebuild the path from its steps: it must be identical.
		re := "$"
		for _, s := range steps {
			switch s := s.(type) {
			case string:
				re = KeyPath(re, s)
			case int:
				re = IndexPath(re, s)
			}
		}
		if re != got {
			t.Errorf("PathSteps round trip: %q became %q", got, re)
		}
	}
	for _, bad := range []string{"", "actions", "$.", "$[x]", "$[-1]", "$['a", "$['a'", "$.a]"} {
		if _, ok := PathSteps(bad); ok {
			t.Errorf("PathSteps(%q) accepted a malformed path", bad)
		}
	}
}

func TestPosOf(t *testing.T) {
	src, err := os.ReadFile("testdata/valid/qemu-tmpfs-tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	job, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want Pos
		ok   bool
	}{
		{"$", Pos{3, 1}, true},
		{"$.device_type", Pos{4, 14}, true},
		{"$.actions[1].boot.method", Pos{61, 15}, true},
		{"$.actions[0].deploy.images.rootfs.url", Pos{56, 16}, true},
		{"$.metadata['kernel.version']", Pos{37, 19}, true},
		{"$.actions[9]", Pos{}, false},
		{"$.nothing", Pos{}, false},
		{"$.job_name[0]", Pos{}, false},
		{"garbage", Pos{}, false},
	}
	for _, tt := range tests {
		got, ok := job.PosOf(tt.path)
		if got != tt.want || ok != tt.ok {
			t.Errorf("PosOf(%q) = %v, %v; want %v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
	var nilJob *Job
	if _, ok := nilJob.PosOf("$"); ok {
		t.Errorf("PosOf on a nil job succeeded")
	}
}

func TestErrorFormat(t *testing.T) {
	e := Error{Line: 12, Column: 5, Path: "$.actions[1].boot.method", Msg: `boot method "fastboot" is not supported (supported: minimal, qemu)`}
	want := `12:5: $.actions[1].boot.method: boot method "fastboot" is not supported (supported: minimal, qemu)`
	if e.Error() != want {
		t.Errorf("Error() = %q, want %q", e.Error(), want)
	}
	if got := (Error{Line: 1, Column: 2, Msg: "YAML syntax error: x"}).Error(); got != "1:2: YAML syntax error: x" {
		t.Errorf("Error() without path = %q", got)
	}
	if !errors.Is(e, lab.ErrInvalid) {
		t.Errorf("Error does not wrap lab.ErrInvalid")
	}

	var l errList
	l.add(Pos{3, 1}, "$.b", "second")
	l.add(Pos{1, 9}, "$.a", "first")
	l.add(Pos{3, 1}, "$.b", "second") // duplicate
	l.add(Pos{0, 0}, "$", "no position")
	err := l.result()
	var list *Errors
	if !errors.As(err, &list) || !errors.Is(err, lab.ErrInvalid) {
		t.Fatalf("result() = %T %v; want *Errors wrapping lab.ErrInvalid", err, err)
	}
	wantItems := []Error{
		{1, 1, "$", "no position"},
		{1, 9, "$.a", "first"},
		{3, 1, "$.b", "second"},
	}
	if diff := cmp.Diff(wantItems, list.Items); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
	if got := err.Error(); got != "1:1: $: no position\n1:9: $.a: first\n3:1: $.b: second" {
		t.Errorf("Errors.Error() = %q", got)
	}
	if (&errList{}).result() != nil {
		t.Errorf("empty errList gave a non-nil error")
	}
}

func TestTooManyErrors(t *testing.T) {
	var b strings.Builder
	b.WriteString(base + "metadata:\n")
	for i := 0; i < 3*maxErrors; i++ {
		b.WriteString("  k" + itoa(i) + ": [x]\n")
	}
	_, errs := parseErrs(t, b.String())
	if len(errs) != maxErrors+1 {
		t.Fatalf("got %d items, want %d", len(errs), maxErrors+1)
	}
	if last := errs[len(errs)-1]; !strings.Contains(last.Msg, "too many errors; 200 more not shown") {
		t.Errorf("last item = %v", last)
	}
}

func TestRawAndScalars(t *testing.T) {
	src := with("actions", `actions:
- deploy:
    to: tmpfs
    os: oe
    images:
      rootfs:
        url: https://example.org/r.img
        partition: 1
        sparse: false
- command:
    name: 1234`)
	job, errs := parseErrs(t, src)
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	want := map[string]any{
		"to": "tmpfs",
		"os": "oe",
		"images": map[string]any{"rootfs": map[string]any{
			"url": "https://example.org/r.img", "partition": uint64(1), "sparse": false,
		}},
	}
	if diff := cmp.Diff(want, job.Actions[0].Raw); diff != "" {
		t.Errorf("Raw mismatch (-want +got):\n%s", diff)
	}
	img := job.Actions[0].Deploy.Images["rootfs"]
	if img.Partition == nil || *img.Partition != 1 || img.Sparse == nil || *img.Sparse {
		t.Errorf("image = %+v", img)
	}
	// A numeric command name is kept as written.
	if job.Actions[1].Command.Name != "1234" {
		t.Errorf("command name = %q", job.Actions[1].Command.Name)
	}
}

func TestMetadataAndContext(t *testing.T) {
	src := base + `metadata:
  a: true
  b: False
  c: 1.10
  d: 0x1F
  e: "yes"
  f: ~
  8: eight
context:
  arch: arm64
  no_kvm: true
  extra_options: [-smp, 2]
  my_var: 1
`
	if _, errs := parseErrs(t, src); len(errs) != 1 || errs[0].Path != "$.context.my_var" {
		t.Fatalf("without WithExtraContext: %v", errs)
	}
	job, err := Parse([]byte(src), WithExtraContext("my_var"))
	if err != nil {
		t.Fatalf("with WithExtraContext: %v", err)
	}
	wantMeta := map[string]string{"a": "true", "b": "false", "c": "1.10", "d": "0x1F", "e": "yes", "f": "", "8": "eight"}
	if diff := cmp.Diff(wantMeta, job.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	wantCtx := map[string]any{"arch": "arm64", "no_kvm": true, "extra_options": []any{"-smp", uint64(2)}, "my_var": uint64(1)}
	if diff := cmp.Diff(wantCtx, job.Context); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
}

func TestNotifyDefaults(t *testing.T) {
	job, errs := parseErrs(t, base+`notify:
  criteria: {status: complete}
  callback: {url: "https://ci.example.org/{ID}"}
`)
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	want := &Notify{
		Criteria:  NotifyCriteria{Status: "complete"},
		Verbosity: "quiet",
		Callbacks: []Callback{{Pos: Pos{12, 13}, URL: "https://ci.example.org/{ID}", Method: "GET",
			Header: "Authorization", Dataset: "minimal", ContentType: "urlencoded"}},
	}
	if diff := cmp.Diff(want, job.Notify); diff != "" {
		t.Errorf("notify (-want +got):\n%s", diff)
	}
	wantOneError(t, base+"notify:\n  criteria: {status: done}\n", "$.notify.criteria.status", `unknown status "done"`)
	wantOneError(t, base+"notify:\n  verbosity: quiet\n", "$.notify", `missing required key "criteria"`)
}

func TestMultinodeRules(t *testing.T) {
	mn := `job_name: mn
visibility: public
timeouts: {job: {minutes: 10}}
protocols:
  lava-multinode:
    roles:
      a: {device_type: qemu, count: 1}
      b: {device_type: qemu, count: 0}
`
	job, errs := parseErrs(t, mn+"actions:\n- command: {name: x, role: [a, b]}\n")
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if got := job.Protocols.Multinode.Roles["b"].Count; got != 0 {
		t.Errorf("count 0 role: count = %d", got)
	}
	if job.DeviceType != "" {
		t.Errorf("multinode job has device_type %q", job.DeviceType)
	}
	wantOneError(t, mn+"actions:\n- command: {name: x}\n", "$.actions[0].command", `missing required key "role"`)
	wantOneError(t, mn+"actions:\n- command: {name: x, role: [c]}\n", "$.actions[0].command.role[0]", `unknown role "c" (defined roles: a, b)`)
	wantOneError(t, mn+"context: {arch: arm64}\nactions:\n- command: {name: x, role: [a]}\n", "$.context", "not allowed with protocols.lava-multinode")
	zero := strings.Replace(mn, "count: 1", "count: 0", 1)
	wantOneError(t, zero+"actions:\n- command: {name: x, role: [a]}\n", "$.protocols.lava-multinode.roles", "add up to 0")
	wantOneError(t, base+"protocols:\n  lava-xnbd: {port: auto}\n", "$.protocols.lava-xnbd", "not supported")
}

func TestLimits(t *testing.T) {
	tests := []struct {
		name string
		src  string
		msg  string
	}{
		{"too large", base + "# " + strings.Repeat("x", MaxSourceSize) + "\n", "larger than"},
		{"deep flow", "a: " + strings.Repeat("[", 10*MaxDepth) + strings.Repeat("]", 10*MaxDepth) + "\n", "nesting deeper"},
		{"deep block sequence", strings.Repeat("- ", 10*MaxDepth) + "x\n", "nesting deeper"},
		{"deep block mapping", func() string {
			var b strings.Builder
			for i := 0; i < 2*MaxDepth; i++ {
				b.WriteString(strings.Repeat(" ", i) + "k:\n")
			}
			return b.String()
		}(), "nesting deeper"},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\n" +
			"b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n" +
			"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
			"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n" +
			"e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n" +
			"f: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", "aliases expand"},
		{"merge bomb", func() string {
			var b strings.Builder
			b.WriteString("a0: &a0 {" + strings.Repeat("k: v, ", 0) + "k0: v}\n")
			for i := 1; i < 40; i++ {
				b.WriteString("a" + itoa(i) + ": &a" + itoa(i) + " {k" + itoa(i) + ": v, <<: [" +
					strings.TrimSuffix(strings.Repeat("*a"+itoa(i-1)+", ", 1), ", ") + "], x: [*a" + itoa(i-1) + ", *a" + itoa(i-1) + "]}\n")
			}
			return b.String()
		}(), "aliases expand"},
		{"recursive alias", "a: &a [*a]\n", "refers to no anchor"},
		{"too many keys", func() string {
			var b strings.Builder
			b.WriteString(base + "environment:\n")
			for i := 0; i <= MaxKeys; i++ {
				b.WriteString("  k" + itoa(i) + ": v\n")
			}
			return b.String()
		}(), "more than 1000 keys"},
		{"many documents", strings.Repeat("---\n"+base, 3), "single YAML document"},
		{"document ends", base + "...\n" + base + "...\n", "single YAML document"},
		{"custom tag", "job_name: !include other.yaml\n", "YAML tag !include is not supported"},
		{"binary garbage", "\x00\x01\x02\xff\xfe", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := parseErrs(t, tt.src)
			if errs == nil {
				t.Fatalf("accepted")
			}
			if tt.msg != "" && !strings.Contains(errs[0].Msg, tt.msg) {
				t.Errorf("got %v, want a first error containing %q", errs, tt.msg)
			}
		})
	}
}

func TestAnchorsAndTags(t *testing.T) {
	src := `job_name: !!str 2026
device_type: &dt qemu
visibility: public
timeouts:
  job: &t {minutes: 10}
  action: *t
actions:
- command: {name: *dt}
`
	job, errs := parseErrs(t, src)
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	if job.Name != "2026" || job.Actions[0].Command.Name != "qemu" || *job.Timeouts.Action != job.Timeouts.Job {
		t.Errorf("job = %+v", job)
	}
	wantOneError(t, with("job_name", "job_name: !!int abc"), "", "value tagged !!int is not an integer")
}

func TestActionCommonKeys(t *testing.T) {
	job, errs := parseErrs(t, with("actions", `actions:
- command:
    name: x
    repeat: 3
    failure_retry: 2
    failure_retry_interval: 15
    connection-namespace: host
    timeout: {minutes: 2, skip: true}
    timeouts: {power-on: {seconds: 30}}`))
	if errs != nil {
		t.Fatalf("unexpected errors: %v", errs)
	}
	a := job.Actions[0]
	want := Action{
		Kind: KindCommand, Pos: Pos{8, 3}, ConnectionNamespace: "host",
		Timeout:  &Timeout{Duration: 2 * time.Minute, Skip: true},
		Timeouts: map[string]Timeout{"power-on": {Duration: 30 * time.Second}},
		Repeat:   3, FailureRetry: 2, FailureRetryInterval: 15 * time.Second,
		Command: &Command{Name: "x"},
	}
	if diff := cmp.Diff(want, a, cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "Raw" }, cmp.Ignore())); diff != "" {
		t.Errorf("action (-want +got):\n%s", diff)
	}
}

// TestLineBreaks checks that CRLF line ends and a byte order mark change
// neither the result nor the positions.
func TestLineBreaks(t *testing.T) {
	src, err := os.ReadFile("testdata/valid/qemu-tmpfs-tests.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	ignoreRoot := cmp.FilterPath(func(p cmp.Path) bool { return p.String() == "root" }, cmp.Ignore())
	for name, variant := range map[string]string{
		"crlf": strings.ReplaceAll(string(src), "\n", "\r\n"),
		"cr":   strings.ReplaceAll(string(src), "\n", "\r"),
		"bom":  "\ufeff" + string(src),
	} {
		got, err := Parse([]byte(variant))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if diff := cmp.Diff(want, got, cmp.AllowUnexported(Job{}), ignoreRoot); diff != "" {
			t.Errorf("%s: result differs (-lf +%s):\n%s", name, name, diff)
		}
	}
}

// TestTextEncoding: a definition must be UTF-8 text without NUL
// characters, written or escaped; each problem is reported at its line
// and column, once.
func TestTextEncoding(t *testing.T) {
	for _, c := range []struct {
		name, src  string
		line, col  int
		path, want string
	}{
		{"bad byte in a value", strings.Replace(base, "table test", "table \xe9t\xe9", 1), 1, 17, "", "the text is not UTF-8: byte 0xe9"},
		{"bad byte in a comment", base + "# \xff\n", 10, 3, "", "the text is not UTF-8: byte 0xff"},
		{"bad byte after CRLF", strings.ReplaceAll(base, "\n", "\r\n") + "\xc0\r\n", 10, 1, "", "not UTF-8"},
		{"NUL byte", strings.Replace(base, "device_type: qemu", "device_type: q\x00emu", 1), 2, 15, "", "a NUL character (byte 0) is not allowed"},
		{"escaped NUL in a value", strings.Replace(base, "job_name: table test", `job_name: "table\0test"`, 1), 1, 11, "", `a NUL character (\0) is not allowed`},
		{"escaped NUL in a metadata value", base + "metadata:\n  k: \"\\x00\"\n", 11, 6, "", `a NUL character (\0) is not allowed`},
		{"escaped NUL in a metadata key", base + "metadata:\n  \"k\\u0000\": v\n", 11, 3, "", `a NUL character (\0) is not allowed`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errs := parseErrs(t, c.src)
			if len(errs) != 1 {
				t.Fatalf("got %d errors, want 1:\n%v", len(errs), (&Errors{Items: errs}).Error())
			}
			e := errs[0]
			if e.Line != c.line || e.Column != c.col || e.Path != c.path || !strings.Contains(e.Msg, c.want) {
				t.Errorf("got %d:%d %q %q, want %d:%d %q and a message containing %q", e.Line, e.Column, e.Path, e.Msg, c.line, c.col, c.path, c.want)
			}
		})
	}
	// Other Unicode, escaped or not, is text like any other.
	job, errs := parseErrs(t, strings.Replace(base, "job_name: table test", `job_name: "café ✓ \u00e9\t\x01"`, 1))
	if errs != nil || job.Name != "café ✓ é\t\x01" {
		t.Errorf("Unicode job name: %q, %v", job.Name, errs)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

// TestNewConnection: the new_connection boot method names the connection
// it opens (required), takes prompts and auto_login optionally, and has no
// bootloader commands (LAVA's schema).
func TestNewConnection(t *testing.T) {
	for _, tc := range []struct {
		name, boot string
		want       *Boot  // when valid
		path, msg  string // the one error, when not
		warn       bool   // path and msg are a warning: accepted, refused with Strict
	}{
		{name: "connection only", boot: "{method: new_connection, connection: uart1}",
			want: &Boot{Method: NewConnection, Connection: "uart1"}},
		{name: "prompts and login", boot: "{method: new_connection, connection: uart1, prompts: ['# '], auto_login: {login_prompt: 'login:', username: root}}",
			want: &Boot{Method: NewConnection, Connection: "uart1", Prompts: []string{"# "}, AutoLogin: &AutoLogin{LoginPrompt: "login:", Username: "root"}}},
		{name: "transfer_overlay and parameters", boot: "{method: new_connection, connection: uart1, transfer_overlay: {download_command: wget, unpack_command: tar xf}, parameters: {shutdown-message: bye}}",
			want: &Boot{Method: NewConnection, Connection: "uart1", TransferOverlay: &TransferOverlay{DownloadCommand: "wget", UnpackCommand: "tar xf"}, Parameters: &BootParameters{ShutdownMessage: "bye"}}},
		{name: "no connection", boot: "{method: new_connection, prompts: ['# ']}",
			path: "$.actions[0].boot", msg: `missing required key "connection"`},
		{name: "empty connection", boot: "{method: new_connection, connection: ''}",
			path: "$.actions[0].boot.connection", msg: "must not be empty"},
		{name: "commands", boot: "{method: new_connection, connection: uart1, commands: [boot]}",
			path: "$.actions[0].boot.commands", msg: `unknown key "commands" is ignored`, warn: true},
		{name: "bootloader key", boot: "{method: new_connection, connection: uart1, reset: false}",
			path: "$.actions[0].boot.reset", msg: `unknown key "reset" is ignored`, warn: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := with("actions", "actions:\n- boot: "+tc.boot)
			if tc.warn {
				wantOneWarning(t, src, tc.path, tc.msg)
				return
			}
			if tc.want == nil {
				wantOneError(t, src, tc.path, tc.msg)
				return
			}
			job, errs := parseErrs(t, src)
			if errs != nil {
				t.Fatalf("unexpected errors: %v", errs)
			}
			if diff := cmp.Diff(tc.want, job.Actions[0].Boot); diff != "" {
				t.Errorf("boot (-want +got):\n%s", diff)
			}
		})
	}
}
