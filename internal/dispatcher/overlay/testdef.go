package overlay

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	yaml "github.com/goccy/go-yaml"
)

// Format is the only test definition format there is: metadata.format
// must be exactly this.
const Format = "Lava-Test Test Definition 1.0"

// Testdef is a parsed Lava-Test Test Definition 1.0: the YAML file a test
// definition's path names in its repository, or the repository: mapping of
// a from: inline definition.
type Testdef struct {
	Metadata Metadata
	Install  Install
	// Run holds run.steps: shell lines run.sh runs in order.
	Run []string
	// Params are the defaults of params: and parameters: (in that order,
	// each in document order; a name given twice keeps its first place
	// and its last value). Values are stringified the way LAVA's Python
	// does: null is "", booleans are "True" and "False" (with YAML 1.1's
	// unquoted yes/no/on/off in files), numbers keep their text. Names
	// are shell variable names.
	Params []Param
	// Parse is the parse: block, nil when absent.
	Parse *Parse
	// Expected lists test case names the definition must report.
	Expected []string
	// Source is the YAML the definition was read from (for inline
	// definitions, the mapping written back as YAML); Build writes it to
	// the device as testdef.yaml.
	Source []byte
}

// Metadata is the metadata: block. Format and Name are always set.
type Metadata struct {
	Format      string
	Name        string
	Description string
	Environment []string
	Devices     []string
	Maintainer  []string
	Scope       []string
	OS          []string
}

// Install is the install: block. Present reports whether the definition
// has one at all: LAVA writes install.sh only then.
type Install struct {
	Present bool
	Deps    []string
	// DistroDeps holds the deps-<distro> lists by distro name. Basalt
	// deploys no distro-specific helpers, so Build does not use them.
	DistroDeps map[string][]string
	GitRepos   []GitRepo
	Keys       []string
	Sources    []string
	Steps      []string
}

// GitRepo is one install: git-repos entry: a URL string, or a mapping
// with url, branch and destination. Values that name a parameter are
// replaced by its value when the repository is fetched (LAVA's rule for
// these three keys).
type GitRepo struct {
	URL         string
	Branch      string
	Destination string
}

// Param is one test parameter.
type Param struct {
	Name  string
	Value string
}

// Parse is the parse: block. Pattern is a regular expression with named
// groups (test_case_id, result, measurement, units) that the dispatcher
// applies to console lines of the run; Fixup maps raw result text to
// pass, fail, skip or unknown.
type Parse struct {
	Pattern string
	Fixup   map[string]string
}

// Problem is one thing wrong in a test definition. Line and Column are
// 1-based, or 0 for inline definitions (whose positions are not known);
// Path locates the value ("run.steps[2]").
type Problem struct {
	Line, Column int
	Path         string
	Msg          string
}

// String formats the problem as "line:column: path: message" (without the
// position for inline definitions, without the path at the top level).
func (p Problem) String() string {
	loc := ""
	if p.Line > 0 {
		loc = fmt.Sprintf("%d:%d: ", p.Line, p.Column)
	}
	if p.Path == "" {
		return loc + p.Msg
	}
	return loc + p.Path + ": " + p.Msg
}

// TestdefError is the error ParseTestdef and InlineTestdef return for an
// invalid definition: every problem found, in document order. It is never
// empty.
type TestdefError struct {
	Problems []Problem
}

// Error lists the problems on one line, separated by "; ".
func (e *TestdefError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return "invalid test definition: " + strings.Join(parts, "; ")
}

// shellName is what a parameter name must look like to be exported.
var shellName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ParseTestdef parses a test definition file. Errors are *TestdefError
// with line:column positions.
func ParseTestdef(data []byte) (*Testdef, error) {
	root, err := readYAML(data)
	if err != nil {
		var ye *yamlError
		if errors.As(err, &ye) {
			return nil, &TestdefError{Problems: []Problem{{Line: ye.line, Column: ye.col, Msg: ye.msg}}}
		}
		return nil, &TestdefError{Problems: []Problem{{Line: 1, Column: 1, Msg: err.Error()}}}
	}
	td, err := decodeTestdef(root)
	if err != nil {
		return nil, err
	}
	td.Source = append([]byte(nil), data...)
	return td, nil
}

