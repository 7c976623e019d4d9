package overlay_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/cpio"
	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/google/go-cmp/cmp"
)

const smokeTestdef = `metadata:
  format: Lava-Test Test Definition 1.0
  name: smoke
install:
  deps: [curl, "lib foo"]
  keys: [key1]
  sources: [src1]
  steps:
    - ./setup.sh
run:
  steps:
    - lava-test-case a --shell ./check.sh "$1"
    - echo $1
`

// repo makes a directory that stands for a checkout.
func repo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, data string, mode fs.FileMode) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
	}
	write("smoke.yaml", smokeTestdef, 0o644)
	write("check.sh", "#!/bin/sh\nexit 0\n", 0o755)
	write("sub/data.txt", "data\n", 0o600)
	write("run.sh", "repository's own run.sh\n", 0o644)
	if err := os.Symlink("sub/data.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBuildLayout(t *testing.T) {
	o := overlay.Options{
		JobID:       1234,
		Environment: []overlay.EnvVar{{Name: "DEV", Value: "d"}, {Name: "JOB", Value: "it's here"}},
		Secrets:     []overlay.EnvVar{{Name: "TOKEN", Value: "s3cr3t"}, {Name: "PHRASE", Value: "two words"}},
		Hostname:    "qemu01",
		DeviceType:  "qemu",
		Tags:        []string{"fast"},
		TargetIP:    "10.1.1.1",
	}
	inline := mustTestdef(t, "metadata: {format: Lava-Test Test Definition 1.0, name: inl}\nrun: {steps: [echo hi]}\n")
	stages := []overlay.Stage{
		{Number: 0, Definitions: []overlay.Definition{
			{Name: "smoke", Index: 0, UUID: "1234_1.1", Testdef: mustTestdef(t, smokeTestdef), Path: "smoke.yaml", RepoDir: repo(t),
				SkipInstall: []string{"keys"}, Params: map[string]string{"EXTRA": "x"}},
		}},
		{Number: 1, Definitions: []overlay.Definition{
			{Name: "inl", Index: 1, UUID: "1234_2.1", Testdef: inline, Path: "inline/inl.yaml"},
		}},
	}
	tree, err := overlay.Build(o, stages)
	if err != nil {
		t.Fatal(err)
	}
	if tree.Root != "/lava-1234" {
		t.Errorf("Root = %q", tree.Root)
	}
	type fileWant struct {
		mode fs.FileMode
		data string // "" means: do not compare
	}
	wants := map[string]fileWant{
		"bin":                               {fs.ModeDir | 0o755, ""},
		"bin/lava-test-case":                {0o755, ""},
		"bin/lava-test-runner":              {0o755, ""},
		"bin/lava-common-functions":         {0o755, ""},
		"bin/lava-background-process-start": {0o755, ""},
		"environment": {0o644, "# Sourced before lava-test-runner: the device's and the job's environment, then LAVA's variables.\n" +
			"export DEV=d\nexport JOB='it'\"'\"'s here'\nexport LAVA_JOB_ID=1234\nexport LAVA_DISPATCHER_IP=''\n" +
			"export LAVA_JOB_TAGS=fast\nexport LAVA_DISPATCHER_PREFIX=''\nexport LAVA_DEVICE_HOSTNAME=qemu01\nexport LAVA_DEVICE_TYPE=qemu\n"},
		"secrets":                       {0o600, "TOKEN=s3cr3t\nPHRASE='two words'\n"},
		"0/lava-test-runner.conf":       {0o644, "/lava-1234/0/tests/0_smoke\n"},
		"1/lava-test-runner.conf":       {0o644, "/lava-1234/1/tests/1_inl\n"},
		"0/tests/0_smoke/uuid":          {0o644, "1234_1.1"},
		"0/tests/0_smoke/testdef.yaml":  {0o644, smokeTestdef},
		"0/tests/0_smoke/smoke.yaml":    {0o644, ""},
		"0/tests/0_smoke/check.sh":      {0o755, ""},
		"0/tests/0_smoke/sub":           {fs.ModeDir | 0o755, ""},
		"0/tests/0_smoke/sub/data.txt":  {0o644, ""},
		"0/tests/0_smoke/link":          {fs.ModeSymlink | 0o777, ""},
		"0/tests/0_smoke/install.sh":    {0o755, ""},
		"0/tests/0_smoke/run.sh":        {0o755, ""},
		"1/tests/1_inl/inline/inl.yaml": {0o644, string(inline.Source)},
		"1/tests/1_inl/run.sh":          {0o755, ""},
	}
	for p, w := range wants {
		e, ok := tree.Lookup(p)
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		if e.Mode != w.mode {
			t.Errorf("%s: mode %v, want %v", p, e.Mode, w.mode)
		}
		if w.data != "" && string(e.Data) != w.data {
			t.Errorf("%s:\n%s\nwant:\n%s", p, e.Data, w.data)
		}
	}
	if _, ok := tree.Lookup("1/tests/1_inl/install.sh"); ok {
		t.Error("install.sh written for a definition without install:")
	}
	if e, _ := tree.Lookup("0/tests/0_smoke/link"); e.Link != "sub/data.txt" {
		t.Errorf("symlink target %q", e.Link)
	}
	if e, _ := tree.Lookup("0/tests/0_smoke/check.sh"); e.Source == "" || e.Data != nil {
		t.Errorf("repository file not taken from the host: %+v", e)
	}

	// Every helper starts with the interpreter and knows its bin directory.
	for _, e := range tree.Entries {
		if strings.HasPrefix(e.Path, "bin/") && !strings.HasPrefix(string(e.Data), "#!/bin/sh\n# "+strings.TrimPrefix(e.Path, "bin/")+": written by Basalt for job 1234") {
			t.Errorf("%s starts with %q", e.Path, firstLine(e.Data))
		}
	}
	ip, _ := tree.Lookup("bin/lava-target-ip")
	if !strings.Contains(string(ip.Data), "\nTARGET_DEVICE_IP=10.1.1.1\n") || !strings.Contains(string(ip.Data), "\nLAVA_TEST_BIN=/lava-1234/bin\n") {
		t.Errorf("lava-target-ip:\n%s", ip.Data)
	}

	// Directories come before what they contain; paths are unique.
	seen := map[string]bool{}
	for _, e := range tree.Entries {
		if seen[e.Path] {
			t.Errorf("%s twice", e.Path)
		}
		seen[e.Path] = true
		if d := filepath.Dir(e.Path); d != "." && !seen[d] {
			t.Errorf("%s before its directory", e.Path)
		}
	}

	run, _ := tree.Lookup("0/tests/0_smoke/run.sh")
	wantRun := `#!/bin/sh
# run.sh for 0_smoke: written by Basalt for job 1234 (docs/test-overlay.md).
LAVA_TEST_BIN=/lava-1234/bin
# Parameters: the test definition's defaults, overridden by the job's.
export EXTRA=x
set -e
export TESTRUN_ID=0_smoke
cd /lava-1234/0/tests/0_smoke
UUID=$(cat uuid)
printf '<LAVA_SIGNAL_STARTRUN %s %s>\n' "$TESTRUN_ID" "$UUID"
lava-test-case a --shell ./check.sh "\$1"
echo $1
printf '<LAVA_SIGNAL_ENDRUN %s %s>\n' "$TESTRUN_ID" "$UUID"
`
	if diff := cmp.Diff(wantRun, string(run.Data)); diff != "" {
		t.Errorf("run.sh (-want +got):\n%s", diff)
	}
	install, _ := tree.Lookup("0/tests/0_smoke/install.sh")
	wantInstall := `#!/bin/sh
# install.sh for 0_smoke: written by Basalt for job 1234 (docs/test-overlay.md).
LAVA_TEST_BIN=/lava-1234/bin
# Parameters: the test definition's defaults, overridden by the job's.
export EXTRA=x
cd /lava-1234/0/tests/0_smoke || exit 1
lava-add-sources src1 || exit $?
lava-install-packages curl 'lib foo' || exit $?
./setup.sh
`
	if diff := cmp.Diff(wantInstall, string(install.Data)); diff != "" {
		t.Errorf("install.sh (-want +got):\n%s", diff)
	}
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(string(b), "\n")
	return s
}

