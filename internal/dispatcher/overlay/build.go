package overlay

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// DefaultRoot is LAVA's lava_test_results_dir: the overlay's directory on
// the device, %s standing for the job id.
const DefaultRoot = "/lava-%s"

// DefaultShCmd is LAVA's lava_test_sh_cmd: the interpreter of every
// script of the overlay.
const DefaultShCmd = "/bin/sh"

// Console markers of lava-test-runner (they are not signals: ParseSignal
// does not match them). RunnerExit is printed when the runner ends, for
// any reason; RunnerInstallFail when a definition's install.sh fails (the
// runner then goes on with the next definition).
const (
	RunnerExit        = "<LAVA_TEST_RUNNER EXIT>"
	RunnerInstallFail = "<LAVA_TEST_RUNNER INSTALL_FAIL>"
)

//go:embed scripts/lava-*
var scriptFS embed.FS

//go:embed scripts/multinode/lava-*
var multinodeFS embed.FS

// MultinodeCache is LAVA's multinode cache file on the device: the
// key=value pairs the last lava-wait, lava-wait-all or lava-sync received,
// one "sender:key=value" per line.
const MultinodeCache = "/tmp/lava_multi_node_cache.txt"

// Options describe the overlay as a whole: the job, the device and where
// the overlay lives on it.
type Options struct {
	// JobID is exported as LAVA_JOB_ID and replaces %s in Root.
	JobID int64
	// Root is the overlay's absolute path on the device; %s is replaced
	// by the job id. Empty means DefaultRoot.
	Root string
	// ShCmd is the #! interpreter of the scripts (lava_test_sh_cmd), an
	// absolute path with optional arguments. Empty means DefaultShCmd.
	ShCmd string
	// Environment is exported first, in this order: the device
	// dictionary's environment, then the job's (a later value of a name
	// wins when sourced).
	Environment []EnvVar
	// Secrets are written to the secrets file as NAME=value lines.
	Secrets []EnvVar
	// Hostname and DeviceType are exported as LAVA_DEVICE_HOSTNAME and
	// LAVA_DEVICE_TYPE when set; Tags as LAVA_JOB_TAGS (comma-separated,
	// always exported).
	Hostname   string
	DeviceType string
	Tags       []string
	// DispatcherIP and DispatcherPrefix are exported as
	// LAVA_DISPATCHER_IP and LAVA_DISPATCHER_PREFIX (always, maybe
	// empty), HTTPCache as HTTP_CACHE when set.
	DispatcherIP     string
	DispatcherPrefix string
	HTTPCache        string
	// TargetIP and TargetMAC are what lava-target-ip and lava-target-mac
	// print (the device dictionary's interfaces.target ip and mac).
	TargetIP  string
	TargetMAC string
	// CharacterDelay, when positive, is exported as CHARACTER_DELAY (in
	// seconds) by run.sh: every signal waits that long first, as LAVA does
	// for devices with character_delays.test.
	CharacterDelay time.Duration
	// Multinode, for a job of a multinode group, adds the multinode
	// helpers (lava-send, lava-wait, lava-group, …) with what they print;
	// nil leaves them out, as LAVA does for other jobs.
	Multinode *MultinodeGroup
}

// MultinodeGroup is what the multinode helpers know of the job's group.
type MultinodeGroup struct {
	// Role is the job's role (lava-role's TARGET_ROLE).
	Role string
	// Self is the job's name in the group, its id (lava-self's
	// LAVA_HOSTNAME).
	Self string
	// Members are the group's jobs in the order lava-group lists them.
	Members []GroupMember
}

// GroupMember is one job of a multinode group: its id and role.
type GroupMember struct {
	ID   string
	Role string
}

// EnvVar is one exported variable. Name is a shell variable name.
type EnvVar struct {
	Name  string
	Value string
}

