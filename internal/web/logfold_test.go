package web

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateFold = flag.Bool("update-fold", false, "rewrite testdata/fold/*.txt from the golden logs")

// goldenLines reads a golden log of the dispatcher's tests, whose times are
// "T", as records with a real time.
func goldenLines(t *testing.T, name string) []logLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "dispatcher", "testdata", "golden", name+".ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(`"dt":"T"`), []byte(`"dt":"2026-01-02T03:04:05Z"`))
	var out []logLine
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		out = append(out, renderLine(i+1, l))
	}
	return out
}

// fold folds lines as a window of a finished job's log.
func fold(lines []logLine, open []*logSection, keep func(*logLine) bool, info foldInfo) []logNode {
	f := newFolder(open, keep)
	for i := range lines {
		f.add(&lines[i])
	}
	return f.finish(nil, info)
}

// dumpTree writes the tree as indented text: a line per section with what
// its summary shows, and the numbers of the lines it holds ("lines 3-9 12").
func dumpTree(b *strings.Builder, nodes []logNode, indent string) {
	var run []string
	from, to := 0, 0
	cut := func() {
		switch {
		case from == 0:
		case from == to:
			run = append(run, fmt.Sprint(from))
		default:
			run = append(run, fmt.Sprintf("%d-%d", from, to))
		}
		from = 0
	}
	flush := func() {
		cut()
		if len(run) > 0 {
			fmt.Fprintf(b, "%slines %s\n", indent, strings.Join(run, " "))
			run = nil
		}
	}
	for _, n := range nodes {
		if n.Line != nil {
			if from != 0 && n.Line.N == to+1 {
				to++
			} else {
				cut()
				from, to = n.Line.N, n.Line.N
			}
			continue
		}
		flush()
		s := n.Sec
		state := "folded"
		if s.Open {
			state = "open"
		}
		if s.Block {
			fmt.Fprintf(b, "%sboot output %d–%d (%d lines) %s\n", indent, s.First, s.Last, s.Lines, state)
		} else {
			fmt.Fprintf(b, "%s%s %s result=%q state=%q %d–%d %s\n", indent, s.Level, s.Name, s.Result, s.State, s.First, s.Last, state)
		}
		dumpTree(b, s.Items, indent+"  ")
	}
	flush()
}

// TestFoldGolden folds the dispatcher's golden logs into the section trees
// in testdata/fold (go test -run TestFoldGolden -update-fold rewrites
// them). failboot's is spelled out here too.
func TestFoldGolden(t *testing.T) {
	for _, name := range []string{"autologin", "failboot", "interactive", "raise", "refused", "smoke"} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			dumpTree(&b, fold(goldenLines(t, name), nil, nil, foldInfo{}), "")
			path := filepath.Join("testdata", "fold", name+".txt")
			if *updateFold {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if b.String() != string(want) {
				t.Errorf("tree of %s:\n%s\nwant:\n%s", name, b.String(), want)
			}
		})
	}
	// The failed boot: section 2 failed and open, with its error line;
	// validate, closed by deploy's start without an end line, took its
	// result from the lava/validate record by name; the job's own result
	// and the error after the boot stay at the top.
	var b strings.Builder
	dumpTree(&b, fold(goldenLines(t, "failboot"), nil, nil, foldInfo{}), "")
	want := `lines 1
0 validate result="pass" state="" 2–7 folded
  lines 2-7
1 tmpfs-deploy result="pass" state="D" 8–13 folded
  lines 8-13
2 boot-qemu-image result="fail" state="D" 14–23 open
  lines 14-23
lines 24
4 finalize result="pass" state="D" 25–31 folded
  lines 25
  4.1 power-off result="pass" state="D" 26–29 folded
    lines 26-29
  lines 30-31
lines 32
`
	if b.String() != want {
		t.Errorf("failboot:\n%s\nwant:\n%s", b.String(), want)
	}
}

