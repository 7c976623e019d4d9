package jinja

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

type tokType uint8

const (
	tEOF tokType = iota
	tData
	tBlockBegin
	tBlockEnd
	tVarBegin
	tVarEnd
	tName
	tString
	tInt
	tFloat
	tOp
)

type token struct {
	typ  tokType
	val  string // data text, name, operator, decoded string
	num  any    // int64 or float64 for numbers
	line int
	col  int
}

func (t token) describe() string {
	switch t.typ {
	case tEOF:
		return "end of template"
	case tBlockBegin:
		return "begin of statement block"
	case tBlockEnd:
		return "end of statement block"
	case tVarBegin:
		return "begin of print statement"
	case tVarEnd:
		return "end of print statement"
	case tName:
		return t.val
	case tString:
		return "string"
	case tInt:
		return "integer"
	case tFloat:
		return "float"
	case tData:
		return "template data"
	}
	return t.val
}

type lexer struct {
	src       string
	name      string
	trim      bool
	lstrip    bool
	pos       int
	toks      []token
	lineStart []int // byte offsets of line starts
	maxToks   int
}

// normalizeSource applies Jinja2's newline handling: \r\n and \r become
// \n, and one trailing newline is removed (keep_trailing_newline=False).
func normalizeSource(src string) string {
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(src, "\r\n", "\n")
		src = strings.ReplaceAll(src, "\r", "\n")
	}
	return strings.TrimSuffix(src, "\n")
}

func (lx *lexer) lineCol(off int) (int, int) {
	// binary search line starts
	lo, hi := 0, len(lx.lineStart)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if lx.lineStart[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo + 1, utf8.RuneCountInString(lx.src[lx.lineStart[lo]:off]) + 1
}

func (lx *lexer) errAt(off int, msg string) *Error {
	l, c := lx.lineCol(off)
	return &Error{Template: lx.name, Line: l, Column: c, Msg: msg}
}

func (lx *lexer) emit(typ tokType, val string, off int) error {
	if len(lx.toks) >= lx.maxToks {
		return lx.errAt(off, "template has too many tokens")
	}
	l, c := lx.lineCol(off)
	lx.toks = append(lx.toks, token{typ: typ, val: val, line: l, col: c})
	return nil
}

// pyIsSpaceRune is Python's str.isspace for one character (what \s and
// str.strip() use).
func pyIsSpaceRune(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x1f, 0x85:
		return true
	}
	return r > 0x7f && unicode.IsSpace(r)
}

func skipSpaces(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !pyIsSpaceRune(r) {
			break
		}
		i += n
	}
	return i
}

func rstripSpaces(s string) string {
	return strings.TrimRightFunc(s, pyIsSpaceRune)
}

// tokenize splits src (already normalized) into tokens.
func tokenize(name, src string, trim, lstrip bool, maxToks int) ([]token, error) {
	lx := &lexer{src: src, name: name, trim: trim, lstrip: lstrip, maxToks: maxToks}
	lx.lineStart = append(lx.lineStart, 0)
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			lx.lineStart = append(lx.lineStart, i+1)
		}
	}
	if err := lx.run(); err != nil {
		return nil, err
	}
	l, c := lx.lineCol(len(src))
	lx.toks = append(lx.toks, token{typ: tEOF, line: l, col: c})
	return lx.toks, nil
}

// findTag finds the next "{{", "{%" or "{#" at or after i.
func findTag(s string, i int) int {
	for {
		j := strings.IndexByte(s[i:], '{')
		if j < 0 || i+j+1 >= len(s) {
			return -1
		}
		c := s[i+j+1]
		if c == '{' || c == '%' || c == '#' {
			return i + j
		}
		i += j + 1
	}
}

// matchRaw reports whether a raw block begins at i ("{%" sign? \s* raw \s*
// "-%}"\s* | "%}"), returning the end offset.
func matchRawBegin(s string, i int) (int, bool) {
	j := i + 2
	if j < len(s) && (s[j] == '-' || s[j] == '+') {
		j++
	}
	j = skipSpaces(s, j)
	if !strings.HasPrefix(s[j:], "raw") {
		return 0, false
	}
	j = skipSpaces(s, j+3)
	if strings.HasPrefix(s[j:], "-%}") {
		return skipSpaces(s, j+3), true
	}
	if strings.HasPrefix(s[j:], "%}") {
		return j + 2, true
	}
	return 0, false
}

