package dispatcher

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/devicetypes"
	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/jinja"
	testboard "github.com/basalt-lab/basalt/internal/testutil/board"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// consoleJobDir writes job.json for a console session of alice on a
// device whose rendered configuration is config.
func consoleJobDir(t *testing.T, hostname, config string) string {
	t.Helper()
	return consoleJobDirTimeout(t, hostname, config, 10*time.Minute)
}

// consoleJobDirTimeout is consoleJobDir with the assignment's timeout.
func consoleJobDirTimeout(t *testing.T, hostname, config string, timeout time.Duration) string {
	t.Helper()
	dir := t.TempDir()
	a := workerproto.Assign{JobID: 7, JobToken: testToken, Timeout: timeout,
		Device:  workerproto.Device{Hostname: hostname, DeviceType: "qemu-uboot-x86_64", Config: config},
		Console: &workerproto.Console{Holder: "alice", Reason: "poke U-Boot", Until: time.Now().Add(time.Hour)}}
	if err := WriteJob(dir, a); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeConsoleWorker is the worker's end of a console socket.
type fakeConsoleWorker struct {
	t   *testing.T
	c   net.Conn
	enc *json.Encoder

	mu      sync.Mutex
	written int64 // lines written
	last    ConsoleReply
	replies int
	changed chan struct{}
}

// dialConsole connects to the session's console socket (waiting for it).
func dialConsole(t *testing.T, dir string) *fakeConsoleWorker {
	t.Helper()
	var c net.Conn
	eventuallyD(t, "the console socket accepts", func() bool {
		var err error
		c, err = net.Dial("unix", filepath.Join(dir, workerproto.ConsoleSocket))
		return err == nil
	})
	w := &fakeConsoleWorker{t: t, c: c, enc: json.NewEncoder(c), changed: make(chan struct{}, 1)}
	go func() {
		sc := bufio.NewScanner(c)
		for sc.Scan() {
			var r ConsoleReply
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Errorf("console reply %q: %v", sc.Text(), err)
				return
			}
			w.mu.Lock()
			if r.Applied < w.last.Applied {
				t.Errorf("applied went back from %d to %d", w.last.Applied, r.Applied)
			}
			w.last = r
			w.replies++
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { c.Close() })
	return w
}

func (w *fakeConsoleWorker) reply() (ConsoleReply, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last, w.replies
}

// send writes inputs and waits until the job process has dealt with them.
func (w *fakeConsoleWorker) send(ins ...workerproto.ConsoleInput) ConsoleReply {
	w.t.Helper()
	for _, in := range ins {
		if in.User == "" {
			in.User = "alice"
		}
		if in.Time.IsZero() {
			in.Time = time.Now()
		}
		if err := w.enc.Encode(in); err != nil {
			w.t.Fatal(err)
		}
		w.written++
	}
	eventuallyD(w.t, "the inputs dealt with", func() bool {
		r, _ := w.reply()
		return r.Lines >= w.written
	})
	r, _ := w.reply()
	return r
}

// eventuallyD waits until cond holds, failing after a generous deadline
// (it bounds hangs; it measures nothing).
func eventuallyD(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sessionLog reads a running session's journal.
type sessionLog struct {
	t    *testing.T
	path string
	mark int // offset in the console text from which console() looks
}

func (l *sessionLog) records() []workerproto.Record {
	recs, err := journal.ReadFile(l.path)
	if err != nil {
		l.t.Fatal(err)
	}
	return recs
}

// text is the console's bytes: the target records' messages, concatenated.
func (l *sessionLog) text() string {
	var b strings.Builder
	for _, r := range l.records() {
		if r.Level == workerproto.LevelTarget {
			b.WriteString(textOf(r))
		}
	}
	return b.String()
}

// waitConsole waits until the console printed s after the mark, and moves
// the mark past it.
func (l *sessionLog) waitConsole(s string) {
	l.t.Helper()
	eventuallyD(l.t, "the console prints "+quoteConsole(s, 80), func() bool {
		txt := l.text()
		if i := strings.Index(txt[l.mark:], s); i >= 0 {
			l.mark += i + len(s)
			return true
		}
		return false
	})
}

// markEnd moves the mark to the end of the console text so far.
func (l *sessionLog) markEnd() { l.mark = len(l.text()) }

// waitRecord waits for a record of level whose message contains s.
func (l *sessionLog) waitRecord(level workerproto.Level, s string) {
	l.t.Helper()
	eventuallyD(l.t, string(level)+" record "+quoteConsole(s, 80), func() bool {
		return hasMessage(l.records(), level, s)
	})
}

// count is the number of records of level whose message is exactly s.
func (l *sessionLog) count(level workerproto.Level, s string) int {
	n := 0
	for _, r := range l.records() {
		if r.Level == level && textOf(r) == s {
			n++
		}
	}
	return n
}

// TestConsoleSessionUBoot runs a console session on the U-Boot test board
// (QEMU behind ser2net, its power scripts), as the worker drives it
// through the console socket: power on, interrupt autoboot, a command and
// its answer, resent inputs applied once, an input beyond the next one
// refused until its turn, an expired input dropped, a hard reset, the
// console lost (input dropped meanwhile) and back with the gap marked, and
// the end on cancel with the board powered off.
func TestConsoleSessionUBoot(t *testing.T) {
	tb := testboard.Start(t, testboard.Options{Name: "uboot-cs", Firmware: testboard.UBoot})
	r := &devicedict.Renderer{Templates: jinja.FSLoader(devicetypes.FS())}
	config, err := r.Render(tb.Dictionary("qemu-uboot-x86_64.jinja2"), "uboot-cs", "qemu-uboot-x86_64", nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := consoleJobDir(t, "uboot-cs", config)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type ran struct {
		res Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := Run(ctx, dir)
		done <- ran{res, err}
	}()
	log := &sessionLog{t: t, path: filepath.Join(dir, JournalFile)}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the session's log:\n%s", strings.Join(messages(log.records()), "\n"))
		}
	})
	w := dialConsole(t, dir)
	log.waitRecord(workerproto.LevelInfo, "console session open")
	recs := log.records()
	if got, want := textOf(recs[1]), "console session of uboot-cs for alice until "; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ": poke U-Boot") {
		t.Errorf("second record %q, want %q…: poke U-Boot", got, want)
	}
	if r, _ := w.reply(); r.Applied != 0 {
		t.Errorf("applied %d before any input", r.Applied)
	}

	// Power on: U-Boot's countdown; a key gives its prompt.
	if r := w.send(workerproto.ConsoleInput{Seq: 1, Power: workerproto.PowerOn}); r.Applied != 1 {
		t.Fatalf("power on: applied %d", r.Applied)
	}
	log.waitRecord(workerproto.LevelInfo, "uboot-cs: power on asked by alice: running power_on")
	log.waitRecord(workerproto.LevelInfo, "board uboot-cs: on")
	log.waitRecord(workerproto.LevelInfo, "uboot-cs: power on asked by alice: done in ")
	log.waitConsole(testboard.UBootInterruptPrompt)
	w.send(workerproto.ConsoleInput{Seq: 2, Data: []byte(testboard.UBootInterruptChar)})
	log.waitConsole(testboard.UBootPrompt)

	// A command and its answer; its echo and the prompt after it come as
	// they are printed, a partial line included.
	w.send(workerproto.ConsoleInput{Seq: 3, Data: []byte("version\r")})
	log.waitConsole("version\r\n")
	log.waitConsole("U-Boot 2023.01")
	log.waitConsole("\r\n" + testboard.UBootPrompt)
	if !strings.HasSuffix(log.text(), testboard.UBootPrompt) {
		t.Errorf("the prompt after the answer is not the end of the console text: %q", log.text())
	}

	// Resent inputs (a worker that restarted) are not applied again.
	if r := w.send(workerproto.ConsoleInput{Seq: 2, Data: []byte(testboard.UBootInterruptChar)}, workerproto.ConsoleInput{Seq: 3, Data: []byte("version\r")}); r.Applied != 3 {
		t.Errorf("after resending: applied %d, want 3", r.Applied)
	}
	if n := log.count(workerproto.LevelInput, `alice: 'version\r'`); n != 1 {
		t.Errorf("%d input records of version, want 1", n)
	}

	// An expired input is dropped and recorded; one beyond the next is
	// refused until its turn.
	w.send(workerproto.ConsoleInput{Seq: 4, Data: []byte("reset\r"), Expired: true})
	log.waitRecord(workerproto.LevelWarning, "by alice was dropped: it waited on the server longer than it may")
	if r := w.send(workerproto.ConsoleInput{Seq: 6, Data: []byte(testboard.UBootInterruptChar)}); r.Applied != 4 {
		t.Errorf("input 6 before 5: applied %d, want 4", r.Applied)
	}
	if n := log.count(workerproto.LevelInput, `alice: 'reset\r'`); n != 0 {
		t.Errorf("the expired input was typed")
	}

	// Hard reset: the banner again, then the interrupt (input 6 again).
	log.markEnd()
	w.send(workerproto.ConsoleInput{Seq: 5, Power: workerproto.PowerReset})
	log.waitRecord(workerproto.LevelInfo, "uboot-cs: power reset asked by alice: running hard_reset")
	log.waitConsole("U-Boot 2023.01")
	log.waitConsole(testboard.UBootInterruptPrompt)
	if r := w.send(workerproto.ConsoleInput{Seq: 6, Data: []byte(testboard.UBootInterruptChar)}); r.Applied != 6 {
		t.Errorf("applied %d, want 6", r.Applied)
	}
	log.waitConsole(testboard.UBootPrompt)

	// ser2net goes away: the loss is marked, input meanwhile dropped;
	// once it is back, the gap is marked and the board answers again.
	tb.StopSer2net()
	// (ser2net's end may be seen as more than one loss: wait until the
	// console is lost and its redial refused)
	eventuallyD(t, "the console lost for good", func() bool {
		refused := false
		for _, r := range log.records() {
			switch m := textOf(r); {
			case r.Level == workerproto.LevelWarning && strings.HasPrefix(m, "uboot-cs: the console was lost at "),
				r.Level == workerproto.LevelWarning && strings.HasPrefix(m, "uboot-cs: the console is back after "):
				refused = false
			case r.Level == workerproto.LevelDebug && strings.Contains(m, "reconnecting the console: attempt") && strings.Contains(m, "connection refused"):
				refused = true
			}
		}
		return refused
	})
	w.send(workerproto.ConsoleInput{Seq: 7, Data: []byte("lost\r")})
	log.waitRecord(workerproto.LevelWarning, `by alice was dropped: the console is lost (reconnecting): 'lost\r'`)
	restarted := len(log.records())
	if err := tb.RestartSer2net(); err != nil {
		t.Fatal(err)
	}
	// (ser2net's end may be seen as more than one loss: wait until the
	// last one is over)
	eventuallyD(t, "the console back after the restart", func() bool {
		recs := log.records()
		lost, back, backAfter := 0, 0, false
		for i, r := range recs {
			switch {
			case r.Level != workerproto.LevelWarning:
			case strings.HasPrefix(textOf(r), "uboot-cs: the console was lost at "):
				lost++
			case strings.HasPrefix(textOf(r), "uboot-cs: the console is back after "):
				back++
				backAfter = backAfter || i >= restarted
			}
		}
		return backAfter && lost == back
	})
	log.markEnd()
	w.send(workerproto.ConsoleInput{Seq: 8, Data: []byte("\r")})
	log.waitConsole(testboard.UBootPrompt)

	// Cancel: the session ends, the board is powered off, the job passes.
	cancel()
	var got ran
	select {
	case got = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the session did not end on cancel")
	}
	if got.err != nil || got.res.Result != ResultPass {
		t.Fatalf("Run = %+v, %v", got.res, got.err)
	}
	msgs := strings.Join(messages(log.records()), "\n")
	for _, want := range []string{
		"info session ended: canceled",
		"info uboot-cs: powering the board off (power_off_command)",
		"info >> board uboot-cs: off",
		"info uboot-cs: powered off",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if tb.On() {
		t.Error("the board is still on after the session")
	}
	if strings.Contains(msgs, testToken) {
		t.Error("the job token is in the log")
	}
	if _, err := os.Stat(filepath.Join(dir, workerproto.ConsoleSocket)); err == nil {
		t.Error("the console socket is left behind")
	}
}

