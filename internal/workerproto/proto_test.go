package workerproto

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestDecodeRecord(t *testing.T) {
	cases := []struct {
		name, line, err string
	}{
		{"info", `{"dt":"2026-11-24T18:00:00Z","lvl":"info","msg":"start: 1 deploy"}`, ""},
		{"results", `{"dt":"2026-11-24T18:00:00Z","lvl":"results","msg":{"definition":"0_t","case":"c","result":"pass"}}`, ""},
		{"results with LAVA's numbers", `{"dt":"2026-11-24T18:00:00Z","lvl":"results","msg":{"definition":"0_t","case":"c","result":"pass","measurement":1.5,"starttc":3,"extra":{"a":[1]}}}`, ""},
		{"results with a number for case", `{"dt":"2026-11-24T18:00:00Z","lvl":"results","msg":{"definition":"0_t","case":7,"result":"pass"}}`, "needs definition, case and result"},
		{"feedback ns", `{"dt":"2026-11-24T18:00:00Z","lvl":"feedback","msg":"x","ns":"host"}`, ""},
		{"not json", `- {"dt": "x"}`, "log record"},
		{"no dt", `{"lvl":"info","msg":"x"}`, "missing dt"},
		{"bad level", `{"dt":"2026-11-24T18:00:00Z","lvl":"shout","msg":"x"}`, "unknown level"},
		{"no msg", `{"dt":"2026-11-24T18:00:00Z","lvl":"info"}`, "missing msg"},
		{"object msg for info", `{"dt":"2026-11-24T18:00:00Z","lvl":"info","msg":{"a":1}}`, "must be a string"},
		{"results without case", `{"dt":"2026-11-24T18:00:00Z","lvl":"results","msg":{"definition":"d","result":"pass"}}`, "needs definition, case and result"},
		{"results as string", `{"dt":"2026-11-24T18:00:00Z","lvl":"results","msg":"pass"}`, "needs definition"},
	}
	for _, c := range cases {
		_, err := DecodeRecord([]byte(c.line))
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.err)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	r := Record{Time: time.Date(2026, 11, 24, 18, 0, 0, 123456000, time.UTC), Level: LevelTarget, Msg: TextMsg("Linux version 6.1 \"quoted\"\n")}
	line, err := EncodeRecord(r)
	if err != nil {
		t.Fatal(err)
	}
	if line[len(line)-1] != '\n' || strings.Count(string(line), "\n") != 1 {
		t.Fatalf("a record must be exactly one line: %q", line)
	}
	back, err := DecodeRecord(line[:len(line)-1])
	if err != nil {
		t.Fatal(err)
	}
	var msg string
	json.Unmarshal(back.Msg, &msg)
	if !back.Time.Equal(r.Time) || back.Level != r.Level || msg != "Linux version 6.1 \"quoted\"\n" {
		t.Errorf("round trip: %+v %q", back, msg)
	}
}

// FuzzDecodeRecord: any input decodes or fails cleanly, and what decodes
// re-encodes to one line that decodes to the same record.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(`{"dt":"2026-11-24T18:00:00Z","lvl":"info","msg":"x"}`)
	f.Add(`{"dt":"2026-11-24T18:00:00Z","lvl":"results","msg":{"definition":"d","case":"c","result":"fail","measurement":"1.5"}}`)
	f.Add(`{"dt":"bogus","lvl":"info","msg":"x"}`)
	f.Fuzz(func(t *testing.T, line string) {
		r, err := DecodeRecord([]byte(line))
		if err != nil {
			return
		}
		enc, err := EncodeRecord(r)
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if strings.Count(string(enc), "\n") != 1 {
			t.Fatalf("encoded record is not one line: %q", enc)
		}
		if _, err := DecodeRecord(enc[:len(enc)-1]); err != nil {
			t.Fatalf("re-encoded record does not decode: %v (%q)", err, enc)
		}
	})
}
