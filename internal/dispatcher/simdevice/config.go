package simdevice

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
)

// Config is a simulated device's behaviour. The zero value is not useful;
// start from DefaultConfig or ParseDictionary.
type Config struct {
	// BootTime is how long the boot log takes, from power-on to the prompt.
	BootTime time.Duration
	// BootLines is the number of boot log lines; the first contains
	// "Linux version".
	BootLines int
	// LineLength is the length in bytes of a boot log line (without its
	// newline); shorter lines are padded with dots.
	LineLength int
	// Prompt is the shell prompt, printed without a newline.
	Prompt string
	// CommandDelay is how long the shell waits after reading a command line
	// before it answers.
	CommandDelay time.Duration
	// FailBoot makes the boot end in a kernel panic instead of the prompt.
	FailBoot bool
	// OutputRate caps the console output in bytes per second; 0 is no cap.
	OutputRate int
	// LoginPrompt, when set, is printed after the boot log; the shell starts
	// once a user name (and, with PasswordPrompt, a password) is given.
	LoginPrompt string
	// Motd is printed after a successful login, before the shell prompt
	// (a real system's "Last login: …" banner).
	Motd string
	// PasswordPrompt, when set, asks for a password after the user name.
	PasswordPrompt string
	// Username and Password are the accepted credentials when set; empty
	// accepts anything.
	Username string
	Password string
}

// Defaults of the dictionary keys.
const (
	DefaultBootTime   = time.Second
	DefaultBootLines  = 50
	DefaultLineLength = 80
	DefaultPrompt     = "/ # "
)

// DefaultConfig is the configuration of an empty simulated: mapping.
func DefaultConfig() Config {
	return Config{
		BootTime:   DefaultBootTime,
		BootLines:  DefaultBootLines,
		LineLength: DefaultLineLength,
		Prompt:     DefaultPrompt,
	}
}

// Limits on the dictionary values, so that a dictionary cannot make the
// simulation unbounded.
const (
	MaxBootLines  = 10_000_000
	MaxLineLength = 1 << 20
	MaxDuration   = 24 * time.Hour
)

// Key is the top-level dictionary key that makes a device simulated.
const Key = "simulated"

// dictionaryKeys are the keys of the simulated: mapping.
var dictionaryKeys = []string{
	"boot_time", "boot_lines", "line_length", "prompt", "command_delay", "fail_boot",
	"output_rate", "login_prompt", "password_prompt", "username", "password", "motd",
}

// ParseDictionary reads a device dictionary. ok is false when the text is
// not a YAML mapping with a top-level simulated: key (the device is not a
// simulated one; err is then nil). Otherwise the mapping (null means all
// defaults) is checked by ParseConfig. Other top-level keys are ignored.
func ParseDictionary(dict string) (cfg Config, ok bool, err error) {
	var top map[string]any
	if err := yaml.Unmarshal([]byte(dict), &top); err != nil {
		return Config{}, false, nil
	}
	raw, ok := top[Key]
	if !ok {
		return Config{}, false, nil
	}
	if raw == nil {
		return DefaultConfig(), true, nil
	}
	m, isMap := raw.(map[string]any)
	if !isMap {
		return Config{}, true, &FieldError{Msg: "expected a mapping"}
	}
	cfg, err = ParseConfig(m)
	return cfg, true, err
}

// FieldError is one problem with the simulated: mapping of a device
// dictionary: Key names the offending key of the mapping ("" for the
// mapping as a whole) and Msg says what is wrong, without the key.
// ParseConfig returns these joined with errors.Join, so callers that know
// where each key is written can place each problem.
type FieldError struct {
	Key string
	Msg string
}

// Error formats the problem as "device dictionary: simulated.KEY: MSG".
func (e *FieldError) Error() string {
	if e.Key == "" {
		return fmt.Sprintf("device dictionary: %s: %s", Key, e.Msg)
	}
	return fmt.Sprintf("device dictionary: %s.%s: %s", Key, e.Key, e.Msg)
}

