package dispatcher

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// benchRun runs one job in a fresh directory under root.
func benchRun(b *testing.B, root string, i int, a workerproto.Assign) (Result, string) {
	b.Helper()
	dir := filepath.Join(root, fmt.Sprint(i))
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	if err := WriteJob(dir, a); err != nil {
		b.Fatal(err)
	}
	res, err := Run(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	if !res.Passed() {
		b.Fatalf("job failed: %+v", res)
	}
	return res, dir
}

// BenchmarkRunSimulated measures the pipeline's own overhead per job: a
// short job (deploy, boot with 50 boot lines and no boot time, three test
// cases, finalize) from job.json to result.json.
func BenchmarkRunSimulated(b *testing.B) {
	def := job("", "", "- deploy:\n    to: tmpfs\n    images:\n      kernel:\n        url: https://example.org/k\n"+
		inlineTest("bench", "", "lava-test-case a --result pass", "lava-test-case b --shell true", "lava-test-case c --result pass --measurement 1.5 --units s"))
	a := workerproto.Assign{JobID: 1, Definition: def, JobToken: testToken,
		Device: workerproto.Device{Hostname: "sim-01", DeviceType: "qemu", Dictionary: simDict("boot_time: 0, boot_lines: 50")}}
	root := b.TempDir()
	var records int
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_, dir := benchRun(b, root, i, a)
		if i == 0 {
			recs, err := journal.ReadFile(filepath.Join(dir, JournalFile))
			if err != nil {
				b.Fatal(err)
			}
			records = len(recs)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
	b.ReportMetric(float64(records), "records/job")
}

// BenchmarkFlood measures the journal's throughput for target output: a
// job whose test prints floodBytes bytes of 80-byte lines as fast as the
// simulated console allows, every line becoming a target record.
func BenchmarkFlood(b *testing.B) {
	const floodBytes = 16 << 20
	def := job("", "", inlineTest("flood", "", fmt.Sprintf("flood %d", floodBytes)))
	a := workerproto.Assign{JobID: 1, Definition: def, JobToken: testToken,
		Device: workerproto.Device{Hostname: "sim-01", DeviceType: "qemu", Dictionary: simDict("boot_time: 0, boot_lines: 10, line_length: 79")}}
	root := b.TempDir()
	b.SetBytes(floodBytes)
	var records, journalBytes int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		_, dir := benchRun(b, root, i, a)
		b.StopTimer()
		st, err := os.Stat(filepath.Join(dir, JournalFile))
		if err != nil {
			b.Fatal(err)
		}
		journalBytes += st.Size()
		records += floodBytes / 80
		os.RemoveAll(dir)
		b.StartTimer()
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(records)/s, "records/s")
	b.ReportMetric(float64(journalBytes)/s/1e6, "journal-MB/s")
}
