package xmlrpc

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// oracle runs Python's xmlrpc.client (testdata/python_oracle.py).
type oracle struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

func newOracle(t *testing.T) *oracle {
	t.Helper()
	cmd := exec.Command("/usr/bin/python3", "testdata/python_oracle.py")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("python3 (Debian's, the reference for XML-RPC): %v", err)
	}
	t.Cleanup(func() { in.Close(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	return &oracle{t: t, in: in, out: sc}
}

func (o *oracle) ask(req map[string]any) map[string]any {
	o.t.Helper()
	b, _ := json.Marshal(req)
	if _, err := o.in.Write(append(b, '\n')); err != nil {
		o.t.Fatal(err)
	}
	if !o.out.Scan() {
		o.t.Fatalf("python oracle: no answer (%v)", o.out.Err())
	}
	var resp map[string]any
	if err := json.Unmarshal(o.out.Bytes(), &resp); err != nil {
		o.t.Fatal(err)
	}
	if e, ok := resp["error"]; ok {
		o.t.Fatalf("python oracle: %v", e)
	}
	return resp
}

// toJSON turns a decoded Go value into the oracle's JSON form.
func toJSON(v any) any {
	switch x := v.(type) {
	case Binary:
		return map[string]any{"$binary": base64.StdEncoding.EncodeToString(x)}
	case time.Time:
		return map[string]any{"$datetime": x.Format(DateTimeFormat)}
	case int64:
		return float64(x)
	case []any:
		out := make([]any, len(x))
		for i, it := range x {
			out[i] = toJSON(it)
		}
		return out
	case map[string]any:
		out := map[string]any{}
		for k, it := range x {
			out[k] = toJSON(it)
		}
		return out
	}
	return v
}

// The values lavacli sends and receives, through Python and back.
var samples = []any{
	// (a raw CR is not here: Python sends it unescaped, and every XML
	// reader, Python's too, reads CR LF as LF)
	"plain", "", "<&>\"' ünïcødé\ttab\nnewline", "  spaces kept  ",
	float64(0), float64(-42), float64(2147483647), float64(-2147483648),
	true, false, 1.5, -0.25, nil,
	map[string]any{"$binary": base64.StdEncoding.EncodeToString([]byte("job: yaml\n\x00\xff"))},
	map[string]any{"$datetime": "20261206T12:34:56"},
	[]any{}, []any{"a", float64(1), []any{true, nil}},
	map[string]any{}, map[string]any{"hostname": "qemu-01", "nested": map[string]any{"list": []any{float64(1), "two"}}},
}

// TestPythonCallsDecode: calls written by Python's xmlrpc.client decode
// to the values it was given.
func TestPythonCallsDecode(t *testing.T) {
	o := newOracle(t)
	for _, v := range samples {
		resp := o.ask(map[string]any{"op": "dumps_call", "method": "scheduler.jobs.submit", "params": []any{v, "second"}})
		c, err := ReadCall(strings.NewReader(resp["xml"].(string)), DefaultLimits)
		if err != nil {
			t.Fatalf("%v: %v\n%s", v, err, resp["xml"])
		}
		if c.Method != "scheduler.jobs.submit" || len(c.Params) != 2 {
			t.Fatalf("call %+v", c)
		}
		if diff := cmp.Diff(v, toJSON(c.Params[0])); diff != "" {
			t.Errorf("%#v: (-python +basalt)\n%s", v, diff)
		}
	}
}

// TestResponsesReadByPython: responses Basalt writes read in Python as
// the same values, faults as Faults.
func TestResponsesReadByPython(t *testing.T) {
	o := newOracle(t)
	when := time.Date(2026, 12, 6, 12, 34, 56, 0, time.UTC)
	for _, tc := range []struct {
		v    any
		want any
	}{
		{"text <b>&amp;</b>", "text <b>&amp;</b>"},
		{"control \x01 and \x7f", "control \ufffd and \x7f"},
		{"CR LF\r\nkept", "CR LF\r\nkept"},
		{int64(7), float64(7)}, {int64(1) << 40, float64(1 << 40)}, {-3, float64(-3)},
		{true, true}, {2.5, 2.5}, {nil, nil},
		{Binary("line 1\nline 2\n"), map[string]any{"$binary": base64.StdEncoding.EncodeToString([]byte("line 1\nline 2\n"))}},
		{when, map[string]any{"$datetime": "20261206T12:34:56"}},
		{[]string{"a", "b"}, []any{"a", "b"}},
		{[]int64{1, 2}, []any{float64(1), float64(2)}},
		{map[string]any{"id": int64(1), "tags": []any{}, "device": nil}, map[string]any{"id": float64(1), "tags": []any{}, "device": nil}},
		{Struct{{"z", 1}, {"a", "x"}}, map[string]any{"z": float64(1), "a": "x"}},
		{[]map[string]any{{"hostname": "d1"}}, []any{map[string]any{"hostname": "d1"}}},
	} {
		var b bytes.Buffer
		if err := WriteResponse(&b, tc.v); err != nil {
			t.Fatalf("%#v: %v", tc.v, err)
		}
		resp := o.ask(map[string]any{"op": "loads", "xml": b.String()})
		if diff := cmp.Diff(tc.want, resp["value"]); diff != "" {
			t.Errorf("%#v: (-want +python)\n%s\n%s", tc.v, diff, b.String())
		}
		// and Basalt reads its own writing back
		back, err := ReadResponse(&b, DefaultLimits)
		if err != nil {
			t.Fatalf("%#v: read back: %v", tc.v, err)
		}
		if diff := cmp.Diff(tc.want, toJSON(back)); diff != "" {
			t.Errorf("%#v read back: %s", tc.v, diff)
		}
	}
	var b bytes.Buffer
	if err := WriteFault(&b, 404, "Job '9' was not found."); err != nil {
		t.Fatal(err)
	}
	resp := o.ask(map[string]any{"op": "loads", "xml": b.String()})
	if diff := cmp.Diff([]any{float64(404), "Job '9' was not found."}, resp["fault"]); diff != "" {
		t.Errorf("fault: %s", diff)
	}
	_, err := ReadResponse(&b, DefaultLimits)
	var f *Fault
	if !errors.As(err, &f) || f.Code != 404 {
		t.Errorf("fault read back: %v", err)
	}
}

func TestWriteRefuses(t *testing.T) {
	for _, v := range []any{struct{}{}, make(chan int), 1.0 / zero(), deep(120)} {
		if err := WriteResponse(io.Discard, v); err == nil {
			t.Errorf("%T written", v)
		}
	}
}

func zero() float64 { return 0 }

func deep(n int) any {
	var v any = "x"
	for range n {
		v = []any{v}
	}
	return v
}

// TestReadCallErrors: bad bodies are errors that say where and what.
func TestReadCallErrors(t *testing.T) {
	call := func(params string) string {
		return "<?xml version='1.0'?><methodCall><methodName>m</methodName><params>" + params + "</params></methodCall>"
	}
	nested := strings.Repeat("<value><array><data>", 40) + strings.Repeat("</data></array></value>", 40)
	for _, tc := range []struct {
		name, body, want string
		limits           Limits
	}{
		{"empty", "", "the document ends too early", DefaultLimits},
		{"not XML-RPC", "<html/>", "want <methodCall>, got <html>", DefaultLimits},
		{"DTD", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><methodCall/>", "DTDs and other declarations are not accepted", DefaultLimits},
		{"entity", call("<param><value>&a;</value></param>"), "invalid character entity &a;", DefaultLimits},
		{"bad int", call("<param><value><int>12x</int></value></param>"), "<int>12x</int> is not a valid integer", DefaultLimits},
		{"i4 overflow", call("<param><value><i4>2147483648</i4></value></param>"), "is not a valid integer", DefaultLimits},
		{"bad boolean", call("<param><value><boolean>true</boolean></value></param>"), "want 0 or 1", DefaultLimits},
		{"bad date", call("<param><value><dateTime.iso8601>yesterday</dateTime.iso8601></value></param>"), "want a date and time", DefaultLimits},
		{"bad base64", call("<param><value><base64>!!!</base64></value></param>"), "<base64>: illegal base64", DefaultLimits},
		{"unknown type", call("<param><value><bignum>1</bignum></value></param>"), "unknown value type <bignum>", DefaultLimits},
		{"text and element", call("<param><value>x<int>1</int></value></param>"), "text and <int> in one <value>", DefaultLimits},
		{"unclosed", call("<param><value><string>x</value></param>"), "XML-RPC: XML syntax error", DefaultLimits},
		{"trailing element", call("") + "<more/>", "<more> after the document", DefaultLimits},
		{"too deep", call("<param>" + nested + "</param>"), "nested deeper than 32", DefaultLimits},
		{"too many values", call(strings.Repeat("<param><value>x</value></param>", 11)), "more than 10 values", Limits{MaxValues: 10}},
		{"too large", call("<param><value>" + strings.Repeat("x", 2000) + "</value></param>"), "the XML-RPC body is too large (over 1000 bytes)", Limits{MaxBytes: 1000}},
		{"latin-1", "<?xml version='1.0' encoding='iso-8859-1'?><methodCall/>", `encoding "iso-8859-1" is not supported`, DefaultLimits},
		{"no method name", "<methodCall><methodName> </methodName></methodCall>", "the method name is empty", DefaultLimits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadCall(strings.NewReader(tc.body), tc.limits)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if tc.name == "too large" && !errors.Is(err, ErrTooLarge) {
				t.Errorf("not ErrTooLarge: %v", err)
			}
		})
	}
}

func TestReadCallForms(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       *Call
	}{
		{"no params", "<methodCall><methodName>system.version</methodName></methodCall>", &Call{Method: "system.version", Params: []any{}}},
		{"untyped string keeps spaces", "<methodCall><methodName>m</methodName><params><param><value> a b </value></param></params></methodCall>",
			&Call{Method: "m", Params: []any{" a b "}}},
		{"i8, dashed date, comments", "<!-- c --><methodCall><methodName>m</methodName><params><param><value><i8>4294967296</i8></value></param>" +
			"<param><value><dateTime.iso8601>2026-12-06T01:02:03</dateTime.iso8601></value></param></params></methodCall>",
			&Call{Method: "m", Params: []any{int64(4294967296), time.Date(2026, 12, 6, 1, 2, 3, 0, time.UTC)}}},
		{"repeated struct member keeps the last", "<methodCall><methodName>m</methodName><params><param><value><struct>" +
			"<member><name>k</name><value>1</value></member><member><name>k</name><value>2</value></member></struct></value></param></params></methodCall>",
			&Call{Method: "m", Params: []any{map[string]any{"k": "2"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadCall(strings.NewReader(tc.body), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}