// InlineTestdef reads the repository: mapping of a from: inline test
// definition (jobdef.TestDefinition.Inline). Problems name their path
// only, since the job parser keeps no positions for the mapping's
// contents. Source is the mapping written as YAML.
func InlineTestdef(m map[string]any) (*Testdef, error) {
	if m == nil {
		return nil, &TestdefError{Problems: []Problem{{Msg: "the inline test definition is empty"}}}
	}
	root, err := fromAny(m, 0)
	if err != nil {
		return nil, &TestdefError{Problems: []Problem{{Msg: err.Error()}}}
	}
	td, err := decodeTestdef(root)
	if err != nil {
		return nil, err
	}
	src, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("write the inline test definition as YAML: %w", err)
	}
	td.Source = src
	return td, nil
}

// fromAny converts plain Go values (as jobdef produces them) to a tree
// without positions. Mapping keys are sorted.
func fromAny(v any, depth int) (*ynode, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case nil:
		return &ynode{kind: nullKind}, nil
	case string:
		return &ynode{kind: scalarKind, text: x, isStr: true}, nil
	case bool:
		return &ynode{kind: scalarKind, text: strconv.FormatBool(x), isBool: true, boolVal: x}, nil
	case int:
		return &ynode{kind: scalarKind, text: strconv.Itoa(x)}, nil
	case int64:
		return &ynode{kind: scalarKind, text: strconv.FormatInt(x, 10)}, nil
	case uint64:
		return &ynode{kind: scalarKind, text: strconv.FormatUint(x, 10)}, nil
	case float64:
		return &ynode{kind: scalarKind, text: formatFloat(x)}, nil
	case []any:
		n := &ynode{kind: seqKind}
		for _, it := range x {
			c, err := fromAny(it, depth+1)
			if err != nil {
				return nil, err
			}
			n.items = append(n.items, c)
		}
		return n, nil
	case []string:
		n := &ynode{kind: seqKind}
		for _, it := range x {
			n.items = append(n.items, &ynode{kind: scalarKind, text: it, isStr: true})
		}
		return n, nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		n := &ynode{kind: mapKind}
		for _, k := range keys {
			c, err := fromAny(x[k], depth+1)
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, k)
			n.vals = append(n.vals, c)
			n.keyPos = append(n.keyPos, [2]int{})
		}
		return n, nil
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return fromAny(m, depth)
	}
	return nil, fmt.Errorf("unsupported value of type %T", v)
}

// formatFloat writes a float the way Python's str() does for the common
// cases (1.0, 0.5, 1e+20, inf, nan).
func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eIN") {
		s += ".0"
	}
	return s
}

// tdDecoder collects problems while reading a tree.
type tdDecoder struct {
	problems []Problem
}

func (d *tdDecoder) errorf(n *ynode, path, format string, args ...any) {
	p := Problem{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		p.Line, p.Column = n.line, n.col
	}
	d.problems = append(d.problems, p)
}

func (d *tdDecoder) expected(n *ynode, path, what string) {
	d.errorf(n, path, "expected %s, got %s", what, n.describe())
}

