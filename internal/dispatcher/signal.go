package dispatcher

import (
	"strings"
)

// SignalPrefix starts every LAVA console signal.
const SignalPrefix = "<LAVA_SIGNAL_"

// Names of the console signals of LAVA's test shell (lava.md §4.5).
const (
	SignalStartRun      = "STARTRUN"      // <LAVA_SIGNAL_STARTRUN testrun_id uuid>
	SignalEndRun        = "ENDRUN"        // <LAVA_SIGNAL_ENDRUN testrun_id uuid>
	SignalStartTC       = "STARTTC"       // <LAVA_SIGNAL_STARTTC case>
	SignalEndTC         = "ENDTC"         // <LAVA_SIGNAL_ENDTC case>
	SignalTestCase      = "TESTCASE"      // <LAVA_SIGNAL_TESTCASE TEST_CASE_ID=id RESULT=r [UNITS=u] [MEASUREMENT=m]>
	SignalTestSet       = "TESTSET"       // <LAVA_SIGNAL_TESTSET START name> / <LAVA_SIGNAL_TESTSET STOP>
	SignalTestReference = "TESTREFERENCE" // <LAVA_SIGNAL_TESTREFERENCE id result url>
	SignalTestRaise     = "TESTRAISE"     // <LAVA_SIGNAL_TESTRAISE message>
	SignalTestEvent     = "TESTEVENT"     // <LAVA_SIGNAL_TESTEVENT message>
	SignalTestFeedback  = "TESTFEEDBACK"  // <LAVA_SIGNAL_TESTFEEDBACK namespace>
)

// Signal is one console signal: <LAVA_SIGNAL_Name Args>. Name is made of
// upper-case letters, digits and underscores; Args is non-empty, has no
// leading or trailing blanks, and contains neither '>' nor SignalPrefix.
type Signal struct {
	Name string
	Args string
}

// String formats the signal as the DUT prints it.
func (s Signal) String() string { return SignalPrefix + s.Name + " " + s.Args + ">" }

// Fields splits Args at blanks.
func (s Signal) Fields() []string { return strings.Fields(s.Args) }

// Params reads Args as KEY=value pairs (the TESTCASE form). A blank-
// separated word without '=' continues the previous value (units such as
// "Mbit per s" are kept whole); words before the first pair are ignored.
// Keys are case-sensitive; a repeated key keeps its last value.
func (s Signal) Params() map[string]string {
	out := map[string]string{}
	last := ""
	for _, f := range strings.Fields(s.Args) {
		if k, v, ok := strings.Cut(f, "="); ok && isSignalKey(k) {
			out[k] = v
			last = k
			continue
		}
		if last != "" {
			out[last] += " " + f
		}
	}
	return out
}

func isSignalKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isNameByte(k[i]) {
			return false
		}
	}
	return true
}

func isNameByte(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

// ParseSignal finds the first complete console signal in a line of DUT
// output. It matches LAVA's pattern <LAVA_SIGNAL_(\S+) ([^>]+)> with two
// refinements that make it robust to console noise: the name must be made
// of upper-case letters, digits and underscores, and a signal whose
// argument text contains the start of another signal (an interrupted
// signal, cut by kernel messages or a partial line) is skipped in favour of
// the inner one. Text before and after the signal is ignored, so kernel
// messages printed on the same line do not hide it. A signal without its
// closing '>' (a partial line) is not reported.
func ParseSignal(line string) (Signal, bool) {
	sig, _, ok := findSignal(line)
	return sig, ok
}

// findSignal is ParseSignal that also returns the index just after the
// signal's closing '>'.
func findSignal(line string) (Signal, int, bool) {
	for i := 0; ; {
		j := strings.Index(line[i:], SignalPrefix)
		if j < 0 {
			return Signal{}, 0, false
		}
		nameStart := i + j + len(SignalPrefix)
		i = nameStart
		k := nameStart
		for k < len(line) && isNameByte(line[k]) {
			k++
		}
		if k == nameStart || k >= len(line) || line[k] != ' ' {
			continue
		}
		end := strings.IndexByte(line[k+1:], '>')
		if end < 0 {
			return Signal{}, 0, false // no '>' further on: nothing later can complete
		}
		args := line[k+1 : k+1+end]
		if strings.Contains(args, SignalPrefix) {
			continue
		}
		args = strings.Trim(args, " \t\r")
		if args == "" {
			continue
		}
		return Signal{Name: line[nameStart:k], Args: args}, k + 2 + end, true
	}
}
