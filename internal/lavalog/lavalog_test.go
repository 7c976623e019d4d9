package lavalog_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/lavalog"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
)

// TestGolden converts testdata/records.ndjson and compares with
// testdata/records.yaml, which LAVA's own dumper settings wrote (gen.py,
// PyYAML's C dumper), lines that are not records included.
func TestGolden(t *testing.T) {
	in, err := os.ReadFile("testdata/records.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("testdata/records.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []byte
	for _, line := range bytes.SplitAfter(in, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		got = lavalog.AppendLine(got, line)
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(gl), len(wl)) {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Errorf("line %d:\n got %s\nwant %s", i+1, g, w)
		}
	}
}

// TestNotRecords: a line that is not a JSON object, or is nested too
// deeply, is the message of a debug record without time; what dst held
// is kept.
func TestNotRecords(t *testing.T) {
	for _, bad := range []string{"", "[]", `"x"`, `{"dt": 1`, `{"a": 1} {}`, `{"a": 1}x`, "bad \xff byte",
		strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)} {
		out := lavalog.AppendLine([]byte("keep"), []byte(bad+"\n"))
		want := "keep" + `- {"dt": "", "lvl": "debug", "msg": ` + string(pyyaml.AppendDoubleQuoted(nil, bad)) + "}\n"
		if string(out) != want {
			t.Errorf("%.40q:\n got %q\nwant %q", bad, out, want)
		}
	}
}

func TestFloatMeasurement(t *testing.T) {
	msg := pyfmt.Map{{Key: "measurement", Value: " 1.50 "}, {Key: "units", Value: "1.5"}}
	lavalog.FloatMeasurement(msg)
	if msg[0].Value != 1.5 || msg[1].Value != "1.5" {
		t.Errorf("FloatMeasurement: %#v", msg)
	}
	msg = pyfmt.Map{{Key: "measurement", Value: "n/a"}}
	lavalog.FloatMeasurement(msg)
	if msg[0].Value != "n/a" {
		t.Errorf("FloatMeasurement of a text: %#v", msg)
	}
}

// FuzzAppendLine: any input gives one line of YAML that reads back as a
// one-item list holding a mapping.
func FuzzAppendLine(f *testing.F) {
	in, err := os.ReadFile("testdata/records.ndjson")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range bytes.Split(in, []byte("\n")) {
		f.Add(line)
	}
	f.Add([]byte(`{"msg": "\ud800 \u00ff", "x": [1e400, -1e400, 1.0e-400]}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		out := lavalog.AppendLine(nil, rec)
		if bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte("\n")) || !bytes.HasPrefix(out, []byte("- {")) {
			t.Fatalf("not one record line: %q", out)
		}
		var v []map[string]any
		if err := yaml.Unmarshal(out, &v); err != nil || len(v) != 1 {
			t.Fatalf("%q does not read back as one mapping: %v (%v)", out, err, v)
		}
	})
}
