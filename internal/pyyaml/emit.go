package pyyaml

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// Dump returns v as LAVA's yaml_safe_dump(v) writes it: block style,
// lines folded past 80 columns, indented by 2, keys in order, non-ASCII
// characters escaped in double-quoted scalars. An empty list is "[]\n".
func Dump(v any) (string, error) {
	e := &emitter{width: 80}
	if err := e.document(v); err != nil {
		return "", err
	}
	return string(e.b), nil
}

// FlowQuoted returns v as one of LAVA's log records holds it: LAVA's
// yaml_safe_dump(v, default_flow_style=True, default_style='"') without
// its final newline — collections in flow style, every string
// double-quoted, other scalars double-quoted behind the tag "!"
// (`{"lvl": "results", "msg": {"measurement": ! "1.5"}}`). It is one line
// whatever its length: LAVA's width of 100 000 columns is never reached by
// the records LAVA keeps (it replaces longer ones when the job logs them).
func FlowQuoted(v any) (string, error) {
	e := &emitter{width: -1, flow: true, quoted: true}
	if err := e.document(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(e.b), "\n"), nil
}

// emitter writes one document as libyaml does. Its fields mirror
// libyaml's emitter state: the current indentation and its stack, the
// column, whether the last character written was whitespace or
// indentation, and the flow nesting.
type emitter struct {
	b      []byte
	width  int  // best width; < 0: unbounded
	flow   bool // collections in flow style (default_flow_style=True)
	quoted bool // scalars double-quoted (default_style='"')

	indent     int
	indents    []int
	column     int
	whitespace bool
	indention  bool
	flowLevel  int
	depth      int
}

func (e *emitter) document(v any) error {
	e.indent, e.column, e.whitespace, e.indention = -1, 0, true, true
	if err := e.node(v, false, false); err != nil {
		return err
	}
	e.writeIndent()
	return nil
}

// node writes a value; mapping and simpleKey are libyaml's contexts.
func (e *emitter) node(v any, mapping, simpleKey bool) error {
	e.depth++
	defer func() { e.depth-- }()
	if e.depth > pyfmt.MaxDepth {
		return fmt.Errorf("pyyaml: values nested deeper than %d", pyfmt.MaxDepth)
	}
	switch x := v.(type) {
	case []any:
		if e.flowLevel > 0 || e.flow || len(x) == 0 {
			return e.flowSequence(x)
		}
		return e.blockSequence(x, mapping)
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return e.node(l, mapping, simpleKey)
	case pyfmt.Map:
		if e.flowLevel > 0 || e.flow || len(x) == 0 {
			return e.flowMapping(x)
		}
		return e.blockMapping(x)
	}
	s, err := scalarOf(v)
	if err != nil {
		return err
	}
	e.scalar(s, simpleKey)
	return nil
}

func (e *emitter) increaseIndent(flow, indentless bool) {
	e.indents = append(e.indents, e.indent)
	switch {
	case e.indent < 0:
		if flow {
			e.indent = 2
		} else {
			e.indent = 0
		}
	case !indentless:
		e.indent += 2
	}
}

func (e *emitter) popIndent() {
	e.indent = e.indents[len(e.indents)-1]
	e.indents = e.indents[:len(e.indents)-1]
}

func (e *emitter) blockSequence(l []any, mapping bool) error {
	e.increaseIndent(false, mapping && !e.indention)
	for _, it := range l {
		e.writeIndent()
		e.writeIndicator("-", true, false, true)
		if err := e.node(it, false, false); err != nil {
			return err
		}
	}
	e.popIndent()
	return nil
}

func (e *emitter) blockMapping(m pyfmt.Map) error {
	e.increaseIndent(false, false)
	for _, it := range m {
		e.writeIndent()
		if err := e.item(it, false); err != nil {
			return err
		}
	}
	e.popIndent()
	return nil
}

// item writes a key and its value, in a flow or a block mapping: a
// simple key then ":", or a complex one ("? key", then ": ").
func (e *emitter) item(it pyfmt.Item, flow bool) error {
	if simpleKey(it.Key) {
		if err := e.node(it.Key, true, true); err != nil {
			return err
		}
		e.writeIndicator(":", false, false, false)
	} else {
		e.writeIndicator("?", true, false, !flow)
		if err := e.node(it.Key, true, false); err != nil {
			return err
		}
		if !flow || e.overWidth() {
			e.writeIndent()
		}
		e.writeIndicator(":", true, false, !flow)
	}
	return e.node(it.Value, true, false)
}

func (e *emitter) flowSequence(l []any) error {
	e.writeIndicator("[", true, true, false)
	e.increaseIndent(true, false)
	e.flowLevel++
	for i, it := range l {
		if i > 0 {
			e.writeIndicator(",", false, false, false)
		}
		if e.overWidth() {
			e.writeIndent()
		}
		if err := e.node(it, false, false); err != nil {
			return err
		}
	}
	e.flowLevel--
	e.popIndent()
	e.writeIndicator("]", false, false, false)
	return nil
}

