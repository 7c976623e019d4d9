package lab

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// MaxSetting is the largest value of the integer settings people give a
// lab (a device type's health frequency, a worker's job limit): the range
// of a 32-bit integer, which PostgreSQL stores them in. Both databases
// refuse larger values the same way, with ErrInvalid, rather than
// PostgreSQL alone failing.
const MaxSetting = math.MaxInt32

// CheckText returns nil when s can be stored and shown as text: valid
// UTF-8 without NUL characters (PostgreSQL refuses both in text, SQLite
// would keep them). Otherwise it returns an error wrapping ErrInvalid that
// names the value (what) and the byte offset of the first bad byte.
func CheckText(what, s string) error {
	if i := strings.IndexByte(s, 0); i >= 0 && (utf8.ValidString(s[:i])) {
		return fmt.Errorf("%w: %s holds a NUL character (at byte %d), which is not allowed in text", ErrInvalid, what, i)
	}
	if utf8.ValidString(s) {
		return nil
	}
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		i += n
	}
	return fmt.Errorf("%w: %s is not valid UTF-8 text (bad byte 0x%02x at byte %d)", ErrInvalid, what, s[i], i)
}

// CheckHealthFrequency checks a device type's health frequency: a number of
// hours or of jobs (HealthDenominator), 0 to MaxSetting.
func CheckHealthFrequency(n int) error {
	if n < 0 || n > MaxSetting {
		return fmt.Errorf("%w: health frequency %d is out of range: it must be a number of hours or jobs from 0 to %d", ErrInvalid, n, MaxSetting)
	}
	return nil
}

// CheckJobLimit checks a worker's job limit: 0 (no limit) to MaxSetting
// devices busy at once.
func CheckJobLimit(n int) error {
	if n < 0 || n > MaxSetting {
		return fmt.Errorf("%w: job limit %d is out of range: it must be from 0 (no limit) to %d", ErrInvalid, n, MaxSetting)
	}
	return nil
}