func sub(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// asMap reports a non-mapping; nil input means "absent".
func (d *tdDecoder) asMap(n *ynode, path string) bool {
	if n.kind != mapKind {
		d.expected(n, path, "a mapping")
		return false
	}
	return true
}

// str reads a scalar as text. Strings and numbers are accepted (a version
// or a name may look numeric); booleans, null and collections are not.
func (d *tdDecoder) str(n *ynode, path string) (string, bool) {
	if n.kind == scalarKind && !n.isBool {
		return n.text, true
	}
	d.expected(n, path, "a string")
	return "", false
}

// strList reads a list of strings; null is an empty list.
func (d *tdDecoder) strList(n *ynode, path string) []string {
	if n.kind == nullKind {
		return nil
	}
	if n.kind != seqKind {
		d.expected(n, path, "a list of strings")
		return nil
	}
	out := make([]string, 0, len(n.items))
	for i, it := range n.items {
		if s, ok := d.str(it, index(path, i)); ok {
			out = append(out, s)
		}
	}
	return out
}

// steps reads a list of shell lines, with a hint for the classic mistake
// of an unquoted line containing ": " (which YAML reads as a mapping).
func (d *tdDecoder) steps(n *ynode, path string) []string {
	if n.kind == nullKind {
		return nil
	}
	if n.kind != seqKind {
		d.expected(n, path, "a list of shell commands")
		return nil
	}
	out := make([]string, 0, len(n.items))
	for i, it := range n.items {
		p := index(path, i)
		switch {
		case it.kind == mapKind:
			d.errorf(it, p, "expected a shell command, got a mapping (quote a command that contains \": \")")
		case it.kind == scalarKind && !it.isBool:
			out = append(out, it.text)
		default:
			d.expected(it, p, "a shell command (a string)")
		}
	}
	return out
}

// yaml11Bools are the plain scalars YAML 1.1 (PyYAML, which LAVA reads
// test definitions with) takes for booleans besides true and false.
var yaml11Bools = map[string]bool{
	"yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
}

// paramValue stringifies a parameter value like LAVA's Python f-string.
func paramValue(n *ynode) (string, bool) {
	switch n.kind {
	case nullKind:
		return "", true
	case scalarKind:
		b, isBool := n.boolVal, n.isBool
		if v, ok := yaml11Bools[n.text]; ok && n.plain {
			b, isBool = v, true
		}
		if isBool {
			if b {
				return "True", true
			}
			return "False", true
		}
		return n.text, true
	}
	return "", false
}

// params reads a params:/parameters: mapping into dst.
func (d *tdDecoder) params(n *ynode, path string, dst []Param) []Param {
	if n.kind == nullKind {
		return dst
	}
	if !d.asMap(n, path) {
		return dst
	}
	for i, k := range n.keys {
		p := sub(path, k)
		if !shellName.MatchString(k) {
			kn := &ynode{line: n.keyPos[i][0], col: n.keyPos[i][1]}
			d.errorf(kn, p, "%q is not a valid shell variable name (letters, digits and _, not starting with a digit)", k)
			continue
		}
		v, ok := paramValue(n.vals[i])
		if !ok {
			d.expected(n.vals[i], p, "a scalar (string, number or boolean)")
			continue
		}
		dst = setParam(dst, k, v)
	}
	return dst
}

// setParam replaces the value of name in ps, or appends it.
func setParam(ps []Param, name, value string) []Param {
	for i := range ps {
		if ps[i].Name == name {
			ps[i].Value = value
			return ps
		}
	}
	return append(ps, Param{Name: name, Value: value})
}

var resultValues = []string{"pass", "fail", "skip", "unknown"}

func decodeTestdef(root *ynode) (*Testdef, error) {
	d := &tdDecoder{}
	td := &Testdef{}
	if root.kind != mapKind {
		d.expected(root, "", "a mapping (a test definition)")
		return nil, &TestdefError{Problems: d.problems}
	}
	if md, ok := root.get("metadata"); !ok {
		d.errorf(root, "", "missing required key \"metadata\"")
	} else if d.asMap(md, "metadata") {
		td.Metadata = d.metadata(md)
	}
	if in, ok := root.get("install"); ok && in.kind != nullKind {
		td.Install = d.install(in)
	}
	if run, ok := root.get("run"); ok && run.kind != nullKind && d.asMap(run, "run") {
		if steps, ok := run.get("steps"); ok {
			td.Run = d.steps(steps, "run.steps")
		} else {
			d.errorf(run, "run", "missing required key \"steps\"")
		}
	}
	for _, k := range []string{"params", "parameters"} {
		if v, ok := root.get(k); ok {
			td.Params = d.params(v, k, td.Params)
		}
	}
	if p, ok := root.get("parse"); ok && p.kind != nullKind && d.asMap(p, "parse") {
		td.Parse = d.parse(p)
	}
	if e, ok := root.get("expected"); ok {
		td.Expected = d.strList(e, "expected")
	}
	if len(d.problems) > 0 {
		sort.SliceStable(d.problems, func(i, j int) bool {
			a, b := d.problems[i], d.problems[j]
			if a.Line != b.Line {
				return a.Line < b.Line
			}
			return a.Column < b.Column
		})
		return nil, &TestdefError{Problems: d.problems}
	}
	return td, nil
}

func (d *tdDecoder) metadata(md *ynode) Metadata {
	var m Metadata
	if f, ok := md.get("format"); !ok {
		d.errorf(md, "metadata", "missing required key \"format\" (expected %q)", Format)
	} else if s, ok := d.str(f, "metadata.format"); ok {
		if s != Format {
			d.errorf(f, "metadata.format", "unknown test definition format %q (expected %q)", s, Format)
		} else {
			m.Format = s
		}
	}
	if nm, ok := md.get("name"); !ok {
		d.errorf(md, "metadata", "missing required key \"name\"")
	} else if s, ok := d.str(nm, "metadata.name"); ok {
		if strings.TrimSpace(s) == "" {
			d.errorf(nm, "metadata.name", "must not be empty")
		}
		m.Name = s
	}
	if v, ok := md.get("description"); ok && v.kind != nullKind {
		m.Description, _ = d.str(v, "metadata.description")
	}
	lists := []struct {
		key string
		dst *[]string
	}{{"environment", &m.Environment}, {"devices", &m.Devices}, {"maintainer", &m.Maintainer}, {"scope", &m.Scope}, {"os", &m.OS}}
	for _, l := range lists {
		if v, ok := md.get(l.key); ok {
			*l.dst = d.strList(v, sub("metadata", l.key))
		}
	}
	return m
}

func (d *tdDecoder) install(in *ynode) Install {
	ins := Install{Present: true}
	if !d.asMap(in, "install") {
		return ins
	}
	for i, k := range in.keys {
		v, p := in.vals[i], sub("install", k)
		switch {
		case k == "deps":
			ins.Deps = d.strList(v, p)
		case strings.HasPrefix(k, "deps-") && len(k) > len("deps-"):
			if ins.DistroDeps == nil {
				ins.DistroDeps = map[string][]string{}
			}
			ins.DistroDeps[strings.TrimPrefix(k, "deps-")] = d.strList(v, p)
		case k == "keys":
			ins.Keys = d.strList(v, p)
		case k == "sources":
			ins.Sources = d.strList(v, p)
		case k == "steps":
			ins.Steps = d.steps(v, p)
		case k == "git-repos":
			ins.GitRepos = d.gitRepos(v, p)
		}
	}
	return ins
}

func (d *tdDecoder) gitRepos(n *ynode, path string) []GitRepo {
	if n.kind == nullKind {
		return nil
	}
	if n.kind != seqKind {
		d.expected(n, path, "a list of repositories")
		return nil
	}
	var out []GitRepo
	for i, it := range n.items {
		p := index(path, i)
		switch it.kind {
		case scalarKind:
			if s, ok := d.str(it, p); ok && s != "" {
				out = append(out, GitRepo{URL: s})
			} else if ok {
				d.errorf(it, p, "must not be empty")
			}
		case mapKind:
			var r GitRepo
			for j, k := range it.keys {
				kp := sub(p, k)
				switch k {
				case "url":
					r.URL, _ = d.str(it.vals[j], kp)
				case "branch":
					r.Branch, _ = d.str(it.vals[j], kp)
				case "destination":
					r.Destination, _ = d.str(it.vals[j], kp)
				}
			}
			if r.URL == "" {
				d.errorf(it, p, "a git-repos mapping needs a url")
				continue
			}
			out = append(out, r)
		default:
			d.expected(it, p, "a repository URL or a mapping with url, branch and destination")
		}
	}
	return out
}

func (d *tdDecoder) parse(p *ynode) *Parse {
	out := &Parse{}
	if v, ok := p.get("pattern"); ok {
		if s, ok := d.str(v, "parse.pattern"); ok {
			if _, err := regexp.Compile(s); err != nil {
				d.errorf(v, "parse.pattern", "%v (Basalt reads patterns with Go's RE2 syntax, which has no lookarounds or backreferences)", err)
			}
			out.Pattern = s
		}
	}
	if v, ok := p.get("fixupdict"); ok && v.kind != nullKind && d.asMap(v, "parse.fixupdict") {
		out.Fixup = map[string]string{}
		for i, k := range v.keys {
			kp := sub("parse.fixupdict", k)
			s, ok := d.str(v.vals[i], kp)
			if !ok {
				continue
			}
			valid := false
			for _, r := range resultValues {
				valid = valid || s == r
			}
			if !valid {
				d.errorf(v.vals[i], kp, "unknown result %q (expected one of: %s)", s, strings.Join(resultValues, ", "))
				continue
			}
			out.Fixup[k] = s
		}
	}
	return out
}
