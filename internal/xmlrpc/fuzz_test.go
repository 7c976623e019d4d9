package xmlrpc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzReadCall: any body is read or refused without a panic, within the
// limits; what is read writes back to a call that reads the same.
func FuzzReadCall(f *testing.F) {
	for _, s := range []string{
		"<?xml version='1.0'?>\n<methodCall>\n<methodName>system.version</methodName>\n<params>\n</params>\n</methodCall>\n",
		"<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name><value><array><data><value><i4>1</i4></value><value><nil/></value></data></array></value></member></struct></value></param></params></methodCall>",
		"<methodCall><methodName>m</methodName><params><param><value><base64>aGk=</base64></value></param><param><value><double>1e3</double></value></param></params></methodCall>",
		"<methodCall><methodName>m</methodName><params><param><value><dateTime.iso8601>20261206T12:00:00</dateTime.iso8601></value></param></params></methodCall>",
		"<!DOCTYPE a><methodCall/>", "<methodCall><methodName>&#x1;</methodName></methodCall>",
	} {
		f.Add(s)
	}
	limits := Limits{MaxBytes: 1 << 16, MaxDepth: 8, MaxValues: 1000}
	f.Fuzz(func(t *testing.T, body string) {
		c, err := ReadCall(strings.NewReader(body), limits)
		if err != nil {
			return
		}
		var b bytes.Buffer
		if err := WriteCall(&b, c.Method, c.Params...); err != nil {
			t.Fatalf("read %+v but cannot write it: %v", c, err)
		}
		again, err := ReadCall(&b, Limits{MaxBytes: 1 << 22, MaxDepth: 8, MaxValues: 1000})
		if err != nil {
			t.Fatalf("written call does not read: %v\n%s", err, b.String())
		}
		if diff := cmp.Diff(normalize(c), normalize(again)); diff != "" {
			t.Fatalf("round trip changed the call:\n%s", diff)
		}
	})
}

// normalize replaces what writing changes on purpose: characters XML
// cannot carry become U+FFFD, so compare through the escaper.
func normalize(c *Call) *Call {
	var fix func(v any) any
	fix = func(v any) any {
		switch x := v.(type) {
		case string:
			var b strings.Builder
			escape(&b, x)
			r := strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&#13;", "\r")
			return r.Replace(b.String())
		case []any:
			out := make([]any, len(x))
			for i, it := range x {
				out[i] = fix(it)
			}
			return out
		case map[string]any:
			out := map[string]any{}
			for k, it := range x {
				out[fix(k).(string)] = fix(it)
			}
			return out
		}
		return v
	}
	out := &Call{Method: fix(c.Method).(string)}
	for _, p := range c.Params {
		out.Params = append(out.Params, fix(p))
	}
	return out
}