// bootLog is a boot with n lines of kernel output before the login prompt,
// in action 2.1, followed by the login dialogue.
func bootLog(n int, result string) []byte {
	var b bytes.Buffer
	rec := func(lvl, msg string) {
		fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":%q,"msg":%q}`+"\n", lvl, msg)
	}
	rec("info", "start: 2 minimal-boot (timeout 00:03:00)")
	rec("info", "start: 2.1 auto-login-action (timeout 00:01:00)")
	for i := 1; i <= n; i++ {
		rec("target", fmt.Sprintf("[    0.%06d] kernel message %d", i, i))
	}
	rec("target", "sim login: ")
	rec("input", "root")
	rec("target", "root@sim:~# ")
	rec("info", "end: 2.1 auto-login-action (duration 00:00:05)")
	fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":{"definition":"lava","case":"auto-login-action","result":%q,"level":"2.1"}}`+"\n", result)
	rec("info", "end: 2 minimal-boot (duration 00:00:06)")
	fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":{"definition":"lava","case":"minimal-boot","result":%q,"level":"2"}}`+"\n", result)
	return b.Bytes()
}

func linesOf(b []byte) []logLine {
	var out []logLine
	for i, l := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		out = append(out, renderLine(i+1, l))
	}
	return out
}

// TestFoldBootOutput: the kernel's output before the login prompt is one
// block, folded when the boot passed and open when it failed; a short run
// of target lines stays inline.
func TestFoldBootOutput(t *testing.T) {
	var b strings.Builder
	dumpTree(&b, fold(linesOf(bootLog(300, "pass")), nil, nil, foldInfo{}), "")
	want := `2 minimal-boot result="pass" state="00:00:06" 1–309 folded
  lines 1
  2.1 auto-login-action result="pass" state="00:00:05" 2–307 folded
    lines 2
    boot output 3–303 (301 lines) folded
      lines 3-303
    lines 304-307
  lines 308-309
`
	if b.String() != want {
		t.Errorf("passing boot:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	dumpTree(&b, fold(linesOf(bootLog(300, "fail")), nil, nil, foldInfo{}), "")
	if !strings.Contains(b.String(), "2.1 auto-login-action result=\"fail\" state=\"00:00:05\" 2–307 open") ||
		!strings.Contains(b.String(), "boot output 3–303 (301 lines) open") {
		t.Errorf("failing boot:\n%s", b.String())
	}
	b.Reset()
	dumpTree(&b, fold(linesOf(bootLog(minBootRun-2, "pass")), nil, nil, foldInfo{}), "")
	if strings.Contains(b.String(), "boot output") {
		t.Errorf("a run of %d lines folded:\n%s", minBootRun-1, b.String())
	}
}

// TestFoldWindows: a window that starts inside actions nests its lines in
// them; an action still open at the window's end is open, and says whether
// it runs or goes on; a filter keeps the sections of the lines it shows.
func TestFoldWindows(t *testing.T) {
	all := linesOf(bootLog(30, "pass"))
	open := []*logSection{
		{Level: "2", Name: "minimal-boot", First: 1, Earlier: true},
		{Level: "2.1", Name: "auto-login-action", First: 2, Earlier: true},
	}
	var b strings.Builder
	dumpTree(&b, fold(all[9:20], open, nil, foldInfo{more: true}), "")
	want := `2 minimal-boot result="" state="continues after line 20" 1–20 open
  2.1 auto-login-action result="" state="continues after line 20" 2–20 open
    boot output 10–20 (11 lines) open
      lines 10-20
`
	if b.String() != want {
		t.Errorf("middle window:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	dumpTree(&b, fold(all[:5], nil, nil, foldInfo{running: true}), "")
	if !strings.Contains(b.String(), `2 minimal-boot result="" state="running" 1–5 open`) {
		t.Errorf("running job:\n%s", b.String())
	}
	b.Reset()
	dumpTree(&b, fold(all[:5], nil, nil, foldInfo{}), "")
	if !strings.Contains(b.String(), `state="did not end"`) {
		t.Errorf("finished job, action without an end:\n%s", b.String())
	}
	// Only input lines: the actions that hold one remain, with it.
	b.Reset()
	dumpTree(&b, fold(all, nil, func(l *logLine) bool { return l.Level == "input" }, foldInfo{}), "")
	want = `2 minimal-boot result="pass" state="00:00:06" 1–39 folded
  2.1 auto-login-action result="pass" state="00:00:05" 2–37 folded
    lines 34
`
	if b.String() != want {
		t.Errorf("input lines only:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestFoldRobust: marks in the wrong order, unknown levels, ends without
// starts and absurd nesting neither panic nor lose lines.
func TestFoldRobust(t *testing.T) {
	var b bytes.Buffer
	for _, msg := range []string{"end: 3 nothing (duration 1)", "start: 1.2.3 orphan", "start: 2 a", "start: 2.1 b",
		"end: 2 a (duration 2)", "start: 1.1.1.1.1.1.1.1.1 too-deep", "start: x.1 bad", "start: 1..2 bad", "start: 3 c (timeout ",
		"end: 3 c (duration 4)", "end: 3 c (duration 4)", "start: 4"} {
		fmt.Fprintf(&b, `{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":%q}`+"\n", msg)
	}
	lines := linesOf(b.Bytes())
	nodes := fold(lines, nil, nil, foldInfo{})
	var count func([]logNode) int
	count = func(ns []logNode) int {
		c := 0
		for _, n := range ns {
			if n.Line != nil {
				c++
			} else {
				c += count(n.Sec.Items)
			}
		}
		return c
	}
	if c := count(nodes); c != len(lines) {
		t.Errorf("%d lines in the tree, want %d", c, len(lines))
	}
	var d strings.Builder
	dumpTree(&d, nodes, "")
	want := `lines 1
1.2.3 orphan result="" state="" 2–2 folded
  lines 2
2 a result="" state="2" 3–5 folded
  lines 3
  2.1 b result="" state="" 4–4 folded
    lines 4
  lines 5
lines 6-8
3 c result="" state="4" 9–10 folded
  lines 9-10
lines 11
4  result="" state="did not end" 12–12 open
  lines 12
`
	if d.String() != want {
		t.Errorf("tree:\n%s\nwant:\n%s", d.String(), want)
	}
}

func TestParseActionLine(t *testing.T) {
	for in, want := range map[string]*actionMark{
		"start: 1.1 download-retry (timeout 00:05:00) [common]": {Kind: markStart, Level: "1.1", Name: "download-retry", Time: "00:05:00"},
		"end: 2 boot-qemu-image (duration 00:00:03)":            {Kind: markEnd, Level: "2", Name: "boot-qemu-image", Time: "00:00:03"},
		"start: 0 validate":     {Kind: markStart, Level: "0", Name: "validate"},
		"start: 10.20.30 x (y)": {Kind: markStart, Level: "10.20.30", Name: "x"},
		"start: 1.":             nil,
		"start:1 x":             nil,
		"started: 1 x":          nil,
		"end: a b":              nil,
	} {
		got := parseActionLine(in)
		if (got == nil) != (want == nil) || (got != nil && *got != *want) {
			t.Errorf("%q: %+v, want %+v", in, got, want)
		}
	}
}

// TestTreeHTMLEscapes: names and text from the log are escaped in the
// rendered tree, attributes included.
func TestTreeHTMLEscapes(t *testing.T) {
	lines := linesOf([]byte(`{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"start: 1 <b>\"x\"&y (timeout 1)"}` + "\n" +
		`{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"<script>alert(1)</script>"}` + "\n" + "raw <i>line</i>\n"))
	got := string(treeHTML(fold(lines, nil, nil, foldInfo{})))
	for _, want := range []string{`data-name="&lt;b&gt;&#34;x&#34;&amp;y"`, `<span class="sn">&lt;b&gt;&#34;x&#34;&amp;y</span>`,
		`<span class="m">&lt;script&gt;alert(1)&lt;/script&gt;</span>`, `<span class="m">raw &lt;i&gt;line&lt;/i&gt;</span>`} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %s in\n%s", want, got)
		}
	}
	for _, bad := range []string{"<b>", "<script>", "<i>"} {
		if strings.Contains(got, bad) {
			t.Errorf("has %s", bad)
		}
	}
}
