package notify

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/lavalog"
	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// field is one entry of a callback's data, in LAVA's order. Its value is
// an int, a bool, a string, nil (Python's None), a map[string]string
// (metadata) or []suiteYAML (results).
type field struct {
	key   string
	value any
}

// suiteYAML is one suite of the results dataset: its name and the YAML
// export of its cases.
type suiteYAML struct{ name, yaml string }

// jobData is LAVA's create_job_data of the job as it was when the
// delivery was queued: the minimal dataset, then log and results when
// given (nil: not in the dataset).
func jobData(s app.NotificationSubject, log *string, results []suiteYAML) []field {
	j := s.Job
	fs := []field{
		{"id", j.ID},
		{"status", legacyStatus(j)},
		{"status_string", strings.ToLower(legacyStatusName(j))},
		{"state", int(j.State)},
		{"state_string", j.State.String()},
		{"health", int(j.Health)},
		{"health_string", j.Health.String()},
		{"submit_time", pyTimeOrNone(j.SubmitTime)},
		{"start_time", pyTimeOrNone(j.StartTime)},
		{"end_time", pyTimeOrNone(j.EndTime)},
		{"submitter_username", j.Submitter},
		{"submitter_email", s.Submitter.Email},
		{"failure_comment", noneIfEmpty(j.FailureComment)},
		{"priority", j.Priority},
		{"description", j.Description},
		{"actual_device_id", noneIfEmpty(j.ActualDevice)},
		{"definition", j.Definition},
		{"metadata", metadataOf(j)},
		{"health_check", j.HealthCheck},
	}
	if log != nil {
		fs = append(fs, field{"log", *log})
	}
	if results != nil {
		fs = append(fs, field{"results", results})
	}
	return fs
}

func metadataOf(j lab.Job) map[string]string {
	if j.Metadata == nil {
		return map[string]string{}
	}
	return j.Metadata
}

func noneIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// encodeJSON is the data as a JSON object, in order.
func encodeJSON(fs []field) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		writeJSON(&b, f.key)
		b.WriteString(": ")
		switch v := f.value.(type) {
		case []suiteYAML:
			b.WriteByte('{')
			for k, s := range v {
				if k > 0 {
					b.WriteString(", ")
				}
				writeJSON(&b, s.name)
				b.WriteString(": ")
				writeJSON(&b, s.yaml)
			}
			b.WriteByte('}')
		default:
			if err := writeJSON(&b, v); err != nil {
				return nil, fmt.Errorf("encode %s: %w", f.key, err)
			}
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeJSON(b *bytes.Buffer, v any) error {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return err
	}
	b.Truncate(b.Len() - 1) // Encode's newline
	return nil
}

// encodeForm is the data form-encoded as LAVA's sender (Python's
// requests) encodes it: fields in order, None left out, True and False
// as words, and a mapping (metadata, results) as one field per key,
// whose value is the key.
func encodeForm(fs []field) []byte {
	var b strings.Builder
	add := func(k, v string) {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(v))
	}
	for _, f := range fs {
		switch v := f.value.(type) {
		case nil:
		case int:
			add(f.key, strconv.Itoa(v))
		case int64:
			add(f.key, strconv.FormatInt(v, 10))
		case bool:
			add(f.key, pyBool(v))
		case string:
			add(f.key, v)
		case map[string]string:
			for _, k := range sortedKeys(v) {
				add(f.key, k)
			}
		case []suiteYAML:
			for _, s := range v {
				add(f.key, s.name)
			}
		}
	}
	return []byte(b.String())
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// readLog reads a job's stored log in LAVA's YAML form, whole lines up to
// max bytes; cut says the log was longer.
func readLog(r io.Reader, max int64) (text string, cut bool, err error) {
	var out []byte
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			n := len(out)
			conv := lavalog.AppendLine(out, line)
			if int64(len(conv)) > max {
				return string(out[:n]), true, nil
			}
			out = conv
		}
		if err == io.EOF {
			return string(out), false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("read log: %w", err)
		}
	}
}

// legacyStatus is LAVA's older status number of a job.
func legacyStatus(j lab.Job) int {
	switch {
	case j.State == lab.JobSubmitted || j.State == lab.JobScheduling || j.State == lab.JobScheduled:
		return 0
	case j.State == lab.JobRunning:
		return 1
	case j.State == lab.JobCanceling:
		return 5
	case j.Health == lab.JobHealthComplete:
		return 2
	case j.Health == lab.JobHealthUnknown || j.Health == lab.JobHealthIncomplete:
		return 3
	}
	return 4
}

// legacyStatusName is the display name of legacyStatus.
func legacyStatusName(j lab.Job) string {
	return [...]string{"Submitted", "Running", "Complete", "Incomplete", "Canceled", "Canceling"}[legacyStatus(j)]
}

// pyTimeOrNone is str() of an aware UTC datetime, or "None".
func pyTimeOrNone(t time.Time) string {
	if t.IsZero() {
		return "None"
	}
	return strings.Replace(pyfmt.IsoformatUTC(t), "T", " ", 1)
}

func orNone(s string) string {
	if s == "" {
		return "None"
	}
	return s
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