func (lx *lexer) run() error {
	s := lx.src
	for lx.pos < len(s) {
		start := lx.pos
		t := findTag(s, start)
		if t < 0 {
			return lx.emit(tData, s[start:], start)
		}
		sign := byte(0)
		if t+2 < len(s) && (s[t+2] == '-' || s[t+2] == '+') {
			sign = s[t+2]
		}
		// raw_begin is tried first by Jinja's alternation at the same position
		rawEnd, isRaw := 0, false
		if s[t+1] == '%' {
			rawEnd, isRaw = matchRawBegin(s, t)
		}
		text := s[start:t]
		if sign == '-' {
			text = rstripSpaces(text)
		} else if sign != '+' && lx.lstrip && s[t+1] != '{' {
			lpos := strings.LastIndexByte(text, '\n') + 1
			if lpos > 0 || start == 0 || s[start-1] == '\n' {
				if rest := text[lpos:]; rest != "" && strings.TrimLeftFunc(rest, pyIsSpaceRune) == "" {
					text = text[:lpos]
				}
			}
		}
		if text != "" {
			if err := lx.emit(tData, text, start); err != nil {
				return err
			}
		}
		if isRaw {
			if err := lx.raw(t, rawEnd); err != nil {
				return err
			}
			continue
		}
		body := t + 2
		if sign != 0 {
			body++
		}
		switch s[t+1] {
		case '#':
			if err := lx.comment(t, body); err != nil {
				return err
			}
		case '%':
			if err := lx.emit(tBlockBegin, "{%", t); err != nil {
				return err
			}
			if err := lx.inside(body, true); err != nil {
				return err
			}
		case '{':
			if err := lx.emit(tVarBegin, "{{", t); err != nil {
				return err
			}
			if err := lx.inside(body, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (lx *lexer) comment(open, i int) error {
	s := lx.src
	{
		j := strings.Index(s[i:], "#}")
		if j < 0 {
			return lx.errAt(open, "Missing end of comment tag")
		}
		e := i + j
		// the shortest match of .*? then (\+#}|\-#}\s*|#}\n?)
		if e > i && s[e-1] == '-' {
			lx.pos = skipSpaces(s, e+2)
		} else if e > i && s[e-1] == '+' {
			lx.pos = e + 2
		} else {
			lx.pos = e + 2
			if lx.trim && lx.pos < len(s) && s[lx.pos] == '\n' {
				lx.pos++
			}
		}
		return nil
	}
}

func (lx *lexer) raw(open, i int) error {
	s := lx.src
	for k := i; k < len(s); {
		j := strings.Index(s[k:], "{%")
		if j < 0 {
			break
		}
		b := k + j
		p := b + 2
		sign := byte(0)
		if p < len(s) && (s[p] == '-' || s[p] == '+') {
			sign = s[p]
			p++
		}
		p = skipSpaces(s, p)
		if !strings.HasPrefix(s[p:], "endraw") {
			k = b + 2
			continue
		}
		p = skipSpaces(s, p+6)
		end := -1
		switch {
		case strings.HasPrefix(s[p:], "+%}"):
			end = p + 3
		case strings.HasPrefix(s[p:], "-%}"):
			end = skipSpaces(s, p+3)
		case strings.HasPrefix(s[p:], "%}"):
			end = p + 2
			if lx.trim && end < len(s) && s[end] == '\n' {
				end++
			}
		}
		if end < 0 {
			k = b + 2
			continue
		}
		text := s[i:b]
		if sign == '-' {
			text = rstripSpaces(text)
		}
		if text != "" {
			if err := lx.emit(tData, text, i); err != nil {
				return err
			}
		}
		lx.pos = end
		return nil
	}
	return lx.errAt(open, "Missing end of raw directive")
}

var operators2 = []string{"//", "**", "==", "!=", ">=", "<="}

const operators1 = "+-/*%~[](){}><=.:|,;"

// inside lexes the tokens of a {% %} (block) or {{ }} tag from i.
func (lx *lexer) inside(i int, block bool) error {
	s := lx.src
	var stack []byte
	for {
		if i >= len(s) {
			lx.pos = i
			if block {
				return lx.errAt(i, "unexpected end of template, expected end of statement block")
			}
			return lx.errAt(i, "unexpected end of template, expected end of print statement")
		}
		if len(stack) == 0 {
			if block {
				switch {
				case strings.HasPrefix(s[i:], "+%}"):
					lx.pos = i + 3
					return lx.emit(tBlockEnd, "%}", i)
				case strings.HasPrefix(s[i:], "-%}"):
					lx.pos = skipSpaces(s, i+3)
					return lx.emit(tBlockEnd, "%}", i)
				case strings.HasPrefix(s[i:], "%}"):
					lx.pos = i + 2
					if lx.trim && lx.pos < len(s) && s[lx.pos] == '\n' {
						lx.pos++
					}
					return lx.emit(tBlockEnd, "%}", i)
				}
			} else {
				switch {
				case strings.HasPrefix(s[i:], "-}}"):
					lx.pos = skipSpaces(s, i+3)
					return lx.emit(tVarEnd, "}}", i)
				case strings.HasPrefix(s[i:], "}}"):
					lx.pos = i + 2
					return lx.emit(tVarEnd, "}}", i)
				}
			}
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if pyIsSpaceRune(r) {
			i = skipSpaces(s, i)
			continue
		}
		c := s[i]
		// float, then integer
		if c >= '0' && c <= '9' {
			if e, ok := matchFloat(s, i); ok {
				lit := strings.ReplaceAll(s[i:e], "_", "")
				f, err := strconv.ParseFloat(lit, 64)
				if err != nil && !math.IsInf(f, 0) {
					return lx.errAt(i, "invalid float literal")
				}
				if err := lx.emit(tFloat, s[i:e], i); err != nil {
					return err
				}
				lx.toks[len(lx.toks)-1].num = f
				i = e
				continue
			}
			e, ok := matchInt(s, i)
			if !ok {
				return lx.errAt(i, "unexpected char "+pyfmt.StrRepr(s[i:i+1]))
			}
			v, err := parseIntLit(strings.ReplaceAll(s[i:e], "_", ""))
			if err != nil {
				return lx.errAt(i, "integer literal too large")
			}
			if err := lx.emit(tInt, s[i:e], i); err != nil {
				return err
			}
			lx.toks[len(lx.toks)-1].num = v
			i = e
			continue
		}
		if c == '_' || unicode.IsLetter(r) {
			e := i + n
			for e < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[e:])
				if r2 == '_' || unicode.IsLetter(r2) || unicode.IsDigit(r2) || unicode.Is(unicode.Mn, r2) || unicode.Is(unicode.Mc, r2) {
					e += n2
					continue
				}
				break
			}
			if err := lx.emit(tName, s[i:e], i); err != nil {
				return err
			}
			i = e
			continue
		}
		if c == '\'' || c == '"' {
			e := -1
			for k := i + 1; k < len(s); k++ {
				if s[k] == '\\' {
					k++
					continue
				}
				if s[k] == c {
					e = k
					break
				}
			}
			if e < 0 {
				return lx.errAt(i, "unexpected char "+pyfmt.StrRepr(s[i:i+1]))
			}
			val, err := unescapePy(s[i+1 : e])
			if err != nil {
				return lx.errAt(i, err.Error())
			}
			if err := lx.emit(tString, val, i); err != nil {
				return err
			}
			i = e + 1
			continue
		}
		op := ""
		for _, o := range operators2 {
			if strings.HasPrefix(s[i:], o) {
				op = o
				break
			}
		}
		if op == "" && strings.IndexByte(operators1, c) >= 0 {
			op = s[i : i+1]
		}
		if op == "" {
			return lx.errAt(i, "unexpected char "+pyfmt.StrRepr(string(r)))
		}
		switch op {
		case "{", "(", "[":
			if len(stack) >= 1000 {
				return lx.errAt(i, "too deeply nested brackets")
			}
			stack = append(stack, map[string]byte{"{": '}', "(": ')', "[": ']'}[op])
		case "}", ")", "]":
			if len(stack) == 0 {
				return lx.errAt(i, "unexpected '"+op+"'")
			}
			want := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if want != op[0] {
				return lx.errAt(i, "unexpected '"+op+"', expected '"+string(want)+"'")
			}
		}
		if err := lx.emit(tOp, op, i); err != nil {
			return err
		}
		i += len(op)
	}
}

func digitsUnderscore(s string, i int, ok func(byte) bool) int {
	// (\d+_)*\d+ — returns end or i when no match
	if i >= len(s) || !ok(s[i]) {
		return i
	}
	j := i
	for {
		for j < len(s) && ok(s[j]) {
			j++
		}
		if j+1 < len(s) && s[j] == '_' && ok(s[j+1]) {
			j++
			continue
		}
		return j
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func matchFloat(s string, i int) (int, bool) {
	if i > 0 && s[i-1] == '.' {
		return 0, false
	}
	j := digitsUnderscore(s, i, isDigit)
	if j == i {
		return 0, false
	}
	// exponent form with optional fraction
	k := j
	if k < len(s) && s[k] == '.' {
		if f := digitsUnderscore(s, k+1, isDigit); f > k+1 {
			k = f
		}
	}
	if k < len(s) && (s[k] == 'e' || s[k] == 'E') {
		m := k + 1
		if m < len(s) && (s[m] == '+' || s[m] == '-') {
			m++
		}
		if e := digitsUnderscore(s, m, isDigit); e > m {
			return e, true
		}
	}
	if j < len(s) && s[j] == '.' {
		if f := digitsUnderscore(s, j+1, isDigit); f > j+1 {
			return f, true
		}
	}
	return 0, false
}

func matchInt(s string, i int) (int, bool) {
	if s[i] == '0' && i+1 < len(s) {
		var ok func(byte) bool
		switch s[i+1] {
		case 'b', 'B':
			ok = func(c byte) bool { return c == '0' || c == '1' }
		case 'o', 'O':
			ok = func(c byte) bool { return c >= '0' && c <= '7' }
		case 'x', 'X':
			ok = func(c byte) bool {
				return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
			}
		}
		if ok != nil {
			// (_?d)+
			j := i + 2
			for {
				if j < len(s) && ok(s[j]) {
					j++
				} else if j+1 < len(s) && s[j] == '_' && ok(s[j+1]) {
					j += 2
				} else {
					break
				}
			}
			if j > i+2 {
				return j, true
			}
		}
	}
	if s[i] == '0' {
		j := i + 1
		for {
			if j < len(s) && s[j] == '0' {
				j++
			} else if j+1 < len(s) && s[j] == '_' && s[j+1] == '0' {
				j += 2
			} else {
				return j, true
			}
		}
	}
	j := i + 1
	for {
		if j < len(s) && isDigit(s[j]) {
			j++
		} else if j+1 < len(s) && s[j] == '_' && isDigit(s[j+1]) {
			j += 2
		} else {
			return j, true
		}
	}
}

func parseIntLit(lit string) (int64, error) {
	n := new(big.Int)
	if _, ok := n.SetString(lit, 0); !ok {
		return 0, strconv.ErrSyntax
	}
	if !n.IsInt64() {
		return 0, strconv.ErrRange
	}
	return n.Int64(), nil
}

// unescapePy decodes a string literal body like Python's
// encode("ascii", "backslashreplace").decode("unicode-escape").
func unescapePy(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(s) {
			return "", errStr("\\ at end of string")
		}
		i++
		switch e := s[i]; e {
		case '\n':
		case '\\':
			b.WriteByte('\\')
		case '\'':
			b.WriteByte('\'')
		case '"':
			b.WriteByte('"')
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte(11)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			j := i
			for j < len(s) && j < i+3 && s[j] >= '0' && s[j] <= '7' {
				j++
			}
			v, _ := strconv.ParseUint(s[i:j], 8, 32)
			b.WriteRune(rune(v))
			i = j - 1
		case 'x', 'u', 'U':
			n := map[byte]int{'x': 2, 'u': 4, 'U': 8}[e]
			if i+n >= len(s)+0 && i+n > len(s)-1+1 {
				return "", errStr("truncated \\" + string(e) + " escape")
			}
			hex := s[i+1 : min(i+1+n, len(s))]
			if len(hex) < n {
				return "", errStr("truncated \\" + string(e) + "XX escape")
			}
			v, err := strconv.ParseUint(hex, 16, 32)
			if err != nil {
				return "", errStr("truncated \\" + string(e) + "XX escape")
			}
			if v > unicode.MaxRune {
				return "", errStr("illegal Unicode character")
			}
			b.WriteRune(rune(v))
			i += n
		case 'N':
			return "", errStr("\\N{...} escapes are not supported")
		default:
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return b.String(), nil
}

type errStr string

func (e errStr) Error() string { return string(e) }
