package faultnet

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"
)

// generous bounds waits that must end; never an assertion on speed.
const generous = 30 * time.Second

// echoServer starts a loopback server that echoes every connection until
// the client half-closes, then closes it.
func echoServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.Close()
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, generous)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip sends msg and reads the echo.
func roundTrip(t testing.TB, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(generous))
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo = %q, %v; want %q", got, err, msg)
	}
}

// eventually waits (boundedly) for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(generous)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// readErr reads until an error and returns it.
func readErr(t testing.TB, c net.Conn) error {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(generous))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		return io.EOF // io.Copy reports a clean EOF as nil
	}
	return err
}

func TestForwardAndCounters(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, "hello")
	roundTrip(t, c, "world!")
	eventually(t, "counters", func() bool {
		s := p.Stats()
		return s.Accepted == 1 && s.Active == 1 && s.Up == 11 && s.Down == 11
	})
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, many chunks
	go func() { _, _ = c.Write(big) }()
	got := make([]byte, len(big))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("1 MiB echo corrupted: %v", err)
	}
	_ = c.Close()
	eventually(t, "the link to go, every byte counted", func() bool {
		s := p.Stats()
		return s.Active == 0 && s.Up == 11+int64(len(big)) && s.Down == 11+int64(len(big))
	})
	if s := p.Stats(); s.Faults() != 0 || s.Accepted != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestHalfClose(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	if _, err := c.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(generous))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "last words" {
		t.Fatalf("after half-close read %q, %v", got, err)
	}
}

func TestCut(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, "before")
	p.Cut()
	if err := readErr(t, c); !errors.Is(err, io.EOF) {
		t.Fatalf("read after Cut = %v, want EOF", err)
	}
	c2 := dial(t, p.Addr()) // still accepting
	roundTrip(t, c2, "after")
	if s := p.Stats(); s.Cuts != 1 || s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestReset(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, "before")
	p.Reset()
	if err := readErr(t, c); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Reset = %v, want connection reset", err)
	}
	roundTrip(t, dial(t, p.Addr()), "after")
	if s := p.Stats(); s.Resets != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestStall(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	roundTrip(t, c, "warm")
	eventually(t, "the warm-up counted", func() bool { s := p.Stats(); return s.Up == 4 && s.Down == 4 })
	p.StallOn()
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatal(err)
	}
	// Nothing may arrive while stalled (the bound only limits how long
	// the test looks; a stall that leaks fails whatever the machine speed).
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during stall = %d bytes, %v; want nothing", n, err)
	}
	if s := p.Stats(); s.Up != 4 || s.Down != 4 || s.Active != 1 || s.Stalls != 1 {
		t.Fatalf("stats during stall %+v", s)
	}
	p.StallOff()
	_ = c.SetReadDeadline(time.Now().Add(generous))
	got := make([]byte, 4)
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "held" {
		t.Fatalf("after stall read %q, %v", got, err)
	}
	// Stall(d) ends by itself.
	p.Stall(20 * time.Millisecond)
	roundTrip(t, c, "timed")
}

func TestStallThenCut(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	eventually(t, "the link", func() bool { return p.Stats().Active == 1 })
	p.StallOn()
	if _, err := c.Write([]byte("stuck")); err != nil {
		t.Fatal(err)
	}
	p.Cut() // must not wait for the stall
	if err := readErr(t, c); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after Cut during a stall = %v, want EOF or reset", err)
	}
	eventually(t, "the link to go", func() bool { return p.Stats().Active == 0 })
	p.StallOff()
}

func TestDelay(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	const d = 50 * time.Millisecond
	p.Delay(d)
	start := time.Now()
	roundTrip(t, c, "slow")
	// A lower bound only: load can make it slower, never faster.
	if el := time.Since(start); el < 2*d {
		t.Fatalf("round trip took %v with %v per direction", el, d)
	}
	p.Delay(0)
	roundTrip(t, c, "fast")
}