// Stage is one test action's part of the overlay: the directory
// Root/<Number> with its lava-test-runner.conf and one test directory per
// definition, run by `Root/bin/lava-test-runner Root/<Number>`.
type Stage struct {
	// Number is the test action's stage: 0 for the job's first test
	// action, 1 for the second, and so on.
	Number      int
	Definitions []Definition
}

// Definition is one test definition of a stage.
type Definition struct {
	// Name is the job's name of the definition (^[-_a-zA-Z0-9.]+$).
	Name string
	// Index is the definition's job-wide position (0 for the job's first
	// definition); the test directory and the run's id are
	// "<Index>_<Name>".
	Index int
	// UUID identifies the run in STARTRUN and ENDRUN; LAVA's form is
	// "<job id>_<pipeline level>".
	UUID string
	// Testdef is the parsed definition (ParseTestdef, InlineTestdef or
	// FetchGit).
	Testdef *Testdef
	// Params are the job's params/parameters; they override the test
	// definition's defaults.
	Params map[string]string
	// Path is the definition's path. When RepoDir has no file there (an
	// inline definition), Testdef.Source is written there inside the test
	// directory, as LAVA does. Optional.
	Path string
	// RepoDir is a host directory whose contents become the test
	// directory's (the git checkout, with any install git-repos); "" for
	// none. Files Build generates win over the checkout's of the same
	// name. Its files are read when the tree is written, so it must stay
	// until then.
	RepoDir string
	// SkipInstall lists install steps to leave out of install.sh: keys,
	// sources, deps, steps or all (git-repos is the caller's: see
	// FetchInstallRepos).
	SkipInstall []string
	// LavaSignal is "stdout" (or "") or "kmsg".
	LavaSignal string
}

// RunID is the definition's test run id and test directory name.
func (d Definition) RunID() string { return strconv.Itoa(d.Index) + "_" + d.Name }

var defName = regexp.MustCompile(`^[-_a-zA-Z0-9.]+$`)

// Build lays out the overlay: bin/ with the helper scripts, environment,
// secrets (when there are any) and, per stage, lava-test-runner.conf and
// tests/<Index>_<Name>/ with the checkout, run.sh, install.sh (when the
// definition has an install: block), uuid and testdef.yaml. The layout is
// LAVA's; docs/test-overlay.md describes it. Repository files are read
// when the tree is written, not now.
func Build(o Options, stages []Stage) (*Tree, error) {
	root, err := resolveRoot(o)
	if err != nil {
		return nil, err
	}
	sh := o.ShCmd
	if sh == "" {
		sh = DefaultShCmd
	}
	if !strings.HasPrefix(sh, "/") || strings.ContainsAny(sh, "\n\r\x00") {
		return nil, fmt.Errorf("overlay: lava_test_sh_cmd %q must be an absolute path", sh)
	}
	b := &builder{o: o, root: root, sh: sh, index: map[string]int{}}
	if err := b.scripts(); err != nil {
		return nil, err
	}
	if err := b.environment(); err != nil {
		return nil, err
	}
	if err := b.secrets(); err != nil {
		return nil, err
	}
	seenStage := map[int]bool{}
	seenRun := map[string]bool{}
	for _, st := range stages {
		if st.Number < 0 || seenStage[st.Number] {
			return nil, fmt.Errorf("overlay: stage %d is invalid or given twice", st.Number)
		}
		seenStage[st.Number] = true
		if err := b.stage(st, seenRun); err != nil {
			return nil, err
		}
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	return &Tree{Root: root, Entries: b.entries}, nil
}

func resolveRoot(o Options) (string, error) {
	root := o.Root
	if root == "" {
		root = DefaultRoot
	}
	if strings.Count(root, "%") > 0 {
		if strings.Count(root, "%s") != 1 || strings.Count(root, "%") != 1 {
			return "", fmt.Errorf("overlay: lava_test_results_dir %q: %%s is the only placeholder allowed", root)
		}
		root = strings.Replace(root, "%s", strconv.FormatInt(o.JobID, 10), 1)
	}
	if !strings.HasPrefix(root, "/") || path.Clean(root) != root || root == "/" || strings.ContainsAny(root, "\n\r\x00") {
		return "", fmt.Errorf("overlay: lava_test_results_dir %q must be a clean absolute path below /", root)
	}
	return root, nil
}

// builder accumulates entries; index maps a path to its position so that
// a later entry replaces an earlier one of the same path.
type builder struct {
	o       Options
	root    string
	sh      string
	entries []Entry
	index   map[string]int
}

func (b *builder) add(e Entry) {
	if i, ok := b.index[e.Path]; ok {
		if b.entries[i].Mode.IsDir() && e.Mode.IsDir() {
			return
		}
		b.entries[i] = e
		return
	}
	b.index[e.Path] = len(b.entries)
	b.entries = append(b.entries, e)
}

func (b *builder) dir(p string) { b.add(Entry{Path: p, Mode: fs.ModeDir | 0o755}) }

// mkdirs adds p's parent directories below the root.
func (b *builder) mkdirs(p string) {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		b.dir(strings.Join(parts[:i], "/"))
	}
}

