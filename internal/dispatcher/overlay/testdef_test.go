package overlay_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/google/go-cmp/cmp"
)

func TestParseTestdefFull(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "full.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	td, err := overlay.ParseTestdef(src)
	if err != nil {
		t.Fatal(err)
	}
	want := &overlay.Testdef{
		Metadata: overlay.Metadata{
			Format:      overlay.Format,
			Name:        "smoke-tests-basic",
			Description: "Basic system test command for Linaro Ubuntu images",
			Environment: []string{"lava-test-shell"},
			Devices:     []string{"qemu", "juno"},
			Maintainer:  []string{"someone@example.org"},
			Scope:       []string{"functional"},
			OS:          []string{"debian", "oe"},
		},
		Install: overlay.Install{
			Present:    true,
			Deps:       []string{"curl", "git"},
			DistroDeps: map[string][]string{"debian": {"lsb-release"}},
			GitRepos: []overlay.GitRepo{
				{URL: "https://git.example.org/tools.git"},
				{URL: "TOOLS_URL", Branch: "TOOLS_BRANCH", Destination: "extra"},
			},
			Keys:    []string{"0x1234"},
			Sources: []string{"https://repo.example.org/debian"},
			Steps:   []string{"./install.sh", "echo multi\necho line\n"},
		},
		Run: []string{
			"cd ./automated/linux/smoke/",
			"./smoke.sh -s \"${SKIP_INSTALL}\" -t \"${TESTS}\"",
			"../../utils/send-to-lava.sh ./output/result.txt",
			"42",
		},
		Params: []overlay.Param{
			{Name: "SKIP_INSTALL", Value: "False"},
			{Name: "TESTS", Value: "pwd, uname -a"},
			{Name: "COUNT", Value: "3"},
			{Name: "RATIO", Value: "0.50"},
			{Name: "EMPTY", Value: ""},
			{Name: "TOOLS_URL", Value: "https://git.example.org/more.git"},
			{Name: "TOOLS_BRANCH", Value: "main"},
			{Name: "ENABLED", Value: "True"},
			{Name: "QUOTED_YES", Value: "yes"},
		},
		Parse: &overlay.Parse{
			Pattern: `^(?P<test_case_id>\S+):\s+(?P<result>\w+)`,
			Fixup:   map[string]string{"PASS": "pass", "FAIL": "fail", "SKIP": "skip", "N/A": "unknown"},
		},
		Expected: []string{"pwd", "uname"},
		Source:   src,
	}
	if diff := cmp.Diff(want, td); diff != "" {
		t.Errorf("ParseTestdef (-want +got):\n%s", diff)
	}
}