func TestRefuse(t *testing.T) {
	p := Start(t, echoServer(t))
	c := dial(t, p.Addr())
	if err := p.Refuse(true); err != nil {
		t.Fatal(err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), generous); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial while refusing = %v, want connection refused", err)
	}
	roundTrip(t, c, "existing connections live on")
	if err := p.Refuse(true); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := p.Refuse(false); err != nil {
		t.Fatal(err)
	}
	roundTrip(t, dial(t, p.Addr()), "same address again")
	if s := p.Stats(); s.Refusals != 1 || s.Accepted != 2 {
		t.Fatalf("stats %+v", s)
	}
}

func TestTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	_ = ln.Close()
	p := Start(t, target)
	// The proxy accepts, then its dial to the target fails and it resets
	// the client: the reset shows on the client's connect if it comes
	// before the kernel reports the connection up, or on its first read.
	c, err := net.DialTimeout("tcp", p.Addr(), generous)
	if err == nil {
		defer c.Close()
		err = readErr(t, c)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("with the target down got %v, want connection reset", err)
	}
	eventually(t, "the accept to count", func() bool { return p.Stats().Accepted == 1 })
	if s := p.Stats(); s.Active != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewRefusesNonLoopbackTargets(t *testing.T) {
	for _, target := range []string{"192.0.2.1:80", "example.com:80", "nonsense"} {
		if p, err := New(target); err == nil {
			_ = p.Close()
			t.Errorf("New(%q) accepted", target)
		}
	}
}

func TestClose(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.Addr())
	roundTrip(t, c, "x")
	p.StallOn() // Close must not hang on a stall
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := readErr(t, c); err == nil {
		t.Fatal("connection survived Close")
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), generous); err == nil {
		t.Fatal("dial after Close succeeded")
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := p.Refuse(false); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Refuse after Close = %v", err)
	}
}

// TestChaos runs clients that keep echoing through a proxy under Chaos:
// every fault kind happens, clients only ever see errors or correct
// echoes, and the proxy forwards normally once Chaos returns.
func TestChaos(t *testing.T) {
	p := Start(t, echoServer(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	echoes := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
			for ctx.Err() == nil {
				c, err := net.DialTimeout("tcp", p.Addr(), generous)
				if err != nil {
					time.Sleep(time.Millisecond)
					continue
				}
				for ctx.Err() == nil {
					_ = c.SetDeadline(time.Now().Add(generous))
					if _, err := c.Write(msg); err != nil {
						break
					}
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(c, got); err != nil {
						break
					}
					if !bytes.Equal(got, msg) {
						t.Errorf("client %d: corrupted echo", i)
						break
					}
					mu.Lock()
					echoes++
					mu.Unlock()
				}
				_ = c.Close()
			}
		}()
	}
	done := make(chan int)
	go func() { done <- p.Chaos(ctx, rand.New(rand.NewPCG(1, 2)), 2*time.Millisecond) }()
	eventually(t, "every kind of fault", func() bool {
		s := p.Stats()
		return s.Cuts > 2 && s.Resets > 2 && s.Stalls > 2 && s.Refusals > 2
	})
	cancel()
	applied := <-done
	wg.Wait()
	if s := p.Stats(); int64(applied) != s.Faults() || echoes == 0 {
		t.Fatalf("Chaos applied %d faults, stats %+v, %d echoes", applied, s, echoes)
	}
	roundTrip(t, dial(t, p.Addr()), "calm again")
}

func TestChaosCustomFaults(t *testing.T) {
	p := Start(t, echoServer(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- p.Chaos(ctx, rand.New(rand.NewPCG(3, 4)), time.Millisecond,
			DelayFault(time.Millisecond, time.Millisecond), CutFault())
	}()
	eventually(t, "cuts", func() bool { return p.Stats().Cuts >= 3 })
	cancel()
	<-done
	if s := p.Stats(); s.Resets != 0 || s.Stalls != 0 || s.Refusals != 0 {
		t.Fatalf("faults outside the given set: %+v", s)
	}
	roundTrip(t, dial(t, p.Addr()), "no delay left behind")
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.delay != 0 || p.stalled || p.refusing {
		t.Fatal("Chaos left a fault active")
	}
}
