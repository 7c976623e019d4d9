package resultlog_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/resultlog"
)

var dt = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

// rec is a results record with msg.
func rec(msg string) string {
	return `{"dt":"2026-01-02T03:04:05.123456Z","lvl":"results","msg":` + msg + `}`
}

func TestParse(t *testing.T) {
	cases := []struct {
		name string
		line string
		want lab.TestCase
	}{
		{"plain", rec(`{"definition":"0_smoke","case":"uname","result":"pass"}`), lab.TestCase{
			Suite: "0_smoke", Name: "uname", Result: lab.ResultPass, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
			Metadata: `{"case":"uname","definition":"0_smoke","result":"pass"}`}},
		{"measurement as a number, kept as written", rec(`{"definition":"0_perf","case":"bw","result":"pass","measurement":1.50,"units":"MB/s","set":"net-1"}`),
			lab.TestCase{Suite: "0_perf", Set: "net-1", Name: "bw", Result: lab.ResultPass, Measurement: "1.50", Units: "MB/s",
				Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"bw","definition":"0_perf","measurement":1.50,"result":"pass","set":"net-1","units":"MB/s"}`}},
		{"starttc and endtc, as numbers or strings", rec(`{"definition":"0_smoke","case":"sh","result":"fail","starttc":2,"endtc":"5"}`),
			lab.TestCase{Suite: "0_smoke", Name: "sh", Result: lab.ResultFail, Line: 7, StartLine: 2, EndLine: 5, Logged: dt,
				Metadata: `{"case":"sh","definition":"0_smoke","result":"fail"}`}},
		{"markers after the record or not lines are ignored", rec(`{"definition":"0_smoke","case":"sh","result":"skip","starttc":8,"endtc":-1}`),
			lab.TestCase{Suite: "0_smoke", Name: "sh", Result: lab.ResultSkip, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"sh","definition":"0_smoke","result":"skip"}`}},
		{"lava suite: duration is the measurement in seconds", rec(`{"definition":"lava","case":"http-download","result":"pass","duration":"1.50","level":"1.1","measurement":"9"}`),
			lab.TestCase{Suite: "lava", Name: "http-download", Result: lab.ResultPass, Measurement: "1.50", Units: "seconds",
				Duration: "1.50", Level: "1.1", Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"http-download","definition":"lava","duration":"1.50","level":"1.1","measurement":"9","result":"pass"}`}},
		{"lava job", rec(`{"definition":"lava","case":"job","result":"fail","error_type":"Infrastructure","error_msg":"<boom> & co"}`),
			lab.TestCase{Suite: "lava", Name: "job", Result: lab.ResultFail, ErrorType: "Infrastructure", ErrorMsg: "<boom> & co",
				Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"job","definition":"lava","error_msg":"<boom> & co","error_type":"Infrastructure","result":"fail"}`}},
		{"case name stripped, control characters replaced", rec(`{"definition":"s","case":" \u001f a\tb\u0000c\u007f \n","result":"pass"}`),
			lab.TestCase{Suite: "s", Name: "a_ctrl-char_b_ctrl-char_c_ctrl-char_", Result: lab.ResultPass, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":" \u001f a\tb\u0000c\u007f \n","definition":"s","result":"pass"}`}},
		{"an invalid set name is ignored", rec(`{"definition":"s","case":"c","result":"pass","set":"a set"}`),
			lab.TestCase{Suite: "s", Name: "c", Result: lab.ResultPass, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"c","definition":"s","result":"pass","set":"a set"}`}},
		{"an unknown result is unknown", rec(`{"definition":"s","case":"c","result":"PASS"}`),
			lab.TestCase{Suite: "s", Name: "c", Result: lab.ResultUnknown, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"c","definition":"s","result":"PASS"}`}},
		{"NUL in a suite name", rec(`{"definition":"a\u0000b","case":"c","result":"pass","units":"\u0000"}`),
			lab.TestCase{Suite: "a\uFFFDb", Name: "c", Result: lab.ResultPass, Units: "\uFFFD", Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"c","definition":"a\u0000b","result":"pass","units":"\u0000"}`}},
		{"bytes that are not UTF-8", "{\"dt\":\"2026-01-02T03:04:05.123456Z\",\"lvl\":\"results\",\"msg\":{\"definition\":\"s\",\"case\":\"c\xff\",\"result\":\"pass\",\"x\":\"\xfe\"}}",
			lab.TestCase{Suite: "s", Name: "c\uFFFD", Result: lab.ResultPass, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: "{\"case\":\"c\uFFFD\",\"definition\":\"s\",\"result\":\"pass\",\"x\":\"\uFFFD\"}"}},
		{"level spelled with escapes", `{"dt":"2026-01-02T03:04:05.123456+00:00","lvl":"result\u0073","msg":{"definition":"s","case":"c","result":"pass"}}`,
			lab.TestCase{Suite: "s", Name: "c", Result: lab.ResultPass, Line: 7, StartLine: 7, EndLine: 7, Logged: dt,
				Metadata: `{"case":"c","definition":"s","result":"pass"}`}},
	}
	for _, c := range cases {
		got, ok, err := resultlog.Parse([]byte(c.line), 7)
		if err != nil || !ok {
			t.Errorf("%s: ok %v, %v", c.name, ok, err)
			continue
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", c.name, d)
		}
	}
}

func TestParseNotResults(t *testing.T) {
	for _, line := range []string{
		``, `not a record`, `{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"the results are in"}`,
		`{"dt":"2026-01-02T03:04:05Z","lvl":"target","msg":"\u001b[1mresults\u001b[0m"}`,
		`{"lvl":7,"msg":{"definition":"s","case":"c","result":"pass"}}`, `["results"]`, `"results"`,
		`{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":{"definition":"s","case":"c","result":"pass"}`, // cut short
	} {
		if c, ok, err := resultlog.Parse([]byte(line), 3); ok || err != nil {
			t.Errorf("Parse(%q) = %+v, %v, %v; want not a results record", line, c, ok, err)
		}
	}
}

func TestParseBadResults(t *testing.T) {
	for _, msg := range []string{
		`"a string"`, `null`, `[1]`, `{}`,
		`{"case":"c","result":"pass"}`, `{"definition":"","case":"c","result":"pass"}`,
		`{"definition":"s","result":"pass"}`, `{"definition":"s","case":"c"}`,
		`{"definition":"s","case":{"x":1},"result":"pass"}`, `{"definition":true,"case":"c","result":"pass"}`,
	} {
		if c, ok, err := resultlog.Parse([]byte(rec(msg)), 3); ok || err == nil || !strings.Contains(err.Error(), "line 3") {
			t.Errorf("msg %s: %+v, %v, %v; want an error naming line 3", msg, c, ok, err)
		}
	}
	for _, line := range []string{
		`{"lvl":"results","msg":{"definition":"s","case":"c","result":"pass"}}`,
		`{"dt":"yesterday","lvl":"results","msg":{"definition":"s","case":"c","result":"pass"}}`,
		`{"dt":1,"lvl":"results","msg":{"definition":"s","case":"c","result":"pass"}}`,
	} {
		if _, ok, err := resultlog.Parse([]byte(line), 3); ok || err == nil {
			t.Errorf("%s: ok %v, %v; want a bad time", line, ok, err)
		}
	}
}

// TestMetadataBound checks LAVA's stripping of records over 4096
// characters.
func TestMetadataBound(t *testing.T) {
	parse := func(msg map[string]any) lab.TestCase {
		t.Helper()
		b, err := json.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		c, ok, err := resultlog.Parse([]byte(rec(string(b))), 0)
		if !ok || err != nil {
			t.Fatalf("parse: %v %v", ok, err)
		}
		return c
	}
	// Just at the bound: kept whole. (4096 characters, most of them two
	// bytes: the bound counts characters, as LAVA's len() does.)
	base := `{"case":"c","definition":"s","extra":"","result":"fail"}`
	fill := strings.Repeat("é", 4096-len(base))
	c := parse(map[string]any{"definition": "s", "case": "c", "result": "fail", "extra": fill})
	if n := utf8.RuneCountInString(c.Metadata); n != 4096 || !strings.Contains(c.Metadata, fill) {
		t.Errorf("metadata at the bound: %d characters, stripped", n)
	}
	// Over it: stripped, error_type kept, error_msg cut to 256 characters.
	c = parse(map[string]any{"definition": "s", "case": "c", "result": "fail", "extra": fill + "é",
		"error_type": "Test", "error_msg": strings.Repeat("ü", 300)})
	want := `{"case":"c","definition":"s","error_msg":"` + strings.Repeat("ü", 256) + `","error_type":"Test","result":"fail"}`
	if c.Metadata != want {
		t.Errorf("stripped metadata: %s", c.Metadata)
	}
	if c.ErrorMsg != strings.Repeat("ü", 300) {
		t.Errorf("error_msg field was cut: %d characters", utf8.RuneCountInString(c.ErrorMsg))
	}
	// Stripped and still too long (a huge case name): empty.
	c = parse(map[string]any{"definition": "s", "case": strings.Repeat("c", 5000), "result": "fail"})
	if c.Metadata != "" || len(c.Name) != lab.MaxResultName {
		t.Errorf("huge case: metadata %d characters, name %d bytes", len(c.Metadata), len(c.Name))
	}
	// Stripped fits, but not with error_msg: without it.
	c = parse(map[string]any{"definition": "s", "case": strings.Repeat("c", 3900), "result": "fail", "error_msg": strings.Repeat("m", 300)})
	if strings.Contains(c.Metadata, "error_msg") || !strings.Contains(c.Metadata, `"result":"fail"`) {
		t.Errorf("stripped without room for error_msg: %s", c.Metadata)
	}
}

// FuzzParse feeds arbitrary lines to Parse: it never panics, every case it
// returns is storable and consistent, and a malformed line never stops
// the lines after it from being read (the parser keeps no state).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		rec(`{"definition":"0_smoke","case":"uname","result":"pass","measurement":1.5,"units":"s","set":"a","starttc":1,"endtc":"2"}`),
		rec(`{"definition":"lava","case":"job","result":"fail","error_type":"Bug","error_msg":"x","duration":3}`),
		rec(`{"definition":"s","case":"\u0000\u007f","result":"?","starttc":99999999999999999999}`),
		rec(`{"definition":"s","case":"c","result":"pass","extra":{"a":[1,2,{"b":null}]}}`),
		`{"dt":"2026-01-02T03:04:05Z","lvl":"results","msg":"x"}`,
		`{"dt":"x","lvl":"result\u0073","msg":{}}`,
		`{"dt":"2026-01-02T03:04:05Z","lvl":"info","msg":"results"}`,
		`not json`, ``, `{`, `{"lvl":"results"`,
	} {
		f.Add([]byte(s), 5)
	}
	good := []byte(rec(`{"definition":"tail","case":"after","result":"pass"}`))
	f.Fuzz(func(t *testing.T, line []byte, n int) {
		n = max(n, 0) % (1 << 30)
		c, ok, err := resultlog.Parse(line, n)
		if ok {
			if err != nil {
				t.Fatalf("ok with error %v", err)
			}
			if err := c.Validate(); err != nil {
				t.Fatalf("case does not validate: %v (%+v)", err, c)
			}
			if c.Line != n || c.StartLine > n || c.EndLine > n || c.StartLine < 0 || c.EndLine < 0 {
				t.Fatalf("lines %d %d %d for record on line %d", c.Line, c.StartLine, c.EndLine, n)
			}
			if c.Logged.Location() != time.UTC {
				t.Fatalf("logged %v not UTC", c.Logged)
			}
		}
		// The record after it is read as ever, whatever this line was
		// (including one that holds several lines).
		for i, l := range append(bytes.Split(line, []byte("\n")), good) {
			_, _, _ = resultlog.Parse(l, n+i)
		}
		if c, ok, err := resultlog.Parse(good, n+1); !ok || err != nil || c.Name != "after" {
			t.Fatalf("the next record is lost: %+v %v %v", c, ok, err)
		}
	})
}
