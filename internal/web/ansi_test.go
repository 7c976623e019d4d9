package web

import (
	"encoding/xml"
	"html"
	"io"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestANSI(t *testing.T) {
	for _, tc := range []struct {
		name, in    string
		plain, html string
	}{
		{"plain text is untouched", "Linux version 6.1 <x> & \"y\"", "Linux version 6.1 <x> & \"y\"",
			"Linux version 6.1 &lt;x&gt; &amp; &#34;y&#34;"},
		{"foreground colour and reset", "\x1b[31mFAILED\x1b[0m to start", "FAILED to start",
			`<span class="a-f1">FAILED</span> to start`},
		{"empty parameter resets", "\x1b[32mOK\x1b[m done", "OK done", `<span class="a-f2">OK</span> done`},
		{"systemd's bold bright green", "[\x1b[0;1;32m  OK  \x1b[0m] Started", "[  OK  ] Started",
			`[<span class="a-f2 a-bo">  OK  </span>] Started`},
		{"bold and normal intensity", "\x1b[1mbold\x1b[22m thin", "bold thin", `<span class="a-bo">bold</span> thin`},
		{"bright colours and background", "\x1b[91;44mx\x1b[49my\x1b[39mz", "xyz",
			`<span class="a-f9 a-b4">x</span><span class="a-f9">y</span>z`},
		{"256 colours", "\x1b[38;5;208morange\x1b[48;5;236m on grey", "orange on grey",
			`<span class="a-f208">orange</span><span class="a-f208 a-b236"> on grey</span>`},
		{"256 colours, colon form", "\x1b[38:5:33mblue", "blue", `<span class="a-f33">blue</span>`},
		{"24-bit colour maps to the palette", "\x1b[38;2;255;0;0mred\x1b[38:2::0:0:0mblack", "redblack",
			`<span class="a-f196">red</span><span class="a-f16">black</span>`},
		{"24-bit grey maps to the grey ramp", "\x1b[48;2;128;128;128mg", "g", `<span class="a-b244">g</span>`},
		{"out-of-range colour is ignored", "\x1b[38;5;300mx", "x", "x"},
		{"inverse swaps colours", "\x1b[7mrev\x1b[27m \x1b[31;7mred", "rev red",
			`<span class="a-fx a-bx">rev</span> <span class="a-fx a-b1">red</span>`},
		{"attributes", "\x1b[3;4;9mx\x1b[23;24;29my", "xy", `<span class="a-it a-un a-st">x</span>y`},
		{"style without text leaves nothing", "a\x1b[31m\x1b[0mb", "ab", "ab"},
		{"text is escaped inside spans", "\x1b[1m<script>\x1b[0m", "<script>", `<span class="a-bo">&lt;script&gt;</span>`},
		{"cursor position query removed", "login: \x1b[6n", "login: ", "login: "},
		{"cursor movement and erase removed", "\x1b[2J\x1b[H\x1b[1;1Hhome\x1b[K", "home", "home"},
		{"private modes removed", "\x1b[?25l\x1b[?2004hprompt\x1b[?25h", "prompt", "prompt"},
		{"private SGR-like sequence is not SGR", "\x1b[>4;1mx", "x", "x"},
		{"OSC title with BEL", "\x1b]0;root@sim: ~\x07# ", "# ", "# "},
		{"OSC hyperlink with ST", "\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\", "link", "link"},
		{"charset designation", "\x1b(B\x1b)0text", "text", "text"},
		{"two-byte sequences", "\x1b7saved\x1b8\x1b=\x1bc", "saved", "saved"},
		{"truncated CSI at the end", "text\x1b[3", "text", "text"},
		{"lone ESC at the end", "text\x1b", "text", "text"},
		{"ESC before a control", "a\x1b\tb", "a\tb", "a\tb"},
		{"broken CSI keeps the breaking byte", "a\x1b[31\x01b", "a␁b", "a␁b"},
		{"unterminated OSC runs to the end", "a\x1b]0;title", "a", "a"},
		{"OSC cut by another sequence", "\x1b]0;t\x1b[31mred", "red", `<span class="a-f1">red</span>`},
		{"controls: CR, BEL, NUL, DEL dropped; others as pictures", "a\rb\x07c\x00d\x7fe\x08f", "abcde␈f", "abcde␈f"},
		{"C1 controls dropped", "a\u009b31mb\u0085c", "a31mbc", "a31mbc"},
		{"invalid UTF-8 replaced", "a\xffb\x1b[1m\xc3", "a\ufffdb\ufffd", "a\ufffdb<span class=\"a-bo\">\ufffd</span>"},
		{"huge parameters saturate", "\x1b[99999999999999999999999;31mx", "x", `<span class="a-f1">x</span>`},
		{"the 32nd parameter applies", "\x1b[" + strings.Repeat("0;", 31) + "31mx", "x", `<span class="a-f1">x</span>`},
		{"parameters past 32 are ignored", "\x1b[" + strings.Repeat("0;", 32) + "31mx", "x", "x"},
		{"trailing semicolon is a reset", "\x1b[1;31;mx", "x", "x"},
		{"38 without arguments", "\x1b[38mx\x1b[38;5mx\x1b[38;2;1;2mx", "xxx", "xxx"},
		{"unicode text kept", "\x1b[32m✓\x1b[0m größe", "✓ größe", `<span class="a-f2">✓</span> größe`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain, segs := parseANSI(tc.in)
			if plain != tc.plain {
				t.Errorf("plain %q, want %q", plain, tc.plain)
			}
			if got := string(ansiHTML(plain, segs, nil)); got != tc.html {
				t.Errorf("html %q\n     want %q", got, tc.html)
			}
		})
	}
}

// TestANSIMarks: search matches are marked across styled runs.
func TestANSIMarks(t *testing.T) {
	plain, segs := parseANSI("ab\x1b[31mcd\x1b[0mef")
	got := string(ansiHTML(plain, segs, []span{{1, 5}}))
	want := `a<mark>b</mark><mark><span class="a-f1">cd</span></mark><mark>e</mark>f`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if got := string(ansiHTML("a<b>c", nil, []span{{0, 1}, {2, 3}})); got != "<mark>a</mark>&lt;<mark>b</mark>&gt;c" {
		t.Errorf("plain marks: %s", got)
	}
}

func TestANSICSS(t *testing.T) {
	css := ansiCSS()
	for _, want := range []string{".a-f1{color:#f0605a}", ".a-f196{color:#ff0000}", ".a-b244{background-color:#808080}",
		".a-f16{color:#000000}", ".a-f231{color:#ffffff}", ".a-bo{font-weight:700}", ".a-fx{"} {
		if !strings.Contains(css, want) {
			t.Errorf("ansi.css lacks %s", want)
		}
	}
}

var tagRE = regexp.MustCompile(`</?(span|mark)[^>]*>`)

// FuzzANSI: any input parses without panicking into valid UTF-8 text
// without escape or control bytes, no longer than three times the input,
// whose segments are the text; its HTML is well formed and reads back as
// the text.
func FuzzANSI(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[31mred\x1b[0m", "\x1b[6n", "\x1b]0;t\x07x", "\x1b[38;5;208;48;2;1;2;3m",
		"\x1b[", "\x1b", "\x1b[1;", "\x1b]", "\x1bP1$r\x1b\\", "a\r\nb\x08", "\xff\xfe", "\u009b1m", "\x1b[38:2::1:2:3m",
		"\x1b[7;31;42mx\x1b[27m", "<&>\x1b[1m\"'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		plain, segs := parseANSI(in)
		if !utf8.ValidString(plain) {
			t.Fatalf("invalid UTF-8 out of %q", in)
		}
		if len(plain) > 3*len(in) {
			t.Fatalf("%d bytes out of %d", len(plain), len(in))
		}
		for i := 0; i < len(plain); i++ {
			if c := plain[i]; (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f {
				t.Fatalf("control byte %#x left in %q (from %q)", c, plain, in)
			}
		}
		if segs != nil {
			var b strings.Builder
			for _, s := range segs {
				b.WriteString(s.text)
			}
			if b.String() != plain {
				t.Fatalf("segments %q do not make the text %q", b.String(), plain)
			}
		}
		var marks []span // a match from the second rune to the last but one
		_, first := utf8.DecodeRuneInString(plain)
		_, last := utf8.DecodeLastRuneInString(plain)
		if first+last < len(plain) {
			marks = []span{{first, len(plain) - last}}
		}
		h := string(ansiHTML(plain, segs, marks))
		if got := html.UnescapeString(tagRE.ReplaceAllString(h, "")); got != plain {
			t.Fatalf("HTML %q reads %q, want %q", h, got, plain)
		}
		// XML has no U+FFFE and U+FFFF, which HTML text may hold.
		d := xml.NewDecoder(strings.NewReader("<x>" + strings.NewReplacer("\uFFFE", "", "\uFFFF", "").Replace(h) + "</x>"))
		d.Strict = true
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("HTML %q is not well formed: %v", h, err)
			}
		}
	})
}