// A session whose console cannot be opened tries again for a while, then
// fails with an Infrastructure error saying why.
func TestConsoleSessionNoConsole(t *testing.T) {
	defer func(p time.Duration) { consoleOpenPatience = p }(consoleOpenPatience)
	consoleOpenPatience = 1500 * time.Millisecond
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close() // nothing listens there now
	config := "commands:\n  connect: telnet 127.0.0.1 " + strconv.Itoa(addr.Port) + "\n  power_off: ['true']\n"
	res, recs := runDir(t, context.Background(), consoleJobDir(t, "board-01", config))
	if res.ErrorType != "Infrastructure" || !strings.Contains(res.ErrorMsg, "board-01: cannot open its console") || !strings.HasSuffix(res.ErrorMsg, "(tried for 1.5s)") {
		t.Errorf("result %+v\n%s", res, strings.Join(messages(recs), "\n"))
	}
	if !hasMessage(recs, workerproto.LevelWarning, "connection refused; trying again in 1s") {
		t.Errorf("no retry in the log:\n%s", strings.Join(messages(recs), "\n"))
	}
}

// A session on a device that is not a board is a Configuration error.
func TestConsoleSessionNotABoard(t *testing.T) {
	dir := t.TempDir()
	a := workerproto.Assign{JobID: 7, Device: workerproto.Device{Hostname: "sim-01", DeviceType: "sim", Dictionary: simDict("")},
		Console: &workerproto.Console{Holder: "alice", Until: time.Now().Add(time.Hour)}}
	if err := WriteJob(dir, a); err != nil {
		t.Fatal(err)
	}
	res, _ := runDir(t, context.Background(), dir)
	if res.ErrorType != "Configuration" || !strings.Contains(res.ErrorMsg, "console sessions need a board") {
		t.Errorf("result %+v", res)
	}
}

