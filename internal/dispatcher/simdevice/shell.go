package simdevice

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/shellwords"
)

// MaxFlood bounds the flood command's byte count.
const MaxFlood = 1 << 40

// Exit statuses of the simulated shell.
const (
	statusOK       = 0
	statusFail     = 1
	statusSyntax   = 2
	statusNotFound = 127
)

// exec runs one command line and returns its exit status; exit is true for
// the exit command. err is non-nil only when the machine must stop (its
// context ended).
func (m *machine) exec(ctx context.Context, line string) (status int, exit bool, err error) {
	words, werr := shellwords.Split(line)
	if werr != nil {
		return statusSyntax, false, m.print(ctx, "sh: syntax error: "+werr.Error()+"\n")
	}
	if len(words) == 0 {
		return statusOK, false, nil
	}
	if words[0] == "exit" {
		return statusOK, true, nil
	}
	status, err = m.command(ctx, words)
	return status, false, err
}

// command runs one command given as words.
func (m *machine) command(ctx context.Context, words []string) (int, error) {
	name, args := words[0], words[1:]
	switch name {
	case "echo":
		end := "\n"
		if len(args) > 0 && args[0] == "-n" {
			end, args = "", args[1:]
		}
		return statusOK, m.print(ctx, strings.Join(args, " ")+end)
	case "true":
		return statusOK, nil
	case "false":
		return statusFail, nil
	case "uname":
		return m.uname(ctx, args)
	case "cat":
		status := statusOK
		for _, f := range args {
			if data, ok := m.files[f]; ok {
				if err := m.print(ctx, data); err != nil {
					return 0, err
				}
				continue
			}
			if err := m.print(ctx, "cat: "+f+": No such file or directory\n"); err != nil {
				return 0, err
			}
			status = statusFail
		}
		return status, nil
	case "sleep":
		if len(args) != 1 {
			return statusFail, m.print(ctx, "sleep: usage: sleep SECONDS\n")
		}
		s, err := strconv.ParseFloat(args[0], 64)
		if err != nil || s < 0 || s > MaxDuration.Seconds() {
			return statusFail, m.print(ctx, "sleep: invalid time interval '"+args[0]+"'\n")
		}
		return statusOK, sleepUntil(ctx, time.Now().Add(time.Duration(s*float64(time.Second))))
	case "exit":
		// Only reached from lava-test-case --shell: a subshell that exits.
		return statusOK, nil
	case "flood":
		return m.flood(ctx, args)
	case "lava-test-case":
		return m.testCase(ctx, args)
	case "lava-test-set":
		switch {
		case len(args) == 2 && args[0] == "start":
			return statusOK, m.signal(ctx, "TESTSET", "START "+args[1])
		case len(args) >= 1 && args[0] == "stop":
			return statusOK, m.signal(ctx, "TESTSET", "STOP")
		}
		return statusFail, m.print(ctx, "Usage: lava-test-set start NAME\n   or: lava-test-set stop\n")
	case "lava-test-raise":
		if len(args) == 0 {
			return statusFail, m.print(ctx, "Usage: lava-test-raise MESSAGE\n")
		}
		return statusOK, m.signal(ctx, "TESTRAISE", strings.Join(args, " "))
	case "lava-test-event":
		if len(args) == 0 {
			return statusFail, m.print(ctx, "Usage: lava-test-event MESSAGE\n")
		}
		return statusOK, m.signal(ctx, "TESTEVENT", strings.Join(args, " "))
	case "lava-test-reference":
		return m.testReference(ctx, args)
	case "lava-send", "lava-wait", "lava-wait-all", "lava-sync":
		return m.multinode(ctx, name, args)
	}
	return statusNotFound, m.print(ctx, "sh: "+name+": not found\n")
}

// signal prints one LAVA console signal on its own line.
func (m *machine) signal(ctx context.Context, name, args string) error {
	return m.print(ctx, "<LAVA_SIGNAL_"+name+" "+args+">\n")
}

// uname answers uname with the options -a, -s, -n, -r, -v and -m.
func (m *machine) uname(ctx context.Context, args []string) (int, error) {
	fields := map[byte]string{'s': "Linux", 'n': m.host, 'r': kernelRelease, 'v': kernelVersion, 'm': machineArch}
	want := map[byte]bool{}
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' {
			return statusFail, m.print(ctx, "uname: extra operand '"+a+"'\n")
		}
		for i := 1; i < len(a); i++ {
			c := a[i]
			if c == 'a' {
				for k := range fields {
					want[k] = true
				}
				continue
			}
			if _, ok := fields[c]; !ok {
				return statusFail, m.print(ctx, "uname: invalid option -- '"+string(c)+"'\n")
			}
			want[c] = true
		}
	}
	if len(want) == 0 {
		want['s'] = true
	}
	var out []string
	for _, c := range []byte("snrvm") {
		if want[c] {
			out = append(out, fields[c])
		}
	}
	if len(want) == len(fields) {
		out = append(out, "GNU/Linux")
	}
	return statusOK, m.print(ctx, strings.Join(out, " ")+"\n")
}

