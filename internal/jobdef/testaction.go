package jobdef

import (
	"math"
	"regexp"
	"strings"
	"time"
)

// Test is a test action. Exactly one of Definitions, Interactive and
// Monitors is non-empty.
type Test struct {
	Definitions []TestDefinition `json:"definitions,omitempty"`
	Interactive []Interactive    `json:"interactive,omitempty"`
	Monitors    []Monitor        `json:"monitors,omitempty"`
}

// TestDefinition is one entry of a test action's definitions list. Name
// matches ^[-_a-zA-Z0-9.]+$ and is not "lava". From is git or inline: for
// git, Repository is the repository URL; for inline, Inline is the test
// definition itself (with metadata.format and metadata.name) and Repository
// is empty. Path is always set.
type TestDefinition struct {
	Pos        Pos            `json:"pos"`
	Name       string         `json:"name"`
	From       string         `json:"from"`
	Repository string         `json:"repository,omitempty"`
	Inline     map[string]any `json:"inline,omitempty"`
	Path       string         `json:"path"`
	Revision   string         `json:"revision,omitempty"`
	Branch     string         `json:"branch,omitempty"`
	History    *bool          `json:"history,omitempty"`
	Recursive  *bool          `json:"recursive,omitempty"`
	// Params (params or parameters) are exported as shell variables;
	// values are stringified like Job.Metadata.
	Params map[string]string `json:"params,omitempty"`
	// SkipInstall lists install steps to skip: keys, sources, deps, steps,
	// git-repos or all.
	SkipInstall []string `json:"skip_install,omitempty"`
	// Expected lists test case names that must be reported.
	Expected []string `json:"expected,omitempty"`
	// LavaSignal is stdout or kmsg (empty: stdout).
	LavaSignal string `json:"lava_signal,omitempty"`
}

// Interactive is one entry of a test action's interactive list: a script
// of commands sent to a shell that is not a POSIX test shell (bootloaders,
// firmware consoles). Name, Prompts and Script are set.
type Interactive struct {
	Pos      Pos               `json:"pos"`
	Name     string            `json:"name"`
	Prompts  []string          `json:"prompts"`
	Echo     string            `json:"echo,omitempty"`
	Expected []string          `json:"expected,omitempty"`
	Script   []InteractiveStep `json:"script"`
}

// StepKind says what an interactive script step does.
type StepKind string

// Interactive step kinds: send a command, pause, or call the multinode API.
const (
	StepCommand StepKind = "command"
	StepDelay   StepKind = "delay"
	StepSend    StepKind = "lava-send"
	StepWait    StepKind = "lava-wait"
	StepWaitAll StepKind = "lava-wait-all"
	StepSync    StepKind = "lava-sync"
)

const stepKindsString = "command, delay, lava-send, lava-wait, lava-wait-all or lava-sync"

// InteractiveStep is one step of an interactive script, of exactly one Kind:
//   - StepCommand: send Command (nil: send nothing, only wait), then wait for
//     a prompt, a success or a failure message. A step with a Name is
//     recorded as a test case. WaitForPrompt defaults to true.
//   - StepDelay: pause for Delay (seconds in the YAML, may be fractional).
//   - StepSend, StepWait, StepWaitAll, StepSync: multinode API call with
//     Message as its argument (multinode jobs only).
type InteractiveStep struct {
	Kind          StepKind           `json:"kind"`
	Command       *string            `json:"command,omitempty"`
	Name          string             `json:"name,omitempty"`
	WaitForPrompt bool               `json:"wait_for_prompt,omitempty"`
	Successes     []InteractiveMatch `json:"successes,omitempty"`
	Failures      []InteractiveMatch `json:"failures,omitempty"`
	Delay         time.Duration      `json:"delay,omitempty"`
	Message       string             `json:"message,omitempty"`
}