func (b *builder) file(p string, mode fs.FileMode, data string) {
	b.mkdirs(p)
	b.add(Entry{Path: p, Mode: mode, Data: []byte(data)})
}

// check enforces the Tree invariant that nothing lies below a file or a
// symlink (a checkout with a symlink where Build writes a file).
func (b *builder) check() error {
	for _, e := range b.entries {
		for p := path.Dir(e.Path); p != "."; p = path.Dir(p) {
			if i, ok := b.index[p]; ok && !b.entries[i].Mode.IsDir() {
				return fmt.Errorf("overlay: %s lies below %s, which is not a directory", e.Path, p)
			}
		}
	}
	return nil
}

// header is the start of every script: the interpreter and the variables
// the helpers share.
func (b *builder) header(name string) string {
	var s strings.Builder
	fmt.Fprintf(&s, "#!%s\n# %s: written by Basalt for job %d (docs/test-overlay.md).\n", b.sh, name, b.o.JobID)
	fmt.Fprintf(&s, "LAVA_TEST_BIN=%s\n", shellQuote(b.root+"/bin"))
	switch name {
	case "lava-target-ip":
		fmt.Fprintf(&s, "TARGET_DEVICE_IP=%s\n", shellQuote(b.o.TargetIP))
	case "lava-target-mac":
		fmt.Fprintf(&s, "TARGET_DEVICE_MAC=%s\n", shellQuote(b.o.TargetMAC))
	}
	if g := b.o.Multinode; g != nil {
		switch name {
		case "lava-group":
			lines := make([]string, len(g.Members))
			for i, m := range g.Members {
				lines[i] = m.ID + "\t" + m.Role
			}
			fmt.Fprintf(&s, "LAVA_GROUP=%s\n", shellQuote(strings.Join(lines, "\n")))
		case "lava-role":
			fmt.Fprintf(&s, "TARGET_ROLE=%s\n", shellQuote(g.Role))
		case "lava-self":
			fmt.Fprintf(&s, "LAVA_HOSTNAME=%s\n", shellQuote(g.Self))
		case "lava-send", "lava-wait", "lava-wait-all", "lava-sync", "lava-network", "lava-multi-node.lib":
			fmt.Fprintf(&s, "LAVA_MULTI_NODE_CACHE=${LAVA_MULTI_NODE_CACHE:-%s}\n", shellQuote(MultinodeCache))
		}
	}
	return s.String()
}

func (b *builder) scripts() error {
	b.dir("bin")
	if err := b.scriptsOf(scriptFS, "scripts/lava-*"); err != nil {
		return err
	}
	if g := b.o.Multinode; g != nil {
		if err := checkGroup(g); err != nil {
			return err
		}
		return b.scriptsOf(multinodeFS, "scripts/multinode/lava-*")
	}
	return nil
}