const testCaseUsage = "Usage: lava-test-case TEST_CASE_ID --shell cmds ...\n" +
	"   or: lava-test-case TEST_CASE_ID --result RESULT [--units UNITS] [--measurement MEASUREMENT]\n"

// testCase is LAVA's lava-test-case helper.
func (m *machine) testCase(ctx context.Context, args []string) (int, error) {
	if len(args) < 2 || args[0] == "" {
		return statusFail, m.print(ctx, testCaseUsage)
	}
	id, rest := args[0], args[1:]
	if rest[0] == "--shell" {
		if err := m.signal(ctx, "STARTTC", id); err != nil {
			return 0, err
		}
		status := statusOK
		if len(rest) > 1 {
			var err error
			if status, err = m.command(ctx, rest[1:]); err != nil {
				return 0, err
			}
		}
		if err := m.signal(ctx, "ENDTC", id); err != nil {
			return 0, err
		}
		result := "pass"
		if status != statusOK {
			result = "fail"
		}
		return statusOK, m.signal(ctx, "TESTCASE", "TEST_CASE_ID="+id+" RESULT="+result)
	}
	var result, units, measurement string
	for i := 0; i < len(rest); i++ {
		if i+1 >= len(rest) {
			return statusFail, m.print(ctx, testCaseUsage)
		}
		switch rest[i] {
		case "--result":
			result = rest[i+1]
		case "--units":
			units = rest[i+1]
		case "--measurement":
			measurement = rest[i+1]
		case "--output":
		default:
			return statusFail, m.print(ctx, testCaseUsage)
		}
		i++
	}
	if result == "" {
		return statusFail, m.print(ctx, testCaseUsage)
	}
	sig := "TEST_CASE_ID=" + id + " RESULT=" + result
	if measurement != "" {
		if units != "" {
			sig += " UNITS=" + units
		}
		sig += " MEASUREMENT=" + measurement
	}
	return statusOK, m.signal(ctx, "TESTCASE", sig)
}

// testReference is LAVA's lava-test-reference helper:
// lava-test-reference ID --result RESULT --reference URL.
func (m *machine) testReference(ctx context.Context, args []string) (int, error) {
	usage := "Usage: lava-test-reference TEST_CASE_ID --result RESULT --reference URL\n"
	if len(args) != 5 {
		return statusFail, m.print(ctx, usage)
	}
	var result, ref string
	for i := 1; i+1 < len(args); i += 2 {
		switch args[i] {
		case "--result":
			result = args[i+1]
		case "--reference":
			ref = args[i+1]
		}
	}
	if result == "" || ref == "" {
		return statusFail, m.print(ctx, usage)
	}
	return statusOK, m.signal(ctx, "TESTREFERENCE", args[0]+" "+result+" "+ref)
}

// flood prints BYTES bytes of numbered lines of LineLength bytes (the last
// one may be shorter), as fast as the console and OutputRate allow.
func (m *machine) flood(ctx context.Context, args []string) (int, error) {
	if len(args) != 1 {
		return statusFail, m.print(ctx, "Usage: flood BYTES\n")
	}
	total, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || total < 0 || total > MaxFlood {
		return statusFail, m.print(ctx, fmt.Sprintf("flood: invalid byte count '%s' (0 to %d)\n", args[0], int64(MaxFlood)))
	}
	lineLen := max(m.cfg.LineLength, 20)
	buf := make([]byte, 0, 64<<10+lineLen+1)
	for n := int64(0); total > 0; n++ {
		start := len(buf)
		buf = append(buf, "flood "...)
		buf = strconv.AppendInt(buf, n, 10)
		buf = append(buf, ' ')
		for len(buf)-start < lineLen {
			buf = append(buf, '#')
		}
		buf = append(buf, '\n')
		if l := int64(len(buf) - start); l > total {
			buf = append(buf[:start+int(total)-1], '\n')
			total = 0
		} else {
			total -= l
		}
		if len(buf) >= 64<<10 {
			if err := m.write(ctx, buf); err != nil {
				return 0, err
			}
			buf = buf[:0]
		}
	}
	return statusOK, m.write(ctx, buf)
}
