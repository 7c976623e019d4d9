package web

import (
	"fmt"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// Terminal escape sequences in log text.
//
// Target output is what a board's serial console printed: besides text it
// holds the escape sequences programs send to a terminal (colours, cursor
// movement, queries such as ESC[6n, window titles). parseANSI reads them in
// one pass, without backtracking, and never fails: SGR sequences (colours,
// bold, …) become styles of the text, every other sequence is removed, and
// a truncated or malformed sequence is dropped up to the byte that breaks
// it. The work and the output are linear in the input.
//
// Colours become classes (a-f<n>, a-b<n> for the 256 palette colours),
// never inline styles, because the pages' Content-Security-Policy forbids
// them; 24-bit colours are mapped to the nearest palette colour. The rules
// are served as /static/ansi.css (ansiCSS).

// ansiStyle is the SGR state that applies to a run of text.
type ansiStyle struct {
	fg, bg int16 // palette index 0–255, or -1 for the default colour
	attrs  uint8 // ansiBold, …
}

// SGR attributes.
const (
	ansiBold uint8 = 1 << iota
	ansiFaint
	ansiItalic
	ansiUnderline
	ansiInverse
	ansiStrike
)

var plainStyle = ansiStyle{fg: -1, bg: -1}

// ansiSeg is a run of text in one style.
type ansiSeg struct {
	text  string
	style ansiStyle
}

// Limits of SGR parsing: maxSGRParam caps a numeric parameter while it is
// parsed, so a long run of digits neither overflows nor matters; only the
// first maxSGRParams parameters of a sequence, and maxSGRSub sub-parameters
// of each, are read.
const (
	maxSGRParam  = 65535
	maxSGRParams = 32
	maxSGRSub    = 8
)

// parseANSI returns s as it reads on a terminal: plain is the text without
// escape sequences and control characters, segs the same text cut into
// styled runs. segs is nil when no run is styled. Tabs and newlines are
// kept; carriage returns, BEL, NUL, DEL and C1 controls are dropped; other
// C0 controls become their visible Unicode control pictures (␈ for
// backspace), so no byte of the input is shown raw. Invalid UTF-8 becomes
// U+FFFD.
func parseANSI(s string) (plain string, segs []ansiSeg) {
	if isPlainText(s) {
		return s, nil
	}
	p := ansiParser{style: plainStyle}
	p.out.Grow(len(s))
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		switch {
		case c == 0x1b:
			i = p.escape(s, i)
		case c == '\t' || c == '\n':
			p.out.WriteByte(c)
			i++
		case c == '\r' || c == 0x07 || c == 0 || c == 0x7f:
			i++
		case c < 0x20:
			p.out.WriteRune(0x2400 + rune(c)) // control picture
			i++
		case c < utf8.RuneSelf:
			p.out.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r >= 0x80 && r <= 0x9f: // C1 controls: not printable
			case r == utf8.RuneError && size == 1:
				p.out.WriteRune(utf8.RuneError)
			default:
				p.out.WriteString(s[i : i+size])
			}
			i += size
		}
	}
	if p.out.Len() > p.runStart || len(p.marks) == 0 {
		p.endRun()
	}
	plain = p.out.String()
	styled := false
	for _, m := range p.marks {
		styled = styled || m.style != plainStyle
	}
	if !styled {
		return plain, nil
	}
	// The segments were recorded as offsets into out.
	segs = make([]ansiSeg, len(p.marks))
	for k, m := range p.marks {
		end := len(plain)
		if k+1 < len(p.marks) {
			end = p.marks[k+1].at
		}
		segs[k] = ansiSeg{text: plain[m.at:end], style: m.style}
	}
	return plain, segs
}

// isPlainText reports whether s needs no parsing: valid UTF-8 without
// control characters other than tab and newline.
func isPlainText(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if (r == utf8.RuneError && size == 1) || (r >= 0x80 && r <= 0x9f) {
				return false
			}
			i += size - 1
			continue
		}
		if (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
			return false
		}
	}
	return true
}

// ansiParser accumulates the output text and the runs of one style in it.
type ansiParser struct {
	out      strings.Builder
	style    ansiStyle   // the style of the text being written
	runStart int         // where in out the current style's run began
	marks    []styleMark // the runs before it
}

// styleMark says the text from offset at on (up to the next mark) has style.
type styleMark struct {
	at    int
	style ansiStyle
}

// setStyle changes the style of the text that follows.
func (p *ansiParser) setStyle(st ansiStyle) {
	if st == p.style {
		return
	}
	if p.out.Len() > p.runStart { // the run so far has text: keep it
		p.endRun()
		p.runStart = p.out.Len()
	}
	p.style = st
}

