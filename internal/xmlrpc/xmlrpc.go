package xmlrpc

import (
	"bufio"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Binary is a <base64> value.
type Binary []byte

// Member is one member of a Struct.
type Member struct {
	Name  string
	Value any
}

// Struct is a <struct> written with its members in this order (a
// map[string]any is written with sorted keys).
type Struct []Member

// Call is a decoded <methodCall>.
type Call struct {
	Method string
	Params []any
}

// Fault is an XML-RPC fault: the error of a method, with LAVA's HTTP-like
// codes (400, 401, 403, 404, 409, 500, …).
type Fault struct {
	Code    int
	Message string
}

// Error returns the fault as Python's xmlrpc.client prints it.
func (f *Fault) Error() string { return fmt.Sprintf("<Fault %d: %q>", f.Code, f.Message) }

// Limits bound what a reader accepts.
type Limits struct {
	// MaxBytes is the largest body.
	MaxBytes int64
	// MaxDepth is the deepest nesting of arrays and structs.
	MaxDepth int
	// MaxValues is the most values (every <value>, nested ones included).
	MaxValues int
}

// DefaultLimits are the limits of the server's /RPC2: room for a job
// definition or a device-type template of a few MiB, not for a document
// that would exhaust memory.
var DefaultLimits = Limits{MaxBytes: 16 << 20, MaxDepth: 32, MaxValues: 200000}

// ErrTooLarge is wrapped by the error of a body over Limits.MaxBytes.
var ErrTooLarge = errors.New("the XML-RPC body is too large")

// DateTimeFormat is the layout of <dateTime.iso8601> values as Python
// writes and reads them.
const DateTimeFormat = "20060102T15:04:05"

// ReadCall reads a <methodCall> from r.
func ReadCall(r io.Reader, l Limits) (*Call, error) {
	d := newDecoder(r, l)
	if err := d.open("methodCall"); err != nil {
		return nil, err
	}
	if err := d.open("methodName"); err != nil {
		return nil, err
	}
	name, err := d.text("methodName")
	if err != nil {
		return nil, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 256 {
		return nil, d.errorf("the method name is empty or longer than 256 bytes")
	}
	c := &Call{Method: name, Params: []any{}}
	// <params> is optional.
	t, err := d.next()
	if err != nil {
		return nil, err
	}
	if se, ok := t.(xml.StartElement); ok && se.Name.Local == "params" {
		if c.Params, err = d.params(); err != nil {
			return nil, err
		}
		if t, err = d.next(); err != nil {
			return nil, err
		}
	}
	if ee, ok := t.(xml.EndElement); !ok || ee.Name.Local != "methodCall" {
		return nil, d.errorf("want </methodCall>, got %s", describe(t))
	}
	return c, d.end()
}

// ReadResponse reads a <methodResponse>: its value, or its fault as a
// *Fault error.
func ReadResponse(r io.Reader, l Limits) (any, error) {
	d := newDecoder(r, l)
	if err := d.open("methodResponse"); err != nil {
		return nil, err
	}
	t, err := d.next()
	if err != nil {
		return nil, err
	}
	se, ok := t.(xml.StartElement)
	if !ok {
		return nil, d.errorf("want <params> or <fault>, got %s", describe(t))
	}
	var v any
	switch se.Name.Local {
	case "params":
		ps, err := d.params()
		if err != nil {
			return nil, err
		}
		if len(ps) != 1 {
			return nil, d.errorf("a response has one parameter, not %d", len(ps))
		}
		v = ps[0]
	case "fault":
		if err := d.open("value"); err != nil {
			return nil, err
		}
		fv, err := d.value(0)
		if err != nil {
			return nil, err
		}
		if err := d.close("fault"); err != nil {
			return nil, err
		}
		m, ok := fv.(map[string]any)
		code, cok := m["faultCode"].(int64)
		msg, mok := m["faultString"].(string)
		if !ok || !cok || !mok {
			return nil, d.errorf("a fault is a struct of faultCode (int) and faultString (string)")
		}
		err = &Fault{Code: int(code), Message: msg}
		if err2 := d.close("methodResponse"); err2 != nil {
			return nil, err2
		}
		if err2 := d.end(); err2 != nil {
			return nil, err2
		}
		return nil, err
	default:
		return nil, d.errorf("want <params> or <fault>, got <%s>", se.Name.Local)
	}
	if err := d.close("methodResponse"); err != nil {
		return nil, err
	}
	return v, d.end()
}

// decoder reads XML-RPC elements from a strict, bounded XML decoder.
type decoder struct {
	x      *xml.Decoder
	l      Limits
	lr     *limitedReader
	values int
}

// limitedReader fails once more than n bytes were read.
type limitedReader struct {
	r io.Reader
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, ErrTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

func newDecoder(r io.Reader, l Limits) *decoder {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultLimits.MaxValues
	}
	// One byte more than the limit tells a body at the limit from one past it.
	lr := &limitedReader{r: r, n: l.MaxBytes + 1}
	x := xml.NewDecoder(bufio.NewReader(lr))
	x.Strict = true
	x.Entity = nil // only XML's predefined entities and character references
	x.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		if strings.EqualFold(charset, "utf-8") || strings.EqualFold(charset, "us-ascii") {
			return input, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported (use UTF-8)", charset)
	}
	return &decoder{x: x, l: l, lr: lr}
}

// errorf is a problem at the decoder's position.
func (d *decoder) errorf(format string, args ...any) error {
	return fmt.Errorf("XML-RPC: byte %d: %s", d.x.InputOffset(), fmt.Sprintf(format, args...))
}

// next returns the next element or text token, skipping comments,
// processing instructions and whitespace-only text between elements; a
// DTD is refused.
func (d *decoder) next() (xml.Token, error) {
	for {
		t, err := d.rawToken()
		if err != nil {
			return nil, err
		}
		switch x := t.(type) {
		case xml.Comment, xml.ProcInst:
			continue
		case xml.CharData:
			if strings.TrimSpace(string(x)) == "" {
				continue
			}
		}
		return t, nil
	}
}

// rawToken returns the next token with errors made readable.
func (d *decoder) rawToken() (xml.Token, error) {
	t, err := d.x.Token()
	switch {
	case errors.Is(err, ErrTooLarge) || d.lr.n <= 0:
		return nil, fmt.Errorf("%w (over %d bytes)", ErrTooLarge, d.l.MaxBytes)
	case err == io.EOF:
		return nil, d.errorf("the document ends too early")
	case err != nil:
		return nil, fmt.Errorf("XML-RPC: %w", err)
	}
	if _, ok := t.(xml.Directive); ok {
		return nil, d.errorf("DTDs and other declarations are not accepted")
	}
	return t, nil
}

// open reads the start of element name.
func (d *decoder) open(name string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if se, ok := t.(xml.StartElement); !ok || se.Name.Local != name {
		return d.errorf("want <%s>, got %s", name, describe(t))
	}
	return nil
}

// close reads the end of element name.
func (d *decoder) close(name string) error {
	t, err := d.next()
	if err != nil {
		return err
	}
	if ee, ok := t.(xml.EndElement); !ok || ee.Name.Local != name {
		return d.errorf("want </%s>, got %s", name, describe(t))
	}
	return nil
}

// end checks that nothing but whitespace, comments and processing
// instructions follows the document element.
func (d *decoder) end() error {
	for {
		t, err := d.x.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil || d.lr.n <= 0 {
			if errors.Is(err, ErrTooLarge) || d.lr.n <= 0 {
				return fmt.Errorf("%w (over %d bytes)", ErrTooLarge, d.l.MaxBytes)
			}
			return fmt.Errorf("XML-RPC: after the document: %w", err)
		}
		switch x := t.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if strings.TrimSpace(string(x)) != "" {
				return d.errorf("text after the document")
			}
		default:
			return d.errorf("%s after the document", describe(t))
		}
	}
}

// text reads character data up to the end of element name (no child
// elements).
func (d *decoder) text(name string) (string, error) {
	var b strings.Builder
	for {
		t, err := d.rawToken()
		if err != nil {
			return "", err
		}
		switch x := t.(type) {
		case xml.CharData:
			b.Write(x)
		case xml.Comment, xml.ProcInst:
		case xml.EndElement:
			if x.Name.Local != name {
				return "", d.errorf("want </%s>, got </%s>", name, x.Name.Local)
			}
			return b.String(), nil
		default:
			return "", d.errorf("<%s> holds text only, got %s", name, describe(t))
		}
	}
}

// children reads the <child> elements of an open element up to its end
// tag, calling each for every child (its start tag read); in names the
// parent in errors ("" to leave it out).
func (d *decoder) children(end, child, in string, each func() error) error {
	where := ""
	if in != "" {
		where = " in <" + in + ">"
	}
	for {
		t, err := d.next()
		if err != nil {
			return err
		}
		switch x := t.(type) {
		case xml.EndElement:
			if x.Name.Local != end {
				return d.errorf("want </%s>, got </%s>", end, x.Name.Local)
			}
			return nil
		case xml.StartElement:
			if x.Name.Local != child {
				return d.errorf("want <%s>%s, got <%s>", child, where, x.Name.Local)
			}
			if err := each(); err != nil {
				return err
			}
		default:
			return d.errorf("want <%s>%s, got %s", child, where, describe(t))
		}
	}
}

// params reads the <param>s after <params> up to </params>.
func (d *decoder) params() ([]any, error) {
	ps := []any{}
	err := d.children("params", "param", "", func() error {
		if err := d.open("value"); err != nil {
			return err
		}
		v, err := d.value(0)
		if err != nil {
			return err
		}
		ps = append(ps, v)
		return d.close("param")
	})
	if err != nil {
		return nil, err
	}
	return ps, nil
}

// value reads the inside of a <value> (already opened) and its end.
func (d *decoder) value(depth int) (any, error) {
	d.values++
	if d.values > d.l.MaxValues {
		return nil, d.errorf("more than %d values", d.l.MaxValues)
	}
	var text strings.Builder
	for {
		t, err := d.rawToken()
		if err != nil {
			return nil, err
		}
		switch x := t.(type) {
		case xml.CharData:
			text.Write(x)
		case xml.Comment, xml.ProcInst:
		case xml.EndElement:
			// <value>text</value>: an untyped value is a string.
			return text.String(), nil
		case xml.StartElement:
			if strings.TrimSpace(text.String()) != "" {
				return nil, d.errorf("text and <%s> in one <value>", x.Name.Local)
			}
			v, err := d.typed(x.Name.Local, depth)
			if err != nil {
				return nil, err
			}
			if err := d.close("value"); err != nil {
				return nil, err
			}
			return v, nil
		default:
			return nil, d.errorf("unexpected %s in <value>", describe(t))
		}
	}
}

// typed reads one typed value whose start element name was read.
func (d *decoder) typed(name string, depth int) (any, error) {
	switch name {
	case "array":
		if depth >= d.l.MaxDepth {
			return nil, d.errorf("arrays and structs nested deeper than %d", d.l.MaxDepth)
		}
		return d.array(depth + 1)
	case "struct":
		if depth >= d.l.MaxDepth {
			return nil, d.errorf("arrays and structs nested deeper than %d", d.l.MaxDepth)
		}
		return d.structure(depth + 1)
	case "nil":
		if err := d.close("nil"); err != nil {
			return nil, err
		}
		return nil, nil
	}
	s, err := d.text(name)
	if err != nil {
		return nil, err
	}
	switch name {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || (name == "i4" && (n < math.MinInt32 || n > math.MaxInt32)) {
			return nil, d.errorf("<%s>%s</%s> is not a valid integer", name, clip(s), name)
		}
		return n, nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1":
			return true, nil
		case "0":
			return false, nil
		}
		return nil, d.errorf("<boolean>%s</boolean>: want 0 or 1", clip(s))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return nil, d.errorf("<double>%s</double> is not a number", clip(s))
		}
		return f, nil
	case "dateTime.iso8601":
		t, err := parseDateTime(strings.TrimSpace(s))
		if err != nil {
			return nil, d.errorf("<dateTime.iso8601>%s</dateTime.iso8601>: %v", clip(s), err)
		}
		return t, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, d.errorf("<base64>: %v", err)
		}
		return Binary(b), nil
	}
	return nil, d.errorf("unknown value type <%s>", name)
}