// scriptsOf adds the helper scripts of fsys matching pattern to bin/.
func (b *builder) scriptsOf(fsys embed.FS, pattern string) error {
	names, err := fs.Glob(fsys, pattern)
	if err != nil {
		return fmt.Errorf("overlay: list the helper scripts: %w", err)
	}
	sort.Strings(names)
	for _, n := range names {
		body, err := fsys.ReadFile(n)
		if err != nil {
			return fmt.Errorf("overlay: %w", err)
		}
		base := path.Base(n)
		b.file("bin/"+base, 0o755, b.header(base)+"\n"+string(body))
	}
	return nil
}

// checkGroup refuses group values the helpers cannot print: empty, or
// with a tab or a line break (lava-group's separators).
func checkGroup(g *MultinodeGroup) error {
	values := []string{g.Role, g.Self}
	for _, m := range g.Members {
		values = append(values, m.ID, m.Role)
	}
	for _, v := range values {
		if v == "" || strings.ContainsAny(v, "\t\n\r\x00") {
			return fmt.Errorf("overlay: multinode group value %q must be non-empty, without tabs or line breaks", v)
		}
	}
	return nil
}

func checkName(what, name string) error {
	if !shellName.MatchString(name) {
		return fmt.Errorf("overlay: %s %q is not a valid shell variable name", what, name)
	}
	return nil
}

// environment writes the environment file in LAVA's order.
func (b *builder) environment() error {
	var s strings.Builder
	s.WriteString("# Sourced before lava-test-runner: the device's and the job's environment, then LAVA's variables.\n")
	for _, v := range b.o.Environment {
		if err := checkName("environment variable", v.Name); err != nil {
			return err
		}
		fmt.Fprintf(&s, "export %s=%s\n", v.Name, shellQuote(v.Value))
	}
	export := func(name, value string) { fmt.Fprintf(&s, "export %s=%s\n", name, shellQuote(value)) }
	export("LAVA_JOB_ID", strconv.FormatInt(b.o.JobID, 10))
	export("LAVA_DISPATCHER_IP", b.o.DispatcherIP)
	export("LAVA_JOB_TAGS", strings.Join(b.o.Tags, ","))
	export("LAVA_DISPATCHER_PREFIX", b.o.DispatcherPrefix)
	if b.o.Hostname != "" {
		export("LAVA_DEVICE_HOSTNAME", b.o.Hostname)
	}
	if b.o.DeviceType != "" {
		export("LAVA_DEVICE_TYPE", b.o.DeviceType)
	}
	if b.o.HTTPCache != "" {
		export("HTTP_CACHE", b.o.HTTPCache)
	}
	b.file("environment", 0o644, s.String())
	return nil
}

// secrets writes NAME=value lines, values quoted only when the shell needs
// it, so that the file both sources and reads as LAVA's.
func (b *builder) secrets() error {
	if len(b.o.Secrets) == 0 {
		return nil
	}
	var s strings.Builder
	for _, v := range b.o.Secrets {
		if err := checkName("secret", v.Name); err != nil {
			return err
		}
		fmt.Fprintf(&s, "%s=%s\n", v.Name, shellQuote(v.Value))
	}
	b.file("secrets", 0o600, s.String())
	return nil
}

