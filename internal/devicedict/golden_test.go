package devicedict

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// deviceTypes are the device types the testdata dictionaries are checked
// for; the others are checked for qemu.
var deviceTypes = map[string]string{
	"bbb01.jinja2":            "beaglebone-black",
	"bbb-plain.yaml":          "beaglebone-black",
	"simulated.yaml":          "sim",
	"simulated-defaults.yaml": "sim",
	"simulated-lava.jinja2":   "bbb",
}

func deviceTypeOf(file string) string {
	if dt, ok := deviceTypes[filepath.Base(file)]; ok {
		return dt
	}
	return "qemu"
}

func sources(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	for _, ext := range []string{"*.jinja2", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join("testdata", dir, ext))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatalf("no testdata in %s", dir)
	}
	return out
}

// golden compares got with the file's golden text (rewritten with -update).
func golden(t *testing.T, src, got string) {
	t.Helper()
	path := strings.TrimSuffix(src, filepath.Ext(src)) + ".golden"
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s: got\n%s\nwant\n%s", src, got, want)
	}
}

// dump shows a parsed dictionary for golden files.
func dump(d *Dict, deviceType string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "form: %s\ntemplate: %s\nkind on %s: %s\n", d.Form, d.Template, deviceType, Kind(d, deviceType))
	for _, v := range d.Vars {
		j, err := json.Marshal(v.Value)
		if err != nil {
			j = []byte(err.Error())
		}
		from := ""
		if v.FromContext {
			from = " (from context " + v.ContextName + ")"
		}
		fmt.Fprintf(&b, "%d:%d %s = %s%s\n", v.Line, v.Column, v.Name, j, from)
	}
	return b.String()
}

func TestValidDictionaries(t *testing.T) {
	for _, src := range sources(t, "valid") {
		t.Run(filepath.Base(src), func(t *testing.T) {
			text, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			dt := deviceTypeOf(src)
			d, err := Parse(string(text))
			if err != nil {
				t.Fatalf("Parse:\n%v", err)
			}
			if err := d.Validate(dt); err != nil {
				t.Fatalf("Validate(%q):\n%v", dt, err)
			}
			golden(t, src, dump(d, dt))
		})
	}
}

func TestInvalidDictionaries(t *testing.T) {
	for _, src := range sources(t, "invalid") {
		t.Run(filepath.Base(src), func(t *testing.T) {
			text, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			err = Check(string(text), deviceTypeOf(src))
			if err == nil {
				t.Fatal("Check accepted the dictionary")
			}
			var de *Errors
			if !errors.As(err, &de) || !errors.Is(err, lab.ErrInvalid) {
				t.Fatalf("error %T %v is not an *Errors wrapping lab.ErrInvalid", err, err)
			}
			for _, it := range de.Items {
				if it.Line < 1 || it.Column < 1 {
					t.Errorf("problem without a position: %+v", it)
				}
			}
			golden(t, src, err.Error()+"\n")
		})
	}
}
