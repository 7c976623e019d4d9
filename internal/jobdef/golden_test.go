package jobdef

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/lab"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with the golden file, or rewrites it with -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatalf("write golden: %v", err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s mismatch (-want +got):\n%s", path, diff)
	}
}

func fixtures(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures in testdata/%s: %v", dir, err)
	}
	return files
}

func TestGoldenValid(t *testing.T) {
	for _, file := range fixtures(t, "valid") {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			job, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse: unexpected error:\n%v", err)
			}
			if job.Warnings != nil {
				t.Errorf("unexpected warnings: %v", job.Warnings)
			}
			got, err := marshalJSON(job)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden.json", append(got, '\n'))
		})
	}
}

func TestGoldenInvalid(t *testing.T) {
	for _, file := range fixtures(t, "invalid") {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			job, err := Parse(src)
			if err == nil {
				t.Fatalf("Parse accepted an invalid job: %+v", job)
			}
			if job != nil {
				t.Errorf("Parse returned a job together with an error")
			}
			if !errors.Is(err, lab.ErrInvalid) {
				t.Errorf("errors.Is(err, lab.ErrInvalid) = false for %v", err)
			}
			var list *Errors
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want *Errors", err)
			}
			checkErrors(t, list)
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden.txt", []byte(err.Error()+"\n"))
		})
	}
}

// TestGoldenWarnings: each fixture of testdata/warnings is accepted with
// the warnings of its .golden.txt, and refused with Strict by the errors of
// its .strict.golden.txt, one at each warning's place.
func TestGoldenWarnings(t *testing.T) {
	for _, file := range fixtures(t, "warnings") {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			job, err := Parse(src)
			if err != nil {
				t.Fatalf("Parse: unexpected error:\n%v", err)
			}
			if len(job.Warnings) == 0 {
				t.Fatalf("no warnings")
			}
			var b strings.Builder
			asErrors := make([]Error, len(job.Warnings))
			for i, w := range job.Warnings {
				b.WriteString(w.String() + "\n")
				asErrors[i] = Error(w)
			}
			checkErrors(t, &Errors{Items: asErrors}) // positioned, sorted, unique
			golden(t, strings.TrimSuffix(file, ".yaml")+".golden.txt", []byte(b.String()))

			strict, err := Parse(src, Strict())
			var list *Errors
			if !errors.As(err, &list) {
				t.Fatalf("Strict: got %+v, %v; want *Errors", strict, err)
			}
			checkErrors(t, list)
			if len(list.Items) != len(job.Warnings) {
				t.Fatalf("Strict: %d errors for %d warnings:\n%v", len(list.Items), len(job.Warnings), err)
			}
			for i, e := range list.Items {
				if w := job.Warnings[i]; e.Line != w.Line || e.Column != w.Column || e.Path != w.Path {
					t.Errorf("Strict: error %v is not at warning %v", e, w)
				}
			}
			golden(t, strings.TrimSuffix(file, ".yaml")+".strict.golden.txt", []byte(err.Error()+"\n"))
		})
	}
}

// checkErrors asserts the invariants of every *Errors: non-empty, positions
// set, sorted, no duplicates.
func checkErrors(t testing.TB, list *Errors) {
	t.Helper()
	if len(list.Items) == 0 {
		t.Fatalf("empty *Errors")
	}
	for i, it := range list.Items {
		if it.Line < 1 || it.Column < 1 {
			t.Errorf("item %d has no position: %+v", i, it)
		}
		if it.Msg == "" {
			t.Errorf("item %d has no message: %+v", i, it)
		}
		if i > 0 {
			prev := list.Items[i-1]
			if prev == it {
				t.Errorf("duplicate item %d: %+v", i, it)
			}
			if prev.Line > it.Line || (prev.Line == it.Line && prev.Column > it.Column) {
				t.Errorf("items %d and %d out of order: %v / %v", i-1, i, prev, it)
			}
		}
	}
}

// marshalJSON is json.MarshalIndent without HTML escaping, so that prompts
// such as "=> " stay readable in golden files.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
