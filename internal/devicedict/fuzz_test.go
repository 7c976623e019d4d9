package devicedict

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/jinja"
)

// FuzzParse checks that no text makes Parse, Validate, Resolve or the
// typed readers panic, and that every problem has a position.
func FuzzParse(f *testing.F) {
	for _, dir := range []string{"valid", "invalid"} {
		for _, ext := range []string{"*.jinja2", "*.yaml"} {
			files, _ := filepath.Glob(filepath.Join("testdata", dir, ext))
			for _, file := range files {
				b, err := os.ReadFile(file)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(string(b))
			}
		}
	}
	for _, s := range []string{"", "{", "{%", "{% set", "{% set x = '\\", "{% set x = [[[[", "{#", "a: &a [*a]",
		"{% extends 'qemu.jinja2' %}{% set x = 0x %}", "{% set x = 1e %}", "{{", "{% set x = -'a' %}", "\ufeff{%-%}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		d, err := Parse(text)
		checkPositions(t, err)
		if err != nil {
			if d != nil {
				t.Fatal("Parse returned a dictionary and an error")
			}
			return
		}
		for _, dt := range []string{"qemu", "bbb", ""} {
			checkPositions(t, d.Validate(dt))
			_ = Kind(d, dt)
		}
		// A qemu dictionary renders through the shipped template and
		// gives a QEMU command, or a positioned error.
		checkPositions(t, fuzzRenderer.Check(text, "fuzz", "qemu"))
		vars := d.Resolve(map[string]any{"arch": "arm64", "memory": 2048.0})
		_ = UserCommands(vars)
		_ = Environment(vars)
		_ = ReadConstants(vars)
		_ = ReadCommands(vars)
		_ = Timeouts(vars)
		_ = ReadCharacterDelays(vars)
	})
}

// fuzzRenderer renders with Basalt's shipped templates.
var fuzzRenderer = &Renderer{Templates: jinja.FSLoader(devicetypes.FS())}

func checkPositions(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var de *Errors
	if !errors.As(err, &de) || len(de.Items) == 0 {
		t.Fatalf("error %T %v is not a non-empty *Errors", err, err)
	}
	for _, it := range de.Items {
		if it.Line < 1 || it.Column < 1 || it.Msg == "" {
			t.Fatalf("bad problem %+v", it)
		}
	}
}