// endRun records the current run, merged with the previous one when it
// has the same style.
func (p *ansiParser) endRun() {
	if k := len(p.marks); k > 0 && p.marks[k-1].style == p.style {
		return
	}
	p.marks = append(p.marks, styleMark{p.runStart, p.style})
}

// escape handles the sequence that starts with the ESC at s[i] and returns
// the index after it.
func (p *ansiParser) escape(s string, i int) int {
	n := len(s)
	if i+1 >= n {
		return n // a lone ESC at the end
	}
	switch c := s[i+1]; {
	case c == '[':
		return p.csi(s, i+2)
	case c == ']' || c == 'P' || c == 'X' || c == '^' || c == '_':
		return skipString(s, i+2)
	case c >= 0x20 && c <= 0x2f: // intermediates, then a final byte: ESC ( B
		j := i + 1
		for j < n && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j < n && s[j] >= 0x30 && s[j] <= 0x7e {
			j++
		}
		return j
	case c >= 0x30 && c <= 0x7e: // two-byte sequences: ESC 7, ESC =, ESC c, …
		return i + 2
	default: // ESC before a control or non-ASCII byte: drop the ESC alone
		return i + 1
	}
}

// csi handles a control sequence whose parameters start at s[j] (after
// ESC [) and returns the index after it. Only SGR (final byte m) has an
// effect; a sequence broken by an unexpected byte ends before that byte.
func (p *ansiParser) csi(s string, j int) int {
	n := len(s)
	start := j
	for j < n && s[j] >= 0x30 && s[j] <= 0x3f {
		j++
	}
	params := s[start:j]
	inter := j
	for j < n && s[j] >= 0x20 && s[j] <= 0x2f {
		j++
	}
	if j >= n {
		return n // truncated: drop it
	}
	final := s[j]
	if final < 0x40 || final > 0x7e {
		return j // broken: drop what was read, keep the byte
	}
	if final == 'm' && inter == j && (params == "" || params[0] < '<') {
		p.setStyle(applySGR(p.style, params))
	}
	return j + 1
}

// skipString skips the body of an OSC, DCS, SOS, PM or APC string starting
// at s[j]: up to and including BEL or ST (ESC \). An ESC that does not
// start ST ends the string before it; an unterminated string runs to the
// end of the text.
func skipString(s string, j int) int {
	for ; j < len(s); j++ {
		switch s[j] {
		case 0x07:
			return j + 1
		case 0x1b:
			if j+1 < len(s) && s[j+1] == '\\' {
				return j + 2
			}
			return j
		}
	}
	return len(s)
}

// applySGR returns st changed by the parameters of one SGR sequence
// ("1;31", "38;5;208", "38:2::255:128:0", "" for a reset). Unknown
// parameters are ignored.
func applySGR(st ansiStyle, params string) ansiStyle {
	ps := sgrParams(params)
	for k := 0; k < len(ps); k++ {
		p := ps[k]
		switch {
		case p.v == 0:
			st = plainStyle
		case p.v == 1:
			st.attrs |= ansiBold
		case p.v == 2:
			st.attrs |= ansiFaint
		case p.v == 3:
			st.attrs |= ansiItalic
		case p.v == 4:
			if len(p.sub) > 0 && p.sub[0] == 0 { // 4:0 is "no underline"
				st.attrs &^= ansiUnderline
			} else {
				st.attrs |= ansiUnderline
			}
		case p.v == 7:
			st.attrs |= ansiInverse
		case p.v == 9:
			st.attrs |= ansiStrike
		case p.v == 21:
			st.attrs |= ansiUnderline
		case p.v == 22:
			st.attrs &^= ansiBold | ansiFaint
		case p.v == 23:
			st.attrs &^= ansiItalic
		case p.v == 24:
			st.attrs &^= ansiUnderline
		case p.v == 27:
			st.attrs &^= ansiInverse
		case p.v == 29:
			st.attrs &^= ansiStrike
		case p.v >= 30 && p.v <= 37:
			st.fg = int16(p.v - 30)
		case p.v == 39:
			st.fg = -1
		case p.v >= 40 && p.v <= 47:
			st.bg = int16(p.v - 40)
		case p.v == 49:
			st.bg = -1
		case p.v >= 90 && p.v <= 97:
			st.fg = int16(p.v - 90 + 8)
		case p.v >= 100 && p.v <= 107:
			st.bg = int16(p.v - 100 + 8)
		case p.v == 38 || p.v == 48:
			var c int
			var ok bool
			if len(p.sub) > 0 { // colon form: 38:5:n, 38:2::r:g:b, 38:2:r:g:b
				c, ok = extColour(p.sub)
			} else { // semicolon form takes the following parameters
				var used int
				c, ok, used = extColourParams(ps[k+1:])
				k += used
			}
			if ok {
				if p.v == 38 {
					st.fg = int16(c)
				} else {
					st.bg = int16(c)
				}
			}
		}
	}
	return st
}

