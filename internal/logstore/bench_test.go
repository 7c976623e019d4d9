package logstore

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// benchChunk returns size bytes of 100-byte records (99 bytes and a
// newline), so chunk boundaries fall inside lines as in real uploads.
func benchChunk(size int) []byte {
	line := append(bytes.Repeat([]byte{'r'}, 99), '\n')
	return bytes.Repeat(line, size/len(line)+1)[:size]
}

// BenchmarkAppend measures durable append throughput: every Append writes
// and fsyncs log and index before returning, as the ack requires. The
// jobs=N variants run N uploaders on N jobs at once; MB/s and records/s
// are totals over all jobs.
func BenchmarkAppend(b *testing.B) {
	for _, jobs := range []int{1, 50} {
		for _, size := range []int{16 << 10, 64 << 10, 256 << 10, 1 << 20} {
			b.Run(fmt.Sprintf("jobs=%d/chunk=%dKiB", jobs, size>>10), func(b *testing.B) {
				benchAppend(b, jobs, size)
			})
		}
	}
}

func benchAppend(b *testing.B, jobs, size int) {
	s, _ := openStore(b, WithMaxOpen(jobs))
	chunk := benchChunk(size)
	records := float64(bytes.Count(chunk, []byte{'\n'}))
	var ops atomic.Int64
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ResetTimer()
	for g := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id, off := int64(g+1), int64(0)
			for ops.Add(1) <= int64(b.N) {
				stored, err := s.Append(bg, id, off, chunk)
				if err != nil {
					b.Error(err)
					return
				}
				off = stored
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)*records/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkReadLines reads a 1000-line page from a 100 000-line log, as a
// log view does.
func BenchmarkReadLines(b *testing.B) {
	s, _ := openStore(b)
	if _, err := s.Append(bg, 1, 0, benchChunk(100*100_000)); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(1000 * 100)
	for i := 0; b.Loop(); i++ {
		start := (i * 7919) % 99_000
		if lines, err := s.ReadLines(bg, 1, start, start+1000); err != nil || len(lines) != 1000 {
			b.Fatal(len(lines), err)
		}
	}
}
