// Package resultlog turns the "results" records of a job's log into test
// cases in LAVA's model (lab.TestCase), applying the rules of LAVA's
// server (lava_results_app/dbutils.py map_scanned_results) as facts:
//
//   - the suite is the record's "definition", the case its "case" with
//     surrounding white space removed and every control character
//     (U+0000–U+001F, U+007F) replaced by "_ctrl-char_";
//   - a "set" is kept only when URL quoting would not change it (letters,
//     digits and "_.-~/"), as LAVA ignores other set names;
//   - result "pass", "fail", "skip" or "unknown" (exactly); LAVA drops a
//     record with any other result, Basalt keeps it as unknown (the
//     metadata holds what was reported);
//   - in the lava suite the measurement is the "duration" in "seconds";
//   - the metadata is the whole record (without starttc/endtc) as JSON
//     with sorted keys, bounded to 4096 characters by LAVA's stripping
//     rule;
//   - start and end lines come from "starttc"/"endtc" (0-based log lines,
//     LAVA's marker convention) when present and not after the record,
//     otherwise they are the record's own line.
//
// Parse is stateless: a malformed line never affects another. It imports
// only the standard library, internal/lab and nothing of storage or
// transport.
package resultlog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/basalt-lab/basalt/internal/lab"
)

// levelResults is the level of results records.
const levelResults = "results"

// ctrlChar replaces control characters in case names (LAVA's rule).
const ctrlChar = "_ctrl-char_"

// errorMsgKept is how many characters of error_msg LAVA keeps in stripped
// metadata.
const errorMsgKept = 256

var (
	resultsTag = []byte(levelResults)
	escape     = []byte(`\u`) // a JSON escape could spell "results"
)

// MayHold reports whether b, any run of a log's bytes, may hold a results
// record: false guarantees that no line within b is one (its level would
// spell "results", or escape a letter of it).
func MayHold(b []byte) bool {
	return bytes.Contains(b, resultsTag) || bytes.Contains(b, escape)
}

// record is a journal line with its fields left raw, so that a field of an
// unexpected type does not hide the others.
type record struct {
	Time  json.RawMessage `json:"dt"`
	Level json.RawMessage `json:"lvl"`
	Msg   json.RawMessage `json:"msg"`
}

// Parse reads line, the 0-based line n of a job's log (without its
// newline). Lines that are not results records give ok false and no error;
// results records that cannot be a test case (no definition, case or
// result, a message that is not an object, a bad time) give ok false and an
// error saying why. A case it returns always passes lab.TestCase.Validate;
// its JobID is left 0.
func Parse(line []byte, n int) (c lab.TestCase, ok bool, err error) {
	if !MayHold(line) {
		return c, false, nil // the fast path for the other 90 % of a log
	}
	var rec record
	if json.Unmarshal(line, &rec) != nil {
		return c, false, nil // not a record at all
	}
	var level string
	if json.Unmarshal(rec.Level, &level) != nil || level != levelResults {
		return c, false, nil
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("results record on log line %d: %w", n, err)
		}
	}()
	var dt string
	if err := json.Unmarshal(rec.Time, &dt); err != nil {
		return c, false, fmt.Errorf("dt is not a time string")
	}
	logged, err := time.Parse(time.RFC3339Nano, dt)
	if err != nil {
		return c, false, fmt.Errorf("dt %q is not an RFC 3339 time", dt)
	}
	var msg map[string]json.RawMessage // values stay as written
	if err := json.Unmarshal(rec.Msg, &msg); err != nil || msg == nil {
		return c, false, fmt.Errorf("msg is not an object")
	}
	suite, ok1 := text(msg["definition"])
	name, ok2 := text(msg["case"])
	result, ok3 := text(msg["result"])
	if !ok1 || !ok2 || !ok3 || suite == "" {
		return c, false, fmt.Errorf("msg needs definition, case and result")
	}
	c = lab.TestCase{
		Suite:     cut(clean(suite), lab.MaxResultName),
		Name:      caseName(name),
		Result:    resultOf(result),
		Line:      n,
		StartLine: lineOf(msg["starttc"], n),
		EndLine:   lineOf(msg["endtc"], n),
		Logged:    logged.UTC(),
	}
	if s, ok := text(msg["set"]); ok && validSet(s) {
		c.Set = s
	}
	c.Level = field(msg, "level")
	c.Duration = field(msg, "duration")
	c.ErrorType = field(msg, "error_type")
	c.ErrorMsg = field(msg, "error_msg")
	if c.Suite == lab.LAVASuite {
		if _, ok := msg["duration"]; ok {
			c.Measurement, c.Units = c.Duration, "seconds"
		}
	} else {
		c.Measurement = field(msg, "measurement")
		c.Units = field(msg, "units")
	}
	delete(msg, "starttc")
	delete(msg, "endtc")
	c.Metadata = metadata(msg)
	if err := c.Validate(); err != nil {
		return lab.TestCase{}, false, err // a bug of this package: report it, do not store it
	}
	return c, true, nil
}