// TestEnvironmentQuoting sources the environment file and compares every
// value, whatever characters it holds.
func TestEnvironmentQuoting(t *testing.T) {
	values := []string{"", "plain", "two words", "it's", `"double"`, "$HOME `id` $(id)", "back\\slash", "new\nline", "tab\there", "*?[a]", "~user", "a;b|c&d", "ünïcode"}
	var env []overlay.EnvVar
	for i, v := range values {
		env = append(env, overlay.EnvVar{Name: "V" + string(rune('A'+i)), Value: v})
	}
	root, _ := build(t, overlay.Options{JobID: 5, Environment: env})
	script := ". " + root + "/environment"
	for _, e := range env {
		script += "; printf '%s\\0' \"$" + e.Name + "\""
	}
	cmd := exec.Command(busybox(t), "sh", "-c", script)
	cmd.Env = []string{"PATH=" + appletDir(t), "HOME=/nonexistent"}
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
	if diff := cmp.Diff(values, got); diff != "" {
		t.Errorf("values after sourcing (-want +got):\n%s", diff)
	}
}

func TestBuildErrors(t *testing.T) {
	td := mustTestdef(t, "metadata: {format: Lava-Test Test Definition 1.0, name: x}\n")
	def := func(mod func(*overlay.Definition)) []overlay.Stage {
		d := overlay.Definition{Name: "x", Index: 0, UUID: "1_1", Testdef: td}
		mod(&d)
		return []overlay.Stage{{Number: 0, Definitions: []overlay.Definition{d}}}
	}
	conflict := t.TempDir()
	if err := os.MkdirAll(filepath.Join(conflict, "run.sh"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(conflict, "run.sh", "inside"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		o      overlay.Options
		stages []overlay.Stage
		want   string
	}{
		{"relative root", overlay.Options{Root: "lava-%s"}, nil, "clean absolute path"},
		{"root /", overlay.Options{Root: "/"}, nil, "clean absolute path"},
		{"two placeholders", overlay.Options{Root: "/l-%s-%d"}, nil, "only placeholder"},
		{"relative shell", overlay.Options{ShCmd: "sh"}, nil, "absolute path"},
		{"bad env name", overlay.Options{Environment: []overlay.EnvVar{{Name: "A-B", Value: "x"}}}, nil, `"A-B" is not a valid shell variable name`},
		{"bad secret name", overlay.Options{Secrets: []overlay.EnvVar{{Name: "1X", Value: "x"}}}, nil, `"1X" is not a valid shell variable name`},
		{"bad def name", overlay.Options{}, def(func(d *overlay.Definition) { d.Name = "a b" }), "name"},
		{"reserved name", overlay.Options{}, def(func(d *overlay.Definition) { d.Name = "lava" }), "name"},
		{"no testdef", overlay.Options{}, def(func(d *overlay.Definition) { d.Testdef = nil }), "no parsed test definition"},
		{"bad uuid", overlay.Options{}, def(func(d *overlay.Definition) { d.UUID = "a b" }), "uuid"},
		{"bad signal", overlay.Options{}, def(func(d *overlay.Definition) { d.LavaSignal = "serial" }), "lava-signal"},
		{"bad param", overlay.Options{}, def(func(d *overlay.Definition) { d.Params = map[string]string{"X Y": "1"} }), `"X Y" is not a valid shell variable name`},
		{"escaping path", overlay.Options{}, def(func(d *overlay.Definition) { d.Path = "../x.yaml" }), "inside the repository"},
		{"missing repo", overlay.Options{}, def(func(d *overlay.Definition) { d.RepoDir = filepath.Join(conflict, "nope") }), "no such file"},
		{"file over a directory", overlay.Options{}, def(func(d *overlay.Definition) { d.RepoDir = conflict }), "not a directory"},
		{"twice", overlay.Options{}, []overlay.Stage{{Number: 0, Definitions: []overlay.Definition{
			{Name: "x", Index: 0, UUID: "1_1", Testdef: td}, {Name: "x", Index: 0, UUID: "1_2", Testdef: td}}}}, "given twice"},
		{"stage twice", overlay.Options{}, []overlay.Stage{{Number: 0}, {Number: 0}}, "stage 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := overlay.Build(tt.o, tt.stages)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// readArchive decodes consecutive newc archives, skipping the zero padding
// between them.
func readArchive(t *testing.T, b []byte) map[string]cpio.Header {
	t.Helper()
	out := map[string]cpio.Header{}
	data := map[string]string{}
	r := bytes.NewReader(b)
	for r.Len() > 0 {
		cr := cpio.NewReader(r)
		for {
			h, err := cr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("archive: %v", err)
			}
			d, err := io.ReadAll(cr)
			if err != nil {
				t.Fatal(err)
			}
			out[h.Name] = h
			data[h.Name] = string(d)
		}
		for r.Len() > 0 {
			c, _ := r.ReadByte()
			if c != 0 {
				_ = r.UnreadByte()
				break
			}
		}
	}
	return out
}

func TestWriteCPIO(t *testing.T) {
	tree, err := overlay.Build(overlay.Options{JobID: 9, Root: "/tmp/x/lava-%s"}, []overlay.Stage{{Number: 0, Definitions: []overlay.Definition{
		{Name: "smoke", Index: 0, UUID: "9_1", Testdef: mustTestdef(t, smokeTestdef), RepoDir: repo(t)},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tree.WriteCPIO(&buf); err != nil {
		t.Fatal(err)
	}
	got := readArchive(t, buf.Bytes())
	wants := map[string]fs.FileMode{
		"tmp":                                   fs.ModeDir | fs.ModeSticky | 0o777,
		"tmp/x":                                 fs.ModeDir | 0o755,
		"tmp/x/lava-9":                          fs.ModeDir | 0o755,
		"tmp/x/lava-9/bin/lava-test-runner":     0o755,
		"tmp/x/lava-9/environment":              0o644,
		"tmp/x/lava-9/0/tests/0_smoke/check.sh": 0o755,
		"tmp/x/lava-9/0/tests/0_smoke/link":     fs.ModeSymlink | 0o777,
		"tmp/x/lava-9/0/tests/0_smoke/run.sh":   0o755,
	}
	for name, mode := range wants {
		h, ok := got[name]
		if !ok {
			t.Errorf("%s not in the archive", name)
			continue
		}
		if h.Mode != mode {
			t.Errorf("%s: mode %v, want %v", name, h.Mode, mode)
		}
	}
	if n := len(got); n != len(tree.Entries)+3 {
		t.Errorf("%d archive entries for %d tree entries and 3 parents", n, len(tree.Entries))
	}

	// busybox extracts it the same way.
	dir := t.TempDir()
	cmd := exec.Command(busybox(t), "cpio", "-i", "-d")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("busybox cpio -i: %v\n%s", err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "tmp/x/lava-9/0/tests/0_smoke/link"))
	if err != nil || string(b) != "data\n" {
		t.Errorf("extracted symlink → %q, %v", b, err)
	}
	b, err = os.ReadFile(filepath.Join(dir, "tmp/x/lava-9/0/tests/0_smoke/run.sh"))
	if err != nil || !strings.Contains(string(b), "STARTRUN") {
		t.Errorf("extracted run.sh: %q, %v (the repository's run.sh must lose)", b, err)
	}
}

// TestWriteDirStaysInside checks that WriteDir replaces what is in the way,
// symlinks included, and never writes through them.
func TestWriteDirStaysInside(t *testing.T) {
	outside := t.TempDir()
	dir := t.TempDir()
	if err := os.Symlink(outside, filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "environment"), []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	tree, err := overlay.Build(overlay.Options{JobID: 1, Root: dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tree.WriteDir(dir); err != nil {
		t.Fatal(err)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 0 {
		t.Errorf("WriteDir wrote through a symlink: %v", ents)
	}
	st, err := os.Lstat(filepath.Join(dir, "bin"))
	if err != nil || !st.IsDir() {
		t.Errorf("bin: %v, %v", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "environment")); !strings.Contains(string(b), "LAVA_JOB_ID=1") {
		t.Errorf("environment not replaced: %q", b)
	}
	st, err = os.Stat(filepath.Join(dir, "bin", "lava-test-case"))
	if err != nil || st.Mode().Perm() != 0o755 {
		t.Errorf("bin/lava-test-case: %v, %v", st, err)
	}
}
