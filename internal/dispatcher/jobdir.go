package dispatcher

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// The job directory contract between the worker daemon and the job process
// (`basalt worker run-job DIR`):
//
//   - JobFile is written by the worker before it starts the job process
//     (WriteJob) and never changed afterwards.
//   - JournalFile is created and written only by the job process: append
//     only, one workerproto.Record per line, each line written completely
//     by one write(2) call (so a reader sees whole records except at the
//     very tail), fsynced about every 100 ms and at the end. The worker
//     tails it and uploads its bytes; it never writes it.
//   - A console session (Assign.Console) listens on
//     workerproto.ConsoleSocket while it runs, and removes it; the worker
//     connects to it (consolesocket.go).
//   - ResultFile is written atomically (temporary file, fsync, rename,
//     directory fsync) as the very last thing the job process does. Its
//     presence means the process finished and the journal is complete and
//     fsynced.
//
// The job process exits with ExitPass when the result is pass, ExitFail
// otherwise, and ExitSetup (without a result file) when it could not open
// or write the journal; SIGTERM or SIGINT cancel the job (finalize still
// runs; the result is fail with error type Canceled).
const (
	JobFile     = "job.json"
	JournalFile = "log.ndjson"
	ResultFile  = "result.json"
)

// Exit codes of the job process.
const (
	ExitPass  = 0 // result.json says pass
	ExitFail  = 1 // result.json says fail
	ExitSetup = 2 // no journal could be written; no result.json
)

// Result values.
const (
	ResultPass = "pass"
	ResultFail = "fail"
)

// Result is the content of ResultFile, and the outcome of Run. ErrorType
// and ErrorMsg are empty exactly when Result is ResultPass.
type Result struct {
	Result    string        `json:"result"`
	ErrorType lab.ErrorType `json:"error_type"`
	ErrorMsg  string        `json:"error_msg"`
}

// Passed reports whether the job passed.
func (r Result) Passed() bool { return r.Result == ResultPass }

// ExitCode is the job process's exit code for r.
func (r Result) ExitCode() int {
	if r.Passed() {
		return ExitPass
	}
	return ExitFail
}

// WriteJob writes the job's assignment as DIR/job.json, atomically.
func WriteJob(dir string, a workerproto.Assign) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("encode %s: %w", JobFile, err)
	}
	return writeFileAtomic(dir, JobFile, b)
}

// ReadJob reads DIR/job.json.
func ReadJob(dir string) (workerproto.Assign, error) {
	var a workerproto.Assign
	b, err := os.ReadFile(filepath.Join(dir, JobFile))
	if err != nil {
		return a, fmt.Errorf("read job: %w", err)
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return a, fmt.Errorf("read job: %s: %w", JobFile, err)
	}
	return a, nil
}

// WriteResult writes DIR/result.json atomically. The job process calls it
// last, after the journal is closed.
func WriteResult(dir string, r Result) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode %s: %w", ResultFile, err)
	}
	return writeFileAtomic(dir, ResultFile, append(b, '\n'))
}

// ReadResult reads DIR/result.json. ok is false (with a nil error) when the
// file does not exist yet: the job process has not finished.
func ReadResult(dir string) (r Result, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("read result: %w", err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return Result{}, false, fmt.Errorf("read result: %s: %w", ResultFile, err)
	}
	if r.Result != ResultPass && r.Result != ResultFail {
		return Result{}, false, fmt.Errorf("read result: %s: result %q is neither pass nor fail", ResultFile, r.Result)
	}
	return r, true, nil
}

// writeFileAtomic writes dir/name through a temporary file in dir, fsyncs
// it, renames it into place and fsyncs dir, so that readers see either no
// file or the whole file, even after a crash.
func writeFileAtomic(dir, name string, data []byte) (err error) {
	f, err := os.CreateTemp(dir, "."+name+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: sync: %w", name, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: close: %w", name, err)
	}
	if err = os.Rename(f.Name(), filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("write %s: open directory: %w", name, err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("write %s: sync directory: %w", name, err)
	}
	return nil
}