// sgrParam is one SGR parameter with its colon sub-parameters.
type sgrParam struct {
	v   int
	sub []int
}

// sgrParams splits SGR parameters; an empty parameter is 0, a parameter
// with bytes other than digits -1. Like terminals, it keeps the first
// maxSGRParams parameters and maxSGRSub sub-parameters of each, so a huge
// sequence costs one scan and no more memory.
func sgrParams(s string) []sgrParam {
	out := make([]sgrParam, 0, min(strings.Count(s, ";")+1, maxSGRParams))
	for len(s) > 0 || len(out) == 0 {
		f, rest, more := strings.Cut(s, ";")
		if len(out) < maxSGRParams {
			main, subs, hasSub := strings.Cut(f, ":")
			p := sgrParam{v: sgrNumber(main)}
			for hasSub && len(p.sub) < maxSGRSub {
				var sp string
				sp, subs, hasSub = strings.Cut(subs, ":")
				p.sub = append(p.sub, sgrNumber(sp))
			}
			out = append(out, p)
		}
		if !more {
			break
		}
		s = rest
		if s == "" { // a trailing ";": one more empty parameter
			if len(out) < maxSGRParams {
				out = append(out, sgrParam{})
			}
			break
		}
	}
	return out
}

// sgrNumber parses a decimal parameter, saturating at maxSGRParam; empty
// is 0 and anything else -1.
func sgrNumber(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return -1
		}
		v = min(v*10+int(c-'0'), maxSGRParam)
	}
	return v
}

// extColour reads the colon form of an extended colour (the sub-parameters
// after 38 or 48).
func extColour(sub []int) (int, bool) {
	switch {
	case len(sub) >= 2 && sub[0] == 5:
		return paletteIndex(sub[1])
	case len(sub) >= 5 && sub[0] == 2: // 2:colourspace:r:g:b
		return rgbIndex(sub[2], sub[3], sub[4])
	case len(sub) == 4 && sub[0] == 2: // 2:r:g:b
		return rgbIndex(sub[1], sub[2], sub[3])
	}
	return 0, false
}

// extColourParams reads the semicolon form of an extended colour from the
// parameters after 38 or 48, returning how many it used.
func extColourParams(ps []sgrParam) (c int, ok bool, used int) {
	if len(ps) == 0 {
		return 0, false, 0
	}
	switch ps[0].v {
	case 5:
		if len(ps) < 2 {
			return 0, false, len(ps)
		}
		c, ok = paletteIndex(ps[1].v)
		return c, ok, 2
	case 2:
		if len(ps) < 4 {
			return 0, false, len(ps)
		}
		c, ok = rgbIndex(ps[1].v, ps[2].v, ps[3].v)
		return c, ok, 4
	}
	return 0, false, 1
}

func paletteIndex(v int) (int, bool) { return v, v >= 0 && v <= 255 }

// rgbIndex maps a 24-bit colour to the nearest colour of the 256-colour
// palette's 6×6×6 cube or grey ramp.
func rgbIndex(r, g, b int) (int, bool) {
	if r < 0 || g < 0 || b < 0 || r > 255 || g > 255 || b > 255 {
		return 0, false
	}
	level := func(v int) int { // nearest of the cube's 0, 95, 135, 175, 215, 255
		if v < 48 {
			return 0
		}
		if v < 115 {
			return 1
		}
		return (v - 35) / 40
	}
	ri, gi, bi := level(r), level(g), level(b)
	cube := 16 + 36*ri + 6*gi + bi
	grey := (r + g + b) / 3
	gi2 := 0
	if grey > 238 {
		gi2 = 23
	} else if grey > 8 {
		gi2 = (grey - 8) / 10
	}
	dist := func(idx int) int {
		cr, cg, cb := paletteRGB(idx)
		return (cr-r)*(cr-r) + (cg-g)*(cg-g) + (cb-b)*(cb-b)
	}
	if dist(232+gi2) < dist(cube) {
		return 232 + gi2, true
	}
	return cube, true
}

// basicColours are the first 16 palette colours, chosen for the log's
// dark background (colour 0 is lifted so black text stays readable).
var basicColours = [16]string{
	"#6b7480", "#f0605a", "#6fd86c", "#e5c07b", "#62a0ff", "#d27ee8", "#56c8d8", "#c8ccd4",
	"#8a939e", "#ff8079", "#93f58e", "#ffe08a", "#8fbcff", "#eaa2ff", "#86e8f2", "#ffffff",
}

