package simdevice

import (
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/shellwords"
)

func TestParseDictionary(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name    string
		dict    string
		want    Config
		sim     bool
		wantErr string
	}{
		{"not YAML", "{% extends 'qemu.jinja2' %}", Config{}, false, ""},
		{"no simulated key", "hostname: x\n", Config{}, false, ""},
		{"empty mapping", "simulated: {}\n", def, true, ""},
		{"null mapping", "simulated:\n", def, true, ""},
		{"everything", `
simulated:
  boot_time: 2.5s
  boot_lines: 7
  line_length: 100
  prompt: "root@sim:~# "
  command_delay: 0.25
  fail_boot: true
  output_rate: 9600
  login_prompt: "login: "
  password_prompt: "Password: "
  username: root
  password: secret
other: ignored
`, Config{BootTime: 2500 * time.Millisecond, BootLines: 7, LineLength: 100, Prompt: "root@sim:~# ",
			CommandDelay: 250 * time.Millisecond, FailBoot: true, OutputRate: 9600, LoginPrompt: "login: ",
			PasswordPrompt: "Password: ", Username: "root", Password: "secret"}, true, ""},
		{"boot_time 0", "simulated: {boot_time: 0}", func() Config { c := def; c.BootTime = 0; return c }(), true, ""},
		{"unknown key", "simulated: {boot_tiem: 1s}", Config{}, true, "simulated.boot_tiem: unknown key"},
		{"bad duration", "simulated: {boot_time: soon}", Config{}, true, "simulated.boot_time: expected a duration"},
		{"negative duration", "simulated: {command_delay: -1s}", Config{}, true, "simulated.command_delay: must be between 0"},
		{"too long", "simulated: {boot_time: 48h}", Config{}, true, "simulated.boot_time: must be between 0"},
		{"bad lines", "simulated: {boot_lines: -1}", Config{}, true, "simulated.boot_lines: must be between 0"},
		{"lines not int", "simulated: {boot_lines: many}", Config{}, true, "simulated.boot_lines: expected an integer"},
		{"zero line length", "simulated: {line_length: 0}", Config{}, true, "simulated.line_length: must be between 1"},
		{"fail_boot not bool", "simulated: {fail_boot: yes please}", Config{}, true, "simulated.fail_boot: expected true or false"},
		{"empty prompt", `simulated: {prompt: ""}`, Config{}, true, "simulated.prompt: must not be empty"},
		{"password without login", `simulated: {password_prompt: "Password: "}`, Config{}, true, "password_prompt needs login_prompt"},
		{"not a mapping", "simulated: [1, 2]", Config{}, true, "expected a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, sim, err := ParseDictionary(tt.dict)
			if sim != tt.sim {
				t.Errorf("simulated = %v, want %v", sim, tt.sim)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		line    string
		want    []string
		wantErr bool
	}{
		{"echo a  b", []string{"echo", "a", "b"}, false},
		{`echo "<LAVA_SIGNAL_STARTRUN 0_x 1_2>"`, []string{"echo", "<LAVA_SIGNAL_STARTRUN 0_x 1_2>"}, false},
		{`echo 'a "b"' c\ d`, []string{"echo", `a "b"`, "c d"}, false},
		{`echo "a\"b\\c\n"`, []string{"echo", `a"b\c\n`}, false},
		{`echo ""`, []string{"echo", ""}, false},
		{"   ", nil, false},
		{`echo "open`, nil, true},
		{`echo 'open`, nil, true},
	}
	for _, tt := range tests {
		got, err := shellwords.Split(tt.line)
		if (err != nil) != tt.wantErr || !cmp.Equal(got, tt.want) {
			t.Errorf("shellwords.Split(%q) = %q, %v; want %q, error %v", tt.line, got, err, tt.want, tt.wantErr)
		}
	}
}

// console reads a device's output for a test.
type console struct {
	t   *testing.T
	d   *Device
	out strings.Builder
}

// until reads until the output read since the last call contains s, and
// returns that output.
func (c *console) until(s string) string {
	c.t.Helper()
	buf := make([]byte, 4096)
	for !strings.Contains(c.out.String(), s) {
		n, err := c.d.Read(buf)
		c.out.Write(buf[:n])
		if err != nil {
			c.t.Fatalf("console ended (%v) before %q; got %q", err, s, c.out.String())
		}
	}
	got := c.out.String()
	c.out.Reset()
	return got
}

// run types a command and returns its output (echo and prompt excluded).
func (c *console) run(cmd string) string {
	c.t.Helper()
	if _, err := io.WriteString(c.d, cmd+"\n"); err != nil {
		c.t.Fatal(err)
	}
	out := c.until(c.d.cfg.Prompt)
	out = strings.TrimSuffix(out, c.d.cfg.Prompt)
	echo, rest, _ := strings.Cut(out, "\n")
	if echo != cmd {
		c.t.Errorf("echo %q, want %q", echo, cmd)
	}
	return rest
}

func boot(t *testing.T, cfg Config) *console {
	t.Helper()
	d := New("sim-01", cfg)
	t.Cleanup(func() { d.Close() })
	if err := d.PowerOn(context.Background()); err != nil {
		t.Fatal(err)
	}
	return &console{t: t, d: d}
}

func fastConfig() Config {
	c := DefaultConfig()
	c.BootTime = 0
	return c
}

func TestBootLog(t *testing.T) {
	cfg := fastConfig()
	cfg.BootLines, cfg.LineLength = 4, 72
	c := boot(t, cfg)
	out := c.until(cfg.Prompt)
	lines := strings.Split(strings.TrimSuffix(out, cfg.Prompt), "\n")
	pad := func(s string) string { return s + strings.Repeat(".", 72-len(s)) }
	want := []string{
		"[    0.000000] Linux version 6.1.0-basalt-sim (sim@basalt) #1 SMP PREEMPT_DYNAMIC",
		pad("[    0.000000] basalt-sim: boot message 2/4 "),
		pad("[    0.000000] basalt-sim: boot message 3/4 "),
		pad("[    0.000000] basalt-sim: boot message 4/4 "),
		"",
	}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("boot log (-want +got):\n%s", diff)
	}
}