func (b *builder) stage(st Stage, seenRun map[string]bool) error {
	sdir := strconv.Itoa(st.Number)
	b.dir(sdir)
	b.dir(sdir + "/tests")
	var conf strings.Builder
	for _, d := range st.Definitions {
		if !defName.MatchString(d.Name) || d.Name == "lava" {
			return fmt.Errorf("overlay: test definition name %q is invalid (^[-_a-zA-Z0-9.]+$, not lava)", d.Name)
		}
		if d.Index < 0 {
			return fmt.Errorf("overlay: test definition %s: negative index", d.Name)
		}
		if d.Testdef == nil {
			return fmt.Errorf("overlay: test definition %s: no parsed test definition", d.Name)
		}
		if strings.ContainsAny(d.UUID, " \t\n\r>'\"\\$`") || d.UUID == "" {
			return fmt.Errorf("overlay: test definition %s: uuid %q must be non-empty without blanks or shell characters", d.Name, d.UUID)
		}
		switch d.LavaSignal {
		case "", "stdout", "kmsg":
		default:
			return fmt.Errorf("overlay: test definition %s: lava-signal %q (expected stdout or kmsg)", d.Name, d.LavaSignal)
		}
		id := d.RunID()
		if seenRun[id] {
			return fmt.Errorf("overlay: test definition %s is given twice", id)
		}
		seenRun[id] = true
		tdir := sdir + "/tests/" + id
		devDir := b.root + "/" + tdir
		b.dir(tdir)
		if d.RepoDir != "" {
			if err := b.copyRepo(d.RepoDir, tdir); err != nil {
				return fmt.Errorf("overlay: test definition %s: %w", d.Name, err)
			}
		}
		params, err := mergeParams(d.Testdef.Params, d.Params)
		if err != nil {
			return fmt.Errorf("overlay: test definition %s: %w", d.Name, err)
		}
		if d.Path != "" {
			rel, err := cleanRelPath(d.Path)
			if err != nil {
				return fmt.Errorf("overlay: test definition %s: path %q: %w", d.Name, d.Path, err)
			}
			if _, ok := b.index[tdir+"/"+rel]; !ok { // inline: not in a checkout
				b.file(tdir+"/"+rel, 0o644, string(d.Testdef.Source))
			}
		}
		b.file(tdir+"/testdef.yaml", 0o644, string(d.Testdef.Source))
		b.file(tdir+"/uuid", 0o644, d.UUID)
		if d.Testdef.Install.Present {
			b.file(tdir+"/install.sh", 0o755, b.installScript(d, devDir, params))
		}
		b.file(tdir+"/run.sh", 0o755, b.runScript(d, devDir, params))
		conf.WriteString(devDir + "\n")
	}
	b.file(sdir+"/lava-test-runner.conf", 0o644, conf.String())
	return nil
}

// copyRepo adds the contents of a host directory below tdir, as entries
// that name their host file.
func (b *builder) copyRepo(src, tdir string) error {
	src = filepath.Clean(src)
	st, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", src)
	}
	return filepath.WalkDir(src, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == src {
			return nil
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		dst := tdir + "/" + filepath.ToSlash(rel)
		info, err := de.Info()
		if err != nil {
			return err
		}
		switch m := info.Mode(); {
		case m.IsDir():
			b.dir(dst)
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			b.add(Entry{Path: dst, Mode: fs.ModeSymlink | 0o777, Link: target})
		case m.IsRegular():
			perm := fs.FileMode(0o644)
			if m.Perm()&0o111 != 0 {
				perm = 0o755
			}
			b.add(Entry{Path: dst, Mode: perm, Source: p})
		default:
			return fmt.Errorf("%s: unsupported file type %v", p, m.Type())
		}
		return nil
	})
}

