package worker

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// Names of the files in a job directory. The job process (`basalt worker
// run-job DIR`) reads job.json and writes the journal, result.json, stdout
// and stderr; the worker owns state.json, and writes the journal and
// result.json only once the job process is gone without a result.
const (
	FileJob     = "job.json"    // the workerproto.Assign
	FileState   = "state.json"  // the worker's bookkeeping (JobState)
	FileJournal = "log.ndjson"  // the job's journal, one workerproto.Record per line
	FileResult  = "result.json" // the job's result (Result), written last
	FileStdout  = "stdout"      // the job process's standard output
	FileStderr  = "stderr"      // the job process's standard error
)

// Phase is where a job is in its life on the worker.
type Phase string

// Job phases, in order.
const (
	PhaseStarting Phase = "starting" // directory made, process not started yet
	PhaseRunning  Phase = "running"  // process started (PID recorded)
	PhaseFinished Phase = "finished" // process gone, result.json written
	PhaseReported Phase = "reported" // the server accepted the finish
)

// JobState is the worker's bookkeeping of a job, DIR/state.json. Acked may
// lag behind the server (it is written after each acknowledgement without
// a sync); the server's next answer corrects it.
type JobState struct {
	JobID         int64     `json:"job_id"`
	Device        string    `json:"device"`
	PID           int       `json:"pid"`
	Started       time.Time `json:"started"`
	Phase         Phase     `json:"phase"`
	Acked         int64     `json:"acked"`
	StartReported bool      `json:"start_reported"`
	Canceled      bool      `json:"canceled"`
}

// Result is a job's result, DIR/result.json.
type Result struct {
	Result    string `json:"result"` // "pass" or "fail"
	ErrorType string `json:"error_type"`
	ErrorMsg  string `json:"error_msg"`
}

// writeFileAtomic replaces path with data: a temporary file in the same
// directory renamed over it, so readers see the old or the new content,
// never a part. With durable, the file and the directory are synced.
func writeFileAtomic(path string, data []byte, durable bool) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if durable {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		syncDir(dir)
	}
	return nil
}

// syncDir makes a rename in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

func writeJSONFile(path string, v any, durable bool) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	return writeFileAtomic(path, append(b, '\n'), durable)
}

func readJSONFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("decode %s: %w", path, err)
	}
	return nil
}

// readResult reads DIR/result.json. ok is false when there is none yet.
func readResult(dir string) (r Result, ok bool, err error) {
	err = readJSONFile(filepath.Join(dir, FileResult), &r)
	if errors.Is(err, fs.ErrNotExist) {
		return r, false, nil
	}
	if err != nil {
		return r, true, err
	}
	if r.Result != "pass" && r.Result != "fail" {
		return r, true, fmt.Errorf("%s: result must be pass or fail, got %q", FileResult, r.Result)
	}
	return r, true, nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fileSize is the size of path, 0 if it does not exist.
func fileSize(path string) (int64, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// appendFinalRecord ends a journal whose writer is gone with rec. A last
// line the dead writer left incomplete is cut off first, unless part of it
// was already uploaded (it starts before acked): then it is terminated with
// a newline instead, so the server's copy stays a prefix of the journal.
// It returns how many bytes were cut.
func appendFinalRecord(path string, acked int64, rec workerproto.Record) (int64, error) {
	line, err := workerproto.EncodeRecord(rec)
	if err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("journal: %w", err)
	}
	size := fi.Size()
	end, err := lastLineEnd(f, size, acked)
	if err != nil {
		return 0, err
	}
	var cut int64
	switch {
	case end == size:
	case end >= 0:
		cut = size - end
		if err := f.Truncate(end); err != nil {
			return 0, fmt.Errorf("journal: cut incomplete last line: %w", err)
		}
		size = end
	default:
		line = append([]byte{'\n'}, line...)
	}
	if _, err := f.WriteAt(line, size); err != nil {
		return cut, fmt.Errorf("journal: append final record: %w", err)
	}
	if err := f.Sync(); err != nil {
		return cut, fmt.Errorf("journal: sync: %w", err)
	}
	return cut, nil
}

// lastLineEnd returns the offset just past the journal's last newline, size
// when the journal is empty or ends with one, 0 when it holds no newline at
// all and floor is 0, and -1 when the incomplete last line starts before
// floor.
func lastLineEnd(f io.ReaderAt, size, floor int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	last := []byte{0}
	if _, err := f.ReadAt(last, size-1); err != nil {
		return 0, fmt.Errorf("journal: read: %w", err)
	}
	if last[0] == '\n' {
		return size, nil
	}
	// the byte before floor counts: a newline there means the incomplete
	// line starts at floor, nothing of it was uploaded
	lowest := max(floor-1, 0)
	buf := make([]byte, 64<<10)
	hi := size
	for hi > lowest {
		lo := max(hi-int64(len(buf)), lowest)
		b := buf[:hi-lo]
		if _, err := f.ReadAt(b, lo); err != nil && !errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("journal: read: %w", err)
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				return lo + int64(i) + 1, nil
			}
		}
		hi = lo
	}
	if floor == 0 {
		return 0, nil
	}
	return -1, nil
}
