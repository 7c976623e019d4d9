package lavacoord

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/coordinator"
	"github.com/basalt-lab/basalt/internal/pyfmt"
)

// HeaderLen is the length of LAVA's frame header: the payload's length as
// 8 hexadecimal digits (written upper-case, zero-padded: "%08X").
const HeaderLen = 8

// parseHeader reads a frame header. LAVA's daemon accepts what Python's
// int(header, 16) accepts; Basalt accepts hexadecimal digits of either
// case, with surrounding spaces.
func parseHeader(h []byte) (int64, error) {
	s := strings.TrimSpace(string(h))
	if s == "" {
		return 0, fmt.Errorf("empty header %q", h)
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("header %q is not a hexadecimal length", h)
	}
	return int64(n), nil
}

// decodeRequest reads a request's JSON object with LAVA's field names.
// Fields of the wrong type are refused; null is an absent field; fields
// Basalt does not use (port, blocksize, poll_delay, host, nodeID,
// timeout, …) are ignored.
func decodeRequest(payload []byte) (coordinator.Request, error) {
	var r coordinator.Request
	var fields map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil {
		return r, fmt.Errorf("the request is not a JSON object: %v", err)
	}
	if fields == nil {
		return r, fmt.Errorf("the request is null, not a JSON object")
	}
	if d.More() {
		return r, fmt.Errorf("the request has data after its JSON object")
	}
	strs := []struct {
		name string
		dst  *string
	}{
		{"request", &r.Request}, {"client_name", &r.ClientName}, {"group_name", &r.GroupName},
		{"role", &r.Role}, {"hostname", &r.Hostname}, {"messageID", &r.MessageID},
		{"waitrole", &r.WaitRole}, {"sub_id", &r.SubID},
	}
	for _, f := range strs {
		raw, ok := fields[f.name]
		if !ok || isNull(raw) {
			continue
		}
		if err := json.Unmarshal(raw, f.dst); err != nil {
			return r, fmt.Errorf("%s is not a string: %s", f.name, clip(raw))
		}
	}
	if raw, ok := fields["group_size"]; ok && !isNull(raw) {
		n, err := groupSize(raw)
		if err != nil {
			return r, err
		}
		r.GroupSize = n
	}
	if raw, ok := fields["message"]; ok && !isNull(raw) {
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		if err := d.Decode(&r.Message); err != nil {
			return r, fmt.Errorf("message is not a JSON object: %s", clip(raw))
		}
	}
	if raw, ok := fields["bundle"]; ok {
		r.Bundle = bytes.Clone(raw)
	}
	return r, nil
}

// groupSize reads group_size: a number (LAVA's int() truncates one with a
// fraction) or a string of decimal digits.
func groupSize(raw json.RawMessage) (int, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, fmt.Errorf("group_size: %v", err)
	}
	var s string
	switch x := v.(type) {
	case json.Number:
		s = x.String()
	case string:
		s = strings.TrimSpace(x)
	default:
		return 0, fmt.Errorf("group_size is not a number: %s", clip(raw))
	}
	if n, err := strconv.ParseInt(s, 10, 32); err == nil {
		return int(n), nil
	}
	if _, isNum := v.(json.Number); isNum {
		if f, err := strconv.ParseFloat(s, 64); err == nil && !math.IsInf(f, 0) && math.Abs(f) < math.MaxInt32 {
			return int(f), nil
		}
	}
	return 0, fmt.Errorf("group_size is not a number of clients: %s", clip(raw))
}

// isNull reports whether raw is JSON null.
func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// clip shortens a value for an error message.
func clip(raw []byte) string {
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

// frame returns resp as LAVA writes it: the header, then the JSON with
// every character beyond ASCII escaped (as Python's json.dumps does, so
// that LAVA's clients, which count characters, read it whole).
func frame(resp coordinator.Response) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return nil, fmt.Errorf("encode answer: %w", err)
	}
	payload := pyfmt.EnsureASCII(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	if int64(len(payload)) > math.MaxUint32 {
		return nil, fmt.Errorf("answer of %d bytes is beyond LAVA's framing", len(payload))
	}
	out := make([]byte, 0, HeaderLen+len(payload))
	out = fmt.Appendf(out, "%08X", len(payload))
	return append(out, payload...), nil
}