// text is the JSON value v as text when it is a string or a number (a
// number as written).
func text(v json.RawMessage) (string, bool) {
	if len(v) == 0 {
		return "", false
	}
	switch c := v[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	case c == '-' || c >= '0' && c <= '9':
		return string(v), true
	}
	return "", false
}

// field is the text of msg[key], cleaned, or "" when it is missing or not
// a string or number.
func field(msg map[string]json.RawMessage, key string) string {
	s, _ := text(msg[key])
	return clean(s)
}

// clean makes s storable: NUL bytes (which PostgreSQL's text refuses)
// become U+FFFD. Decoded JSON strings are valid UTF-8 already.
func clean(s string) string {
	return strings.ReplaceAll(s, "\x00", "\uFFFD")
}

// cut returns the longest prefix of s of at most n bytes that ends on a
// character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// caseName applies LAVA's rule: strip white space as Python's str.strip
// does (which counts U+001C–U+001F as white space), then replace control
// characters. The replacement may lengthen the name, so it is cut
// afterwards.
func caseName(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f })
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			b.WriteString(ctrlChar)
		} else {
			b.WriteRune(r)
		}
	}
	return cut(b.String(), lab.MaxResultName)
}

// resultOf maps LAVA's result codes exactly; anything else is unknown.
func resultOf(s string) lab.TestResult {
	switch s {
	case "pass":
		return lab.ResultPass
	case "fail":
		return lab.ResultFail
	case "skip":
		return lab.ResultSkip
	}
	return lab.ResultUnknown
}

// validSet reports whether Python's urllib.parse.quote would leave the set
// name unchanged, LAVA's test for set names. The empty name is no set.
func validSet(s string) bool {
	if s == "" || len(s) > lab.MaxResultName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-~/", c) >= 0) {
			return false
		}
	}
	return true
}

// lineOf reads a starttc/endtc value: a non-negative integer (or a string
// of one) not beyond the record's own line n. Anything else gives n.
func lineOf(v json.RawMessage, n int) int {
	s, ok := text(v)
	if !ok {
		return n
	}
	l, err := strconv.Atoi(s)
	if err != nil || l < 0 || l > n {
		return n
	}
	return l
}

// metadata encodes the record as LAVA keeps it, bounded to
// lab.MaxResultMetadata characters: a longer record is stripped to case,
// definition, result and error_type; if that is still too long the
// metadata is empty, else error_msg cut to 256 characters is added when
// the result stays under the bound.
func metadata(msg map[string]json.RawMessage) string {
	md := encode(msg)
	if utf8.RuneCountInString(md) <= lab.MaxResultMetadata {
		return md
	}
	stripped := map[string]json.RawMessage{"case": msg["case"], "definition": msg["definition"], "result": msg["result"]}
	if v, ok := msg["error_type"]; ok {
		stripped["error_type"] = v
	}
	md = encode(stripped)
	if utf8.RuneCountInString(md) > lab.MaxResultMetadata {
		return ""
	}
	if v, ok := msg["error_msg"]; ok {
		em, isText := text(v)
		if !isText {
			em = encode(v)
		}
		b, err := json.Marshal(cutRunes(em, errorMsgKept))
		if err != nil {
			return md
		}
		stripped["error_msg"] = b
		if s := encode(stripped); utf8.RuneCountInString(s) < lab.MaxResultMetadata {
			md = s
		}
	}
	return md
}

// cutRunes returns the first n characters of s.
func cutRunes(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// encode is v as compact JSON with sorted keys, its values as written but
// without HTML escaping; bytes of the line that are not UTF-8 become
// U+FFFD. Values come from a JSON decoder, so encoding cannot fail.
func encode(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.ToValidUTF8(strings.TrimSuffix(b.String(), "\n"), "\uFFFD")
}
