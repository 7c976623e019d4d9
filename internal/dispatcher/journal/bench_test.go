package journal

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// BenchmarkLines measures the journal alone: batches of 400 console lines
// of 80 bytes (what the console reader hands over per 32 KiB read), with
// one secret to mask.
func BenchmarkLines(b *testing.B) {
	w, err := Create(filepath.Join(b.TempDir(), "log.ndjson"))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.Mask("job-token-3c1f9a")
	lines := make([]string, 400)
	for i := range lines {
		lines[i] = "[    1.000000] " + strings.Repeat("x", 65)
	}
	b.SetBytes(int64(len(lines) * 81))
	b.ResetTimer()
	for b.Loop() {
		w.Batch(func() {
			for _, l := range lines {
				w.Log(workerproto.LevelTarget, l)
			}
		})
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "records/s")
}
