package devicedict

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkParseJinja measures Parse on LAVA's form: a real dictionary,
// and one of MaxSize bytes made of set statements.
func BenchmarkParseJinja(b *testing.B) {
	small, err := os.ReadFile("testdata/valid/qemu01.jinja2")
	if err != nil {
		b.Fatal(err)
	}
	var big strings.Builder
	big.WriteString("{% extends 'qemu.jinja2' %}\n")
	line := "{% set extra_options = ['-smp 2', '-m 1024', {'k': [1, 2.5, none]}] %}\n"
	for i := 0; big.Len()+len(line) <= MaxSize; i++ {
		big.WriteString(strings.Replace(line, "extra_options", "v"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strconv.Itoa(i), 1))
	}
	for _, c := range []struct {
		name, text string
	}{{"qemu01", string(small)}, {"1MiB", big.String()}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.text)))
			for b.Loop() {
				if _, err := Parse(c.text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
