package lavarest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/lavalog"
)

// lineRange reads ?start= and ?end= (0-based lines, end excluded; end
// absent: to the end of the log).
func lineRange(r *http.Request) (start, end int, err error) {
	end = int(^uint(0) >> 1)
	q := r.URL.Query()
	if s := q.Get("start"); s != "" {
		var ok bool
		if start, ok = positive(s); !ok {
			return 0, 0, fieldErr("start", "A valid integer is required.")
		}
	}
	if s := q.Get("end"); s != "" {
		var ok bool
		if end, ok = positive(s); !ok {
			return 0, 0, fieldErr("end", "A valid integer is required.")
		}
	}
	return start, end, nil
}

// jobLogs streams lines [start, end) of a job's log in LAVA's YAML format
// (package lavalog), converted a line at a time from the log store, so
// that memory does not grow with the log. No line in the range (a job
// that has not logged yet, a start past the end) is 404, as in LAVA. An
// error after the headers aborts the response.
func (api *API) jobLogs(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	start, end, err := lineRange(r)
	if err != nil {
		return err
	}
	stream, err := api.app.OpenJobLog(r.Context(), p, id, start, end, 0)
	if err != nil {
		return err
	}
	defer stream.Close()
	if stream.Size == 0 {
		return fmt.Errorf("job %d has no log lines from %d: %w", id, start, lab.ErrNotFound)
	}
	h := w.Header()
	h.Set("Content-Type", "application/yaml")
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": fmt.Sprintf("job_%d.yaml", id)}))
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodHead {
		return nil
	}
	if err := copyYAMLLog(w, stream); err != nil {
		api.guard.Abort(r, fmt.Errorf("log of job %d: %w", id, err))
	}
	return nil
}

// copyYAMLLog writes the stored log lines of src (NDJSON records) to w in
// LAVA's format, one record a line (a stored line that is not a record,
// none should be, as the message of a debug record: lavalog.AppendLine).
func copyYAMLLog(w io.Writer, src io.Reader) error {
	br := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(w, 32<<10)
	var buf []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			out := lavalog.AppendLine(buf[:0], line)
			if _, werr := bw.Write(out); werr != nil {
				return werr
			}
			buf = out
		}
		if errors.Is(err, io.EOF) {
			return bw.Flush()
		}
		if err != nil {
			return err
		}
	}
}

// logText returns lines [start, end) of a log in LAVA's format as one
// text, at most maxCaseLogLines of them: what JUnit and TAP embed for a
// failed case.
func logText(lines [][]byte) string {
	var out []byte
	for _, l := range lines {
		out = lavalog.AppendLine(out, l)
	}
	return string(out)
}
