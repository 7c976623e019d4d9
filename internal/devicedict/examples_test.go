package devicedict

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/jinja"
)

// TestExamples keeps the dictionaries in examples/devices valid: the
// simulated ones on any device type, the others on a qemu device.
func TestExamples(t *testing.T) {
	var files []string
	for _, ext := range []string{"*.jinja2", "*.yaml"} {
		m, err := filepath.Glob(filepath.Join("..", "..", "examples", "devices", ext))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 2 {
		t.Fatalf("examples: %v", files)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d, err := Parse(string(text))
		if err != nil {
			t.Errorf("%s:\n%v", f, err)
			continue
		}
		if err := d.Validate("qemu"); err != nil {
			t.Errorf("%s:\n%v", f, err)
		}
		if Kind(d, "qemu") == "" {
			t.Errorf("%s: no device kind", f)
		}
		// Rendered with Basalt's templates, a qemu dictionary gives a QEMU
		// command (Check renders it and reads it).
		r := &Renderer{Templates: jinja.FSLoader(devicetypes.FS())}
		if err := r.Check(string(text), "example", "qemu"); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
