package events

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/testutil/pyref"
)

// TestPayloadsLikePython: every payload, and a whole message, is what
// Python's json.dumps writes for the same data in the same order (Python
// reads it and writes it back unchanged), with LAVA's keys.
func TestPayloadsLikePython(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)
	j := &lab.Job{ID: 42, Description: "boot «test»", Submitter: "alice", State: lab.JobRunning, Priority: 50,
		RequestedType: "qemu", ActualDevice: "qemu-01", SubmitTime: at, StartTime: at.Add(time.Second)}
	d := &lab.Device{Hostname: "qemu-01", DeviceType: "qemu", Worker: "w1"}
	sub := new(lab.Job)
	*sub = *j
	sub.Multinode = &lab.MultinodeJob{TargetGroup: "g", SubID: "42.1", Role: "client", GroupSize: 2}
	orphan := &lab.Device{Hostname: "qemu-02", DeviceType: "qemu"}
	payloads := map[string][]byte{
		"job":            jobPayload(app.StreamEvent{Event: app.Event{Kind: "job"}, Job: j, Device: d}),
		"multinode job":  jobPayload(app.StreamEvent{Event: app.Event{Kind: "job"}, Job: sub, Device: d}),
		"device":         devicePayload(app.StreamEvent{Event: app.Event{Kind: "device", State: "Running", Health: "Good"}, Device: d, Job: j}, true),
		"device, no job": devicePayload(app.StreamEvent{Event: app.Event{Kind: "device", State: "Running", Health: "Good"}, Device: d, Job: j}, false),
		"no worker":      devicePayload(app.StreamEvent{Event: app.Event{Kind: "device", State: "Idle", Health: "Bad"}, Device: orphan}, true),
		"worker":         workerPayload(app.StreamEvent{Event: app.Event{Kind: "worker", Worker: "w1", State: "Online", Health: "Active"}}),
		"event":          testEventPayload(app.StreamEvent{Event: app.Event{Kind: "event", JobID: 42, Message: "boot → ok"}}),
	}
	payloads["message"] = message(TopicJob, "9c1b2a3e-0000-1000-8000-0123456789ab", pyfmt.IsoformatUTC(at), "alice", payloads["job"])
	var names, texts []string
	for name, p := range payloads {
		names = append(names, name)
		texts = append(texts, string(p))
	}
	var got []string
	pyref.Run(t, "import json,sys\njson.dump([json.dumps(json.loads(s)) for s in json.load(sys.stdin)], sys.stdout)", texts, &got)
	for i, name := range names {
		if got[i] != texts[i] {
			t.Errorf("%s: %s\nPython: %s", name, texts[i], got[i])
		}
	}
	wantKeys := map[string]string{
		"job":            "health state job description priority submit_time submitter health_check device worker device_type start_time",
		"multinode job":  "health state job description priority submit_time submitter health_check sub_id device worker device_type start_time",
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
	var got [][]string
	pyref.Run(t, `import json,sys,uuid,datetime
out = []
for s,us,u in json.load(sys.stdin):
    t = datetime.datetime.fromtimestamp(s, datetime.timezone.utc).replace(microsecond=us)
    x = uuid.UUID(u)
    out.append([t.isoformat(), str(x.version), str(x.variant == uuid.RFC_4122), str(x.time)])
json.dump(out, sys.stdout)`, in, &got)
	for i, at := range times {
		f := got[i]
		if f[0] != pyfmt.IsoformatUTC(at) {
			t.Errorf("pyfmt.IsoformatUTC(%v) = %s, Python: %s", at, pyfmt.IsoformatUTC(at), f[0])
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
