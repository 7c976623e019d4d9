package lavalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// maxDepth bounds the nesting of a record's values.
const maxDepth = 64

// AppendLine appends to dst the LAVA form of one stored log record (a
// JSON object, with or without its final newline), newline included.
func AppendLine(dst, record []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimRight(record, "\r\n")))
	dec.UseNumber()
	out := append(dst, "- "...)
	out, err := appendValue(out, dec, 0, true)
	if err != nil {
		return dst, fmt.Errorf("log record: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return dst, errors.New("log record: data after the JSON object")
	}
	return append(out, '\n'), nil
}

// appendValue appends the next JSON value of dec; top says it is the
// record itself, which must be an object and whose "dt" is a time.
func appendValue(out []byte, dec *json.Decoder, depth int, top bool) ([]byte, error) {
	if depth > maxDepth {
		return out, fmt.Errorf("values nested deeper than %d", maxDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		return out, err
	}
	if top && tok != json.Delim('{') {
		return out, errors.New("not a JSON object")
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			// A key given twice keeps its first place and its last value,
			// as Python's json module reads it.
			var keys []string
			var vals [][]byte
			at := map[string]int{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return out, err
				}
				key, _ := kt.(string)
				var v []byte
				if top && key == "dt" {
					v, err = appendTime(nil, dec)
				} else {
					v, err = appendValue(nil, dec, depth+1, false)
				}
				if err != nil {
					return out, err
				}
				if i, ok := at[key]; ok {
					vals[i] = v
					continue
				}
				at[key] = len(keys)
				keys, vals = append(keys, key), append(vals, v)
			}
			if _, err := dec.Token(); err != nil { // '}'
				return out, err
			}
			out = append(out, '{')
			for i, k := range keys {
				if i > 0 {
					out = append(out, ", "...)
				}
				out = pyfmt.AppendYAMLQuoted(out, k)
				out = append(out, ": "...)
				out = append(out, vals[i]...)
			}
			return append(out, '}'), nil
		case '[':
			out = append(out, '[')
			for n := 0; dec.More(); n++ {
				if n > 0 {
					out = append(out, ", "...)
				}
				if out, err = appendValue(out, dec, depth+1, false); err != nil {
					return out, err
				}
			}
			_, err := dec.Token() // ']'
			return append(out, ']'), err
		}
		return out, fmt.Errorf("unexpected %v", t)
	case string:
		return pyfmt.AppendYAMLQuoted(out, t), nil
	case json.Number:
		return appendTagged(out, number(t)), nil
	case bool:
		return appendTagged(out, strconv.FormatBool(t)), nil
	case nil:
		return appendTagged(out, "null"), nil
	}
	return out, fmt.Errorf("unexpected token %v", tok)
}

// appendTagged appends a scalar that is not a string: PyYAML's C dumper
// forced to quote it keeps its type with the non-specific tag "!".
func appendTagged(out []byte, text string) []byte {
	out = append(out, `! "`...)
	out = append(out, text...)
	return append(out, '"')
}

// appendTime appends the record's time as LAVA writes it (Python's
// isoformat of a UTC datetime). A "dt" that is not an RFC 3339 time is
// written as the value it is.
func appendTime(out []byte, dec *json.Decoder) ([]byte, error) {
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return out, err
	}
	var t time.Time
	if json.Unmarshal(raw, &t) == nil {
		return pyfmt.AppendYAMLQuoted(out, pyfmt.IsoformatUTC(t)), nil
	}
	sub := json.NewDecoder(bytes.NewReader(raw))
	sub.UseNumber()
	return appendValue(out, sub, 1, false)
}

// number is a JSON number as Python's json module reads it and PyYAML
// writes it: integers as they are, anything else as Python's float repr
// (pyfmt.FloatRepr), with ".0" added to a bare mantissa ("1.0e+16"), the
// infinities as .inf and -.inf.
func number(n json.Number) string {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if s == "-0" {
			return "0"
		}
		return s
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !math.IsInf(f, 0) {
		return s
	}
	switch {
	case math.IsInf(f, 1):
		return ".inf"
	case math.IsInf(f, -1):
		return "-.inf"
	}
	r := pyfmt.FloatRepr(f)
	if !strings.Contains(r, ".") && strings.Contains(r, "e") {
		m, e, _ := strings.Cut(r, "e")
		r = m + ".0e" + e
	}
	return r
}
