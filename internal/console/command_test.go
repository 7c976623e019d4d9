//go:build linux

package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestParseTelnetCommand(t *testing.T) {
	tests := []struct {
		cmd      string
		addr     string
		explicit bool
	}{
		{"telnet localhost 7001", "localhost:7001", true},
		{"telnet 127.0.0.1 7001", "127.0.0.1:7001", true},
		{"/usr/bin/telnet  localhost   7001 ", "localhost:7001", true},
		{"telnet -8 -E localhost 7001", "localhost:7001", true},
		{"telnet -8E localhost 7001", "localhost:7001", true},
		{"telnet -e ^] localhost 7001", "localhost:7001", true},
		{"telnet -e '^]' localhost 7001", "localhost:7001", true},
		{"telnet -e^] -l root serial-server 2001", "serial-server:2001", true},
		{"telnet -- host 23", "host:23", true},
		{"telnet ::1 7001", "[::1]:7001", true},
		{"telnet consoles", "consoles:23", false},
		{"telnet 'my host' telnet", "my host:telnet", true},
		// Not plain telnet commands: run by the shell.
		{"telnet localhost 7001; echo hi", "", false},
		{"telnet localhost $PORT", "", false},
		{"telnet -Z localhost 7001", "", false},
		{"telnet --long localhost 7001", "", false},
		{"telnet localhost 7001 extra", "", false},
		{"telnet", "", false},
		{"telnet -e", "", false},
		{"telnet localhost notaport", "", false},
		{"ssh -t host telnet localhost 7001", "", false},
		{"telnet 'unterminated localhost 7001", "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		addr, explicit, err := parseTelnetCommand(tc.cmd)
		if tc.addr == "" {
			if !errors.Is(err, errNotTelnet) {
				t.Errorf("%q: got %q, %v; want errNotTelnet", tc.cmd, addr, err)
			}
			continue
		}
		if err != nil || addr != tc.addr || explicit != tc.explicit {
			t.Errorf("%q: got %q %v %v; want %q %v", tc.cmd, addr, explicit, err, tc.addr, tc.explicit)
		}
	}
}

func TestCommandTelnetIsNative(t *testing.T) {
	// No telnet program can be found: the console still works.
	t.Setenv("PATH", t.TempDir())
	if p, err := exec.LookPath("telnet"); err == nil {
		t.Fatalf("found telnet at %s with an empty PATH", p)
	}
	addr, conns := fakeServer(t)
	host, port, _ := strings.Cut(addr, ":")
	c, err := Command(context.Background(), "telnet -8 -e ^] "+host+" "+port)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, ok := c.(*Telnet); !ok {
		t.Fatalf("Command returned a %T, want the native *Telnet", c)
	}
	s := <-conns
	// Passive (a port was given): the server's negotiation is answered,
	// nothing is sent first.
	send(t, s, iac, will, 1, 'h', 'i')
	if got := string(readN(t, c, 2)); got != "hi" {
		t.Fatalf("read %q", got)
	}
	c.Write([]byte("ok"))
	expect(t, s, "the client's first bytes", []byte{iac, do, 1, 'o', 'k'})
}

func TestCommandRunsOnRawPTY(t *testing.T) {
	for _, cmdline := range []string{"cat", "stty raw -echo; exec cat"} {
		t.Run(cmdline, func(t *testing.T) {
			c, err := Command(context.Background(), cmdline)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			data := allBytes()
			if _, err := c.Write(data); err != nil {
				t.Fatal(err)
			}
			// Exactly one copy, unchanged: no echo, no CR/NL translation.
			if got := readN(t, c, len(data)); !bytes.Equal(got, data) {
				t.Fatalf("read\n% x\nwant\n% x", got, data)
			}
			c.Write([]byte("line\n"))
			if got := string(readN(t, c, 5)); got != "line\n" {
				t.Fatalf("read %q", got)
			}
		})
	}
}

func TestCommandExit(t *testing.T) {
	tests := []struct {
		cmd, out, err string
	}{
		{"printf 'bye\\n'", "bye\n", ""},
		{"printf 'ser2net: port in use\\r\\n' >&2; exit 3", "ser2net: port in use\r\n",
			`connection command "printf 'ser2net: port in use\\r\\n' >&2; exit 3" ended: exit status 3; last output: "ser2net: port in use\r\n"`},
		{"kill -9 $$", "", "signal: killed"},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			c, err := Command(context.Background(), tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			got, err := io.ReadAll(c)
			if string(got) != tc.out {
				t.Errorf("output %q, want %q", got, tc.out)
			}
			if tc.err == "" {
				if err != nil {
					t.Errorf("end %v, want io.EOF", err)
				}
				return
			}
			var ee *CommandExitError
			if !errors.As(err, &ee) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("end %v, want a *CommandExitError containing %q", err, tc.err)
			}
		})
	}
}

// gone reports whether pid no longer runs (absent, or a zombie nobody
// reaped yet).
func gone(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

func waitGone(t *testing.T, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for !gone(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func TestCommandCloseKillsGroup(t *testing.T) {
	tests := []struct{ name, cmd string }{
		{"background child", "sleep 1000 & echo $!; cat"},
		{"ignores SIGTERM", "trap '' TERM; sh -c 'trap \"\" TERM; sleep 1000' & echo $!; while :; do sleep 1; done"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Command(context.Background(), tc.cmd)
			if err != nil {
				t.Fatal(err)
			}
			var line []byte
			for !bytes.HasSuffix(line, []byte("\n")) {
				line = append(line, readN(t, c, 1)...)
			}
			child, err := strconv.Atoi(strings.TrimSpace(string(line)))
			if err != nil {
				t.Fatalf("first line %q: %v", line, err)
			}
			shell := c.(*commandConsole).Pid()
			if gone(shell) || gone(child) {
				t.Fatalf("processes %d %d not running before Close", shell, child)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			waitGone(t, shell, child)
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("Read after Close: %v, want io.EOF", err)
			}
		})
	}
}

func TestCommandLimits(t *testing.T) {
	_, err := Command(context.Background(), strings.Repeat("x", maxCommandLine+1))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprint("limit ", maxCommandLine)) {
		t.Fatalf("error %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Command(ctx, "cat"); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled start: %v", err)
	}
}

// TestKeepRerunsCommand: a connection command that exits is a lost
// console; Keep runs it again.
func TestKeepRerunsCommand(t *testing.T) {
	lost := make(chan error, 4)
	r, err := Keep(context.Background(), func(ctx context.Context) (io.ReadWriteCloser, error) {
		return Command(ctx, `read line; echo "got $line"; exit 2`)
	}, KeepOptions{MinBackoff: time.Millisecond, OnLost: func(_ time.Time, cause error) { lost <- cause }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// A loss is noticed by a Read (or a Write): keep reading, as the
	// dispatcher's Conn does.
	bytesc := make(chan byte, 64)
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := r.Read(buf); err != nil {
				return
			}
			bytesc <- buf[0]
		}
	}()
	for _, word := range []string{"a", "b"} {
		io.WriteString(r, word+"\n")
		want := "got " + word + "\n"
		var got []byte
		for len(got) < len(want) {
			got = append(got, <-bytesc)
		}
		if string(got) != want {
			t.Fatalf("read %q, want %q", got, want)
		}
		cause := <-lost
		var ee *CommandExitError
		if !errors.As(cause, &ee) || !strings.Contains(ee.Error(), "exit status 2") || string(ee.Tail) != want {
			t.Fatalf("loss cause %v, want the command's exit status 2 with its output", cause)
		}
	}
}