// InteractiveMatch is a message to look for after a command. For failures,
// Exception (InfrastructureError, JobError or TestError) says how the job
// fails and Error is the message recorded; both are empty for successes.
type InteractiveMatch struct {
	Message   string `json:"message"`
	Exception string `json:"exception,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Monitor is one entry of a test action's monitors list: passive parsing
// of the console between Start and End, with Pattern (a regular expression
// with named groups test_case_id, result, measurement, units) producing test
// cases. Fixupdict maps raw results to pass, fail, skip or unknown.
type Monitor struct {
	Pos       Pos               `json:"pos"`
	Name      string            `json:"name"`
	Start     string            `json:"start"`
	End       string            `json:"end"`
	Pattern   string            `json:"pattern"`
	Fixupdict map[string]string `json:"fixupdict,omitempty"`
	Expected  []string          `json:"expected,omitempty"`
}

var testdefName = regexp.MustCompile(`^[-_a-zA-Z0-9.]+$`)

const testdefFormat = "Lava-Test Test Definition 1.0"

func (d *decoder) test(m *mapping) *Test {
	t := &Test{}
	if _, ok := m.get("docker"); ok {
		d.errorf(m.keyPos("docker"), m.sub("docker"), "the docker test shell is not supported (use definitions, interactive or monitors)")
		return t
	}
	if _, ok := m.get("services"); ok {
		d.errorf(m.keyPos("services"), m.sub("services"), "test services are not supported (use definitions, interactive or monitors)")
		return t
	}
	var present []string
	for _, k := range []string{"definitions", "interactive", "monitors"} {
		if _, ok := m.get(k); ok {
			present = append(present, k)
		}
	}
	switch len(present) {
	case 0:
		d.errorf(m.n.pos, m.path, "a test action needs one of definitions, interactive or monitors")
	case 1:
	default:
		d.errorf(m.keyPos(present[1]), m.sub(present[1]), "a test action has exactly one of definitions, interactive or monitors; found %s and %s", present[0], present[1])
	}
	list := func(key string, each func(n *node, path string)) {
		v, ok := m.get(key)
		if !ok {
			return
		}
		p := m.sub(key)
		if v.kind != seqNode {
			d.expected(v, p, "a list")
			return
		}
		if len(v.items) == 0 {
			d.errorf(v.pos, p, "must not be an empty list")
			return
		}
		for i, it := range v.items {
			each(it, IndexPath(p, i))
		}
	}
	list("definitions", func(n *node, p string) {
		if td, ok := d.testDefinition(n, p); ok {
			t.Definitions = append(t.Definitions, td)
		}
	})
	list("interactive", func(n *node, p string) {
		if it, ok := d.interactive(n, p); ok {
			t.Interactive = append(t.Interactive, it)
		}
	})
	list("monitors", func(n *node, p string) {
		if mo, ok := d.monitor(n, p); ok {
			t.Monitors = append(t.Monitors, mo)
		}
	})
	d.extraKeys(m, keys("definitions", "interactive", "monitors"), nil)
	return t
}

func (d *decoder) testDefinition(n *node, path string) (TestDefinition, bool) {
	td := TestDefinition{Pos: n.pos}
	m := d.asMap(n, path)
	if m == nil {
		return td, false
	}
	n0 := d.errs.total
	if v, ok := d.require(m, "name"); ok {
		if s, ok := d.matching(v, m.sub("name"), testdefName, "test definition name"); ok {
			if s == "lava" {
				d.errorf(v.pos, m.sub("name"), "the test definition name \"lava\" is reserved")
			}
			td.Name = s
		}
	}
	if v, ok := d.require(m, "path"); ok {
		td.Path, _ = d.nonEmpty(v, m.sub("path"), 0)
	}
	allowed := []string{"name", "from", "repository", "path", "params", "parameters", "skip_install", "expected", "lava-signal"}
	if v, ok := d.require(m, "from"); ok {
		from, ok := d.str(v, m.sub("from"))
		switch {
		case !ok:
		case from == "git":
			td.From = from
			allowed = append(allowed, "revision", "branch", "history", "recursive")
			if v, ok := d.require(m, "repository"); ok {
				td.Repository, _ = d.nonEmpty(v, m.sub("repository"), 0)
			}
			if v, ok := m.get("revision"); ok {
				td.Revision, _ = d.nonEmpty(v, m.sub("revision"), 0)
			}
			if v, ok := m.get("branch"); ok {
				td.Branch, _ = d.nonEmpty(v, m.sub("branch"), 0)
			}
			if v, ok := m.get("history"); ok {
				td.History = d.boolPtr(v, m.sub("history"))
			}
			if v, ok := m.get("recursive"); ok {
				td.Recursive = d.boolPtr(v, m.sub("recursive"))
			}
		case from == "inline":
			td.From = from
			if v, ok := d.require(m, "repository"); ok {
				td.Inline = d.inlineTestdef(v, m.sub("repository"))
			}
		case from == "url":
			d.errorf(v.pos, m.sub("from"), "test definitions from: url are not supported (supported: git, inline)")
			return td, false
		default:
			d.errorf(v.pos, m.sub("from"), "unknown test definition source %q (supported: git, inline)", truncate(from, 60))
			return td, false
		}
	}
	_, params := m.get("params")
	_, parameters := m.get("parameters")
	if params && parameters {
		d.errorf(m.keyPos("parameters"), m.sub("parameters"), "use either params or parameters, not both")
	}
	for _, k := range []string{"params", "parameters"} {
		if v, ok := m.get(k); ok {
			td.Params = d.stringMap(v, m.sub(k), false)
		}
	}
	if v, ok := m.get("skip_install"); ok {
		p := m.sub("skip_install")
		if list, ok := d.strList(v, p); ok {
			for i, s := range list {
				if !contains([]string{"keys", "sources", "deps", "steps", "git-repos", "all"}, s) {
					d.errorf(v.items[i].pos, IndexPath(p, i), "unknown install step %q (expected one of: keys, sources, deps, steps, git-repos, all)", truncate(s, 60))
				}
			}
			td.SkipInstall = list
		}
	}
	if v, ok := m.get("expected"); ok {
		td.Expected, _ = d.nonEmptyStrings(v, m.sub("expected"))
	}
	if v, ok := m.get("lava-signal"); ok {
		td.LavaSignal, _ = d.enum(v, m.sub("lava-signal"), "lava-signal", "stdout", "kmsg")
	}
	if td.From != "" {
		d.extraKeys(m, allowed, nil)
	}
	return td, d.errs.total == n0
}

// inlineTestdef checks the basics of an inline test definition: a mapping
// whose metadata has the Lava-Test format and a name.
func (d *decoder) inlineTestdef(n *node, path string) map[string]any {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	if v, ok := d.require(m, "metadata"); ok {
		if md := d.asMap(v, m.sub("metadata")); md != nil {
			if f, ok := d.require(md, "format"); ok {
				if s, ok := d.str(f, md.sub("format")); ok && s != testdefFormat {
					d.errorf(f.pos, md.sub("format"), "unknown test definition format %q (expected %q)", truncate(s, 60), testdefFormat)
				}
			}
			if nm, ok := d.require(md, "name"); ok {
				d.nonEmpty(nm, md.sub("name"), 0)
			}
		}
	}
	if v, ok := m.get("run"); ok {
		if rm := d.asMap(v, m.sub("run")); rm != nil {
			if s, ok := rm.get("steps"); ok {
				d.strList(s, rm.sub("steps"))
			}
		}
	}
	return toAny(n).(map[string]any)
}

func (d *decoder) interactive(n *node, path string) (Interactive, bool) {
	it := Interactive{Pos: n.pos}
	m := d.asMap(n, path)
	if m == nil {
		return it, false
	}
	n0 := d.errs.total
	if v, ok := d.require(m, "name"); ok {
		it.Name, _ = d.matching(v, m.sub("name"), testdefName, "interactive test name")
	}
	if v, ok := d.require(m, "prompts"); ok {
		it.Prompts, _ = d.strOrList(v, m.sub("prompts"))
	}
	if v, ok := m.get("echo"); ok {
		it.Echo, _ = d.enum(v, m.sub("echo"), "echo mode", "discard")
	}
	if v, ok := m.get("expected"); ok {
		it.Expected, _ = d.nonEmptyStrings(v, m.sub("expected"))
	}
	if v, ok := d.require(m, "script"); ok {
		p := m.sub("script")
		switch {
		case v.kind != seqNode:
			d.expected(v, p, "a list of steps")
		case len(v.items) == 0:
			d.errorf(v.pos, p, "must not be an empty list")
		default:
			for i, s := range v.items {
				it.Script = append(it.Script, d.step(s, IndexPath(p, i)))
			}
		}
	}
	d.unknownKeys(m, []string{"name", "prompts", "echo", "expected", "script"})
	return it, d.errs.total == n0
}

var stepKinds = []StepKind{StepCommand, StepDelay, StepSend, StepWait, StepWaitAll, StepSync}

func (d *decoder) step(n *node, path string) InteractiveStep {
	var st InteractiveStep
	m := d.asMap(n, path)
	if m == nil {
		return st
	}
	var found []StepKind
	for _, k := range stepKinds {
		if _, ok := m.get(string(k)); ok {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		d.errorf(n.pos, path, "a script step needs one of %s", stepKindsString)
		return st
	case 1:
	default:
		d.errorf(m.keyPos(string(found[1])), m.sub(string(found[1])),
			"a script step does exactly one thing (%s); found %s and %s", stepKindsString, found[0], found[1])
		return st
	}
	st.Kind = found[0]
	v, _ := m.get(string(st.Kind))
	p := m.sub(string(st.Kind))
	switch st.Kind {
	case StepDelay:
		switch {
		case v.kind == scalarNode && v.styp == intScalar:
			if s, ok := d.intRange(v, p, 0, math.MaxInt32); ok {
				st.Delay = time.Duration(s) * time.Second
			}
		case v.kind == scalarNode && v.styp == floatScalar:
			f, _ := v.val.(float64)
			if !(f >= 0 && f <= math.MaxInt32) {
				d.errorf(v.pos, p, "delay must be between 0 and %d seconds", math.MaxInt32)
			} else {
				st.Delay = time.Duration(f * float64(time.Second))
			}
		default:
			d.expected(v, p, "a number of seconds")
		}
		d.unknownKeys(m, []string{"delay"})
		return st
	case StepSend, StepWait, StepWaitAll, StepSync:
		if !d.multinode {
			d.errorf(m.keyPos(string(st.Kind)), p, "%s needs protocols.lava-multinode", st.Kind)
		}
		st.Message, _ = d.nonEmpty(v, p, 0)
		d.unknownKeys(m, []string{string(st.Kind)})
		return st
	}
	st.WaitForPrompt = true
	if v.kind != nullNode { // command: null sends nothing and only waits
		if s, ok := d.str(v, p); ok {
			st.Command = &s
		}
	}
	if v, ok := m.get("name"); ok {
		st.Name, _ = d.matching(v, m.sub("name"), testdefName, "test case name")
	}
	if v, ok := m.get("wait_for_prompt"); ok {
		st.WaitForPrompt, _ = d.boolean(v, m.sub("wait_for_prompt"))
	}
	matches := func(key string, failure bool) []InteractiveMatch {
		v, ok := m.get(key)
		if !ok {
			return nil
		}
		p := m.sub(key)
		if v.kind != seqNode {
			d.expected(v, p, "a list of {message: …}")
			return nil
		}
		var out []InteractiveMatch
		for i, it := range v.items {
			ip := IndexPath(p, i)
			mm := d.asMap(it, ip)
			if mm == nil {
				continue
			}
			var im InteractiveMatch
			if v, ok := d.require(mm, "message"); ok {
				im.Message, _ = d.nonEmpty(v, mm.sub("message"), 0)
			}
			allowed := []string{"message"}
			if failure {
				allowed = append(allowed, "exception", "error")
				if v, ok := mm.get("exception"); ok {
					im.Exception, _ = d.enum(v, mm.sub("exception"), "exception", "InfrastructureError", "JobError", "TestError")
				}
				if v, ok := mm.get("error"); ok {
					im.Error, _ = d.nonEmpty(v, mm.sub("error"), 0)
				}
			}
			d.unknownKeys(mm, allowed)
			out = append(out, im)
		}
		return out
	}
	st.Successes = matches("successes", false)
	st.Failures = matches("failures", true)
	d.unknownKeys(m, []string{"command", "name", "wait_for_prompt", "successes", "failures"})
	return st
}

func (d *decoder) monitor(n *node, path string) (Monitor, bool) {
	mo := Monitor{Pos: n.pos}
	m := d.asMap(n, path)
	if m == nil {
		return mo, false
	}
	n0 := d.errs.total
	if v, ok := d.require(m, "name"); ok {
		mo.Name, _ = d.matching(v, m.sub("name"), testdefName, "monitor name")
	}
	if v, ok := d.require(m, "start"); ok {
		mo.Start, _ = d.nonEmpty(v, m.sub("start"), 0)
	}
	if v, ok := d.require(m, "end"); ok {
		mo.End, _ = d.nonEmpty(v, m.sub("end"), 0)
	}
	if v, ok := d.require(m, "pattern"); ok {
		if s, ok := d.nonEmpty(v, m.sub("pattern"), 0); ok {
			if _, err := regexp.Compile(s); err != nil {
				msg := err.Error()
				msg = strings.TrimPrefix(msg, "error parsing regexp: ")
				d.errorf(v.pos, m.sub("pattern"), "pattern is not a valid regular expression: %s", msg)
			}
			mo.Pattern = s
		}
	}
	if v, ok := m.get("fixupdict"); ok {
		p := m.sub("fixupdict")
		if fm := d.asMap(v, p); fm != nil {
			mo.Fixupdict = map[string]string{}
			for _, e := range v.entries {
				s, ok := d.enum(e.val, KeyPath(p, e.key), "result", "pass", "fail", "skip", "unknown")
				if ok {
					mo.Fixupdict[e.key] = s
				}
			}
		}
	}
	if v, ok := m.get("expected"); ok {
		mo.Expected, _ = d.nonEmptyStrings(v, m.sub("expected"))
	}
	d.unknownKeys(m, []string{"name", "start", "end", "pattern", "fixupdict", "expected"})
	return mo, d.errs.total == n0
}