func (e *emitter) flowMapping(m pyfmt.Map) error {
	e.writeIndicator("{", true, true, false)
	e.increaseIndent(true, false)
	e.flowLevel++
	for i, it := range m {
		if i > 0 {
			e.writeIndicator(",", false, false, false)
		}
		if e.overWidth() {
			e.writeIndent()
		}
		if err := e.item(it, true); err != nil {
			return err
		}
	}
	e.flowLevel--
	e.popIndent()
	e.writeIndicator("}", false, false, false)
	return nil
}

// simpleKey reports whether a string key can be written as a simple key:
// on one line and at most 128 bytes (libyaml's rule).
func simpleKey(k string) bool {
	return len(k) <= 128 && !strings.ContainsAny(k, "\r\n\u0085\u2028\u2029")
}

func (e *emitter) overWidth() bool { return e.width >= 0 && e.column > e.width }

// scalarValue is a scalar as the representer gives it to the emitter: its
// text and whether it is a string (strings need no tag when quoted; other
// scalars read back as themselves only when plain).
type scalarValue struct {
	text  string
	isStr bool
}

// scalarOf represents a scalar as PyYAML's SafeRepresenter does.
func scalarOf(v any) (scalarValue, error) {
	switch x := v.(type) {
	case nil:
		return scalarValue{text: "null"}, nil
	case bool:
		if x {
			return scalarValue{text: "true"}, nil
		}
		return scalarValue{text: "false"}, nil
	case string:
		return scalarValue{text: x, isStr: true}, nil
	case pyfmt.Int:
		n, err := x.Digits()
		if err != nil {
			return scalarValue{}, err
		}
		return scalarValue{text: n}, nil
	case int:
		return scalarValue{text: strconv.Itoa(x)}, nil
	case int64:
		return scalarValue{text: strconv.FormatInt(x, 10)}, nil
	case float64:
		return scalarValue{text: Float(x)}, nil
	}
	return scalarValue{}, fmt.Errorf("pyyaml: a %T cannot be written", v)
}

// The scalar styles.
const (
	stylePlain = iota
	styleSingle
	styleDouble
)

// scalar writes a scalar in the style libyaml selects for it.
func (e *emitter) scalar(s scalarValue, simpleKey bool) {
	style := styleDouble // default_style='"'
	if !e.quoted {
		style = e.style(s, simpleKey)
	}
	if !s.isStr && style != stylePlain {
		// the non-specific tag keeps a quoted number a number
		if !e.whitespace {
			e.put(' ')
		}
		e.writeString("!")
		e.whitespace, e.indention = false, false
	}
	e.increaseIndent(true, false)
	switch style {
	case stylePlain:
		e.writePlain(s.text, !simpleKey, false)
	case styleSingle:
		e.writePlain(s.text, !simpleKey, true)
	default:
		e.writeDouble(s.text, !simpleKey)
	}
	e.popIndent()
}

// style is the style libyaml selects for a scalar when no style is asked
// for: plain when the text can be written plain and reads back as the
// same value, else single-quoted when it can be, else double-quoted.
func (e *emitter) style(s scalarValue, simpleKey bool) int {
	a := analyze(s.text)
	if simpleKey && a.multiline {
		return styleDouble
	}
	style := stylePlain
	if (e.flowLevel > 0 && !a.flowPlain) || (e.flowLevel == 0 && !a.blockPlain) {
		style = styleSingle
	}
	if s.text == "" && (e.flowLevel > 0 || simpleKey) {
		style = styleSingle
	}
	if s.isStr && resolvesToOther(s.text) { // plain, it would not read back as a string
		style = styleSingle
	}
	if style == styleSingle && !a.singleQuoted {
		style = styleDouble
	}
	return style
}

// put writes one ASCII character.
func (e *emitter) put(c byte) {
	e.b = append(e.b, c)
	e.column++
}

// writeString writes text that holds no line break, counting characters.
func (e *emitter) writeString(s string) {
	e.b = append(e.b, s...)
	e.column += utf8.RuneCountInString(s)
}

func (e *emitter) writeRune(r rune) {
	e.b = utf8.AppendRune(e.b, r)
	e.column++
}

func (e *emitter) putBreak() {
	e.b = append(e.b, '\n')
	e.column = 0
}

// writeBreak writes a line break character of the text.
func (e *emitter) writeBreak(r rune) {
	if r == '\n' {
		e.putBreak()
		return
	}
	e.b = utf8.AppendRune(e.b, r)
	e.column = 0
}

