package main_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/testutil/faultnet"
)

// TestSlowClientsE2E: against the real server binary, while a real worker
// runs a job, 200 slow-loris clients (one byte of body a second) and a
// client opening connections beyond its cap: each slow body is cut with
// 408 within the body timeout, the connections over the cap are closed at
// once, and the job completes with its whole log meanwhile.
func TestSlowClientsE2E(t *testing.T) {
	const slow = 200
	s := startServer(t, "--body-timeout", "2s", "--min-body-rate", "1024", "--max-conns-per-client", "400")
	l := attachLab(t, s)
	l.addDevices(t, "w1", 1, simDictionary("2s", 300))
	wdir := t.TempDir()
	startWorker(t, l.url, "w1", l.workers["w1"], wdir)
	id := l.submit(t, simJob("among-slow-clients", "minutes: 2"))
	u, err := url.Parse(s.url)
	if err != nil {
		t.Fatal(err)
	}
	addr := u.Host

	var wg sync.WaitGroup
	answers := make([]string, slow)
	start := time.Now()
	for i := range slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i], err = dripBody(addr, fmt.Sprintf("POST /api/v1/jobs/validate HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"definition\": \"", addr))
			if err != nil {
				answers[i] = "error: " + err.Error()
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > time.Minute {
		t.Errorf("the slow clients were held %s", took)
	}
	for i, a := range answers {
		if !strings.HasPrefix(a, "HTTP/1.1 408 ") {
			t.Fatalf("slow client %d: %q, want 408 within the body timeout", i, strings.SplitN(a, "\r\n", 2)[0])
		}
	}

	// One client, more connections than its cap: the extra ones are closed.
	capped := startServer(t, "--max-conns-per-client", "4")
	cu, _ := url.Parse(capped.url)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	closed := 0
	for range 8 {
		c, err := net.Dial("tcp", cu.Host)
		if err != nil {
			closed++
			continue
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", cu.Host)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		// Open connections get an answer (whatever /healthz says of a
		// loaded host); the ones over the cap are closed without one.
		buf := make([]byte, 9)
		if n, err := io.ReadFull(c, buf); err != nil || string(buf[:n]) != "HTTP/1.1 " {
			closed++
		}
	}
	if closed != 4 {
		t.Errorf("%d of 8 connections closed, want the 4 over the cap", closed)
	}

	jobs := l.waitFinished(t, []int64{id}, 2*time.Minute)
	l.checkJob(t, jobs[id], wdir)
}

// dripBody sends head, then one byte of body a second, and returns what
// the server answered before it closed the connection.
func dripBody(addr, head string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, head); err != nil {
		return "", err
	}
	defer faultnet.Drip(c, time.Second)()
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	got, err := io.ReadAll(c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return string(got), fmt.Errorf("still open after 2 minutes")
	}
	return string(got), nil
}
