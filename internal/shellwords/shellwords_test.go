package shellwords_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/basalt-lab/basalt/internal/shellwords"
)

func TestSplit(t *testing.T) {
	tests := []struct {
		in        string
		want      []string
		err       error // of Split
		plainFail bool  // Plain fails with ErrSyntax
	}{
		{"", nil, nil, false},
		{"  a  b\tc ", []string{"a", "b", "c"}, nil, false},
		{"-drive 'file=a b,if=none'", []string{"-drive", "file=a b,if=none"}, nil, false},
		{`"a \"b\" \\ \$x \n"`, []string{`a "b" \ $x \n`}, nil, false},
		{`a\ b c\'d`, []string{"a b", "c'd"}, nil, false},
		{"''", []string{""}, nil, false},
		{"a\nb", []string{"a", "b"}, nil, true},
		{"'unterminated", nil, shellwords.ErrSingleQuote, false},
		{`"unterminated`, nil, shellwords.ErrDoubleQuote, false},
		{`end\`, nil, shellwords.ErrBackslash, false},
		{"telnet localhost 7001", []string{"telnet", "localhost", "7001"}, nil, false},
		{"telnet $HOST 7001", []string{"telnet", "$HOST", "7001"}, nil, true},
		{`echo "$HOME"`, []string{"echo", "$HOME"}, nil, true},
		{"a | b", []string{"a", "|", "b"}, nil, true},
		{"ls *.c", []string{"ls", "*.c"}, nil, true},
		{"# comment", []string{"#", "comment"}, nil, true},
		{"a#b ~x", []string{"a#b", "~x"}, nil, true},
		{"a#b c~", []string{"a#b", "c~"}, nil, false},
		{"x=1 cmd", []string{"x=1", "cmd"}, nil, false},
	}
	for _, tc := range tests {
		got, err := shellwords.Split(tc.in)
		if !errors.Is(err, tc.err) || (err == nil && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("Split(%q) = %q, %v; want %q, %v", tc.in, got, err, tc.want, tc.err)
		}
		pgot, perr := shellwords.Plain(tc.in)
		switch {
		case tc.err != nil:
			if perr == nil {
				t.Errorf("Plain(%q) accepted", tc.in)
			}
		case tc.plainFail:
			if !errors.Is(perr, shellwords.ErrSyntax) {
				t.Errorf("Plain(%q) = %q, %v; want ErrSyntax", tc.in, pgot, perr)
			}
		case perr != nil || !reflect.DeepEqual(pgot, tc.want):
			t.Errorf("Plain(%q) = %q, %v; want %q", tc.in, pgot, perr, tc.want)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{"a 'b c' \"d\\\"e\" f\\ g", "telnet localhost 7001", "a | b", `"x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := shellwords.Split(s)
		pw, perr := shellwords.Plain(s)
		if err != nil && perr == nil {
			t.Fatalf("Plain accepted %q that Split refuses (%v)", s, err)
		}
		if perr == nil && !reflect.DeepEqual(words, pw) {
			t.Fatalf("Plain(%q) = %q, Split = %q", s, pw, words)
		}
	})
}
