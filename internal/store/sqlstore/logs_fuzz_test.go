package sqlstore

import (
	"bytes"
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/basalt-lab/basalt/internal/logstore/logstoretest"
)

// FuzzLogsChunks checks the chunk and line arithmetic of LogStore on
// SQLite: a journal (NULs taken out) is uploaded in the pieces the input
// cuts it into, resends included, and everything read back must match
// the reference computed here, window by window.
func FuzzLogsChunks(f *testing.F) {
	f.Add([]byte("a\nbb\nccc\n"), []byte{1, 2, 3}, uint16(1), uint16(2))
	f.Add([]byte("no newline at all"), []byte{5, 0, 200}, uint16(0), uint16(0))
	f.Add([]byte("\n\n\n\nx\n\ny"), []byte{1, 1, 1, 130, 1}, uint16(2), uint16(5))
	f.Add(bytes.Repeat([]byte("a longer line of the log\n"), 400), []byte{255, 17, 129, 3}, uint16(100), uint16(300))
	logs := open(f, filepath.Join(f.TempDir(), "fuzz.db")).Logs()
	var jobs atomic.Int64
	f.Fuzz(func(t *testing.T, journal, cuts []byte, a, b uint16) {
		ctx := context.Background()
		ref := logstoretest.Log(bytes.ReplaceAll(journal, []byte{0}, []byte("0")))
		id := jobs.Add(1)
		have := 0
		for i := 0; have < len(ref); i++ {
			from, n := have, 1+len(ref)/3
			if i < len(cuts) {
				c := int(cuts[i])
				if c >= 128 && have > 0 { // a resend from earlier
					from = have - 1 - (c-128)%have
				}
				n = 1 + c%64
			}
			to := min(len(ref), from+n)
			got, err := logs.Append(ctx, id, int64(from), ref[from:to])
			if err != nil || got != int64(max(have, to)) {
				t.Fatalf("Append(%d, %q) with %d stored = %d, %v", from, ref[from:to], have, got, err)
			}
			have = int(got)
		}
		logstoretest.Check(t, logs, id, ref)
		lines := len(ref.Lines())
		start, end := int(a)%(lines+2)-1, int(b)%(lines+2)
		got, err := logs.ReadLines(ctx, id, start, end)
		if err != nil {
			t.Fatal(err)
		}
		if want := ref.Window(start, end); !bytes.Equal(bytes.Join(append(got, nil), []byte("\n")), want) {
			t.Fatalf("ReadLines(%d, %d) = %q, want %q", start, end, got, want)
		}
	})
}