func (e *emitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || (e.column == indent && !e.whitespace) {
		e.putBreak()
	}
	for e.column < indent {
		e.put(' ')
	}
	e.whitespace, e.indention = true, true
}

func (e *emitter) writeIndicator(ind string, needWhitespace, isWhitespace, isIndention bool) {
	if needWhitespace && !e.whitespace {
		e.put(' ')
	}
	e.writeString(ind)
	e.whitespace = isWhitespace
	e.indention = e.indention && isIndention
}

func (e *emitter) canBreak(allow, spaces bool) bool {
	return allow && !spaces && e.width >= 0 && e.column > e.width
}

// writePlain writes a plain scalar, or with single a single-quoted one
// (libyaml's two writers, which differ only where single is tested): a
// space that ends a run of spaces past the width is a line break (in
// quotes, not the first or the last character), line breaks are written
// doubled where YAML folds them, and quotes doubled.
func (e *emitter) writePlain(text string, allowBreaks, single bool) {
	rs := []rune(text)
	if single {
		e.writeIndicator("'", true, false, false)
	} else if !e.whitespace && (len(rs) > 0 || e.flowLevel > 0) {
		e.put(' ')
	}
	spaces, breaks := false, false
	for i, r := range rs {
		switch {
		case r == ' ':
			foldable := !(i+1 < len(rs) && rs[i+1] == ' ')
			if single {
				foldable = foldable && i != 0 && i != len(rs)-1
			}
			if e.canBreak(allowBreaks, spaces) && foldable {
				e.writeIndent()
			} else {
				e.writeRune(r)
			}
			spaces = true
		case isBreak(r):
			if !breaks && r == '\n' {
				e.putBreak()
			}
			e.writeBreak(r)
			e.indention = true
			breaks = true
		default:
			if breaks {
				e.writeIndent()
			}
			if single && r == '\'' {
				e.put('\'')
			}
			e.writeRune(r)
			e.indention = false
			spaces, breaks = false, false
		}
	}
	if single {
		if breaks {
			e.writeIndent()
		}
		e.writeIndicator("'", false, false, false)
	}
	e.whitespace, e.indention = false, false
}

// AppendDoubleQuoted appends s as a YAML double-quoted scalar the way
// PyYAML's C dumper writes one that it does not fold (LAVA's log records,
// and its yaml_quote filter): printable ASCII as is, the named escapes
// (\0 \a \b \t \n \v \f \r \e \" \\ \N \_ \L \P), anything else as
// \xXX, \uXXXX or \UXXXXXXXX (bytes that are not UTF-8 as \uFFFD).
func AppendDoubleQuoted(out []byte, s string) []byte {
	out = append(out, '"')
	for _, r := range s {
		if escaped(r) {
			out = appendEscape(out, r)
		} else {
			out = append(out, byte(r))
		}
	}
	return append(out, '"')
}

// escaped reports whether a double-quoted scalar escapes r: libyaml
// escapes what is not printable, and without allow_unicode anything
// beyond ASCII, with the byte order mark, line breaks, '"' and '\\'.
// That leaves the printable ASCII characters but those two.
func escaped(r rune) bool { return r < 0x20 || r > 0x7E || r == '"' || r == '\\' }

// doubleEscapes are the short escapes of double-quoted scalars.
var doubleEscapes = map[rune]byte{
	0x00: '0', 0x07: 'a', 0x08: 'b', 0x09: 't', 0x0A: 'n', 0x0B: 'v', 0x0C: 'f', 0x0D: 'r', 0x1B: 'e',
	'"': '"', '\\': '\\', 0x85: 'N', 0xA0: '_', 0x2028: 'L', 0x2029: 'P',
}

// appendEscape appends the escape of r in a double-quoted scalar.
func appendEscape(out []byte, r rune) []byte {
	const hex = "0123456789ABCDEF"
	if c, ok := doubleEscapes[r]; ok {
		return append(out, '\\', c)
	}
	var n int
	switch {
	case r <= 0xFF:
		out, n = append(out, '\\', 'x'), 2
	case r <= 0xFFFF:
		out, n = append(out, '\\', 'u'), 4
	default:
		out, n = append(out, '\\', 'U'), 8
	}
	for i := n - 1; i >= 0; i-- {
		out = append(out, hex[r>>(4*i)&0xF])
	}
	return out
}

func (e *emitter) writeDouble(text string, allowBreaks bool) {
	e.writeIndicator(`"`, true, false, false)
	spaces := false
	for i, r := range text {
		switch {
		case escaped(r):
			n := len(e.b)
			e.b = appendEscape(e.b, r)
			e.column += len(e.b) - n
			spaces = false
		case r == ' ':
			if e.canBreak(allowBreaks, spaces) && i != 0 && i != len(text)-1 {
				e.writeIndent()
				if text[i+1] == ' ' {
					e.put('\\')
				}
			} else {
				e.put(' ')
			}
			spaces = true
		default:
			e.put(byte(r))
			spaces = false
		}
	}
	e.writeIndicator(`"`, false, false, false)
	e.whitespace, e.indention = false, false
}

