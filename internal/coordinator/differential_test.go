package coordinator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/lavadeb"
)

// lavaCoordinator is Debian's lava-coordinator (bookworm's 2023.01)
// driven by testdata/lava_coordinator_driver.py: its LavaCoordinator
// class, fed one request at a time through dataReceived, the method its
// daemon calls for each connection, with a connection object that keeps
// what the class writes.
type lavaCoordinator struct {
	t      testing.TB
	cmd    *exec.Cmd
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr bytes.Buffer
}

// lavaGroup is the part of a LAVA group the test compares.
type lavaGroup struct {
	Count    int                 `json:"count"`
	Complete int                 `json:"complete"`
	Clients  map[string]string   `json:"clients"`
	Roles    map[string][]string `json:"roles"`
}

// lavaAnswer is the driver's line for one request.
type lavaAnswer struct {
	Reply  json.RawMessage      `json:"reply"`
	Groups map[string]lavaGroup `json:"groups"`
	Crash  string               `json:"crash"`
}

// startLAVA starts the driver over the extracted Debian package; the test
// fails when the package or python3 cannot be had.
func startLAVA(t testing.TB) *lavaCoordinator {
	t.Helper()
	tree := lavadeb.Extract(t, "lava-coordinator")
	pkgs := filepath.Join(tree, "usr", "lib", "python3", "dist-packages")
	if _, err := os.Stat(filepath.Join(pkgs, "lava", "coordinator", "__init__.py")); err != nil {
		t.Fatalf("Debian's lava-coordinator has no lava/coordinator module: %v", err)
	}
	l := &lavaCoordinator{t: t}
	l.cmd = exec.Command("/usr/bin/python3", "testdata/lava_coordinator_driver.py")
	l.cmd.Env = append(os.Environ(), "PYTHONPATH="+pkgs, "PYTHONDONTWRITEBYTECODE=1")
	l.cmd.Stderr = &l.stderr
	var err error
	if l.in, err = l.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := l.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	l.out = bufio.NewScanner(stdout)
	l.out.Buffer(make([]byte, 1<<20), 16<<20)
	if err := l.cmd.Start(); err != nil {
		t.Fatalf("start /usr/bin/python3 (install python3): %v", err)
	}
	t.Cleanup(func() {
		l.in.Close()
		if err := l.cmd.Wait(); err != nil {
			t.Errorf("LAVA's coordinator driver: %v\n%s", err, l.stderr.String())
		}
	})
	return l
}

// do sends one command to the driver and returns its answer.
func (l *lavaCoordinator) do(cmd map[string]any) lavaAnswer {
	l.t.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := l.in.Write(append(line, '\n')); err != nil {
		l.t.Fatalf("write to LAVA's coordinator: %v\n%s", err, l.stderr.String())
	}
	if !l.out.Scan() {
		l.t.Fatalf("LAVA's coordinator driver stopped: %v\n%s", l.out.Err(), l.stderr.String())
	}
	var a lavaAnswer
	if err := json.Unmarshal(l.out.Bytes(), &a); err != nil {
		l.t.Fatalf("driver line %q: %v", l.out.Text(), err)
	}
	return a
}

// reset gives the driver a fresh coordinator.
func (l *lavaCoordinator) reset() { l.do(map[string]any{"reset": true}) }

// compare runs reqs on LAVA's coordinator and a fresh Basalt one and
// fails at the first answer or group that differs. A request that makes
// LAVA's daemon crash ends the conversation: Basalt must have answered it
// (nack, or ack for the lava_send LAVA cannot store); then both go on
// fresh, as LAVA's daemon restarts. It returns how many times LAVA
// crashed.
func compare(t *testing.T, l *lavaCoordinator, name string, reqs []Request) (crashes int) {
	t.Helper()
	l.reset()
	c, _ := newCoord(t, Limits{})
	for i, r := range reqs {
		got, err := c.Handle(t.Context(), r)
		if err != nil {
			t.Fatalf("%s step %d: %v", name, i, err)
		}
		a := l.do(map[string]any{"req": wire(r)})
		if a.Crash != "" {
			if got.Response != RespNack && !(r.Request == ReqSend && got.Response == RespAck) {
				t.Errorf("%s step %d: LAVA crashed (%s) on %v; Basalt answered %v", name, i, a.Crash, wire(r), answer(t, got))
			}
			// The daemon died and lost every group, as it does under
			// systemd: go on with both coordinators fresh.
			crashes++
			c, _ = newCoord(t, Limits{})
			continue
		}
		want := decodeJSON(t, a.Reply)
		if g := answer(t, got); !sameJSON(g, want) {
			t.Fatalf("%s step %d: %v\nLAVA answered  %v\nBasalt answered %v (reason %q)\nconversation: %s",
				name, i, wire(r), want, g, got.Reason, history(reqs[:i+1]))
		}
		mine := map[string]lavaGroup{}
		for _, g := range c.Groups() {
			st, _ := c.Status(g)
			mine[g] = lavaGroup{Count: st.Size, Complete: st.Complete, Clients: st.Clients, Roles: st.Roles}
		}
		if !sameJSON(mine, a.Groups) && fmt.Sprint(mine) != fmt.Sprint(a.Groups) {
			t.Fatalf("%s step %d: %v\nLAVA's groups  %v\nBasalt's groups %v\nconversation: %s",
				name, i, wire(r), a.Groups, mine, history(reqs[:i+1]))
		}
	}
	return crashes
}

