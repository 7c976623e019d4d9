package web

import (
	"html/template"
	"strconv"
	"strings"
)

// The folded log as HTML. The window's lines are the bulk of a log page:
// writing them here rather than through html/template (reflection on every
// field of every line) keeps a 2,000-line window fast. Every piece of text
// from the log is escaped with template.HTMLEscapeString; the markup is the
// one static/basalt.js builds for live lines.

// treeHTML renders a folded window: the items of <ol class="log">.
func treeHTML(nodes []logNode) template.HTML {
	var b strings.Builder
	b.Grow(len(nodes) * 256)
	writeNodes(&b, nodes)
	return template.HTML(b.String()) //nolint:gosec // escaped piece by piece
}

func writeNodes(b *strings.Builder, nodes []logNode) {
	for _, n := range nodes {
		if n.Sec != nil {
			writeSection(b, n.Sec)
		} else {
			writeLine(b, n.Line)
		}
		b.WriteByte('\n')
	}
}

// writeLine writes one line:
//
//	<li id="L7" class="lvl-results r-fail"><a class="ln" href="#L7">7</a> <span class="t">…</span>
//	<span class="lv">results</span> <span class="rm">✗ fail</span> <span class="m">…</span></li>
func writeLine(b *strings.Builder, l *logLine) {
	n := strconv.Itoa(l.N)
	b.WriteString(`<li id="L`)
	b.WriteString(n)
	b.WriteString(`" class="lvl-`)
	b.WriteString(template.HTMLEscapeString(l.Level))
	if l.Result != "" {
		b.WriteString(" r-")
		b.WriteString(l.Result)
	}
	if l.Hit {
		b.WriteString(" hit")
	}
	b.WriteString(`"><a class="ln" href="#L`)
	b.WriteString(n)
	b.WriteString(`">`)
	b.WriteString(n)
	b.WriteString(`</a> `)
	if l.Time != "" {
		b.WriteString(`<span class="t">`)
		b.WriteString(template.HTMLEscapeString(l.Time))
		b.WriteString(`</span> `)
	}
	b.WriteString(`<span class="lv">`)
	b.WriteString(template.HTMLEscapeString(l.Level))
	b.WriteString(`</span> `)
	if l.Result != "" {
		b.WriteString(`<span class="rm">`)
		b.WriteString(l.Marker())
		b.WriteString(`</span> `)
	}
	b.WriteString(`<span class="m">`)
	if l.HTML != "" {
		b.WriteString(string(l.HTML))
	} else {
		template.HTMLEscape(b, []byte(l.Text))
	}
	b.WriteString(`</span></li>`)
}

// writeSection writes an action or a block of boot output with its items.
func writeSection(b *strings.Builder, s *logSection) {
	if s.Block {
		first, last, lines := strconv.Itoa(s.First), strconv.Itoa(s.Last), strconv.Itoa(s.Lines)
		b.WriteString(`<li class="sec blk" data-first="`)
		b.WriteString(first)
		b.WriteString(`" data-lines="`)
		b.WriteString(lines)
		b.WriteString(`"><details`)
		writeOpen(b, s.Open)
		b.WriteString(`><summary><span class="sn">Boot output</span> <span class="took">`)
		b.WriteString(lines)
		b.WriteString(" lines, ")
		b.WriteString(first)
		b.WriteString("–")
		b.WriteString(last)
		b.WriteString("</span></summary>\n")
	} else {
		level, name := template.HTMLEscapeString(s.Level), template.HTMLEscapeString(s.Name)
		b.WriteString(`<li class="sec act`)
		if s.Result != "" {
			b.WriteString(" r-")
			b.WriteString(s.Result)
		}
		b.WriteString(`" data-level="`)
		b.WriteString(level)
		b.WriteString(`" data-name="`)
		b.WriteString(name)
		b.WriteByte('"')
		if s.Ends() {
			b.WriteString(` data-ended=""`)
		}
		if s.boot {
			b.WriteString(` data-boot=""`)
		}
		b.WriteString(`><details`)
		writeOpen(b, s.Open)
		b.WriteString(`><summary><span class="sl">`)
		b.WriteString(level)
		b.WriteString(`</span> <span class="sn">`)
		b.WriteString(name)
		b.WriteString(`</span>`)
		if s.Result != "" {
			b.WriteString(` <span class="badge r-`)
			b.WriteString(s.Result)
			b.WriteString(`">`)
			b.WriteString(s.Marker())
			b.WriteString(`</span>`)
		}
		b.WriteString(` <span class="took">`)
		b.WriteString(template.HTMLEscapeString(s.State))
		b.WriteString(`</span>`)
		if s.Earlier {
			b.WriteString(` <a class="from" href="`)
			b.WriteString(template.HTMLEscapeString(s.StartURL))
			b.WriteString(`">started at line `)
			b.WriteString(strconv.Itoa(s.First))
			b.WriteString(`</a>`)
		}
		b.WriteString("</summary>\n")
	}
	b.WriteString("<ol class=\"sec\">\n")
	writeNodes(b, s.Items)
	b.WriteString("</ol></details></li>")
}

func writeOpen(b *strings.Builder, open bool) {
	if open {
		b.WriteString(` open="open"`)
	}
}
