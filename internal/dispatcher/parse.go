package dispatcher

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Named groups of a LAVA parse pattern (a test definition's parse.pattern
// or a monitor's pattern).
const (
	groupTestCaseID  = "test_case_id"
	groupResult      = "result"
	groupMeasurement = "measurement"
	groupUnits       = "units"
)

// patternParser turns console lines into test results with a LAVA parse
// pattern: a regular expression with the named groups test_case_id
// (required), result and measurement (at least one of them) and units,
// plus a fixupdict mapping raw results to LAVA's. It is read-only once
// built, so one parser may serve several goroutines.
type patternParser struct {
	re    *regexp.Regexp
	fixup map[string]string
	// Indexes of the named groups in re's submatches; -1 when absent.
	id, result, measurement, units int
	// caseID turns the text of the test_case_id group into a case name,
	// or explains why it is not one.
	caseID func(raw string) (string, error)
}

// newPatternParser compiles a test definition's parse pattern and keeps
// its fixupdict (nil for none). The pattern is in Python's syntax, as LAVA
// reads it: Python-only constructs that have a Go equivalent are converted
// (`\Z`, `(?#comment)`, the a and u flags), the others are refused with an
// error naming them. The pattern must have a test_case_id group and a
// result or measurement group.
//
// Case names follow LAVA's test shell: the test_case_id text is trimmed,
// "/" becomes "_", and an id with blanks inside is not recorded.
func newPatternParser(pattern string, fixup map[string]string) (*patternParser, error) {
	goRE, err := goPattern(pattern)
	if err != nil {
		return nil, fmt.Errorf("parse pattern %q: %w", pattern, err)
	}
	re, err := regexp.Compile(goRE)
	if err != nil {
		return nil, fmt.Errorf("parse pattern %q is not a valid regular expression: %v "+
			"(Go's RE2 syntax: lookarounds, backreferences and possessive quantifiers are not supported)",
			pattern, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
	}
	p := &patternParser{
		re:          re,
		fixup:       fixup,
		id:          re.SubexpIndex(groupTestCaseID),
		result:      re.SubexpIndex(groupResult),
		measurement: re.SubexpIndex(groupMeasurement),
		units:       re.SubexpIndex(groupUnits),
		caseID:      testdefCaseID,
	}
	var missing []string
	if p.id < 0 {
		missing = append(missing, "(?P<test_case_id>…)")
	}
	if p.result < 0 && p.measurement < 0 {
		missing = append(missing, "(?P<result>…) or (?P<measurement>…)")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("parse pattern %q needs the named group %s", pattern, strings.Join(missing, " and "))
	}
	return p, nil
}

// parse reads one console line. It returns:
//   - ok false and a nil error when the pattern does not match the line;
//     whenever ok is false, res is the zero ResultMsg;
//   - ok false and an error when it matches but yields nothing to record
//     (no test case id, an invalid result): log the error as a warning;
//   - ok true and the result to record (the caller sets Definition); a
//     non-nil error then says what was left out (a measurement that is not
//     a number), to log as a warning.
//
// The result is the result group mapped through the fixupdict (exact
// match), then trimmed and lower-cased, and must be pass, fail, skip or
// unknown. Without a result group, a line with a measurement passes (as in
// LAVA's monitors). A measurement must be a finite number; units are kept
// only with a measurement.
func (p *patternParser) parse(line string) (res workerproto.ResultMsg, ok bool, err error) {
	m := p.re.FindStringSubmatchIndex(line)
	if m == nil {
		return workerproto.ResultMsg{}, false, nil
	}
	group := func(i int) (string, bool) {
		if i < 0 || m[2*i] < 0 {
			return "", false
		}
		return line[m[2*i]:m[2*i+1]], true
	}
	raw, _ := group(p.id)
	id, err := p.caseID(raw)
	if err != nil {
		return workerproto.ResultMsg{}, false, err
	}
	res.Case = id

	meas, hasMeas := group(p.measurement)
	meas = strings.TrimSpace(meas)
	hasMeas = hasMeas && meas != ""
	if p.result >= 0 {
		raw, matched := group(p.result)
		if !matched {
			return workerproto.ResultMsg{}, false, fmt.Errorf("test case %s: the result group did not match", id)
		}
		r := raw
		if f, found := p.fixup[raw]; found {
			r = f
		}
		res.Result = strings.ToLower(strings.TrimSpace(r))
		if !validResult(res.Result) {
			if r != raw {
				return workerproto.ResultMsg{}, false, fmt.Errorf("test case %s: bad result %q (the fixupdict maps %q to it; expected pass, fail, skip or unknown)", id, r, raw)
			}
			return workerproto.ResultMsg{}, false, fmt.Errorf("test case %s: bad result %q (expected pass, fail, skip or unknown)", id, raw)
		}
	} else {
		if !hasMeas {
			return workerproto.ResultMsg{}, false, fmt.Errorf("test case %s: no result and no measurement", id)
		}
		res.Result = ResultPass
	}
	if hasMeas {
		f, perr := strconv.ParseFloat(meas, 64)
		if perr != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			if p.result < 0 {
				return workerproto.ResultMsg{}, false, fmt.Errorf("test case %s: the measurement %q is not a number", id, meas)
			}
			return res, true, fmt.Errorf("test case %s: ignoring the measurement %q: not a number", id, meas)
		}
		res.Measurement = meas
		if u, found := group(p.units); found {
			res.Units = strings.TrimSpace(u)
		}
	}
	return res, true, nil
}

// validResult reports whether r is one of LAVA's test case results.
func validResult(r string) bool {
	switch r {
	case ResultPass, ResultFail, "skip", "unknown":
		return true
	}
	return false
}

// testdefCaseID is the case name of a test definition's parse pattern,
// after LAVA's test shell: trimmed, "/" replaced by "_", and refused when
// blanks remain inside.
func testdefCaseID(raw string) (string, error) {
	id := strings.TrimSpace(raw)
	if id == "" {
		return "", errors.New("the test_case_id group is empty")
	}
	if strings.IndexFunc(id, unicode.IsSpace) >= 0 {
		return "", fmt.Errorf("skipping the test case id %q: it contains blanks", id)
	}
	return strings.ReplaceAll(id, "/", "_"), nil
}

// nonWord is Python's \W+ on text: anything but letters, digits and "_".
var nonWord = regexp.MustCompile(`[^\p{L}\p{N}_]+`)

// monitorCaseID is the case name of a monitor's pattern, after LAVA's
// monitors: trimmed, lower-cased, and every run of characters other than
// letters, digits and "_" replaced by one "_".
func monitorCaseID(raw string) (string, error) {
	id := strings.TrimSpace(raw)
	if id == "" {
		return "", errors.New("the test_case_id group is empty")
	}
	return nonWord.ReplaceAllString(strings.ToLower(id), "_"), nil
}

// goPattern converts a regular expression in Python's re syntax (what LAVA
// compiles) to Go's RE2 syntax. It converts what has an equivalent: \Z
// (end of text) becomes \z, (?#…) comments are dropped, and the inline
// flags a and u (ASCII and Unicode matching) are dropped. It refuses, with
// an error naming the construct, what RE2 cannot do: lookahead and
// lookbehind assertions, backreferences (\1, (?P=name)), conditional and
// atomic groups, and the x (verbose) and L (locale) flags. Anything else is
// passed on for regexp.Compile to judge.
func goPattern(py string) (string, error) {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(py); {
		c := py[i]
		switch {
		case c == '\\':
			if i+1 >= len(py) {
				b.WriteByte(c) // a trailing backslash: regexp.Compile reports it
				i++
				continue
			}
			n := py[i+1]
			switch {
			case !inClass && n >= '1' && n <= '9':
				return "", fmt.Errorf("backreferences such as \\%c are not supported", n)
			case !inClass && n == 'Z':
				b.WriteString(`\z`)
			default:
				b.WriteByte(c)
				b.WriteByte(n)
			}
			i += 2
		case inClass:
			if c == ']' {
				inClass = false
			}
			b.WriteByte(c)
			i++
		case c == '[':
			inClass = true
			b.WriteByte(c)
			i++
			// A leading ^ negates; a ] right after [ or [^ is a literal.
			if i < len(py) && py[i] == '^' {
				b.WriteByte('^')
				i++
			}
			if i < len(py) && py[i] == ']' {
				b.WriteByte(']')
				i++
			}
		case c == '(' && strings.HasPrefix(py[i:], "(?"):
			n, err := groupPrefix(py[i:], &b)
			if err != nil {
				return "", err
			}
			i += n
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// groupPrefix converts the "(?…" at the start of s, writing its Go form to
// b, and returns how many bytes of s it consumed.
func groupPrefix(s string, b *strings.Builder) (int, error) {
	rest := s[2:]
	switch {
	case strings.HasPrefix(rest, "="), strings.HasPrefix(rest, "!"):
		return 0, errors.New("lookahead assertions (?=…) and (?!…) are not supported")
	case strings.HasPrefix(rest, "<="), strings.HasPrefix(rest, "<!"):
		return 0, errors.New("lookbehind assertions (?<=…) and (?<!…) are not supported")
	case strings.HasPrefix(rest, "P="):
		return 0, errors.New("named backreferences (?P=name) are not supported")
	case strings.HasPrefix(rest, "("):
		return 0, errors.New("conditional groups (?(…)…|…) are not supported")
	case strings.HasPrefix(rest, ">"):
		return 0, errors.New("atomic groups (?>…) are not supported")
	case strings.HasPrefix(rest, "#"):
		end := strings.IndexByte(rest, ')')
		if end < 0 {
			return 0, errors.New("missing ) after the comment (?#…")
		}
		return 2 + end + 1, nil // dropped
	case strings.HasPrefix(rest, "P<"), strings.HasPrefix(rest, "<"), strings.HasPrefix(rest, ":"):
		b.WriteString("(?")
		return 2, nil
	}
	// Inline flags: (?flags) or (?flags:…), flags being on[-off].
	end := strings.IndexAny(rest, ":)")
	if end < 0 {
		b.WriteString("(?")
		return 2, nil // regexp.Compile reports it
	}
	flags := rest[:end]
	var kept strings.Builder
	for _, f := range flags {
		switch f {
		case 'a', 'u':
			// ASCII / Unicode matching: Go's classes are ASCII, its case
			// folding Unicode; nothing to write.
		case 'x':
			return 0, errors.New("the verbose flag (?x) is not supported: remove the comments and insignificant blanks")
		case 'L':
			return 0, errors.New("the locale flag (?L) is not supported")
		default:
			kept.WriteRune(f)
		}
	}
	k := strings.TrimSuffix(kept.String(), "-")
	switch {
	case k == "" && rest[end] == ')':
		// Only dropped flags: nothing left to write.
	case k == "":
		b.WriteString("(?:")
	default:
		b.WriteString("(?" + k + string(rest[end]))
	}
	return 2 + end + 1, nil
}
