package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

func newWriter(t *testing.T) (*Writer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "log.ndjson")
	w, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w, path
}

// text returns the text messages of recs as "lvl msg".
func text(t *testing.T, recs []workerproto.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		if r.Level == workerproto.LevelResults {
			out = append(out, string(r.Level)+" "+string(r.Msg))
			continue
		}
		var s string
		if err := json.Unmarshal(r.Msg, &s); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(r.Level)+" "+s)
	}
	return out
}

func TestCreateRefusesExistingJournal(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.ndjson")
	if err := os.WriteFile(path, []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Create over an existing journal: %v, want ErrExist", err)
	}
}

func TestWriteAndRead(t *testing.T) {
	w, path := newWriter(t)
	w.Log(workerproto.LevelInfo, "start: 1 tmpfs-deploy (timeout 00:05:00)")
	w.Logf(workerproto.LevelDebug, "%d images", 2)
	w.Batch(func() {
		w.Log(workerproto.LevelTarget, "line 1")
		w.Log(workerproto.LevelTarget, "line <2> & \"3\"")
	})
	w.Result(workerproto.ResultMsg{Definition: "0_smoke", Case: "uname", Result: "pass", Measurement: "1.5", Units: "s"})
	if got := w.Records(); got != 5 {
		t.Errorf("Records = %d, want 5", got)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	w.Log(workerproto.LevelInfo, "after close") // dropped
	if err := w.Err(); err != nil {
		t.Fatalf("Err after Close: %v", err)
	}
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"info start: 1 tmpfs-deploy (timeout 00:05:00)",
		"debug 2 images",
		"target line 1",
		"target line <2> & \"3\"",
		`results {"definition":"0_smoke","case":"uname","result":"pass","measurement":"1.5","units":"s"}`,
	}
	if diff := cmp.Diff(want, text(t, recs)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for i := 1; i < len(recs); i++ {
		if recs[i].Time.Before(recs[i-1].Time) {
			t.Errorf("record %d goes back in time", i)
		}
	}
	// Every line is exactly workerproto's encoding of its record.
	b, _ := os.ReadFile(path)
	lines := bytes.SplitAfter(b, []byte("\n"))
	for i, r := range recs {
		enc, _ := workerproto.EncodeRecord(r)
		if !bytes.Equal(enc, lines[i]) {
			t.Errorf("line %d = %s, want %s", i, lines[i], enc)
		}
	}
	if st, _ := os.Stat(path); w.Size() != st.Size() {
		t.Errorf("Size = %d, file has %d bytes", w.Size(), st.Size())
	}
}

// TestFeedback: a feedback record carries its namespace (LAVA's ns key)
// and is masked like any text; other records have no namespace.
func TestFeedback(t *testing.T) {
	w, path := newWriter(t)
	w.Mask("s3cret")
	w.Feedback("isolation", "usb 1-1: new device s3cret")
	w.Log(workerproto.LevelTarget, "login:")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"feedback usb 1-1: new device [MASKED]", "target login:"}, text(t, recs)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if recs[0].NS != "isolation" || recs[1].NS != "" {
		t.Errorf("namespaces %q, %q; want isolation and none", recs[0].NS, recs[1].NS)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(`"lvl":"feedback","msg":"usb 1-1: new device [MASKED]","ns":"isolation"}`)) {
		t.Errorf("journal %s", b)
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		msg     string
		want    string
	}{
		{"token", []string{"tok-123"}, "curl -H 'Token: tok-123' x", "curl -H 'Token: [MASKED]' x"},
		{"longest first", []string{"abc", "abcdef"}, "abcdef abc", "[MASKED] [MASKED]"},
		{"every occurrence", []string{"pw"}, "pw pw pw", "[MASKED] [MASKED] [MASKED]"},
		{"empty ignored", []string{""}, "nothing to hide", "nothing to hide"},
		{"JSON-special secret", []string{`a"b<c`}, `x a"b<c y`, "x [MASKED] y"},
		{"none", nil, "plain", "plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, path := newWriter(t)
			w.Mask(tt.secrets...)
			w.Log(workerproto.LevelTarget, tt.msg)
			w.Result(workerproto.ResultMsg{Definition: "lava", Case: "job", Result: "fail", ErrorMsg: tt.msg})
			if got := w.MaskString(tt.msg); got != tt.want {
				t.Errorf("MaskString = %q, want %q", got, tt.want)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			recs, err := ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var s string
			json.Unmarshal(recs[0].Msg, &s)
			var m workerproto.ResultMsg
			json.Unmarshal(recs[1].Msg, &m)
			if s != tt.want || m.ErrorMsg != tt.want {
				t.Errorf("masked to %q and %q, want %q", s, m.ErrorMsg, tt.want)
			}
		})
	}
}

