package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/basalt-lab/basalt/internal/dispatcher/journal"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// fakeConsole is a console whose output the test writes and whose input
// it records.
type fakeConsole struct {
	r *io.PipeReader
	w *io.PipeWriter

	mu     sync.Mutex
	typed  strings.Builder
	writes int
}

func newFakeConsole() *fakeConsole {
	r, w := io.Pipe()
	return &fakeConsole{r: r, w: w}
}

func (f *fakeConsole) Read(p []byte) (int, error) { return f.r.Read(p) }

func (f *fakeConsole) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes++
	return f.typed.Write(p)
}

// print makes the device print s (returns once the reader took it).
func (f *fakeConsole) print(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(f.w, s); err != nil {
		t.Fatal(err)
	}
}

func newTestConn(t *testing.T) (*Conn, *fakeConsole, func() []workerproto.Record) {
	t.Helper()
	path := filepath.Join(t.TempDir(), JournalFile)
	log, err := journal.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fc := newFakeConsole()
	c := NewConn(fc, log)
	closeAll := func() []workerproto.Record {
		fc.w.Close()
		if err := c.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
		recs, err := journal.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	return c, fc, closeAll
}

func TestConnLogsLines(t *testing.T) {
	c, fc, closeAll := newTestConn(t)
	ctx := context.Background()
	fc.print(t, "one\r\ntw")
	fc.print(t, "o\n\nthree")
	if _, err := c.Expect(ctx, "test", regexp.MustCompile("three")); err != nil { // the lines before are logged
		t.Fatal(err)
	}
	if err := c.Send(ctx, "echo hi"); err != nil {
		t.Fatal(err)
	}
	fc.print(t, strings.Repeat("x", MaxLineLength+5)+"\n")
	fc.print(t, "/ # ")
	recs := closeAll()
	want := []string{"target one", "target two", "target ", "input echo hi", "target three" + strings.Repeat("x", MaxLineLength-5),
		"target " + strings.Repeat("x", 10), "target / # "}
	if diff := cmp.Diff(want, messages(recs)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if fc.typed.String() != "echo hi\n" {
		t.Errorf("typed %q", fc.typed.String())
	}
}

// TestConnFeedback: while the running action uses another console, a
// console's lines are feedback records of its namespace; then target
// records again.
func TestConnFeedback(t *testing.T) {
	c, fc, closeAll := newTestConn(t)
	ctx := context.Background()
	fc.print(t, "before\n")
	if _, err := c.Expect(ctx, "test", regexp.MustCompile("before\n")); err != nil {
		t.Fatal(err)
	}
	c.SetFeedback(true, "bbb")
	fc.print(t, "usb 1-1: new device\n")
	if _, err := c.Expect(ctx, "test", regexp.MustCompile("device\n")); err != nil {
		t.Fatal(err)
	}
	c.SetFeedback(false, "")
	fc.print(t, "after\n")
	recs := closeAll()
	if diff := cmp.Diff([]string{"target before", "feedback usb 1-1: new device", "target after"}, messages(recs)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	for _, r := range recs {
		if want := map[workerproto.Level]string{workerproto.LevelFeedback: "bbb"}[r.Level]; r.NS != want {
			t.Errorf("%s record has namespace %q, want %q", r.Level, r.NS, want)
		}
	}
}

func TestConnExpect(t *testing.T) {
	c, fc, closeAll := newTestConn(t)
	defer closeAll()
	ctx := context.Background()
	prompt := regexp.MustCompile(`/ # `)
	login := regexp.MustCompile(`login: `)

	fc.print(t, "boot\nsim login: x\n/ # ")
	// The earliest match wins, whatever the pattern order.
	if i, err := c.Expect(ctx, "test", prompt, login); i != 1 || err != nil {
		t.Fatalf("Expect = %d, %v; want the login prompt (1)", i, err)
	}
	// The output up to the match is consumed; the rest stays.
	if i, err := c.Expect(ctx, "test", login, prompt); i != 1 || err != nil {
		t.Fatalf("Expect = %d, %v; want the prompt (1)", i, err)
	}
	// Nothing left: Expect waits for new output.
	go io.WriteString(fc.w, "later / # ")
	if i, err := c.Expect(ctx, "test", prompt); i != 0 || err != nil {
		t.Fatalf("Expect = %d, %v", i, err)
	}
	// A context that ends stops the wait with its cause.
	cause := errors.New("gave up")
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(cause)
	if _, err := c.Expect(cctx, "test", prompt); !errors.Is(err, cause) {
		t.Fatalf("Expect with an ended context = %v, want its cause", err)
	}
}

func TestConnHookErrorStopsExpect(t *testing.T) {
	c, fc, closeAll := newTestConn(t)
	defer closeAll()
	raise := errors.New("raised")
	var hooked []string
	c.SetLineHook(func(line string) error {
		hooked = append(hooked, line)
		if strings.HasPrefix(line, "<LAVA_SIGNAL_TESTRAISE") {
			return raise
		}
		return nil
	})
	fc.print(t, "a\n<LAVA_SIGNAL_TESTRAISE x>\n/ # ")
	if _, err := c.Expect(context.Background(), "test", regexp.MustCompile(`/ # `)); err != raise {
		t.Fatalf("Expect = %v, want the hook's error", err)
	}
	if diff := cmp.Diff([]string{"a", "<LAVA_SIGNAL_TESTRAISE x>"}, hooked); diff != "" {
		t.Errorf("hooked lines (-want +got):\n%s", diff)
	}
	c.SetLineHook(nil) // clears the error
	if i, err := c.Expect(context.Background(), "test", regexp.MustCompile(`/ # `)); i != 0 || err != nil {
		t.Fatalf("Expect after the hook was removed = %d, %v", i, err)
	}
}

func TestConnExpectAfterEnd(t *testing.T) {
	c, fc, _ := newTestConn(t)
	fc.print(t, "bye\n")
	fc.w.Close()
	c.Wait(context.Background())
	_, err := c.Expect(context.Background(), "test", regexp.MustCompile(`/ # `))
	if !errors.Is(err, ErrConsoleClosed) || ErrorTypeOf(err) != "Infrastructure" {
		t.Fatalf("Expect on an ended console = %v (%s)", err, ErrorTypeOf(err))
	}
}

func TestConnMatchWindowIsBounded(t *testing.T) {
	c, fc, closeAll := newTestConn(t)
	defer closeAll()
	fc.print(t, "/ # ")
	for range 10 {
		fc.print(t, strings.Repeat("y", matchWindow/4)+"\n")
	}
	c.mu.Lock()
	n := len(c.window)
	c.mu.Unlock()
	if n > matchWindow {
		t.Errorf("match window holds %d bytes, more than %d", n, matchWindow)
	}
}

func TestQuoteConsole(t *testing.T) {
	tests := []struct {
		in, want string
		limit    int
	}{
		{"/ # ", "'/ # '", 80},
		{"root@debian:~# ", "'root@debian:~# '", 80},
		{"\x1b[6n/ # ", `'\x1b[6n/ # '`, 80},
		{"\x1b]0;title\x07$ ", `'\x1b]0;title\x07$ '`, 80},
		{"a\tb\r\n", `'a\tb\r\n'`, 80},
		{"it's C:\\", `'it\'s C:\\'`, 80},
		{"\u009b1m\u00a0é", `'\u009b1m\u00a0é'`, 80},
		{"bad \xff byte", `'bad \xff byte'`, 80},
		{"0123456789", "'01234…'", 5},
		{"ééééé", "'ééééé'", 5},
		{"", "''", 5},
	}
	for _, tt := range tests {
		if got := quoteConsole(tt.in, tt.limit); got != tt.want {
			t.Errorf("quoteConsole(%q, %d) = %s, want %s", tt.in, tt.limit, got, tt.want)
		}
	}
}

// TestConnTimeoutNamesTheLastLine: a wait its context ends says what it
// waited for, how long and the console's last non-blank line: the partial
// line when there is one, a long one cut, secrets masked, control
// characters escaped.
func TestConnTimeoutNamesTheLastLine(t *testing.T) {
	tests := []struct {
		name   string
		output []string // printed in turn
		want   string   // the last line, as quoted
	}{
		{"nothing printed", nil, "none (the console printed nothing)"},
		{"a prompt", []string{"boot\n", "/ # "}, "'/ # '"},
		{"blank lines after a line", []string{"Kernel panic - not syncing\r\n", "\n  \r\n"}, "'Kernel panic - not syncing'"},
		{"a blank partial line", []string{"last words\n", "   "}, "'last words'"},
		{"a partial line in pieces", []string{"login", ": "}, "'login: '"},
		{"a long partial line is cut", []string{strings.Repeat("x", 2*partialKept)}, "'" + strings.Repeat("x", quotedMax) + "…'"},
		{"a long partial line is cut between characters", []string{"x" + strings.Repeat("é", partialKept)}, "'x" + strings.Repeat("é", quotedMax-1) + "…'"},
		{"a partial line cut inside a character", []string{"x" + strings.Repeat("😀", partialKept/4)}, "'x" + strings.Repeat("😀", partialKept/4-1) + "…'"},
		{"escape sequences", []string{"\x1b[6n\x1b[?25l/ # "}, `'\x1b[6n\x1b[?25l/ # '`},
		{"secrets masked", []string{"token sekrit-42\n"}, "'token " + journal.Masked + "'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fc, closeAll := newTestConn(t)
			defer closeAll()
			c.log.Mask("sekrit-42")
			marker := regexp.MustCompile("never printed")
			for _, s := range tt.output {
				fc.print(t, s)
			}
			if n := len(tt.output); n > 0 {
				// Once Expect sees the last piece, Conn has taken it all.
				if _, err := c.Expect(context.Background(), "test", regexp.MustCompile(regexp.QuoteMeta(tt.output[n-1]))); err != nil {
					t.Fatal(err)
				}
			}
			gaveUp := errors.New("gave up")
			ctx, cancel := context.WithCancelCause(context.Background())
			cancel(gaveUp)
			_, err := c.Expect(ctx, "the marker 'never printed'", marker)
			var we *waitError
			if !errors.As(err, &we) || !errors.Is(err, gaveUp) {
				t.Fatalf("Expect = %v, want a *waitError wrapping the context's cause", err)
			}
			if we.last != tt.want || we.what != "the marker 'never printed'" {
				t.Errorf("waitError = %+v, want the last line %s", we, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "waited ") || !strings.HasSuffix(err.Error(), " s for the marker 'never printed'; last line: "+tt.want) {
				t.Errorf("message %q", err.Error())
			}
		})
	}
}

func TestCutAtRune(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "abc"},
		{"abé", "abé"},
		{"ab\xc3", "ab"},         // é cut after its first byte
		{"a€"[:3], "a"},          // € cut after two of its three bytes
		{"\xff\xfe", "\xff\xfe"}, // invalid bytes, no character cut
		{"", ""},
	}
	for _, tt := range tests {
		if got := string(cutAtRune([]byte(tt.in))); got != tt.want {
			t.Errorf("cutAtRune(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestConnTracksThePartialLineWithoutAllocating: reading a partial line,
// whatever its length, costs one allocation (the channel that wakes
// Expect up): keeping the start of the line for timeout messages adds
// none.
func TestConnTracksThePartialLineWithoutAllocating(t *testing.T) {
	log, err := journal.Create(filepath.Join(t.TempDir(), JournalFile))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	// No reader goroutine: consume is called as the reader would.
	c := &Conn{log: log, sig: make(chan struct{}), partial: make([]byte, 0, 64<<10), window: make([]byte, 0, 64<<10)}
	for _, n := range []int{4, partialKept, 8 << 10} {
		chunk := []byte(strings.Repeat("x", n))
		allocs := testing.AllocsPerRun(50, func() {
			c.partial, c.window = c.partial[:0], c.window[:0]
			c.consume(chunk)
		})
		if allocs > 1 {
			t.Errorf("reading a partial line of %d bytes: %v allocations, want 1", n, allocs)
		}
		c.mu.Lock()
		got := c.lastLineLocked()
		c.mu.Unlock()
		if want := "'" + strings.Repeat("x", min(n, quotedMax)); !strings.HasPrefix(got, want) {
			t.Errorf("last line %s, want it to start with %s", got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	res := func(ps ...string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for _, p := range ps {
			out = append(out, regexp.MustCompile(p))
		}
		return out
	}
	tests := []struct {
		patterns []*regexp.Regexp
		want     string
	}{
		{res(`/ # `), `'/ # '`},
		{res(`/ # `, `root@\w+:~# `, `\$ `), `'/ # ' or 'root@\w+:~# ' or '\$ '`},
		{res(`a`, `b`, `c`, `d`), `'a' or 'b' or 'c' or 'd'`},
		{res(`a`, `b`, `c`, `d`, `e`), `'a' or 'b' or 'c' or 2 others`},
		{res("\x1b\\[6n", `it's`), `'\x1b\[6n' or 'it\'s'`},
	}
	for _, tt := range tests {
		if got := describe(tt.patterns); got != tt.want {
			t.Errorf("describe = %s, want %s", got, tt.want)
		}
	}
	if got := waitingFor("login prompt", regexp.MustCompile("login:")); got != "login prompt 'login:'" {
		t.Errorf("waitingFor = %s", got)
	}
}

// TestPanicOutputBeforeTheError: a boot that sees the kernel panic lets the
// rest of the panic's output (which QEMU prints in later pieces) reach the
// log before the error is returned, so the log reads panic, trace, error.
func TestPanicOutputBeforeTheError(t *testing.T) {
	c, fc, records := newTestConn(t)
	ctx := context.Background()
	matched := make(chan struct{})
	go func() {
		fc.print(t, "[    1.8] Kernel panic - not syncing: VFS: Unable to mount root fs")
		// The rest comes once the boot saw the panic, a moment later (well
		// within Settle's quiet time).
		<-matched
		time.Sleep(50 * time.Millisecond)
		fc.print(t, " on unknown-block(0,0)\r\n")
		fc.print(t, "[    1.8] CPU: 0 PID: 1 Comm: swapper/0\r\n")
		fc.print(t, "[    1.9] ---[ end Kernel panic - not syncing: VFS ]---\r\n")
	}()
	i, err := c.Expect(ctx, "prompt '/ # '", withPanic(regexp.MustCompile(`/ # `))...)
	if err != nil || i != 1 {
		t.Fatalf("Expect = %d, %v; want the panic", i, err)
	}
	close(matched)
	err = kernelPanicked(ctx, c)
	if ErrorTypeOf(err) == "" || !strings.Contains(err.Error(), "kernel panic") {
		t.Fatalf("kernelPanicked = %v", err)
	}
	c.log.Log(workerproto.LevelError, err.Error())
	var got []string
	for _, r := range records() {
		var s string
		_ = json.Unmarshal(r.Msg, &s)
		got = append(got, string(r.Level)+" "+s)
	}
	want := []string{
		"target [    1.8] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)",
		"target [    1.8] CPU: 0 PID: 1 Comm: swapper/0",
		"target [    1.9] ---[ end Kernel panic - not syncing: VFS ]---",
		"error " + err.Error(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log order (-want +got):\n%s", diff)
	}
}

// With a character delay, Send and SendRaw type one character per write
// (LAVA's character_delays); without, a line is one write. A context that
// ends stops the typing.
func TestConnCharacterDelay(t *testing.T) {
	c, fc, closeAll := newTestConn(t)
	ctx := context.Background()
	if err := c.Send(ctx, "fast"); err != nil {
		t.Fatal(err)
	}
	c.SetCharacterDelay(time.Millisecond)
	if err := c.Send(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	if err := c.SendRaw(ctx, "ab"); err != nil {
		t.Fatal(err)
	}
	fc.mu.Lock()
	typed, writes := fc.typed.String(), fc.writes
	fc.mu.Unlock()
	if typed != "fast\nslow\nab" || writes != 1+5+2 {
		t.Errorf("typed %q in %d writes, want 8 writes", typed, writes)
	}
	c.SetCharacterDelay(time.Hour)
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.Send(cctx, "never"); err == nil {
		t.Error("a canceled send typed")
	}
	closeAll()
}
