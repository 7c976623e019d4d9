package notify

import (
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/lab"
)

// ExpandURL substitutes the { FIELD } placeholders of a callback URL
// with the job's fields, as LAVA does: a placeholder is "{", optional
// spaces, upper-case letters, "_" and "-", optional spaces, "}", and
// names the job's attribute of that name in lower case (STATUS and
// STATUS_STRING are the older status, its number and its name in lower
// case). A placeholder that names no field is left as written. Unlike
// LAVA, each value is percent-encoded (all but letters, digits and
// "-._~"), so that no value can change the URL's structure: its host,
// path segments or query parameters.
func ExpandURL(raw string, j lab.Job) string {
	if !strings.Contains(raw, "{") {
		return raw
	}
	var b strings.Builder
	for i := 0; i < len(raw); {
		if raw[i] != '{' {
			b.WriteByte(raw[i])
			i++
			continue
		}
		name, end, ok := placeholder(raw, i)
		if !ok {
			b.WriteByte('{')
			i++
			continue
		}
		v, known := urlField(strings.ToLower(name), j)
		if known {
			b.WriteString(escapeAll(v))
		} else {
			b.WriteString(raw[i:end])
		}
		i = end
	}
	return b.String()
}

// placeholder reads the placeholder starting at raw[i] ('{'): its name
// and the index after its '}'.
func placeholder(raw string, i int) (name string, end int, ok bool) {
	j := i + 1
	for j < len(raw) && isSpace(raw[j]) {
		j++
	}
	start := j
	for j < len(raw) && (raw[j] >= 'A' && raw[j] <= 'Z' || raw[j] == '_' || raw[j] == '-') {
		j++
	}
	name = raw[start:j]
	for j < len(raw) && isSpace(raw[j]) {
		j++
	}
	if j >= len(raw) || raw[j] != '}' {
		return "", 0, false
	}
	return name, j + 1, true
}

// isSpace is Python's \s in a str pattern, for ASCII.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// urlField is str() of the job attribute a placeholder names.
func urlField(name string, j lab.Job) (string, bool) {
	switch name {
	case "id", "pk":
		return strconv.FormatInt(j.ID, 10), true
	case "status":
		return strconv.Itoa(legacyStatus(j)), true
	case "status_string":
		return strings.ToLower(legacyStatusName(j)), true
	case "state":
		return strconv.Itoa(int(j.State)), true
	case "health":
		return strconv.Itoa(int(j.Health)), true
	case "description":
		return j.Description, true
	case "priority":
		return strconv.Itoa(j.Priority), true
	case "submit_time":
		return pyTimeOrNone(j.SubmitTime), true
	case "start_time":
		return pyTimeOrNone(j.StartTime), true
	case "end_time":
		return pyTimeOrNone(j.EndTime), true
	case "submitter":
		return j.Submitter, true
	case "actual_device_id":
		return orNone(j.ActualDevice), true
	case "requested_device_type_id":
		return orNone(j.RequestedType), true
	case "health_check":
		return pyBool(j.HealthCheck), true
	case "is_public":
		return pyBool(j.Visibility == lab.VisibilityPublic), true
	case "failure_comment":
		return orNone(j.FailureComment), true
	case "definition":
		return j.Definition, true
	case "original_definition":
		return j.OriginalDefinition, true
	}
	return "", false
}

// escapeAll percent-encodes every byte of s but the unreserved ones.
func escapeAll(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}
