package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/version"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// testToken is the job token of every test job; it must never appear in a
// journal.
const testToken = "job-token-3c1f9a"

// readTestdata returns a file of testdata/.
func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// simDict is a simulated device dictionary with the given settings.
func simDict(settings string) string { return "simulated: {" + settings + "}\n" }

// jobDir writes job.json for a job with the given definition and device
// dictionary (job 42 on sim-01) and returns the directory.
func jobDir(t testing.TB, def, dict string, timeout time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	a := workerproto.Assign{
		JobID:      42,
		Definition: def,
		Device:     workerproto.Device{Hostname: "sim-01", DeviceType: "qemu", Dictionary: dict},
		JobToken:   testToken,
		Timeout:    timeout,
	}
	if err := WriteJob(dir, a); err != nil {
		t.Fatal(err)
	}
	return dir
}

// runDir runs the job in dir and returns its result and journal records,
// checking the job directory contract on the way.
func runDir(t testing.TB, ctx context.Context, dir string) (Result, []workerproto.Record) {
	t.Helper()
	res, err := Run(ctx, dir)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	stored, ok, err := ReadResult(dir)
	if err != nil || !ok || stored != res {
		t.Fatalf("result.json = %+v, %v, %v; Run returned %+v", stored, ok, err, res)
	}
	if (res.Result == ResultPass) != (res.ErrorType == "" && res.ErrorMsg == "") {
		t.Errorf("inconsistent result %+v", res)
	}
	recs, err := journal.ReadFile(filepath.Join(dir, JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	last := resultMsg(t, recs[len(recs)-1])
	if last.Definition != "lava" || last.Case != "job" || last.Result != res.Result || last.ErrorType != string(res.ErrorType) || last.ErrorMsg != res.ErrorMsg {
		t.Errorf("last record %+v does not match the result %+v", last, res)
	}
	return res, recs
}

// runSim runs a job definition on a device dictionary.
func runSim(t testing.TB, def, dict string) (Result, []workerproto.Record) {
	t.Helper()
	return runDir(t, context.Background(), jobDir(t, def, dict, 0))
}

// resultMsg decodes a results record.
func resultMsg(t testing.TB, r workerproto.Record) workerproto.ResultMsg {
	t.Helper()
	var m workerproto.ResultMsg
	if r.Level != workerproto.LevelResults {
		t.Fatalf("record %s %s is not a results record", r.Level, r.Msg)
	}
	if err := json.Unmarshal(r.Msg, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// textOf decodes a text record's message.
func textOf(r workerproto.Record) string {
	var s string
	json.Unmarshal(r.Msg, &s)
	return s
}

// results returns the results records, optionally of one suite only.
func results(t testing.TB, recs []workerproto.Record, suite string) []workerproto.ResultMsg {
	t.Helper()
	var out []workerproto.ResultMsg
	for _, r := range recs {
		if r.Level == workerproto.LevelResults {
			if m := resultMsg(t, r); suite == "" || m.Definition == suite {
				out = append(out, m)
			}
		}
	}
	return out
}

// messages returns "lvl msg" for every text record.
func messages(recs []workerproto.Record) []string {
	var out []string
	for _, r := range recs {
		if r.Level != workerproto.LevelResults {
			out = append(out, string(r.Level)+" "+textOf(r))
		}
	}
	return out
}

// hasMessage reports whether a text record of level contains s.
func hasMessage(recs []workerproto.Record, level workerproto.Level, s string) bool {
	for _, r := range recs {
		if r.Level == level && strings.Contains(textOf(r), s) {
			return true
		}
	}
	return false
}

var (
	durationClock = regexp.MustCompile(`\(duration \d\d:\d\d:\d\d\)`)
	durationField = regexp.MustCompile(`"duration":"\d+\.\d\d"`)
	validateTime  = regexp.MustCompile(`validate duration: \d+\.\d\d`)
)

// normalise turns a journal into its golden form: every line must be a
// valid record in workerproto's exact encoding; the times, durations and
// version are replaced by placeholders, and the JSON is written without
// HTML escaping so that signals stay readable.
func normalise(t testing.TB, journalBytes []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for i, line := range bytes.SplitAfter(journalBytes, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		rec, err := workerproto.DecodeRecord(bytes.TrimSuffix(line, []byte("\n")))
		if err != nil {
			t.Fatalf("journal line %d: %v", i+1, err)
		}
		if enc, _ := workerproto.EncodeRecord(rec); !bytes.Equal(enc, line) {
			t.Fatalf("journal line %d is not workerproto's encoding:\n%s\n%s", i+1, line, enc)
		}
		var msg any = textOf(rec)
		if rec.Level == workerproto.LevelResults {
			msg = resultMsg(t, rec) // in workerproto's field order
		}
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		enc.Encode(struct {
			DT  string `json:"dt"`
			Lvl string `json:"lvl"`
			Msg any    `json:"msg"`
		}{"T", string(rec.Level), msg})
	}
	b := out.Bytes()
	b = durationClock.ReplaceAll(b, []byte("(duration D)"))
	b = durationField.ReplaceAll(b, []byte(`"duration":"D"`))
	b = validateTime.ReplaceAll(b, []byte("validate duration: D"))
	b = bytes.ReplaceAll(b, []byte("basalt "+version.Version+":"), []byte("basalt VERSION:"))
	return b
}
