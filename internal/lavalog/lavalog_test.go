package lavalog_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/basalt-lab/basalt/internal/lavalog"
)

// TestGolden converts testdata/records.ndjson and compares with
// testdata/records.yaml, which LAVA's own dumper settings wrote (gen.py,
// PyYAML's C dumper).
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
		if got, err = lavalog.AppendLine(got, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
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

func TestAppendLineErrors(t *testing.T) {
	for _, bad := range []string{"", "[]", `"x"`, `{"dt": 1`, `{"a": 1} {}`, `{"a": 1}x`, strings.Repeat(`{"a":`, 100) + "1" + strings.Repeat("}", 100)} {
		dst := []byte("keep")
		out, err := lavalog.AppendLine(dst, []byte(bad))
		if err == nil {
			t.Errorf("%.40q: no error, got %q", bad, out)
		}
		if string(out) != "keep" {
			t.Errorf("%.40q: dst changed to %q on error", bad, out)
		}
	}
	// A "dt" that is not a time is written as it is.
	out, err := lavalog.AppendLine(nil, []byte(`{"dt": 5, "lvl": "info", "msg": "m"}`))
	if err != nil || string(out) != `- {"dt": ! "5", "lvl": "info", "msg": "m"}`+"\n" {
		t.Errorf("dt 5: %q, %v", out, err)
	}
}

// FuzzAppendLine: any input either fails or gives one line of YAML that
// reads back as a one-item list holding a mapping.
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
		out, err := lavalog.AppendLine(nil, rec)
		if err != nil {
			return
		}
		if bytes.Count(out, []byte("\n")) != 1 || !bytes.HasSuffix(out, []byte("\n")) || !bytes.HasPrefix(out, []byte("- {")) {
			t.Fatalf("not one record line: %q", out)
		}
		var v []map[string]any
		if err := yaml.Unmarshal(out, &v); err != nil || len(v) != 1 {
			t.Fatalf("%q does not read back as one mapping: %v (%v)", out, err, v)
		}
	})
}
