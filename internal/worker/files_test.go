package worker

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// TestAppendFinalRecord: the worker's final record goes after the last
// complete line; an incomplete tail is cut unless part of it was uploaded.
func TestAppendFinalRecord(t *testing.T) {
	rec := workerproto.Record{Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Level: workerproto.LevelError, Msg: workerproto.TextMsg("gone")}
	final, _ := workerproto.EncodeRecord(rec)
	long := strings.Repeat("y", 100<<10) // longer than one backwards read
	tests := []struct {
		name    string
		journal string
		acked   int64
		want    string
		wantCut int64
	}{
		{name: "no journal", journal: "", want: string(final)},
		{name: "complete lines", journal: "a\nb\n", acked: 2, want: "a\nb\n" + string(final)},
		{name: "incomplete tail cut", journal: "a\nb\nhal", acked: 4, want: "a\nb\n" + string(final), wantCut: 3},
		{name: "only an incomplete line", journal: "half", want: string(final), wantCut: 4},
		{name: "incomplete tail starts at acked", journal: "a\nhalf", acked: 2, want: "a\n" + string(final), wantCut: 4},
		{name: "incomplete tail partly uploaded", journal: "a\nhalf", acked: 4, want: "a\nhalf\n" + string(final)},
		{name: "everything uploaded", journal: "a\nhalf", acked: 6, want: "a\nhalf\n" + string(final)},
		{name: "long incomplete tail", journal: "a\n" + long, acked: 2, want: "a\n" + string(final), wantCut: int64(len(long))},
		{name: "long complete line", journal: long + "\nxx", acked: 0, want: long + "\n" + string(final), wantCut: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), FileJournal)
			if tt.journal != "" {
				os.WriteFile(p, []byte(tt.journal), 0o600)
			}
			cut, err := appendFinalRecord(p, tt.acked, rec)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(p)
			if string(got) != tt.want || cut != tt.wantCut {
				t.Errorf("journal %.60q (cut %d), want %.60q (cut %d)", got, cut, tt.want, tt.wantCut)
			}
		})
	}
}

// TestReadResult: result.json must say pass or fail.
func TestReadResult(t *testing.T) {
	tests := []struct {
		name, content string
		ok, bad       bool
	}{
		{"missing", "", false, false},
		{"pass", `{"result":"pass"}`, true, false},
		{"fail", `{"result":"fail","error_type":"Test","error_msg":"x"}`, true, false},
		{"bad value", `{"result":"maybe"}`, true, true},
		{"not JSON", `{`, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != "" {
				os.WriteFile(filepath.Join(dir, FileResult), []byte(tt.content), 0o600)
			}
			_, ok, err := readResult(dir)
			if ok != tt.ok || (err != nil) != tt.bad {
				t.Errorf("ok %v err %v", ok, err)
			}
		})
	}
}

// TestWriteFileAtomic: the content is replaced whole, with mode 0600, and
// no temporary file stays behind.
func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, content := range []string{"one", "two, longer"} {
		if err := writeFileAtomic(p, []byte(content), true); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(p)
		if string(got) != content {
			t.Errorf("got %q", got)
		}
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("files left: %v", ents)
	}
}

func TestCmdlineHas(t *testing.T) {
	tests := []struct {
		cmdline string
		arg     string
		want    bool
	}{
		{"basalt\x00worker\x00run-job\x00/d/jobs/1\x00", "/d/jobs/1", true},
		{"basalt\x00worker\x00run-job\x00/d/jobs/12\x00", "/d/jobs/1", false},
		{"", "/d/jobs/1", false},
	}
	for _, tt := range tests {
		if got := cmdlineHas([]byte(tt.cmdline), tt.arg); got != tt.want {
			t.Errorf("cmdlineHas(%q, %q) = %v", tt.cmdline, tt.arg, got)
		}
	}
}
