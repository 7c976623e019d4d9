package jinja

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const python = "/usr/bin/python3"

// oracleJob is one render for testdata/render.py.
type oracleJob struct {
	ID       string            `json:"id"`
	Template *string           `json:"template"`
	Source   *string           `json:"source"`
	Dirs     []string          `json:"dirs,omitempty"`
	Files    map[string]string `json:"files,omitempty"`
	Context  json.RawMessage   `json:"context"`
	GoOut    *string           `json:"go_out"`
	WantYAML bool              `json:"want_yaml"`
}

type oracleResult struct {
	ID     string  `json:"id"`
	OK     bool    `json:"ok"`
	Out    string  `json:"out"`
	Err    string  `json:"err"`
	YAML   *string `json:"yaml"`
	GoYAML *string `json:"go_yaml"`
}

// runOracle renders jobs with Python Jinja2 in one process.
func runOracle(t *testing.T, jobs []oracleJob) map[string]oracleResult {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: install the Debian packages python3-jinja2 and python3-yaml", python)
	}
	in, err := json.Marshal(map[string]any{"jobs": jobs})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join("testdata", "render.py"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle failed (needs Debian's python3-jinja2 and python3-yaml): %v\n%s", err, stderr.String())
	}
	var res struct {
		Results []oracleResult `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("oracle output: %v", err)
	}
	m := make(map[string]oracleResult, len(res.Results))
	for _, r := range res.Results {
		m[r.ID] = r
	}
	return m
}

// jsonOf encodes a template value as JSON keeping dict order (tuples
// become lists).
func jsonOf(v any) string {
	var b strings.Builder
	writeJSON(&b, v)
	return b.String()
}

func writeJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case string:
		j, _ := json.Marshal(x)
		b.Write(j)
	case *List:
		b.WriteByte('[')
		for i, e := range x.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, e)
		}
		b.WriteByte(']')
	case *Dict:
		b.WriteByte('{')
		for i, k := range x.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeJSON(b, pyStr(k))
			b.WriteByte(':')
			writeJSON(b, x.vals[i])
		}
		b.WriteByte('}')
	default:
		panic("jsonOf: unsupported " + typeName(v))
	}
}

// firstDiff describes the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		} else {
			x = "<end>"
		}
		if i < len(bl) {
			y = bl[i]
		} else {
			y = "<end>"
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ": python " + strconv.Quote(x) + " / go " + strconv.Quote(y)
		}
	}
	return "identical"
}

func asError(err error, target **Error) bool { return errors.As(err, target) }
