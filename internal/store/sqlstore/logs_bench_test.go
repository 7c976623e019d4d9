package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
)

// benchLogData returns size bytes of 100-byte lines (99 bytes and a
// newline), cut anywhere, as the file store's benchmark has them.
func benchLogData(size int) []byte {
	line := append(bytes.Repeat([]byte{'r'}, 99), '\n')
	return bytes.Repeat(line, size/len(line)+1)[:size]
}

// BenchmarkLogsAppend measures append throughput of one job's uploads of
// 4 KiB and 64 KiB: each Append is a committed transaction. (The private
// PostgreSQL of the tests runs with fsync off; SQLite syncs its WAL as
// synchronous=NORMAL does, at checkpoints.)
func BenchmarkLogsAppend(b *testing.B) {
	for _, d := range dialects {
		for _, size := range []int{4 << 10, 64 << 10} {
			b.Run(fmt.Sprintf("%s/upload=%dKiB", d.name, size>>10), func(b *testing.B) {
				logs := open(b, d.dsn(b)).Logs()
				data := benchLogData(size)
				ctx := context.Background()
				b.SetBytes(int64(size))
				off := int64(0)
				for b.Loop() {
					n, err := logs.Append(ctx, 1, off, data)
					if err != nil {
						b.Fatal(err)
					}
					off = n
				}
			})
		}
	}
}

// BenchmarkLogsWindow reads 100 lines from the middle of a 1,000,000-line
// log (100 MB, uploaded in 1 MiB pieces), with ReadLines and with
// OpenLines, as the log view and a download of a page do.
func BenchmarkLogsWindow(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			s := open(b, d.dsn(b))
			logs := s.Logs()
			ctx := context.Background()
			data := benchLogData(100 * 1_000_000)
			for off := 0; off < len(data); off += 1 << 20 {
				if _, err := logs.Append(ctx, 1, int64(off), data[off:min(len(data), off+1<<20)]); err != nil {
					b.Fatal(err)
				}
			}
			if d.name == "sqlite" {
				// Measure the steady state, not the reads through the
				// 100 MB of WAL that the load left behind (the writer
				// checkpoints it away as it goes on writing).
				if _, err := s.writer.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
					b.Fatal(err)
				}
			}
			b.Run("ReadLines", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					start := 500_000 + (i*7919)%1000
					if lines, err := logs.ReadLines(ctx, 1, start, start+100); err != nil || len(lines) != 100 {
						b.Fatal(len(lines), err)
					}
				}
			})
			b.Run("OpenLines", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					start := 500_000 + (i*7919)%1000
					r, size, _, err := logs.OpenLines(ctx, 1, start, start+100)
					if err != nil || size != 100*100 {
						b.Fatal(size, err)
					}
					if n, err := io.Copy(io.Discard, r); err != nil || n != size {
						b.Fatal(n, err)
					}
					r.Close()
				}
			})
			b.Run("SHA256", func(b *testing.B) {
				b.SetBytes(int64(len(data)))
				for b.Loop() {
					if _, err := logs.SHA256(ctx, 1); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
