package worker

import (
	"bufio"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

func TestDecodeFrame(t *testing.T) {
	tests := []struct {
		name, line string
		wantErr    string // "" = valid; "unknown" = errUnknownFrame
	}{
		{"hello", `{"type":"hello","hello":{"protocol":1,"heartbeat_interval":10000000000,"jobs":[1,2]},"time":"2026-01-01T00:00:00Z"}`, ""},
		{"assign", `{"type":"assign","assign":{"job_id":4,"definition":"x","device":{"hostname":"d"}}}`, ""},
		{"cancel", `{"type":"cancel","cancel":{"job_id":4}}`, ""},
		{"ping", `{"type":"ping","time":"2026-01-01T00:00:00Z"}`, ""},
		{"extra fields are ignored", `{"type":"ping","new":1}`, ""},
		{"unknown kind", `{"type":"reboot"}`, "unknown"},
		{"hello without body", `{"type":"hello"}`, "without its body"},
		{"negative interval", `{"type":"hello","hello":{"heartbeat_interval":-1}}`, "negative"},
		{"assign without job", `{"type":"assign","assign":{"device":{"hostname":"d"}}}`, "assign of job 0"},
		{"assign without device", `{"type":"assign","assign":{"job_id":3}}`, "without a device"},
		{"cancel without job", `{"type":"cancel","cancel":{}}`, "without a job"},
		{"not JSON", `{"type":`, "frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeFrame([]byte(tt.line))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error %v", err)
			case tt.wantErr == "unknown" && !errors.Is(err, errUnknownFrame):
				t.Errorf("error %v, want errUnknownFrame", err)
			case tt.wantErr != "" && tt.wantErr != "unknown" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	r := bufio.NewReaderSize(strings.NewReader("short\n"+strings.Repeat("x", 100)+"\n"+strings.Repeat("y", 101)+"\nend"), 16)
	for _, want := range []string{"short", strings.Repeat("x", 100)} {
		got, err := readLine(r, 100)
		if err != nil || string(got) != want {
			t.Fatalf("readLine = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := readLine(r, 100); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("over-long line: %v", err)
	}
}

// FuzzDecodeFrame: no input panics; an accepted frame has what its kind
// needs and survives an encode/decode round trip unchanged.
func FuzzDecodeFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"hello","hello":{"server_version":"1","protocol":1,"heartbeat_interval":10000000000,"jobs":[1,2]},"time":"2026-01-01T00:00:00Z"}`,
		`{"type":"assign","assign":{"job_id":4,"definition":"job_name: x","device":{"hostname":"d","device_type":"qemu","dictionary":"{}"},"job_token":"t","timeout":60000000000}}`,
		`{"type":"cancel","cancel":{"job_id":4}}`,
		`{"type":"ping"}`, `{}`, `null`, `[]`, `{"type":"hello","hello":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		fr, err := decodeFrame(line)
		if err != nil {
			return
		}
		switch fr.Type {
		case workerproto.FrameHello:
			if fr.Hello == nil || fr.Hello.HeartbeatInterval < 0 {
				t.Fatalf("accepted hello %+v", fr.Hello)
			}
		case workerproto.FrameAssign:
			if fr.Assign == nil || fr.Assign.JobID <= 0 || fr.Assign.Device.Hostname == "" {
				t.Fatalf("accepted assign %+v", fr.Assign)
			}
		case workerproto.FrameCancel:
			if fr.Cancel == nil || fr.Cancel.JobID <= 0 {
				t.Fatalf("accepted cancel %+v", fr.Cancel)
			}
		case workerproto.FramePing:
		default:
			t.Fatalf("accepted kind %q", fr.Type)
		}
		b, err := json.Marshal(fr)
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeFrame(b)
		if err != nil {
			t.Fatalf("re-encoded frame refused: %v\n%s", err, b)
		}
		if !fr.Time.Equal(again.Time) {
			t.Fatalf("round trip changed the time: %v → %v", fr.Time, again.Time)
		}
		fr.Time, again.Time = time.Time{}, time.Time{}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, again)
		}
	})
}
