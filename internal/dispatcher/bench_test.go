package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// BenchmarkConsoleEcho measures the job process's part of a console
// session's keystroke-to-echo latency: one key written on the console
// socket, typed on a console that echoes it (cat on a raw
// pseudo-terminal), until its echo is a target record in the journal
// (ConsoleIdleFlush included). ns/op is the latency of one key.
func BenchmarkConsoleEcho(b *testing.B) {
	dir := b.TempDir()
	a := workerproto.Assign{JobID: 1, JobToken: testToken,
		Device:  workerproto.Device{Hostname: "echo-01", DeviceType: "echo", Config: "commands:\n  connect: cat\n"},
		Console: &workerproto.Console{Holder: "alice", Until: time.Now().Add(time.Hour)}}
	if err := WriteJob(dir, a); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, dir)
		done <- err
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	var c net.Conn
	for {
		var err error
		if c, err = net.Dial("unix", filepath.Join(dir, workerproto.ConsoleSocket)); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	defer c.Close()
	go func() { _, _ = io.Copy(io.Discard, c) }()
	f, err := os.Open(filepath.Join(dir, JournalFile))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	var off int64
	buf := make([]byte, 64<<10)
	// echoed waits until a target record with the key is in the journal.
	echoed := func(key string) {
		want := []byte(`"lvl":"target","msg":"` + key + `"`)
		var seen []byte
		for !bytes.Contains(seen, want) {
			n, _ := f.ReadAt(buf, off)
			off += int64(n)
			seen = append(seen, buf[:n]...)
			if n == 0 {
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	enc := json.NewEncoder(c)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		key := string(rune('a' + i%26))
		if err := enc.Encode(workerproto.ConsoleInput{Seq: int64(i), User: "alice", Time: time.Now(), Data: []byte(key)}); err != nil {
			b.Fatal(err)
		}
		echoed(key)
	}
}