// DictionaryKeys returns the keys the simulated: mapping accepts.
func DictionaryKeys() []string { return slices.Clone(dictionaryKeys) }

// ParseConfig reads the simulated: mapping of a device dictionary (as
// decoded from YAML or a Jinja2 literal: integers may be int, int64 or
// uint64). Missing keys keep their defaults; a nil map is DefaultConfig.
// Unknown keys, wrong types and out-of-range values are errors: every
// problem is reported, each as a *FieldError, joined with errors.Join.
func ParseConfig(m map[string]any) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	fail := func(key, format string, args ...any) {
		errs = append(errs, &FieldError{Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := m[k]
		switch k {
		case "boot_time", "command_delay":
			d, err := duration(v)
			if err != nil {
				fail(k, "%v", err)
				continue
			}
			if k == "boot_time" {
				cfg.BootTime = d
			} else {
				cfg.CommandDelay = d
			}
		case "boot_lines", "line_length", "output_rate":
			n, err := integer(v)
			if err != nil {
				fail(k, "%v", err)
				continue
			}
			switch {
			case k == "boot_lines" && (n < 0 || n > MaxBootLines):
				fail(k, "must be between 0 and %d, got %d", MaxBootLines, n)
			case k == "line_length" && (n < 1 || n > MaxLineLength):
				fail(k, "must be between 1 and %d, got %d", MaxLineLength, n)
			case k == "output_rate" && n < 0:
				fail(k, "must be 0 (no cap) or a number of bytes per second, got %d", n)
			case k == "boot_lines":
				cfg.BootLines = int(n)
			case k == "line_length":
				cfg.LineLength = int(n)
			default:
				cfg.OutputRate = int(n)
			}
		case "fail_boot":
			b, isBool := v.(bool)
			if !isBool {
				fail(k, "expected true or false")
				continue
			}
			cfg.FailBoot = b
		case "prompt", "login_prompt", "password_prompt", "username", "password", "motd":
			s, isStr := v.(string)
			if !isStr {
				fail(k, "expected a string")
				continue
			}
			switch k {
			case "prompt":
				if s == "" {
					fail(k, "must not be empty")
					continue
				}
				cfg.Prompt = s
			case "login_prompt":
				cfg.LoginPrompt = s
			case "password_prompt":
				cfg.PasswordPrompt = s
			case "username":
				cfg.Username = s
			case "password":
				cfg.Password = s
			case "motd":
				cfg.Motd = s
			}
		default:
			fail(k, "unknown key (expected one of: %s)", strings.Join(dictionaryKeys, ", "))
		}
	}
	if cfg.PasswordPrompt != "" && cfg.LoginPrompt == "" {
		fail("password_prompt", "password_prompt needs login_prompt")
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// duration reads a Go duration string ("1.5s", "200ms") or a number of
// seconds.
func duration(v any) (time.Duration, error) {
	var d time.Duration
	switch x := v.(type) {
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return 0, fmt.Errorf("expected a duration like 1s or 250ms, got %q", x)
		}
		d = p
	default:
		f, err := number(v)
		if err != nil {
			return 0, fmt.Errorf("expected a duration like 1s or 250ms, or a number of seconds")
		}
		if f > MaxDuration.Seconds() || f < 0 {
			return 0, fmt.Errorf("must be between 0 and %s", MaxDuration)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 || d > MaxDuration {
		return 0, fmt.Errorf("must be between 0 and %s, got %s", MaxDuration, d)
	}
	return d, nil
}

func number(v any) (float64, error) {
	switch x := v.(type) {
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	case uint64:
		return float64(x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, errors.New("not a finite number")
		}
		return x, nil
	}
	return 0, errors.New("not a number")
}

func integer(v any) (int64, error) {
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, errors.New("too large")
		}
		return int64(x), nil
	}
	return 0, errors.New("expected an integer")
}