func TestParseTestdefErrors(t *testing.T) {
	const head = "metadata:\n  format: Lava-Test Test Definition 1.0\n  name: x\n"
	tests := []struct {
		name string
		src  string
		want []string // each must appear in the error
	}{
		{"empty", "", []string{"1:1: test definition is empty"}},
		{"not a mapping", "- a\n- b\n", []string{"1:1: expected a mapping (a test definition), got a list"}},
		{"syntax", "metadata: [\n", []string{"YAML syntax error"}},
		{"no metadata", "run:\n  steps: [ls]\n", []string{"1:1: missing required key \"metadata\""}},
		{"wrong format", "metadata:\n  format: Lava-Test Test Definition 2.0\n  name: x\n", []string{`2:11: metadata.format: unknown test definition format "Lava-Test Test Definition 2.0"`}},
		{"format case", "metadata:\n  format: lava-test test definition 1.0\n  name: x\n", []string{"metadata.format: unknown test definition format"}},
		{"no format", "metadata:\n  name: x\n", []string{`2:3: metadata: missing required key "format"`}},
		{"no name", "metadata:\n  format: Lava-Test Test Definition 1.0\n", []string{`missing required key "name"`}},
		{"empty name", "metadata:\n  format: Lava-Test Test Definition 1.0\n  name: \"\"\n", []string{"3:9: metadata.name: must not be empty"}},
		{"unquoted colon step", head + "run:\n  steps:\n    - echo a: b\n", []string{"6:7: run.steps[0]: expected a shell command, got a mapping (quote a command that contains \": \")"}},
		{"bool step", head + "run:\n  steps: [true]\n", []string{"run.steps[0]: expected a shell command (a string), got a boolean"}},
		{"steps not a list", head + "run:\n  steps: ls\n", []string{"5:10: run.steps: expected a list of shell commands"}},
		{"run without steps", head + "run:\n  foo: 1\n", []string{`run: missing required key "steps"`}},
		{"bad param name", head + "params:\n  MY-VAR: 1\n", []string{`5:3: params.MY-VAR: "MY-VAR" is not a valid shell variable name`}},
		{"list param", head + "parameters:\n  A: [1, 2]\n", []string{"5:6: parameters.A: expected a scalar (string, number or boolean), got a list"}},
		{"params not a mapping", head + "params: [a]\n", []string{"params: expected a mapping, got a list"}},
		{"bad fixup", head + "parse:\n  pattern: (?P<test_case_id>\\w+)\n  fixupdict:\n    OK: good\n", []string{`parse.fixupdict.OK: unknown result "good"`}},
		{"lookahead", head + "parse:\n  pattern: '(?=x)'\n", []string{"parse.pattern:", "RE2"}},
		{"deps not a list", head + "install:\n  deps: curl\n", []string{"install.deps: expected a list of strings"}},
		{"git-repos without url", head + "install:\n  git-repos:\n    - branch: main\n", []string{"install.git-repos[0]: a git-repos mapping needs a url"}},
		{"expected not a list", head + "expected: pwd\n", []string{"expected: expected a list of strings"}},
		{"duplicate key", head + "run:\n  steps: [a]\nrun:\n  steps: [b]\n", []string{`6:1: YAML syntax error: mapping key "run" already defined`}},
		{"two documents", head + "---\n" + head, []string{"single YAML document"}},
		{"unknown alias", head + "run:\n  steps: *nothing\n", []string{"alias *nothing refers to no anchor"}},
		{"custom tag", head + "run:\n  steps: !!binary aGk=\n", []string{"YAML tag !!binary is not supported"}},
		{"several problems", "metadata:\n  format: x\n  name: [a]\nrun:\n  steps: [{a: b}]\n", []string{"2:11: metadata.format", "3:9: metadata.name: expected a string", "5:11: run.steps[0]"}},
		{"too deep", strings.Repeat("[", 100) + strings.Repeat("]", 100), []string{"nesting deeper than 64 levels"}},
		{"alias bomb", "a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n", []string{"aliases expand to more than"}},
		{"too big", head + "# " + strings.Repeat("x", overlay.MaxTestdefSize), []string{"larger than the 1048576 bytes allowed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := overlay.ParseTestdef([]byte(tt.src))
			var te *overlay.TestdefError
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T), want *TestdefError", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestParseTestdefLenient(t *testing.T) {
	// What LAVA accepts: unknown keys anywhere, null sections, anchors,
	// merge keys, numeric names, a CRLF file with a byte order mark.
	src := "\ufeffmetadata:\r\n  format: Lava-Test Test Definition 1.0\r\n  name: 2024\r\n  custom: yes\r\n" +
		"install:\r\nrun:\r\n  steps: &s\r\n    - echo one\r\nextra:\r\n  steps: *s\r\n" +
		"defaults: &d {A: 1}\r\nparams:\r\n  <<: *d\r\n  B: !!str 2\r\n"
	td, err := overlay.ParseTestdef([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if td.Metadata.Name != "2024" || td.Install.Present || len(td.Run) != 1 || td.Run[0] != "echo one" {
		t.Errorf("got %+v", td)
	}
	if diff := cmp.Diff([]overlay.Param{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}}, td.Params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
}

func TestInlineTestdef(t *testing.T) {
	// The form jobdef gives an inline definition.
	src := `job_name: inline
device_type: qemu
visibility: public
timeouts: {job: {minutes: 5}}
actions:
- test:
    definitions:
    - from: inline
      name: smoke
      path: inline/smoke.yaml
      repository:
        metadata:
          format: Lava-Test Test Definition 1.0
          name: smoke
        params:
          ON: true
          N: 2
          F: 1.0
          NOTHING:
        install:
          deps: [curl]
        run:
          steps:
          - lava-test-case a --result pass
          - 'echo "x: y"'
        parse:
          pattern: (?P<test_case_id>\w+)
        expected: [a]
`
	job, err := jobdef.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	def := job.Actions[0].Test.Definitions[0]
	td, err := overlay.InlineTestdef(def.Inline)
	if err != nil {
		t.Fatal(err)
	}
	if td.Metadata.Name != "smoke" || len(td.Run) != 2 || td.Run[1] != `echo "x: y"` || !td.Install.Present ||
		td.Parse == nil || td.Parse.Pattern != `(?P<test_case_id>\w+)` || len(td.Expected) != 1 {
		t.Errorf("got %+v", td)
	}
	// Python's str() of the values, as LAVA writes them; the job parser
	// sorts the mapping.
	want := []overlay.Param{{Name: "F", Value: "1.0"}, {Name: "N", Value: "2"}, {Name: "NOTHING", Value: ""}, {Name: "ON", Value: "True"}}
	if diff := cmp.Diff(want, td.Params); diff != "" {
		t.Errorf("params (-want +got):\n%s", diff)
	}
	// Source is YAML that parses back to the same definition.
	back, err := overlay.ParseTestdef(td.Source)
	if err != nil {
		t.Fatalf("Source does not parse: %v\n%s", err, td.Source)
	}
	back.Source = td.Source
	if diff := cmp.Diff(td, back); diff != "" {
		t.Errorf("Source round trip (-inline +reparsed):\n%s", diff)
	}

	bad := []struct {
		m    map[string]any
		want string
	}{
		{nil, "empty"},
		{map[string]any{"metadata": map[string]any{"format": overlay.Format}}, `metadata: missing required key "name"`},
		{map[string]any{"metadata": map[string]any{"format": overlay.Format, "name": "x"}, "run": map[string]any{"steps": []any{map[string]any{"echo a": "b"}}}}, "run.steps[0]: expected a shell command, got a mapping"},
		{map[string]any{"metadata": map[string]any{"format": overlay.Format, "name": "x"}, "params": map[string]any{"A B": "x"}}, `params.A B: "A B" is not a valid shell variable name`},
	}
	for _, b := range bad {
		_, err := overlay.InlineTestdef(b.m)
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("InlineTestdef(%v) error %v, want %q", b.m, err, b.want)
		}
	}
}

func FuzzParseTestdef(f *testing.F) {
	for _, name := range []string{"full.yaml"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(smokeTestdef))
	f.Add([]byte(helpersTestdef))
	f.Add([]byte("metadata: {format: Lava-Test Test Definition 1.0, name: x}\nparams: {<<: [{A: 1}]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("--- !!map\n? [a]\n: b\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		td, err := overlay.ParseTestdef(b)
		if err != nil {
			var te *overlay.TestdefError
			if !errors.As(err, &te) || len(te.Problems) == 0 {
				t.Fatalf("error %v is not a non-empty *TestdefError", err)
			}
			return
		}
		if td.Metadata.Format != overlay.Format || td.Metadata.Name == "" {
			t.Fatalf("accepted without format or name: %+v", td.Metadata)
		}
		// Whatever parses can be laid out.
		if _, err := overlay.Build(overlay.Options{JobID: 1}, []overlay.Stage{{Number: 0, Definitions: []overlay.Definition{
			{Name: "f", Index: 0, UUID: "1_1", Testdef: td},
		}}}); err != nil {
			t.Fatalf("Build: %v", err)
		}
	})
}
