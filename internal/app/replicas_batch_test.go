package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/store"
)

// TestEncodeBatch: queued events are packed in order into payloads that
// each fit a notification; a job's repeated "log" events are sent once; a
// test event whose message cannot fit loses only its message.
func TestEncodeBatch(t *testing.T) {
	a := New(nil, Config{})
	var in []wireEvent
	for i := range 600 {
		in = append(in, wireEvent{Kind: "job", JobID: int64(i), State: "Submitted", Health: "Unknown", Device: "device-with-a-long-name"})
		if i%100 == 0 {
			in = append(in, wireEvent{Kind: "log", JobID: 7})
		}
	}
	in = append(in, wireEvent{Kind: "event", JobID: 9, Message: strings.Repeat("m", store.MaxNotifyPayload)})
	payloads := a.encodeBatch(in)
	if len(payloads) < 2 {
		t.Fatalf("%d payloads for %d events: want several", len(payloads), len(in))
	}
	var got []wireEvent
	for i, p := range payloads {
		if len(p) > store.MaxNotifyPayload {
			t.Errorf("payload %d: %d bytes, over %d", i, len(p), store.MaxNotifyPayload)
		}
		var b wireBatch
		if err := json.Unmarshal(p, &b); err != nil {
			t.Fatalf("payload %d: %v", i, err)
		}
		if b.Replica != a.lead.holder {
			t.Errorf("payload %d from %q, want %q", i, b.Replica, a.lead.holder)
		}
		for _, raw := range b.Events {
			var w wireEvent
			if err := json.Unmarshal(raw, &w); err != nil {
				t.Fatal(err)
			}
			got = append(got, w)
		}
	}
	var want []wireEvent
	logSent := false
	for _, w := range in {
		if w.Kind == "log" {
			if logSent {
				continue
			}
			logSent = true
		}
		if w.Kind == "event" {
			w.Message = ""
		}
		want = append(want, w)
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("event %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// TestLogWaitsForgotten: a log wait that ends without a remote append
// leaves nothing behind for its job.
func TestLogWaitsForgotten(t *testing.T) {
	logs, err := logstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	a := New(nil, Config{Notifier: store.NewLocalNotifier(), Logs: logs})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the wait ends at once, as a follower's bound would end it
	for id := range int64(3) {
		a.waitLines(ctx, id+1, 0)
	}
	a.bus.mu.Lock()
	defer a.bus.mu.Unlock()
	if len(a.bus.logs) != 0 {
		t.Errorf("%d jobs' log waits remembered after their waits ended", len(a.bus.logs))
	}
}
