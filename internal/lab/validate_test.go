package lab

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckText(t *testing.T) {
	for _, c := range []struct {
		s    string
		want string // "" for valid; else a part of the message
	}{
		{"", ""},
		{"plain", ""},
		{"café ✓ \U0001F600 \t\x01\x7f \uFFFD", ""},
		{"a\x00b", "NUL character (at byte 1)"},
		{"\x00", "NUL character (at byte 0)"},
		{"caf\xe9", "bad byte 0xe9 at byte 3"},
		{"ok\xff\x00", "bad byte 0xff at byte 2"}, // the first problem is reported
		{"é\x00\xff", "NUL character (at byte 2)"},
		{"\xe2\x9c", "bad byte 0xe2 at byte 0"}, // a cut sequence
	} {
		err := CheckText("the value", c.s)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckText(%q) = %v, want nil", c.s, err)
		case c.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "the value")):
			t.Errorf("CheckText(%q) = %v, want ErrInvalid saying %q", c.s, err, c.want)
		}
	}
}

func TestCheckSettings(t *testing.T) {
	for _, n := range []int{0, 1, MaxSetting} {
		if err := CheckHealthFrequency(n); err != nil {
			t.Errorf("CheckHealthFrequency(%d) = %v", n, err)
		}
		if err := CheckJobLimit(n); err != nil {
			t.Errorf("CheckJobLimit(%d) = %v", n, err)
		}
	}
	for _, n := range []int{-1, MaxSetting + 1, 1 << 62} {
		if err := CheckHealthFrequency(n); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "2147483647") {
			t.Errorf("CheckHealthFrequency(%d) = %v", n, err)
		}
		if err := CheckJobLimit(n); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "2147483647") {
			t.Errorf("CheckJobLimit(%d) = %v", n, err)
		}
	}
}