// consoleScript is a board's console as a shell script on a raw
// pseudo-terminal: lines with CR LF, LF alone, escape sequences, a prompt
// without a newline, then each line typed echoed back with the prompt.
const consoleScript = `printf 'hello\r\nworld\n\033[1mbold\033[0m\r\n=> '
while IFS= read -r line; do printf '%s\r\n=> ' "$line"; done
`

// The target records of a session give back the console's exact bytes
// when concatenated: line terminators kept, escape sequences as printed,
// a prompt recorded on its own once the console is quiet.
func TestConsoleSessionExactBytes(t *testing.T) {
	tmp := t.TempDir()
	script := filepath.Join(tmp, "console.sh")
	if err := os.WriteFile(script, []byte(consoleScript), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := consoleJobDir(t, "board-01", "commands:\n  connect: sh "+script+"\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan Result, 1)
	go func() {
		res, err := Run(ctx, dir)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		done <- res
	}()
	log := &sessionLog{t: t, path: filepath.Join(dir, JournalFile)}
	w := dialConsole(t, dir)
	log.waitConsole("=> ")
	w.send(workerproto.ConsoleInput{Seq: 1, Data: []byte("ab\x03c\n")})
	log.waitConsole("=> ")
	want := "hello\r\nworld\n\x1b[1mbold\x1b[0m\r\n=> ab\x03c\r\n=> "
	if got := log.text(); got != want {
		t.Errorf("console text %q, want %q", got, want)
	}
	var targets []string
	for _, r := range log.records() {
		if r.Level == workerproto.LevelTarget {
			targets = append(targets, textOf(r))
		}
	}
	if len(targets) < 4 || targets[0] != "hello\r\n" || targets[1] != "world\n" || targets[2] != "\x1b[1mbold\x1b[0m\r\n" || targets[3] != "=> " {
		t.Errorf("target records %q", targets)
	}
	if n := log.count(workerproto.LevelInput, `alice: 'ab\x03c\n'`); n != 1 {
		t.Errorf("%d input records of the typed line, want 1:\n%s", n, strings.Join(messages(log.records()), "\n"))
	}
	cancel()
	if res := <-done; res.Result != ResultPass {
		t.Errorf("result %+v", res)
	}
	if !hasMessage(log.records(), workerproto.LevelInfo, "board-01: the device has no power_off_command: the board is left as it is") {
		t.Error("the log does not say the board was left on")
	}
}

// TestParseConsoleInput checks the console socket's line parser.
func TestParseConsoleInput(t *testing.T) {
	for _, tc := range []struct {
		line, err string
	}{
		{`{"seq":1,"user":"a","data":"eA=="}`, ""},
		{`{"seq":2,"power":"reset"}`, ""},
		{`{"seq":3,"expired":true}`, ""},
		{`{"seq":3,"expired":true,"power":"on"}`, ""},
		{`{"seq":0,"data":"eA=="}`, "seq 0"},
		{`{"seq":-4,"data":"eA=="}`, "seq -4"},
		{`{"seq":1}`, "neither data nor a power action"},
		{`{"seq":1,"power":"explode"}`, "unknown power action"},
		{`{"seq":1,"power":"on","data":"eA=="}`, "both data and a power action"},
		{`{"seq":1,"data":"not base64!"}`, "console input"},
		{`{"seq":1,"data":"eA=="} {"seq":2}`, "more than one JSON value"},
		{`[1,2]`, "console input"},
		{``, "console input"},
	} {
		in, err := ParseConsoleInput([]byte(tc.line))
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.line, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q (got %+v)", tc.line, err, tc.err, in)
		}
	}
}

// FuzzConsoleSocket: whatever a worker writes on the console socket, the
// parser neither panics nor accepts an input that breaks its rules, and
// what it accepts survives a round trip.
func FuzzConsoleSocket(f *testing.F) {
	for _, s := range []string{`{"seq":1,"user":"a","data":"eA=="}`, `{"seq":2,"power":"reset"}`, `{"seq":3,"expired":true}`, `{"seq":1,"data":null}`, "\x00\xff", `{"seq":9223372036854775807,"power":"on"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for {
			line, err := readConsoleLine(r)
			if err != nil {
				break
			}
			checkConsoleLine(t, line)
		}
		checkConsoleLine(t, data)
	})
}

// checkConsoleLine parses one line as the console socket does and checks
// what it accepts.
func checkConsoleLine(t *testing.T, line []byte) {
	t.Helper()
	in, err := ParseConsoleInput(line)
	if err != nil {
		return
	}
	if in.Seq < 1 || (in.Power == "" && len(in.Data) == 0 && !in.Expired) || (in.Power != "" && len(in.Data) > 0) {
		t.Fatalf("accepted %+v", in)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseConsoleInput(b)
	if err != nil || again.Seq != in.Seq || string(again.Data) != string(in.Data) || again.Power != in.Power {
		t.Fatalf("round trip of %+v: %+v, %v", in, again, err)
	}
}

// A session whose time is up ends by itself: recorded, the board powered
// off with its power_off_command (its output recorded), and it passes.
func TestConsoleSessionTimeLimit(t *testing.T) {
	tmp := t.TempDir()
	script := filepath.Join(tmp, "console.sh")
	if err := os.WriteFile(script, []byte(consoleScript), 0o755); err != nil {
		t.Fatal(err)
	}
	config := "commands:\n  connect: sh " + script + "\n  power_off: ['echo switched off; exit 0']\n"
	res, recs := runDir(t, context.Background(), consoleJobDirTimeout(t, "board-01", config, time.Second))
	if res.Result != ResultPass {
		t.Fatalf("result %+v", res)
	}
	msgs := strings.Join(messages(recs), "\n")
	for _, want := range []string{
		"info session ended: its time limit (00:00:01) is up",
		"info board-01: powering the board off (power_off_command)",
		"info board-01: power_off: echo switched off; exit 0",
		"info >> switched off",
		"info board-01: powered off",
	} {
		if !strings.Contains(msgs, want) {
			t.Errorf("the log lacks %q:\n%s", want, msgs)
		}
	}
}