func TestBootLogTimestampsSpreadOverBootTime(t *testing.T) {
	cfg := fastConfig()
	cfg.BootLines, cfg.LineLength, cfg.BootTime = 2, 10, 20*time.Millisecond
	out := boot(t, cfg).until(cfg.Prompt)
	if !strings.Contains(out, "[    0.010000] basalt-sim: boot message 2/2") {
		t.Errorf("second line not stamped at half the boot time:\n%s", out)
	}
}

func TestShellCommands(t *testing.T) {
	cfg := fastConfig()
	cfg.LineLength = 20
	c := boot(t, cfg)
	c.until(DefaultPrompt)
	tests := []struct{ cmd, want string }{
		{"echo hello   world", "hello world\n"},
		{`echo "<LAVA_SIGNAL_STARTRUN 0_smoke 42_3.1>"`, "<LAVA_SIGNAL_STARTRUN 0_smoke 42_3.1>\n"},
		{"echo -n x", "x"},
		{"uname", "Linux\n"},
		{"uname -a", "Linux sim-01 6.1.0-basalt-sim #1 SMP PREEMPT_DYNAMIC x86_64 GNU/Linux\n"},
		{"uname -rm", "6.1.0-basalt-sim x86_64\n"},
		{"uname -q", "uname: invalid option -- 'q'\n"},
		{"true", ""},
		{"false", ""},
		{"cat", ""},
		{"cat /etc/os-release", "cat: /etc/os-release: No such file or directory\n"},
		{"sleep 0.01", ""},
		{"sleep x", "sleep: invalid time interval 'x'\n"},
		{"", ""},
		{"frobnicate --now", "sh: frobnicate: not found\n"},
		{`echo "unterminated`, "sh: syntax error: unterminated double quote\n"},
		{"lava-test-case uname --shell uname -s", "<LAVA_SIGNAL_STARTTC uname>\nLinux\n<LAVA_SIGNAL_ENDTC uname>\n<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=uname RESULT=pass>\n"},
		{"lava-test-case t --shell true", "<LAVA_SIGNAL_STARTTC t>\n<LAVA_SIGNAL_ENDTC t>\n<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=t RESULT=pass>\n"},
		{"lava-test-case f --shell false", "<LAVA_SIGNAL_STARTTC f>\n<LAVA_SIGNAL_ENDTC f>\n<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=f RESULT=fail>\n"},
		{"lava-test-case n --shell nope", "<LAVA_SIGNAL_STARTTC n>\nsh: nope: not found\n<LAVA_SIGNAL_ENDTC n>\n<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=n RESULT=fail>\n"},
		{"lava-test-case a --result pass", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=a RESULT=pass>\n"},
		{"lava-test-case b --result unknown", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=b RESULT=unknown>\n"},
		{"lava-test-case m --result pass --measurement 12.5 --units ms", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=m RESULT=pass UNITS=ms MEASUREMENT=12.5>\n"},
		{"lava-test-case m --measurement 3 --result fail", "<LAVA_SIGNAL_TESTCASE TEST_CASE_ID=m RESULT=fail MEASUREMENT=3>\n"},
		{"lava-test-case c", testCaseUsage},
		{"lava-test-case c --measurement 3", testCaseUsage},
		{"lava-test-set start network", "<LAVA_SIGNAL_TESTSET START network>\n"},
		{"lava-test-set stop network", "<LAVA_SIGNAL_TESTSET STOP>\n"},
		{"lava-test-set", "Usage: lava-test-set start NAME\n   or: lava-test-set stop\n"},
		{"lava-test-raise disk not found", "<LAVA_SIGNAL_TESTRAISE disk not found>\n"},
		{"lava-test-event firmware loaded", "<LAVA_SIGNAL_TESTEVENT firmware loaded>\n"},
		{"lava-test-reference doc --result pass --reference https://example.org/x", "<LAVA_SIGNAL_TESTREFERENCE doc pass https://example.org/x>\n"},
		{"flood 0", ""},
		{"flood 1", "\n"},
		{"flood 30", "flood 0 ############\nflood 1 \n"},
		{"flood -1", "flood: invalid byte count '-1' (0 to 1099511627776)\n"},
	}
	for _, tt := range tests {
		if got := c.run(tt.cmd); got != tt.want {
			t.Errorf("%q printed %q, want %q", tt.cmd, got, tt.want)
		}
	}
}

func TestFloodByteCount(t *testing.T) {
	c := boot(t, fastConfig())
	c.until(DefaultPrompt)
	for _, n := range []int{79, 80, 81, 1 << 20} {
		out := c.run("flood " + strconv.Itoa(n))
		if len(out) != n || !strings.HasSuffix(out, "\n") {
			t.Errorf("flood %d printed %d bytes", n, len(out))
		}
	}
}

func TestExitSilencesTheConsole(t *testing.T) {
	c := boot(t, fastConfig())
	c.until(DefaultPrompt)
	io.WriteString(c.d, "exit\n")
	c.until("exit\n")
	io.WriteString(c.d, "echo still there\n")
	c.d.Close() // ends the stream: everything printed is readable, then EOF
	rest, err := io.ReadAll(c.d)
	if err != nil || len(rest) != 0 {
		t.Errorf("after exit the console printed %q (%v), want nothing", rest, err)
	}
}

func TestFailBootPanics(t *testing.T) {
	cfg := fastConfig()
	cfg.FailBoot, cfg.BootLines = true, 1
	c := boot(t, cfg)
	c.until("---[ end Kernel panic - not syncing")
	c.d.Close()
	rest, _ := io.ReadAll(c.d)
	if strings.Contains(string(rest), cfg.Prompt) {
		t.Errorf("a failed boot showed the prompt: %q", rest)
	}
}

func TestLogin(t *testing.T) {
	cfg := fastConfig()
	cfg.BootLines = 0
	cfg.LoginPrompt, cfg.PasswordPrompt, cfg.Username, cfg.Password = "sim login: ", "Password: ", "root", "s3cret"
	c := boot(t, cfg)
	c.until("sim login: ")
	io.WriteString(c.d, "root\n")
	c.until("Password: ")
	io.WriteString(c.d, "wrong\n")
	if out := c.until("sim login: "); out != "\nLogin incorrect\nsim login: " {
		t.Errorf("refused login printed %q", out)
	}
	io.WriteString(c.d, "root\n")
	c.until("Password: ")
	io.WriteString(c.d, "s3cret\n")
	if out := c.until(cfg.Prompt); out != "\n"+cfg.Prompt {
		t.Errorf("login printed %q (the password must not be echoed)", out)
	}
	// exit goes back to the login prompt, like a getty.
	io.WriteString(c.d, "exit\n")
	c.until("exit\nsim login: ")
}

func TestPowerCycleRebootsAndDropsInput(t *testing.T) {
	cfg := fastConfig()
	cfg.BootLines = 1
	c := boot(t, cfg)
	c.until(cfg.Prompt)
	ctx := context.Background()
	if err := c.d.PowerOff(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := io.WriteString(c.d, "echo lost\n"); n != 10 || err != nil {
		t.Fatalf("write while off = %d, %v", n, err)
	}
	if err := c.d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	if out := c.until(cfg.Prompt); !strings.HasPrefix(out, "[    0.000000] Linux version") {
		t.Errorf("after the power cycle: %q", out)
	}
	if got := c.run("echo kept"); got != "kept\n" {
		t.Errorf("echo after reboot printed %q", got)
	}
	// PowerOn while on power-cycles too.
	if err := c.d.PowerOn(ctx); err != nil {
		t.Fatal(err)
	}
	c.until("Linux version")
}

func TestOutputRate(t *testing.T) {
	cfg := fastConfig()
	cfg.BootLines, cfg.LineLength, cfg.OutputRate = 10, 99, 10_000 // 1000 bytes at 10 kB/s
	c := boot(t, cfg)
	start := time.Now()
	c.until(cfg.Prompt)
	if took := time.Since(start); took < 90*time.Millisecond {
		t.Errorf("1000 bytes at 10 kB/s took %s, want at least 100 ms", took)
	}
}

func TestClosedDevice(t *testing.T) {
	d := New("sim-01", fastConfig())
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.PowerOn(context.Background()); err == nil {
		t.Error("PowerOn after Close succeeded")
	}
	if _, err := d.Write([]byte("x")); err == nil {
		t.Error("Write after Close succeeded")
	}
	if _, err := d.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("Read after Close = %v, want EOF", err)
	}
	if d.Kind() != Kind || d.Hostname() != "sim-01" || d.Console() != io.ReadWriter(d) {
		t.Error("identity accessors")
	}
}

// TestMultinodeHelpers: lava-send prints its call; the waits print theirs,
// read the console (echoing it) until the dispatcher's answer and keep
// its pairs in the cache, which cat prints and lava-sync empties.
func TestMultinodeHelpers(t *testing.T) {
	c := boot(t, fastConfig())
	c.until(DefaultPrompt)
	for _, tt := range []struct{ cmd, want string }{
		{`lava-send ipaddr ip=10.0.0.1 "motd=hello   world" junk =x`, "<LAVA_MULTI_NODE> <LAVA_SEND ipaddr ip=10.0.0.1 motd=hello world>\n"},
		{"lava-send", ""},
		{"lava-send a=b", ""},
		{"cat " + MultinodeCache, "cat: " + MultinodeCache + ": No such file or directory\n"},
	} {
		if got := c.run(tt.cmd); got != tt.want {
			t.Errorf("%q printed %q, want %q", tt.cmd, got, tt.want)
		}
	}
	wait := func(cmd, call string, answers ...string) string {
		t.Helper()
		io.WriteString(c.d, cmd+"\n")
		c.until(call + "\n")
		for _, a := range answers {
			io.WriteString(c.d, a+"\n")
		}
		return strings.TrimSuffix(c.until(DefaultPrompt), DefaultPrompt)
	}
	if got := wait("lava-wait ipaddr", "<LAVA_MULTI_NODE> <LAVA_WAIT ipaddr>", "noise", "<LAVA_WAIT_COMPLETE 12:ip=10.0.0.1 12:motd=hello world 13:x=y>"); got !=
		"noise\n<LAVA_WAIT_COMPLETE 12:ip=10.0.0.1 12:motd=hello world 13:x=y>\n" {
		t.Errorf("lava-wait printed %q", got)
	}
	if got := c.run("cat " + MultinodeCache); got != "12:ip=10.0.0.1\n12:motd=hello world\n13:x=y\n" {
		t.Errorf("the cache: %q", got)
	}
	if got := wait("lava-wait-all never server", "<LAVA_MULTI_NODE> <LAVA_WAIT_ALL never server>", "<LAVA_WAIT_ALL_COMPLETE nack>"); got !=
		"<LAVA_WAIT_ALL_COMPLETE nack>\nError:no-response nack, Exit from LAVA_WAIT_ALL!\n" {
		t.Errorf("lava-wait-all printed %q", got)
	}
	wait("lava-wait again", "<LAVA_MULTI_NODE> <LAVA_WAIT again>", "<LAVA_WAIT_COMPLETE 12:a=1>")
	wait("lava-sync done", "<LAVA_MULTI_NODE> <LAVA_SYNC done>", "<LAVA_SYNC_COMPLETE>")
	if got := c.run("cat " + MultinodeCache); got != "cat: "+MultinodeCache+": No such file or directory\n" {
		t.Errorf("lava-sync left the cache: %q", got)
	}
}