// mergeParams applies the job's params over the test definition's
// defaults: defaults in their order, then the job's other params sorted.
func mergeParams(defaults []Param, job map[string]string) ([]Param, error) {
	out := make([]Param, 0, len(defaults)+len(job))
	seen := map[string]bool{}
	for _, p := range defaults {
		if v, ok := job[p.Name]; ok {
			p.Value = v
		}
		out = append(out, p)
		seen[p.Name] = true
	}
	var extra []string
	for k := range job {
		if !seen[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		if !shellName.MatchString(k) {
			return nil, fmt.Errorf("parameter %q is not a valid shell variable name", k)
		}
		out = append(out, Param{Name: k, Value: job[k]})
	}
	return out, nil
}

func writeParams(s *strings.Builder, params []Param) {
	if len(params) == 0 {
		return
	}
	s.WriteString("# Parameters: the test definition's defaults, overridden by the job's.\n")
	for _, p := range params {
		fmt.Fprintf(s, "export %s=%s\n", p.Name, shellQuote(p.Value))
	}
}

// skips reports whether skip_install leaves out step.
func skips(skip []string, step string) bool {
	for _, s := range skip {
		if s == step || s == "all" {
			return true
		}
	}
	return false
}

// installScript is LAVA's install.sh: the parameters, the package helpers
// (stopping at the first that fails) and install.steps in the test
// directory. Its exit status is that of its last command, as in LAVA.
func (b *builder) installScript(d Definition, devDir string, params []Param) string {
	var s strings.Builder
	s.WriteString(b.header("install.sh for " + d.RunID()))
	writeParams(&s, params)
	fmt.Fprintf(&s, "cd %s || exit 1\n", shellQuote(devDir))
	ins := d.Testdef.Install
	helper := func(name string, args ...string) {
		s.WriteString(name)
		for _, a := range args {
			s.WriteString(" " + shellQuote(a))
		}
		s.WriteString(" || exit $?\n")
	}
	if !skips(d.SkipInstall, "keys") {
		for _, k := range ins.Keys {
			helper("lava-add-keys", k)
		}
	}
	if !skips(d.SkipInstall, "sources") {
		for _, src := range ins.Sources {
			helper("lava-add-sources", src)
		}
	}
	if !skips(d.SkipInstall, "deps") && len(ins.Deps) > 0 {
		helper("lava-install-packages", ins.Deps...)
	}
	if !skips(d.SkipInstall, "steps") {
		for _, step := range ins.Steps {
			s.WriteString(step + "\n")
		}
	}
	return s.String()
}

// dollarDigit is LAVA's rewrite of $1, $2… in --cmd and --shell steps:
// they are for the command lava-test-case or lava-background-process-start
// evaluates, not for run.sh.
var dollarDigit = regexp.MustCompile(`\$(\d+)\b`)

// runScript is LAVA's run.sh without set -x (see docs/test-overlay.md).
func (b *builder) runScript(d Definition, devDir string, params []Param) string {
	var s strings.Builder
	s.WriteString(b.header("run.sh for " + d.RunID()))
	writeParams(&s, params)
	s.WriteString("set -e\n")
	fmt.Fprintf(&s, "export TESTRUN_ID=%s\n", d.RunID())
	fmt.Fprintf(&s, "cd %s\n", shellQuote(devDir))
	s.WriteString("UUID=$(cat uuid)\n")
	delay := ""
	if b.o.CharacterDelay > 0 {
		delay = strconv.FormatFloat(b.o.CharacterDelay.Seconds(), 'f', -1, 64)
		fmt.Fprintf(&s, "export CHARACTER_DELAY=%s\nsleep %s\n", delay, delay)
	}
	kmsg := d.LavaSignal == "kmsg"
	if kmsg {
		s.WriteString("export KMSG=true\n")
		s.WriteString(`printf '<0><LAVA_SIGNAL_STARTRUN %s %s>\n' "$TESTRUN_ID" "$UUID" >> "${LAVA_KMSG_DEVICE:-/dev/kmsg}"` + "\n")
	} else {
		s.WriteString(`printf '<LAVA_SIGNAL_STARTRUN %s %s>\n' "$TESTRUN_ID" "$UUID"` + "\n")
	}
	for _, step := range d.Testdef.Run {
		if strings.Contains(step, "--cmd") || strings.Contains(step, "--shell") {
			step = dollarDigit.ReplaceAllString(step, `\$$${1}`)
		}
		s.WriteString(step + "\n")
	}
	if delay != "" {
		fmt.Fprintf(&s, "sleep %s\n", delay)
	}
	if kmsg {
		s.WriteString("unset KMSG\n")
		s.WriteString(`printf '<0><LAVA_SIGNAL_ENDRUN %s %s>\n' "$TESTRUN_ID" "$UUID" >> "${LAVA_KMSG_DEVICE:-/dev/kmsg}"` + "\n")
	} else {
		s.WriteString(`printf '<LAVA_SIGNAL_ENDRUN %s %s>\n' "$TESTRUN_ID" "$UUID"` + "\n")
	}
	return s.String()
}
