package events

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
)

// python runs script with Debian's Python 3, input on its standard input,
// and returns its standard output's lines.
func python(t *testing.T, script string, input any) []string {
	t.Helper()
	in, err := json.Marshal(input)
	must(t, err)
	cmd := exec.Command("/usr/bin/python3", "-c", script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3 (Debian's python3 package): %v\n%s", err, stderr.String())
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

// TestPyStringLikePython: strings are encoded byte for byte as Python's
// json.dumps encodes them.
func TestPyStringLikePython(t *testing.T) {
	in := []string{"", "plain", `quote " and \ backslash`, "new\nline\r\ttab\b\f", "\x00\x01\x1f\x7f",
		"café", "日本語", "emoji 🙂 and 𝄞", "\u2028\u2029", "<html>&amp;", "/slash"}
	got := python(t, "import json,sys\nfor s in json.load(sys.stdin): print(json.dumps(s))", in)
	if len(got) != len(in) {
		t.Fatalf("python printed %d lines for %d strings", len(got), len(in))
	}
	for i, s := range in {
		if enc := string(pyString(nil, s)); enc != got[i] {
			t.Errorf("pyString(%q) = %s, Python: %s", s, enc, got[i])
		}
	}
}

// TestPayloadsLikePython: every payload, and a whole message, is what
// Python's json.dumps writes for the same data in the same order (Python
// reads it and writes it back unchanged), with LAVA's keys.
func TestPayloadsLikePython(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	j := &lab.Job{ID: 42, Description: "boot «test»", Submitter: "alice", State: lab.JobRunning, Priority: 50,
		RequestedType: "qemu", ActualDevice: "qemu-01", SubmitTime: at, StartTime: at.Add(time.Second)}
	d := &lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Worker: "w1"}
	orphan := &lab.Device{Hostname: "qemu-02", DeviceType: "qemu"}
	payloads := map[string][]byte{
		"job":            jobPayload(app.StreamEvent{Event: app.Event{Kind: "job"}, Job: j, Device: d}),
		"device":         devicePayload(app.StreamEvent{Event: app.Event{Kind: "device", State: "Running", Health: "Good"}, Device: d, Job: j}, true),
		"device, no job": devicePayload(app.StreamEvent{Event: app.Event{Kind: "device", State: "Running", Health: "Good"}, Device: d, Job: j}, false),
		"no worker":      devicePayload(app.StreamEvent{Event: app.Event{Kind: "device", State: "Idle", Health: "Bad"}, Device: orphan}, true),
		"worker":         workerPayload(app.StreamEvent{Event: app.Event{Kind: "worker", Worker: "w1", State: "Online", Health: "Active"}}),
		"event":          testEventPayload(app.StreamEvent{Event: app.Event{Kind: "event", JobID: 42, Message: "boot → ok"}}),
	}
	payloads["message"] = message(TopicJob, "9c1b2a3e-0000-1000-8000-0123456789ab", pyTime(at), "alice", payloads["job"])
	var names, texts []string
	for name, p := range payloads {
		names = append(names, name)
		texts = append(texts, string(p))
	}
	got := python(t, "import json,sys\nfor s in json.load(sys.stdin): print(json.dumps(json.loads(s)))", texts)
	for i, name := range names {
		if got[i] != texts[i] {
			t.Errorf("%s: %s\nPython: %s", name, texts[i], got[i])
		}
	}
	wantKeys := map[string]string{
		"job":            "health state job description priority submit_time submitter health_check device worker device_type start_time",
		"device":         "health state device device_type worker job",
		"device, no job": "health state device device_type worker",
		"no worker":      "health state device device_type worker",
		"worker":         "hostname health state",
		"event":          "message job",
	}
	for name, want := range wantKeys {
		var keys []string
		dec := json.NewDecoder(bytes.NewReader(payloads[name]))
		_, _ = dec.Token()
		for dec.More() {
			k, _ := dec.Token()
			keys = append(keys, k.(string))
			var v any
			must(t, dec.Decode(&v))
		}
		if got := strings.Join(keys, " "); got != want {
			t.Errorf("%s: keys %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(string(payloads["no worker"]), `"worker": null`) {
		t.Errorf("a device without a worker: %s, want worker null (LAVA's None)", payloads["no worker"])
	}
}

// TestTimesAndUUIDsLikePython: times are Python's isoformat() of a UTC
// datetime, and the UUIDs version 1 UUIDs of the event's time, as Python's
// uuid module reads them.
func TestTimesAndUUIDsLikePython(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC),
		time.Date(2026, 3, 4, 5, 6, 7, 1000, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.FixedZone("CET", 3600)),
	}
	g := newUUIDGen()
	var in [][]any
	for _, at := range times {
		in = append(in, []any{at.UTC().Unix(), at.UTC().Nanosecond() / 1000, g.next(at)})
	}
	got := python(t, `import json,sys,uuid,datetime
for s,us,u in json.load(sys.stdin):
    t = datetime.datetime.fromtimestamp(s, datetime.timezone.utc).replace(microsecond=us)
    x = uuid.UUID(u)
    print(t.isoformat(), x.version, x.variant == uuid.RFC_4122, x.time)`, in)
	for i, at := range times {
		f := strings.Fields(got[i])
		if f[0] != pyTime(at) {
			t.Errorf("pyTime(%v) = %s, Python: %s", at, pyTime(at), f[0])
		}
		if f[1] != "1" || f[2] != "True" {
			t.Errorf("uuid %s: version %s, RFC 4122 variant %s", in[i][2], f[1], f[2])
		}
		ts := uint64(at.UnixNano()/100) + gregorianOffset
		if f[3] != strconv.FormatUint(ts, 10) {
			t.Errorf("uuid %s: time %s, want %d", in[i][2], f[3], ts)
		}
	}
	// Times that do not move forward still give increasing UUID times.
	a, b := g.next(times[0]), g.next(times[0])
	if a == b {
		t.Errorf("two UUIDs of the same time are equal: %s", a)
	}
}

// FuzzPyString: any string encodes as pure-ASCII JSON that decodes to the
// string (its bytes that are not UTF-8 as U+FFFD).
func FuzzPyString(f *testing.F) {
	for _, s := range []string{"", "a\"b\\c", "\x00\x7f", "é🙂", "\xff\xfe", "\xed\xa0\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		enc := pyString(nil, s)
		for _, c := range enc {
			if c < 0x20 || c > 0x7e {
				t.Fatalf("pyString(%q) = %q: not printable ASCII", s, enc)
			}
		}
		var got string
		if err := json.Unmarshal(enc, &got); err != nil {
			t.Fatalf("pyString(%q) = %s: %v", s, enc, err)
		}
		if want := string([]rune(s)); got != want {
			t.Fatalf("pyString(%q) decodes to %q, want %q", s, got, want)
		}
	})
}