// history prints a conversation for a failure message.
func history(reqs []Request) string {
	var b bytes.Buffer
	for i, r := range reqs {
		j, _ := json.Marshal(wire(r))
		fmt.Fprintf(&b, "\n  %d: %s", i, j)
	}
	return b.String()
}

// TestDifferentialLAVA holds the coordinator to Debian's lava-coordinator:
// the table's conversations (those where Basalt does not differ on
// purpose) and random conversations of well-formed requests get the same
// answers, and the same groups, clients, roles and clear_group counts,
// from both.
func TestDifferentialLAVA(t *testing.T) {
	l := startLAVA(t)
	t.Run("scenarios", func(t *testing.T) {
		for _, sc := range scenarios {
			if sc.basalt {
				continue
			}
			var reqs []Request
			for _, st := range sc.steps {
				reqs = append(reqs, st.req)
			}
			if n := compare(t, l, sc.name, reqs); n > 0 {
				t.Errorf("%s: LAVA crashed %d times", sc.name, n)
			}
		}
	})
	t.Run("random", func(t *testing.T) {
		const conversations, length = 400, 60
		crashes := 0
		for seed := range uint64(conversations) {
			reqs := randomConversation(rand.New(rand.NewPCG(seed, 13)), length)
			crashes += compare(t, l, fmt.Sprintf("seed %d", seed), reqs)
		}
		t.Logf("%d requests compared in %d conversations; LAVA's coordinator crashed %d times (and restarted)",
			conversations*length, conversations, crashes)
	})
}

// randomConversation returns n well-formed requests over two groups of
// random sizes, whose clients never outnumber the group (where Basalt
// refuses on purpose).
func randomConversation(rng *rand.Rand, n int) []Request {
	sizes := map[string]int{"g1": 1 + rng.IntN(3), "g2": 1 + rng.IntN(3)}
	clients := []string{"11", "12", "13"}
	roles := []string{"server", "client", "observer"}
	ids := []string{"m1", "m2", "lava_start"}
	// A lava_send after a lava_sync of the same ID crashes LAVA: rarely.
	barriers := []string{"b1", "b2", "b1", "b2", "b1", "b2", "b1", "b2", "b1", "m1"}
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	message := func() map[string]any {
		switch rng.IntN(4) {
		case 0:
			return nil
		case 1:
			return map[string]any{}
		case 2:
			return map[string]any{"k": fmt.Sprint("v", rng.IntN(3))}
		}
		return map[string]any{"ip": fmt.Sprint("10.0.0.", rng.IntN(9)), "port": rng.IntN(3)}
	}
	var out []Request
	for range n {
		g := "g1"
		if rng.IntN(3) == 0 {
			g = "g2"
		}
		c := clients[rng.IntN(sizes[g])]
		r := Request{ClientName: c, GroupName: g, Role: roleOf[c], Hostname: "host-" + c, MessageID: pick(ids)}
		if rng.IntN(12) == 0 {
			r.Role = pick(roles)
		}
		if rng.IntN(3) == 0 {
			r.GroupSize = sizes[g]
		}
		switch k := rng.IntN(40); {
		case k < 6:
			r.Request, r.GroupSize = ReqGroupData, sizes[g]
		case k < 7:
			r.Request, r.GroupSize = ReqClearGroup, sizes[g]
		case k < 14:
			r.Request, r.Message = ReqSend, message()
		case k < 20:
			r.Request = ReqWait
		case k < 24:
			r.Request = ReqWaitAll
		case k < 28:
			// A role of the group's clients (a role nobody registered
			// crashes LAVA).
			r.Request, r.WaitRole = ReqWaitAll, roleOf[clients[rng.IntN(sizes[g])]]
		case k < 35:
			r.Request, r.MessageID = ReqSync, pick(barriers)
			if rng.IntN(3) == 0 {
				r.Message = message()
			}
		case k < 38:
			r.Request = ReqAggregate
			r.SubID = pick([]string{"", "7.0", "7.1"})
			if rng.IntN(4) != 0 {
				r.Bundle = json.RawMessage(fmt.Sprintf(`{"r":%d}`, rng.IntN(5)))
			}
		case k < 39:
			r.Request = ReqComplete
		default:
			r.Request = pick([]string{"lava-send", "lava_wait_any", "ping"})
		}
		out = append(out, r)
	}
	return out
}
