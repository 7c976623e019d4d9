package lab

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// TestResult is a test case's outcome. The integer values are LAVA's
// (TestCase.RESULT_*) and are what the store persists.
type TestResult int

// Test case results.
const (
	ResultPass    TestResult = 0
	ResultFail    TestResult = 1
	ResultSkip    TestResult = 2
	ResultUnknown TestResult = 3
)

var testResultNames = enumNames{"pass", "fail", "skip", "unknown"}

// String returns LAVA's result code ("pass", "fail", "skip", "unknown").
func (r TestResult) String() string { return testResultNames.name(int(r), "TestResult") }

// ParseTestResult parses a result code, case-insensitively (for filters;
// results records in logs are mapped exactly, as LAVA does).
func ParseTestResult(s string) (TestResult, error) {
	v, err := testResultNames.parse(s, "test result")
	return TestResult(v), err
}

// LAVASuite is the suite the dispatcher records its own results in: one
// case per pipeline action, the validate step and the job's outcome
// ("job", with error_type and error_msg).
const LAVASuite = "lava"

// MaxResultName bounds the bytes of a suite, set or case name. PostgreSQL
// cannot index longer keys; the results parser cuts longer names (the whole
// record stays in the log).
const MaxResultName = 1024

// MaxResultMetadata is LAVA's bound on a test case's metadata, in
// characters (TestCase.metadata is a CharField of 4096).
const MaxResultMetadata = 4096

// TestCase is one test result of a job, in LAVA's model: a case of a test
// suite (named after the results record's "definition"), optionally in a
// test set. Line numbers are 0-based log lines, LAVA's convention (see
// docs/api.md).
type TestCase struct {
	ID    int64 // assigned by the store
	JobID int64
	Suite string
	Set   string // "" when the case is in no set
	Name  string
	// Result is pass, fail, skip or unknown.
	Result TestResult
	// Measurement is the measured value exactly as the record reported it
	// (decimal text), "" when there is none. In the lava suite it is the
	// duration, with Units "seconds", as LAVA stores it.
	Measurement string
	Units       string
	// Metadata is the whole results record as JSON (keys sorted), at most
	// MaxResultMetadata characters: longer records are stripped by LAVA's
	// rule (case, definition, result, error_type, then error_msg cut to
	// 256 characters if that still fits), or emptied.
	Metadata string
	// Line is the log line of the results record itself; a job has at most
	// one case per line. StartLine and EndLine are the lines the record's
	// starttc/endtc name (LAVA's start_log_line/end_log_line), or Line
	// when it has none.
	Line      int
	StartLine int
	EndLine   int
	// Logged is the record's time (its "dt").
	Logged time.Time
	// Level is the pipeline level of a lava-suite action ("1.4.2").
	Level string
	// Duration is in seconds, as the record reported it.
	Duration  string
	ErrorType string
	ErrorMsg  string
}

// Validate reports (wrapping ErrInvalid) what the store cannot hold: empty
// or overlong suite names, overlong set or case names, text that is not
// UTF-8 or holds NUL bytes, an unknown result, negative lines or a
// metadata text over MaxResultMetadata characters.
func (c TestCase) Validate() error {
	if c.Suite == "" {
		return fmt.Errorf("%w: test case %q has no suite", ErrInvalid, c.Name)
	}
	for _, n := range []struct{ what, v string }{{"suite", c.Suite}, {"set", c.Set}, {"case", c.Name}} {
		if len(n.v) > MaxResultName {
			return fmt.Errorf("%w: %s name of %d bytes (at most %d)", ErrInvalid, n.what, len(n.v), MaxResultName)
		}
	}
	for _, f := range []struct{ what, v string }{{"suite", c.Suite}, {"set", c.Set}, {"case", c.Name},
		{"measurement", c.Measurement}, {"units", c.Units}, {"metadata", c.Metadata}, {"level", c.Level},
		{"duration", c.Duration}, {"error_type", c.ErrorType}, {"error_msg", c.ErrorMsg}} {
		if err := CheckText(fmt.Sprintf("test case %q: %s", c.Name, f.what), f.v); err != nil {
			return err
		}
	}
	switch {
	case c.Result < ResultPass || c.Result > ResultUnknown:
		return fmt.Errorf("%w: test case %q: result %d", ErrInvalid, c.Name, c.Result)
	case c.Line < 0 || c.StartLine < 0 || c.EndLine < 0:
		return fmt.Errorf("%w: test case %q: negative log line", ErrInvalid, c.Name)
	case utf8.RuneCountInString(c.Metadata) > MaxResultMetadata:
		return fmt.Errorf("%w: test case %q: metadata over %d characters", ErrInvalid, c.Name, MaxResultMetadata)
	case c.Logged.IsZero():
		return fmt.Errorf("%w: test case %q has no logged time", ErrInvalid, c.Name)
	}
	return nil
}

// SuiteSummary is one test suite of a job with its cases counted by result.
type SuiteSummary struct {
	ID                        int64 // assigned by the store
	Name                      string
	Pass, Fail, Skip, Unknown int
	FirstLine                 int // the log line of its first case
}

// Total is the number of cases of the suite.
func (s SuiteSummary) Total() int { return s.Pass + s.Fail + s.Skip + s.Unknown }