func TestLongMessageIsCut(t *testing.T) {
	w, path := newWriter(t)
	w.Log(workerproto.LevelTarget, strings.Repeat("é", MaxMsgLen))
	w.Close()
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var s string
	json.Unmarshal(recs[0].Msg, &s)
	if len(s) > MaxMsgLen || !strings.HasSuffix(s, TruncatedSuffix) || !strings.HasPrefix(s, "éé") || strings.ContainsRune(s, '\uFFFD') {
		t.Errorf("cut message: %d bytes, suffix %q", len(s), s[len(s)-20:])
	}
}

// TestConcurrentWritersAndTailingReader has several goroutines write
// records (some in batches) while a reader keeps reading the file: every
// complete line it ever sees must be a valid record, and in the end all
// records are there.
func TestConcurrentWritersAndTailingReader(t *testing.T) {
	w, path := newWriter(t)
	const writers, each = 4, 500
	stop := make(chan struct{})
	var readErr error
	var rw sync.WaitGroup
	rw.Add(1)
	go func() {
		defer rw.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, err := os.Open(path)
			if err != nil {
				readErr = err
				return
			}
			_, _, err = Read(f)
			f.Close()
			if err != nil {
				readErr = err
				return
			}
		}
	}()
	var ww sync.WaitGroup
	for g := range writers {
		ww.Add(1)
		go func() {
			defer ww.Done()
			for i := range each {
				msg := strings.Repeat(string(rune('a'+g)), 1+i%300)
				if i%10 == 0 {
					w.Batch(func() {
						w.Log(workerproto.LevelTarget, msg)
						w.Batch(func() { // nested
							w.Log(workerproto.LevelTarget, msg)
							w.Log(workerproto.LevelTarget, msg)
						})
					})
					continue
				}
				w.Log(workerproto.LevelTarget, msg)
			}
		}()
	}
	ww.Wait()
	close(stop)
	rw.Wait()
	if readErr != nil {
		t.Fatalf("tailing reader: %v", readErr)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := writers * (each + 2*each/10)
	if len(recs) != want {
		t.Errorf("%d records, want %d", len(recs), want)
	}
}

func TestReadIncompleteTail(t *testing.T) {
	good, _ := workerproto.EncodeRecord(workerproto.Record{Time: mustTime(t), Level: workerproto.LevelInfo, Msg: workerproto.TextMsg("a")})
	tests := []struct {
		name    string
		data    string
		records int
		offset  int64
		wantErr bool
	}{
		{"empty", "", 0, 0, false},
		{"one", string(good), 1, int64(len(good)), false},
		{"partial tail", string(good) + string(good[:10]), 1, int64(len(good)), false},
		{"bad complete line", string(good) + "{}\n", 1, int64(len(good)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, off, err := Read(strings.NewReader(tt.data))
			if len(recs) != tt.records || off != tt.offset || (err != nil) != tt.wantErr {
				t.Errorf("Read = %d records, offset %d, err %v; want %d, %d, error %v", len(recs), off, err, tt.records, tt.offset, tt.wantErr)
			}
		})
	}
}

func mustTime(t *testing.T) (tm time.Time) {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, "2026-11-24T10:00:00Z")
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestPeriodicSync checks that the sync loop fsyncs a journal that received
// records without waiting for Close.
func TestPeriodicSync(t *testing.T) {
	w, _ := newWriter(t)
	w.Log(workerproto.LevelInfo, "x")
	if !w.dirty.Load() {
		t.Fatal("a written journal is not marked for sync")
	}
	for w.dirty.Load() { // cleared by the sync loop when it fsyncs
		time.Sleep(SyncInterval / 10)
	}
	if err := w.Err(); err != nil {
		t.Fatal(err)
	}
}

// OnWrite hears of every write: one per record outside a batch, one per
// batch.
func TestOnWrite(t *testing.T) {
	w, err := Create(filepath.Join(t.TempDir(), "log.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	writes := 0
	w.OnWrite(func() { writes++ })
	w.Log(workerproto.LevelInfo, "one")
	w.Log(workerproto.LevelInfo, "two")
	w.Batch(func() {
		w.Log(workerproto.LevelTarget, "three")
		w.Log(workerproto.LevelTarget, "four")
	})
	w.OnWrite(nil)
	w.Log(workerproto.LevelInfo, "five")
	if writes != 3 {
		t.Errorf("%d writes heard of, want 3", writes)
	}
}