// isBreak: libyaml's line breaks.
func isBreak(r rune) bool {
	return r == '\r' || r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029
}

// isBlankz: a space, tab, line break or NUL (libyaml's IS_BLANKZ).
func isBlankz(r rune) bool { return r == ' ' || r == '\t' || r == 0 || isBreak(r) }

// isPrintable: libyaml's printable characters.
func isPrintable(r rune) bool {
	return r == 0x0A || (r >= 0x20 && r <= 0x7E) || (r >= 0xA0 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD && r != 0xFEFF)
}

// analysis says which styles can write a scalar (libyaml's analysis, for
// an emitter that escapes non-ASCII characters).
type analysis struct {
	multiline, flowPlain, blockPlain, singleQuoted bool
}

func analyze(text string) analysis {
	if text == "" {
		return analysis{blockPlain: true, singleQuoted: true}
	}
	rs := []rune(text)
	var blockInd, flowInd, lineBreaks, special bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(text, "---") || strings.HasPrefix(text, "...") {
		blockInd, flowInd = true, true
	}
	followed := func(i int) bool { return i+1 >= len(rs) || isBlankz(rs[i+1]) }
	preceded := true
	prevSpace, prevBreak := false, false
	for i, r := range rs {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", r) {
				flowInd, blockInd = true, true
			}
			if r == '?' || r == ':' {
				flowInd = true
				if followed(i) {
					blockInd = true
				}
			}
			if r == '-' && followed(i) {
				flowInd, blockInd = true, true
			}
		} else {
			if strings.ContainsRune(",?[]{}", r) {
				flowInd = true
			}
			if r == ':' {
				flowInd = true
				if followed(i) {
					blockInd = true
				}
			}
			if r == '#' && preceded {
				flowInd, blockInd = true, true
			}
		}
		if !isPrintable(r) || r >= 0x80 {
			special = true
		}
		if isBreak(r) {
			lineBreaks = true
		}
		switch {
		case r == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(rs)-1 {
				trailingSpace = true
			}
			if prevBreak {
				breakSpace = true
			}
			prevSpace, prevBreak = true, false
		case isBreak(r):
			if i == 0 {
				leadingBreak = true
			}
			if i == len(rs)-1 {
				trailingBreak = true
			}
			if prevSpace {
				spaceBreak = true
			}
			prevSpace, prevBreak = false, true
		default:
			prevSpace, prevBreak = false, false
		}
		preceded = isBlankz(r)
	}
	a := analysis{multiline: lineBreaks, flowPlain: true, blockPlain: true, singleQuoted: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.flowPlain, a.blockPlain = false, false
	}
	if breakSpace {
		a.flowPlain, a.blockPlain, a.singleQuoted = false, false, false
	}
	if spaceBreak || special {
		a.flowPlain, a.blockPlain, a.singleQuoted = false, false, false
	}
	if lineBreaks {
		a.flowPlain, a.blockPlain = false, false
	}
	if flowInd {
		a.flowPlain = false
	}
	if blockInd {
		a.blockPlain = false
	}
	return a
}

// implicit are PyYAML's implicit resolvers (YAML 1.1): a plain scalar
// matching one of them reads back as something else than a string.
var implicit = []*regexp.Regexp{
	regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`),
	regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`),
	regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`),
	regexp.MustCompile(`^(?:<<)$`),
	regexp.MustCompile(`^(?:~|null|Null|NULL|)$`),
	regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`),
	regexp.MustCompile(`^(?:=)$`),
	regexp.MustCompile(`^(?:!|&|\*)$`),
}

// resolvesToOther reports whether s, written plain, would read back as
// another type than a string. Python's "$" also matches before a final
// newline.
func resolvesToOther(s string) bool {
	for _, t := range []string{s, strings.TrimSuffix(s, "\n")} {
		for _, re := range implicit {
			if re.MatchString(t) {
				return true
			}
		}
		if !strings.HasSuffix(s, "\n") {
			break
		}
	}
	return false
}

// Float is PyYAML's representation of a float: Python's repr (lower
// case), with ".0" before an exponent that has no point ("1.0e+16"), and
// .inf, -.inf and .nan.
func Float(f float64) string {
	switch {
	case math.IsNaN(f):
		return ".nan"
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	s := strings.ToLower(pyfmt.FloatRepr(f))
	if !strings.Contains(s, ".") && strings.Contains(s, "e") {
		s = strings.Replace(s, "e", ".0e", 1)
	}
	return s
}
