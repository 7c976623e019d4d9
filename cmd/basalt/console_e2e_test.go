package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
	"github.com/basalt-lab/basalt/internal/testutil/board"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// consoleFailAfter bounds the waits of the console test for what the
// board or the lab does next: reaching it is a failure, never a
// measurement.
const consoleFailAfter = 3 * time.Minute

// person is a user of the lab with a password and an API token.
type person struct {
	name, password, token string
}

// addPerson creates a user with a password and a token of theirs.
func (l *lab) addPerson(t testing.TB, name string) person {
	t.Helper()
	ctx := context.Background()
	p := person{name: name, password: name + "-password-for-the-console"}
	if _, err := l.api.CreateUser(ctx, wire.UserInput{Username: name, Password: &p.password}); err != nil {
		t.Fatal(err)
	}
	tok, err := l.api.CreateToken(ctx, wire.TokenInput{Owner: name, Description: "console test"})
	if err != nil {
		t.Fatal(err)
	}
	p.token = tok.Secret
	return p
}

// as runs a client command of the binary as p and returns its stdout,
// stderr and exit code.
func (l *lab) as(t testing.TB, p person, args ...string) (string, string, int) {
	t.Helper()
	return runBinary(t, append([]string{"--config", filepath.Join(t.TempDir(), "none.yaml"), "--uri", l.url, "--token", p.token}, args...)...)
}

// consoleProc is a running `basalt console` with its standard input on a
// pipe, as a person at a terminal types.
type consoleProc struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *syncbuf.Buffer
	done chan struct{} // closed when the process has ended
}

// startConsole runs `basalt console args…` as p.
func (l *lab) startConsole(t testing.TB, p person, args ...string) *consoleProc {
	t.Helper()
	c := &consoleProc{out: &syncbuf.Buffer{}, done: make(chan struct{})}
	c.cmd = exec.Command(binary, append([]string{"--uri", l.url, "--token", p.token, "console"}, args...)...)
	c.cmd.Env = append(os.Environ(), "BASALT_CONFIG=/nonexistent")
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	in, err := c.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.in = in
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.cmd.Process.Kill()
		<-c.done
	})
	return c
}

// keys types s.
func (c *consoleProc) keys(t testing.TB, s string) {
	t.Helper()
	if _, err := io.WriteString(c.in, s); err != nil {
		t.Fatalf("type %q: %v", s, err)
	}
}

