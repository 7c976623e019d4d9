package dispatcher

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// ltpPattern is the parse pattern of a typical LAVA test definition
// (results printed as "name: RESULT [measurement units]").
const ltpPattern = `^(?P<test_case_id>[^:]+):\s*(?P<result>PASS|FAIL|SKIP|UNKNOWN|pass|fail|skip|unknown|\w+)(?:\s+(?P<measurement>\S+)(?:\s+(?P<units>\S+))?)?\s*$`

func TestPatternParserLines(t *testing.T) {
	fixup := map[string]string{"BROKEN": "fail", "n/a": "skip", "weird": "maybe"}
	measOnly := `^(?P<test_case_id>\w+) took (?P<measurement>\S+) (?P<units>\w+)$`
	tests := []struct {
		name    string
		pattern string
		line    string
		want    workerproto.ResultMsg
		wantOK  bool
		wantErr string // a substring; "" for no error
	}{
		{"no match", ltpPattern, "random kernel noise", workerproto.ResultMsg{}, false, ""},
		{"pass", ltpPattern, "boot-test: PASS", workerproto.ResultMsg{Case: "boot-test", Result: "pass"}, true, ""},
		{"upper case result lower-cased", ltpPattern, "x: FAIL", workerproto.ResultMsg{Case: "x", Result: "fail"}, true, ""},
		{"fixupdict", ltpPattern, "net: BROKEN", workerproto.ResultMsg{Case: "net", Result: "fail"}, true, ""},
		{"fixupdict key is exact", ltpPattern, "net: broken", workerproto.ResultMsg{Case: "net"}, false, `bad result "broken"`},
		{"fixupdict to a bad value", ltpPattern, "net: weird", workerproto.ResultMsg{Case: "net"}, false, `fixupdict maps "weird"`},
		{"bad result", ltpPattern, "net: GREEN", workerproto.ResultMsg{Case: "net"}, false, `bad result "GREEN"`},
		{"measurement and units", ltpPattern, "iperf: pass 941.5 Mbits/s", workerproto.ResultMsg{Case: "iperf", Result: "pass", Measurement: "941.5", Units: "Mbits/s"}, true, ""},
		{"negative exponent measurement", ltpPattern, "drift: pass -1.5e-3 s", workerproto.ResultMsg{Case: "drift", Result: "pass", Measurement: "-1.5e-3", Units: "s"}, true, ""},
		{"bad measurement keeps the result", ltpPattern, "iperf: pass fast Mbits/s", workerproto.ResultMsg{Case: "iperf", Result: "pass"}, true, `measurement "fast"`},
		{"infinite measurement", ltpPattern, "iperf: pass Inf", workerproto.ResultMsg{Case: "iperf", Result: "pass"}, true, `measurement "Inf"`},
		{"NaN measurement", ltpPattern, "iperf: pass NaN", workerproto.ResultMsg{Case: "iperf", Result: "pass"}, true, `measurement "NaN"`},
		{"case id trimmed", ltpPattern, "  spaced : pass", workerproto.ResultMsg{Case: "spaced", Result: "pass"}, true, ""},
		{"case id slash", ltpPattern, "fs/ext4: pass", workerproto.ResultMsg{Case: "fs_ext4", Result: "pass"}, true, ""},
		{"case id with blanks skipped", ltpPattern, "two words: pass", workerproto.ResultMsg{}, false, `contains blanks`},
		{"measurement only passes", measOnly, "boot took 3.25 seconds", workerproto.ResultMsg{Case: "boot", Result: "pass", Measurement: "3.25", Units: "seconds"}, true, ""},
		{"measurement only, bad number", measOnly, "boot took soon seconds", workerproto.ResultMsg{Case: "boot"}, false, `"soon" is not a number`},
		{"empty case id", `^(?P<test_case_id>\w*)=(?P<result>\w+)$`, "=pass", workerproto.ResultMsg{}, false, "test_case_id group is empty"},
		{"optional result group unmatched", `^(?P<test_case_id>\w+)(?: (?P<result>\w+))?$`, "lonely", workerproto.ResultMsg{Case: "lonely"}, false, "result group did not match"},
		{"unmatched measurement group is no measurement", `^(?P<test_case_id>\w+) (?P<result>\w+)(?: (?P<measurement>\S+))?$`, "a pass", workerproto.ResultMsg{Case: "a", Result: "pass"}, true, ""},
		{"units without measurement dropped", `^(?P<test_case_id>\w+) (?P<result>\w+) (?P<units>\w+)$`, "a pass MB", workerproto.ResultMsg{Case: "a", Result: "pass"}, true, ""},
		{"match in the middle of a line", `(?P<test_case_id>t\d+)=(?P<result>\w+)`, "[  12.3] kernel: t7=skip (late)", workerproto.ResultMsg{Case: "t7", Result: "skip"}, true, ""},
		{"python named groups with \\Z", `(?P<test_case_id>\w+) (?P<result>\w+)\Z`, "abc pass", workerproto.ResultMsg{Case: "abc", Result: "pass"}, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPatternParser(tt.pattern, fixup)
			if err != nil {
				t.Fatal(err)
			}
			got, ok, err := p.parse(tt.line)
			if ok != tt.wantOK {
				t.Errorf("ok = %v, want %v", ok, tt.wantOK)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if !ok {
				tt.want = workerproto.ResultMsg{} // nothing to record
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMonitorCaseIDs(t *testing.T) {
	tests := []struct{ raw, want string }{
		{"Test One", "test_one"},
		{"  kernel/boot-time (ms) ", "kernel_boot_time_ms_"},
		{"already_fine_42", "already_fine_42"},
		{"Größe–Prüfung", "größe_prüfung"},
	}
	for _, tt := range tests {
		got, err := monitorCaseID(tt.raw)
		if err != nil || got != tt.want {
			t.Errorf("monitorCaseID(%q) = %q, %v; want %q", tt.raw, got, err, tt.want)
		}
	}
	if _, err := monitorCaseID("   "); err == nil {
		t.Error("monitorCaseID of blanks: no error")
	}
}

func TestPatternParserRefusals(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		wantErr string
	}{
		{"no test_case_id", `(?P<result>\w+)`, "needs the named group (?P<test_case_id>…)"},
		{"no result nor measurement", `(?P<test_case_id>\w+)`, "needs the named group (?P<result>…) or (?P<measurement>…)"},
		{"no groups at all", `\w+: \w+`, "(?P<test_case_id>…) and (?P<result>…) or (?P<measurement>…)"},
		{"lookahead", `(?P<test_case_id>\w+)(?=:) (?P<result>\w+)`, "lookahead assertions"},
		{"negative lookahead", `(?!x)(?P<test_case_id>\w+) (?P<result>\w+)`, "lookahead assertions"},
		{"lookbehind", `(?<=\] )(?P<test_case_id>\w+) (?P<result>\w+)`, "lookbehind assertions"},
		{"negative lookbehind", `(?<!x)(?P<test_case_id>\w+) (?P<result>\w+)`, "lookbehind assertions"},
		{"numbered backreference", `(?P<test_case_id>\w+) (?P<result>\w+) \1`, `backreferences such as \1`},
		{"named backreference", `(?P<test_case_id>\w+) (?P<result>\w+) (?P=result)`, "named backreferences"},
		{"conditional", `(<)?(?P<test_case_id>\w+)(?(1)>) (?P<result>\w+)`, "conditional groups"},
		{"atomic", `(?>(?P<test_case_id>\w+)) (?P<result>\w+)`, "atomic groups"},
		{"verbose", `(?x) (?P<test_case_id>\w+) \s (?P<result>\w+)`, "verbose flag"},
		{"locale", `(?L)(?P<test_case_id>\w+) (?P<result>\w+)`, "locale flag"},
		{"possessive", `(?P<test_case_id>\w++) (?P<result>\w+)`, "not a valid regular expression"},
		{"unbalanced", `(?P<test_case_id>\w+ (?P<result>\w+)`, "not a valid regular expression"},
		{"unterminated comment", `(?P<test_case_id>\w+) (?P<result>\w+)(?# oops`, "missing ) after the comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPatternParser(tt.pattern, nil)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("newPatternParser(%q) = %v, %v; want an error containing %q", tt.pattern, p, err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tt.pattern)) {
				t.Errorf("the error %q does not quote the pattern", err)
			}
		})
	}
}

func TestGoPattern(t *testing.T) {
	tests := []struct{ py, want string }{
		{`(?P<test_case_id>\w+)`, `(?P<test_case_id>\w+)`},
		{`end\Z`, `end\z`},
		{`a(?# a comment)b`, `ab`},
		{`(?u)x`, `x`},
		{`(?ai)x`, `(?i)x`},
		{`(?u:x)`, `(?:x)`},
		{`(?i-u:x)`, `(?i:x)`},
		{`(?ms)^x$`, `(?ms)^x$`},
		{`[\Z(?=]`, `[\Z(?=]`},           // inside a class nothing is special
		{`[]\1]`, `[]\1]`},               // a leading ] is a literal
		{`[^]x]\Z`, `[^]x]\z`},           // also after ^
		{`\\1 \\Z`, `\\1 \\Z`},           // escaped backslashes
		{`(?:a)(?<n>b)`, `(?:a)(?<n>b)`}, // groups Go knows pass through
	}
	for _, tt := range tests {
		got, err := goPattern(tt.py)
		if err != nil || got != tt.want {
			t.Errorf("goPattern(%q) = %q, %v; want %q", tt.py, got, err, tt.want)
		}
	}
}

// FuzzPatternLine feeds random console lines to a realistic parse pattern:
// parsing never panics, and what it returns to record is always a valid
// result.
func FuzzPatternLine(f *testing.F) {
	for _, s := range []string{
		"boot: PASS", "iperf: pass 941.5 Mbits/s", "x: FAIL 1e309", "fs/ext4: skip", "a b: pass",
		": pass", "t: pass NaN", "\x00: pass", "é: PASS -0 °C", "t: weird", "t:pass 1_000 ms", strings.Repeat("a", 5000) + ": pass",
	} {
		f.Add(s)
	}
	fixup := map[string]string{"BROKEN": "fail", "weird": "maybe"}
	p, err := newPatternParser(ltpPattern, fixup)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, line string) {
		res, ok, err := p.parse(line)
		if !ok {
			if res.Result != "" && err == nil {
				t.Fatalf("not recorded, no error, but a result: %+v", res)
			}
			return
		}
		if !validResult(res.Result) {
			t.Fatalf("recorded an invalid result %q", res.Result)
		}
		if res.Case == "" || strings.IndexFunc(res.Case, unicode.IsSpace) >= 0 || strings.Contains(res.Case, "/") {
			t.Fatalf("recorded a bad case %q", res.Case)
		}
		if res.Definition != "" {
			t.Fatalf("the parser set the definition %q", res.Definition)
		}
		if res.Measurement != "" {
			v, perr := strconv.ParseFloat(res.Measurement, 64)
			if perr != nil || math.IsInf(v, 0) || math.IsNaN(v) {
				t.Fatalf("recorded a bad measurement %q", res.Measurement)
			}
		} else if res.Units != "" {
			t.Fatalf("units %q without a measurement", res.Units)
		}
	})
}

// FuzzGoPattern converts random patterns: never a panic, and a converted
// pattern differs from the input only by the documented conversions.
func FuzzGoPattern(f *testing.F) {
	for _, s := range []string{`(?P<x>a)`, `\Z`, `(?#c)`, `(?au:x)`, `[`, `(?`, `\`, `[]`, `(?i-`, `(?=`, `[^]\Z]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, py string) {
		got, err := goPattern(py)
		if err != nil {
			return
		}
		if _, cerr := regexp.Compile(got); cerr == nil && !strings.Contains(py, `\Z`) && !strings.Contains(py, "(?") && got != py {
			t.Fatalf("goPattern(%q) = %q: changed a pattern without Python-only syntax", py, got)
		}
	})
}
