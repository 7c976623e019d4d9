package lavalog

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/pyfmt"
	"github.com/basalt-lab/basalt/internal/pyyaml"
)

// AppendLine appends to dst the LAVA form of one stored log line (a JSON
// record, with or without its final newline), newline included. The
// record is read as Python's json module reads it (pyfmt.ParseJSON: keys
// in order, a key given twice in its first place with its last value),
// its "dt" written as Python's isoformat of the UTC time when it is an
// RFC 3339 time, and the measurement of a results record, a decimal text
// in Basalt's log, as the float LAVA's dispatcher logs. A line that is
// not a JSON object (or one nested deeper than pyfmt.MaxDepth) is kept
// whole as the message of a debug record without a time,
// `- {"dt": "", "lvl": "debug", "msg": "<the line>"}`, so that every
// stored line is one record and line numbers are the same on both sides.
func AppendLine(dst, line []byte) []byte {
	line = bytes.TrimRight(line, "\r\n")
	v, err := pyfmt.ParseJSON(line)
	rec, ok := v.(pyfmt.Map)
	if err != nil || !ok {
		return appendRaw(dst, line)
	}
	results := false
	for _, it := range rec {
		results = results || (it.Key == "lvl" && it.Value == "results")
	}
	for i, it := range rec {
		switch {
		case it.Key == "dt":
			if s, ok := it.Value.(string); ok {
				if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
					rec[i].Value = pyfmt.IsoformatUTC(t)
				}
			}
		case it.Key == "msg" && results:
			if msg, ok := it.Value.(pyfmt.Map); ok {
				FloatMeasurement(msg)
			}
		}
	}
	s, err := pyyaml.FlowQuoted(rec)
	if err != nil {
		return appendRaw(dst, line)
	}
	return appendRecord(dst, s)
}

// appendRaw appends line as the message of a debug record without time.
func appendRaw(dst, line []byte) []byte {
	s, _ := pyyaml.FlowQuoted(pyfmt.Map{{Key: "dt", Value: ""}, {Key: "lvl", Value: "debug"}, {Key: "msg", Value: string(line)}})
	return appendRecord(dst, s)
}

func appendRecord(dst []byte, s string) []byte {
	dst = append(dst, "- "...)
	dst = append(dst, s...)
	return append(dst, '\n')
}

// FloatMeasurement turns the measurement of a results record's message,
// a decimal text in Basalt's log, into the float LAVA's dispatcher logs
// (float(measurement)); a measurement that is not a number is left as it
// is.
func FloatMeasurement(msg pyfmt.Map) {
	for i, it := range msg {
		if s, ok := it.Value.(string); ok && it.Key == "measurement" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil {
				msg[i].Value = f
			}
		}
	}
}