// waitCount waits until the console has shown want at least n times.
func (c *consoleProc) waitCount(t testing.TB, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(consoleFailAfter)
	for strings.Count(c.out.String(), want) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the console never showed %q %d times; it shows:\n%s", want, n, c.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// showsWithin reports whether the console shows want n times within d
// (a retry's patience, not a measurement).
func (c *consoleProc) showsWithin(want string, n int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for strings.Count(c.out.String(), want) < n {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// waitReservation polls reservation id until ok holds.
func (l *lab) waitReservation(t testing.TB, id int64, what string, ok func(wire.Reservation) bool) wire.Reservation {
	t.Helper()
	return l.waitReservationUntil(t, id, what, ok, time.Now().Add(consoleFailAfter))
}

// waitReservationUntil is waitReservation failing at deadline.
func (l *lab) waitReservationUntil(t testing.TB, id int64, what string, ok func(wire.Reservation) bool, deadline time.Time) wire.Reservation {
	t.Helper()
	for {
		r, err := l.api.GetReservation(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("reservation %d never %s: %+v", id, what, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestConsoleReservation is issue 15's test on a real board (QEMU running
// Debian's U-Boot behind Debian's ser2net, power by commands), through the
// real server, worker and command line: alice reserves the board, powers
// it on and types into U-Boot with `basalt console`, power-cycles it with
// the console's key and sees it boot again; bob watches read-only and may
// not type; a job for the board waits, and says why; the worker's link is
// cut while the board boots (the output arrives after, the input typed
// meanwhile is dropped and marked so) and the console server is
// restarted (a marked gap); the reservation expires by itself, the board
// runs its health check before the job, and the session's recording on
// the server is byte for byte the worker's journal.
func TestConsoleReservation(t *testing.T) {
	d := serveDUT(t)
	const typ = "qemu-uboot-x86_64"
	bl := newBoardLabLink(t, board.UBoot, "cons01", typ, true)
	ctx := context.Background()
	alice, bob := bl.addPerson(t, "alice"), bl.addPerson(t, "bob")

	out, stderr, code := bl.as(t, alice, "devices", "reserve", "cons01", "--for", "1m", "--reason", "console e2e", "--json")
	if code != 0 {
		t.Fatalf("reserve: exit %d: %s", code, stderr)
	}
	var r wire.Reservation
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("reserve --json: %v: %s", err, out)
	}
	id := r.ID
	r = bl.waitReservation(t, id, "Running", func(r wire.Reservation) bool { return r.State == "Running" && r.Until != nil })
	first := *r.Until
	if _, stderr, code := bl.as(t, alice, "reservations", "extend", strconv.FormatInt(id, 10), "--by", "2m"); code != 0 {
		t.Fatalf("extend: exit %d: %s", code, stderr)
	}
	r = bl.waitReservation(t, id, "extended", func(r wire.Reservation) bool { return r.Until != nil && !r.Until.Equal(first) })
	if got := r.Until.Sub(first); got != 2*time.Minute {
		t.Errorf("extend --by 2m moved the end by %s", got)
	}

	// The type's health check is set now, so that the board runs it
	// after the reservation rather than before.
	if _, err := bl.api.SetHealthCheck(ctx, typ, d.ubootJob("health check", inlineSteps("hc", "echo healthy"))); err != nil {
		t.Fatal(err)
	}
	waiting := bl.submit(t, d.ubootJob("after the reservation", inlineSteps("after", "echo after")))

	// alice: power on, interrupt U-Boot, type a command, power-cycle.
	c := bl.startConsole(t, alice, "cons01")
	c.waitCount(t, "[basalt] console of cons01", 1)
	c.keys(t, "\x1d1")
	c.waitCount(t, board.UBootInterruptPrompt, 1)
	c.keys(t, board.UBootInterruptChar)
	c.waitCount(t, board.UBootPrompt, 1)
	banners := strings.Count(c.out.String(), "U-Boot 20")
	c.keys(t, "version\r")
	c.waitCount(t, "U-Boot 20", banners+1) // the version command's answer
	c.keys(t, "\x1dr")
	c.waitCount(t, "power reset asked by alice: done", 1)
	c.waitCount(t, board.UBootInterruptPrompt, 2) // it booted again
	c.keys(t, board.UBootInterruptChar)

	// bob sees the session and may not type.
	w := bl.startConsole(t, bob, "cons01", "--history", "-1")
	w.waitCount(t, "held by alice (read-only", 1)
	w.waitCount(t, board.UBootInterruptPrompt, 2)
	w.keys(t, "reset\r")
	w.waitCount(t, "read-only: cons01 is held by alice", 1)
	if _, stderr, code := bl.as(t, bob, "console", "cons01", "--send", "reset\r"); code == 0 || !strings.Contains(stderr, "held by alice") {
		t.Errorf("bob typing: exit %d: %s", code, stderr)
	}

	// The job for the board waits, and says for whom.
	if j, err := bl.api.GetJob(ctx, waiting); err != nil || j.State != "Submitted" {
		t.Errorf("job %d while the board is reserved: %+v %v", waiting, j.State, err)
	}
	q, err := bl.api.JobQueue(ctx, waiting)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(q); !strings.Contains(string(b), "reserved by alice until") {
		t.Errorf("the waiting job's explanation does not name the reservation: %s", b)
	}

	// The worker's link is cut while the board boots: its output arrives
	// afterwards; what alice types meanwhile waits too long and is
	// dropped, and the recording says so.
	c.keys(t, "\x1dr")
	c.waitCount(t, "power reset asked by alice: done", 2)
	if err := bl.proxy.Refuse(true); err != nil {
		t.Fatal(err)
	}
	bl.proxy.Cut()
	c.keys(t, "printenv\r")
	time.Sleep(workerLinkDown) // the fault's length, not a measurement
	if err := bl.proxy.Refuse(false); err != nil {
		t.Fatal(err)
	}
	c.waitCount(t, "was dropped", 1)
	c.waitCount(t, board.UBootInterruptPrompt, 3) // the boot during the cut
	c.keys(t, board.UBootInterruptChar)

	// The console server restarts: a marked gap, then the console again.
	if err := bl.board.RestartSer2net(); err != nil {
		t.Fatal(err)
	}
	c.waitCount(t, "the console is back after", 1)
	// ser2net's restart may cut the console more than once: Enter until
	// U-Boot answers (keys typed while the console is down are dropped).
	for try := 0; ; try++ {
		prompts := strings.Count(c.out.String(), board.UBootPrompt)
		c.keys(t, "\r")
		if c.showsWithin(board.UBootPrompt, prompts+1, 5*time.Second) {
			break
		}
		if try == 20 {
			t.Fatalf("U-Boot does not answer after ser2net's restart:\n%s", c.out.String())
		}
	}

	// The web console in headless Chromium, on the same board: alice
	// types and power-cycles, bob watches read-only.
	webConsole(t, bl, alice, bob)

	// The reservation ends by itself; the console says so and ends.
	r = bl.waitReservationUntil(t, id, "expired", func(r wire.Reservation) bool { return r.State == "Finished" },
		r.Until.Add(consoleFailAfter))
	if r.Health != "Complete" || r.EndedBy != "" {
		t.Errorf("expired reservation: %s, ended by %q (%s)", r.Health, r.EndedBy, r.FailureComment)
	}
	select {
	case <-c.done:
	case <-time.After(consoleFailAfter):
		t.Fatalf("the console did not end with the reservation:\n%s", c.out.String())
	}
	c.waitCount(t, "the reservation of cons01 ended (Complete)", 1)

	// The board runs its health check before the job that waited.
	j := bl.waitFinished(t, []int64{waiting}, 8*time.Minute)[waiting]
	hcs, err := bl.api.ListJobs(ctx, client.JobFilter{Device: "cons01", HealthCheck: ptr(true)})
	if err != nil {
		t.Fatal(err)
	}
	ranBefore := false
	for _, hc := range hcs.Results {
		if hc.StartTime != nil && j.StartTime != nil && hc.StartTime.After(*r.EndTime) && hc.StartTime.Before(*j.StartTime) {
			ranBefore = hc.Health == "Complete"
		}
	}
	if !ranBefore || j.Health != "Complete" {
		t.Errorf("after the reservation: job %d %s; health checks %+v", waiting, j.Health, hcs.Results)
	}

	// The recording: the server's copy is the worker's journal, with what
	// was typed, the power actions and the marked gaps.
	stored := bl.storedLog(t, id)
	journal, err := os.ReadFile(filepath.Join(bl.wdir, "jobs", strconv.FormatInt(id, 10), "log.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, journal) {
		t.Errorf("the stored session (%d bytes) differs from the worker's journal (%d bytes)", len(stored), len(journal))
	}
	var typed, target strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(string(stored)), "\n") {
		rec, err := workerproto.DecodeRecord([]byte(line))
		if err != nil {
			t.Fatalf("session record %q: %v", line, err)
		}
		var msg string
		json.Unmarshal(rec.Msg, &msg)
		switch rec.Level {
		case workerproto.LevelInput:
			typed.WriteString(msg + "\n")
		case workerproto.LevelTarget:
			target.WriteString(msg)
		}
	}
	if !strings.Contains(typed.String(), `alice: 'version\r'`) {
		t.Errorf("the recording lacks alice's version command; inputs:\n%s", typed.String())
	}
	if strings.Contains(typed.String(), "reset") {
		t.Errorf("bob's keys reached the board; inputs:\n%s", typed.String())
	}
	for _, want := range []string{"power on asked by alice", "power reset asked by alice", "printenv", "was dropped",
		"cons01: the console was lost at ", "cons01: the console is back after ", "cons01: powered off"} {
		if !bytes.Contains(stored, []byte(want)) {
			t.Errorf("the recording lacks %q", want)
		}
	}
	if n := strings.Count(target.String(), board.UBootInterruptPrompt); n < 3 {
		t.Errorf("the recording has %d U-Boot countdowns, want 3 boots", n)
	}
	if t.Failed() {
		t.Logf("alice's console:\n%s", c.out.String())
	}
}

// workerLinkDown is how long the console test keeps the worker's link cut:
// longer than the server keeps input for the worker.
const workerLinkDown = 12 * time.Second

// webConsole drives the device page's console of the running reservation
// of cons01 in headless Chromium: alice's keys reach U-Boot and its
// answer shows, the Hard reset button boots the board again; bob's page
// shows the same output read-only.
func webConsole(t *testing.T, bl *boardLab, alice, bob person) {
	term := func(b context.Context) string {
		t.Helper()
		s, err := chromedp.Run(b, chromedp.Evaluate[string](`(document.querySelector('pre.term') || {}).textContent || ""`))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	waitTerm := func(b context.Context, want string, n int) {
		t.Helper()
		deadline := time.Now().Add(consoleFailAfter)
		for strings.Count(term(b), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("the web console never showed %q %d times; it shows:\n%s", want, n, term(b))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	login := func(p person) context.Context {
		b := browser(t)
		if err := chromedp.Do(b, chromedp.Navigate(bl.url+"/login"),
			chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), p.name),
			chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), p.password),
			chromedp.Click(chromedp.CSS(`form.login button[type="submit"]`)),
		); err != nil {
			t.Fatal(err)
		}
		waitText(t, b, "Signed in as "+p.name, 30*time.Second)
		if err := chromedp.Do(b, chromedp.Navigate(bl.url+"/devices/cons01")); err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := login(alice)
	waitText(t, b, "Live. Click the console to type.", 30*time.Second)
	waitTerm(b, board.UBootPrompt, 1)
	banners := strings.Count(term(b), "U-Boot 20")
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS("pre.term")), chromedp.KeyEvent("version\r")); err != nil {
		t.Fatal(err)
	}
	waitTerm(b, "U-Boot 20", banners+1) // the answer of U-Boot's version command
	countdowns := strings.Count(term(b), board.UBootInterruptPrompt)
	if _, err := chromedp.Run(b, chromedp.Evaluate[bool](`(window.confirm = () => true, true)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS(`form[data-power="reset"] button`))); err != nil {
		t.Fatal(err)
	}
	waitTerm(b, board.UBootInterruptPrompt, countdowns+1) // it booted again
	if err := chromedp.Do(b, chromedp.Click(chromedp.CSS("pre.term")), chromedp.KeyEvent(board.UBootInterruptChar)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, b, "board-console-holder")

	w := login(bob)
	waitText(t, w, "held by alice — read-only", 30*time.Second)
	waitTerm(w, board.UBootInterruptPrompt, 1)
	if n, err := chromedp.Run(w, chromedp.Evaluate[int](`document.querySelectorAll('form[data-power]').length`)); err != nil || n != 0 {
		t.Errorf("bob's page has %d power buttons (%v)", n, err)
	}
}
