package dispatcher

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		name string
		line string
		want Signal
		ok   bool
	}{
		{"testcase", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESULT=pass>", Signal{"TESTCASE", "TEST_CASE_ID=uname RESULT=pass"}, true},
		{"startrun", "<LAVA_SIGNAL_STARTRUN 0_smoke 42_3.1>", Signal{"STARTRUN", "0_smoke 42_3.1"}, true},
		{"testset stop", "<LAVA_SIGNAL_TESTSET STOP>", Signal{"TESTSET", "STOP"}, true},
		{"trailing CR", "<LAVA_SIGNAL_ENDTC uname>\r", Signal{"ENDTC", "uname"}, true},
		{"kernel prefix", "[   12.345678] <LAVA_SIGNAL_ENDRUN 0_smoke 42_3.1>", Signal{"ENDRUN", "0_smoke 42_3.1"}, true},
		{"kmsg level prefix", "<0><LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RESULT=fail>", Signal{"TESTCASE", "TEST_CASE_ID=a RESULT=fail"}, true},
		{"kernel suffix", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=b RESULT=skip>[   13.0] usb 1-1: new device", Signal{"TESTCASE", "TEST_CASE_ID=b RESULT=skip"}, true},
		{"interrupted then complete", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RES<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=c RESULT=pass>", Signal{"TESTCASE", "TEST_CASE_ID=c RESULT=pass"}, true},
		{"extra blanks trimmed", "<LAVA_SIGNAL_TESTRAISE   disk missing  >", Signal{"TESTRAISE", "disk missing"}, true},
		{"first of two", "<LAVA_SIGNAL_TESTSET START net><LAVA_SIGNAL_TESTSET STOP>", Signal{"TESTSET", "START net"}, true},
		{"bad name then good", "<LAVA_SIGNAL_test-case x> <LAVA_SIGNAL_ENDTC y>", Signal{"ENDTC", "y"}, true},
		{"partial line", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESU", Signal{}, false},
		{"no args", "<LAVA_SIGNAL_TESTSET>", Signal{}, false},
		{"blank args", "<LAVA_SIGNAL_TESTSET   >", Signal{}, false},
		{"no space", "<LAVA_SIGNAL_ENDRUN>x y>", Signal{}, false},
		{"lower-case name", "<LAVA_SIGNAL_testcase RESULT=pass>", Signal{}, false},
		{"plain output", "Linux version 6.1.0", Signal{}, false},
		{"empty", "", Signal{}, false},
		{"prefix only", "<LAVA_SIGNAL_", Signal{}, false},
		{"other LAVA marker", "<LAVA_TEST_RUNNER EXIT>", Signal{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ParseSignal(tt.line)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ParseSignal(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSignalParams(t *testing.T) {
	tests := []struct {
		args string
		want map[string]string
	}{
		{"TEST_CASE_ID=a RESULT=pass", map[string]string{"TEST_CASE_ID": "a", "RESULT": "pass"}},
		{"TEST_CASE_ID=t RESULT=pass UNITS=Mbit/s MEASUREMENT=93.5", map[string]string{"TEST_CASE_ID": "t", "RESULT": "pass", "UNITS": "Mbit/s", "MEASUREMENT": "93.5"}},
		{"TEST_CASE_ID=t RESULT=pass MEASUREMENT=1 UNITS=bits per second", map[string]string{"TEST_CASE_ID": "t", "RESULT": "pass", "MEASUREMENT": "1", "UNITS": "bits per second"}},
		{"junk TEST_CASE_ID=a=b", map[string]string{"TEST_CASE_ID": "a=b"}},
		{"RESULT=fail RESULT=pass", map[string]string{"RESULT": "pass"}},
		{"lower=x", map[string]string{}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Signal{Name: SignalTestCase, Args: tt.args}.Params()); diff != "" {
			t.Errorf("Params(%q) (-want +got):\n%s", tt.args, diff)
		}
	}
}

func TestFindSignalEnd(t *testing.T) {
	line := "x<LAVA_SIGNAL_TESTSET START a>y<LAVA_SIGNAL_TESTSET STOP>z"
	var got []string
	for rest := line; ; {
		sig, end, ok := findSignal(rest)
		if !ok {
			break
		}
		got = append(got, sig.String())
		rest = rest[end:]
	}
	want := []string{"<LAVA_SIGNAL_TESTSET START a>", "<LAVA_SIGNAL_TESTSET STOP>"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
}

// FuzzParseSignal checks ParseSignal's invariants on arbitrary lines, and
// that a well-formed signal is found whatever noise surrounds it.
func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{
		"<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESULT=pass>",
		"[ 1.0] <LAVA_SIGNAL_ENDRUN 0_a 1_2>",
		"<LAVA_SIGNAL_TESTSET START x<LAVA_SIGNAL_TESTSET STOP>",
		"<LAVA_SIGNAL_",
		"<LAVA_SIGNAL_A >",
		"",
	} {
		f.Add(s, "TESTCASE", "TEST_CASE_ID=a RESULT=pass", "")
	}
	f.Fuzz(func(t *testing.T, line, name, args, suffix string) {
		sig, end, ok := findSignal(line)
		if s2, ok2 := ParseSignal(line); ok2 != ok || s2 != sig {
			t.Fatalf("ParseSignal and findSignal disagree on %q", line)
		}
		if ok {
			if sig.Name == "" || !isSignalKey(sig.Name) {
				t.Fatalf("bad name %q from %q", sig.Name, line)
			}
			if sig.Args == "" || strings.Contains(sig.Args, ">") || strings.Contains(sig.Args, SignalPrefix) ||
				strings.Trim(sig.Args, " \t\r") != sig.Args {
				t.Fatalf("bad args %q from %q", sig.Args, line)
			}
			if end < 1 || end > len(line) || line[end-1] != '>' || !strings.Contains(line[:end], SignalPrefix+sig.Name+" ") {
				t.Fatalf("bad end %d for %q in %q", end, sig, line)
			}
			_ = sig.Params()
		}
		// A well-formed signal after noise without a signal start is found.
		if !isSignalKey(name) || strings.ContainsAny(args, ">") || strings.Contains(args, SignalPrefix) {
			return
		}
		args = strings.Trim(args, " \t\r")
		if args == "" {
			return
		}
		want := Signal{Name: name, Args: args}
		noise := strings.ReplaceAll(line, "<", "(")
		got, ok := ParseSignal(noise + want.String() + suffix)
		if !ok || got != want {
			t.Fatalf("ParseSignal(%q) = %+v, %v; want %+v", noise+want.String()+suffix, got, ok, want)
		}
	})
}