// paletteRGB is the RGB value of a colour 16–255 of the xterm palette.
func paletteRGB(idx int) (r, g, b int) {
	if idx >= 232 {
		v := 8 + 10*(idx-232)
		return v, v, v
	}
	idx -= 16
	lv := func(k int) int {
		if k == 0 {
			return 0
		}
		return 55 + 40*k
	}
	return lv(idx / 36), lv(idx / 6 % 6), lv(idx % 6)
}

// serveANSICSS serves /static/ansi.css, built once.
func serveANSICSS(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, ansiStylesheet())
}

var ansiStylesheet = sync.OnceValue(ansiCSS)

// ansiCSS is the stylesheet of the classes ansiHTML emits: /static/ansi.css.
func ansiCSS() string {
	var b strings.Builder
	b.WriteString("/* Terminal colours and attributes in job logs (generated by internal/web/ansi.go). */\n")
	for i := 0; i < 256; i++ {
		var c string
		if i < 16 {
			c = basicColours[i]
		} else {
			r, g, bl := paletteRGB(i)
			c = fmt.Sprintf("#%02x%02x%02x", r, g, bl)
		}
		bg := c
		if i == 0 {
			bg = "#000000"
		}
		fmt.Fprintf(&b, ".a-f%d{color:%s}.a-b%d{background-color:%s}\n", i, c, i, bg)
	}
	b.WriteString(".a-fx{color:#0f1317}.a-bx{background-color:#d7dde4}\n")
	b.WriteString(".a-bo{font-weight:700}.a-fa{opacity:.7}.a-it{font-style:italic}.a-un{text-decoration:underline}\n")
	b.WriteString(".a-st{text-decoration:line-through}.a-un.a-st{text-decoration:underline line-through}\n")
	return b.String()
}

// class is the class attribute of a style ("" for plain text).
func (st ansiStyle) class() string {
	if st == plainStyle {
		return ""
	}
	var cl []string
	fg, bg := st.fg, st.bg
	fgc, bgc := "", ""
	if fg >= 0 {
		fgc = "a-f" + strconv.Itoa(int(fg))
	}
	if bg >= 0 {
		bgc = "a-b" + strconv.Itoa(int(bg))
	}
	if st.attrs&ansiInverse != 0 {
		fgc, bgc = "a-fx", "a-bx" // the default colours swapped
		if bg >= 0 {
			fgc = "a-f" + strconv.Itoa(int(bg))
		}
		if fg >= 0 {
			bgc = "a-b" + strconv.Itoa(int(fg))
		}
	}
	for _, c := range []string{fgc, bgc} {
		if c != "" {
			cl = append(cl, c)
		}
	}
	for _, a := range []struct {
		bit uint8
		cls string
	}{{ansiBold, "a-bo"}, {ansiFaint, "a-fa"}, {ansiItalic, "a-it"}, {ansiUnderline, "a-un"}, {ansiStrike, "a-st"}} {
		if st.attrs&a.bit != 0 {
			cl = append(cl, a.cls)
		}
	}
	return strings.Join(cl, " ")
}

// span is a byte range [from, to) of a line's plain text.
type span struct{ from, to int }

// ansiHTML renders styled text as HTML: each styled run a <span> with its
// classes, every run's text escaped, and the byte ranges marks of the plain
// text (search matches, sorted and not overlapping) wrapped in <mark>. segs
// nil means plain is unstyled.
func ansiHTML(plain string, segs []ansiSeg, marks []span) template.HTML {
	if segs == nil {
		segs = []ansiSeg{{text: plain, style: plainStyle}}
	}
	var b strings.Builder
	b.Grow(len(plain) + 32*len(segs) + 16*len(marks))
	at, mk := 0, 0 // offset of the segment in plain; next mark
	for _, sg := range segs {
		cls := sg.style.class()
		end := at + len(sg.text)
		for pos := at; pos < end; {
			// The piece up to the next mark boundary.
			for mk < len(marks) && marks[mk].to <= pos {
				mk++
			}
			in := mk < len(marks) && marks[mk].from <= pos
			stop := end
			if in {
				stop = min(end, marks[mk].to)
			} else if mk < len(marks) {
				stop = min(end, marks[mk].from)
			}
			if in {
				b.WriteString("<mark>")
			}
			if cls != "" {
				b.WriteString(`<span class="`)
				b.WriteString(cls)
				b.WriteString(`">`)
			}
			template.HTMLEscape(&b, []byte(plain[pos:stop]))
			if cls != "" {
				b.WriteString("</span>")
			}
			if in {
				b.WriteString("</mark>")
			}
			pos = stop
		}
		at = end
	}
	return template.HTML(b.String()) //nolint:gosec // every piece of text is escaped above
}