// parseDateTime reads Python's form (20061102T15:04:05) and the dashed
// ISO 8601 forms other clients send.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{DateTimeFormat, "2006-01-02T15:04:05", time.RFC3339, "20060102T150405", "20060102T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("want a date and time such as 20261206T12:00:00")
}

// array reads the rest of an <array>.
func (d *decoder) array(depth int) (any, error) {
	if err := d.open("data"); err != nil {
		return nil, err
	}
	items := []any{}
	err := d.children("data", "value", "data", func() error {
		v, err := d.value(depth)
		if err != nil {
			return err
		}
		items = append(items, v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := d.close("array"); err != nil {
		return nil, err
	}
	return items, nil
}

// structure reads the rest of a <struct>.
func (d *decoder) structure(depth int) (any, error) {
	m := map[string]any{}
	err := d.children("struct", "member", "struct", func() error {
		if err := d.open("name"); err != nil {
			return err
		}
		name, err := d.text("name")
		if err != nil {
			return err
		}
		if err := d.open("value"); err != nil {
			return err
		}
		v, err := d.value(depth)
		if err != nil {
			return err
		}
		m[name] = v // a repeated name keeps the last, as Python does
		return d.close("member")
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

// describe names a token in an error.
func describe(t xml.Token) string {
	switch x := t.(type) {
	case xml.StartElement:
		return "<" + x.Name.Local + ">"
	case xml.EndElement:
		return "</" + x.Name.Local + ">"
	case xml.CharData:
		return fmt.Sprintf("text %q", clip(string(x)))
	}
	return fmt.Sprintf("%T", t)
}

// clip shortens text quoted in an error.
func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= 40 {
		return s
	}
	cut := 40
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// WriteCall writes a <methodCall> (for clients and tests).
func WriteCall(w io.Writer, method string, params ...any) error {
	b := &strings.Builder{}
	b.WriteString("<?xml version=\"1.0\"?>\n<methodCall><methodName>")
	escape(b, method)
	b.WriteString("</methodName><params>")
	for _, p := range params {
		b.WriteString("<param>")
		if err := writeValue(b, p, 0); err != nil {
			return err
		}
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteResponse writes a <methodResponse> carrying v. A value that cannot
// be written (an unsupported Go type, nesting over 100) is an error and
// nothing is written.
func WriteResponse(w io.Writer, v any) error {
	b := &strings.Builder{}
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><params><param>")
	if err := writeValue(b, v, 0); err != nil {
		return err
	}
	b.WriteString("</param></params></methodResponse>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteFault writes a <methodResponse> carrying a fault.
func WriteFault(w io.Writer, code int, message string) error {
	b := &strings.Builder{}
	b.WriteString("<?xml version=\"1.0\"?>\n<methodResponse><fault>")
	_ = writeValue(b, Struct{{"faultCode", code}, {"faultString", message}}, 0)
	b.WriteString("</fault></methodResponse>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// writeValue writes one <value>.
func writeValue(b *strings.Builder, v any, depth int) error {
	b.WriteString("<value>")
	if err := writeInner(b, v, depth); err != nil {
		return err
	}
	b.WriteString("</value>")
	return nil
}

// writeInner writes the typed element of a value.
func writeInner(b *strings.Builder, v any, depth int) error {
	if depth > 100 {
		return errors.New("xmlrpc: values nested deeper than 100")
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("<nil/>")
	case bool:
		if x {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case int:
		writeInt(b, int64(x))
	case int32:
		writeInt(b, int64(x))
	case int64:
		writeInt(b, x)
	case uint32:
		writeInt(b, int64(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("xmlrpc: %v cannot be written as a double", x)
		}
		b.WriteString("<double>")
		b.WriteString(strconv.FormatFloat(x, 'f', -1, 64))
		b.WriteString("</double>")
	case string:
		b.WriteString("<string>")
		escape(b, x)
		b.WriteString("</string>")
	case time.Time:
		b.WriteString("<dateTime.iso8601>")
		b.WriteString(x.UTC().Format(DateTimeFormat))
		b.WriteString("</dateTime.iso8601>")
	case Binary:
		b.WriteString("<base64>")
		b.WriteString(base64.StdEncoding.EncodeToString(x))
		b.WriteString("</base64>")
	case []byte:
		return writeInner(b, Binary(x), depth)
	case []any:
		return writeArray(b, len(x), func(i int) any { return x[i] }, depth)
	case []string:
		return writeArray(b, len(x), func(i int) any { return x[i] }, depth)
	case []int64:
		return writeArray(b, len(x), func(i int) any { return x[i] }, depth)
	case []map[string]any:
		return writeArray(b, len(x), func(i int) any { return x[i] }, depth)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		s := make(Struct, 0, len(keys))
		for _, k := range keys {
			s = append(s, Member{k, x[k]})
		}
		return writeInner(b, s, depth)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, v := range x {
			m[k] = v
		}
		return writeInner(b, m, depth)
	case Struct:
		b.WriteString("<struct>")
		for _, m := range x {
			b.WriteString("<member><name>")
			escape(b, m.Name)
			b.WriteString("</name>")
			if err := writeValue(b, m.Value, depth+1); err != nil {
				return err
			}
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	default:
		return fmt.Errorf("xmlrpc: a %T cannot be written", v)
	}
	return nil
}

// writeArray writes an <array> of n items.
func writeArray(b *strings.Builder, n int, item func(int) any, depth int) error {
	b.WriteString("<array><data>")
	for i := range n {
		if err := writeValue(b, item(i), depth+1); err != nil {
			return err
		}
	}
	b.WriteString("</data></array>")
	return nil
}

// writeInt writes an integer: <int> within 32 bits, <i8> beyond (Python
// reads both).
func writeInt(b *strings.Builder, n int64) {
	tag := "int"
	if n < math.MinInt32 || n > math.MaxInt32 {
		tag = "i8"
	}
	fmt.Fprintf(b, "<%s>%d</%s>", tag, n, tag)
}

// escape writes s as XML text. Characters XML 1.0 cannot carry (controls
// other than tab, newline and carriage return; invalid UTF-8) are
// replaced by U+FFFD, since no client could read them back.
func escape(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r == '\r':
			b.WriteString("&#13;")
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r < 0x20 || r == 0xFFFE || r == 0xFFFF || (r >= 0xD800 && r <= 0xDFFF) || r == utf8.RuneError:
			b.WriteRune('\uFFFD')
		default:
			b.WriteRune(r)
		}
	}
}
