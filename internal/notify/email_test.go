package notify_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// smtpServer is a minimal SMTP receiver on 127.0.0.1 (RFC 5321: EHLO,
// AUTH PLAIN, MAIL, RCPT, DATA with dot-stuffing, RSET, NOOP, QUIT): the
// real protocol, spoken to Basalt's real client.
type smtpServer struct {
	ln net.Listener
	mu sync.Mutex
	// rcpt answers a RCPT TO: the reply, "" for 250 (n: RCPT commands
	// before this one).
	rcpt     func(to string, n int) string
	rcpts    int
	auth     []string // the PLAIN credentials received
	messages []smtpMessage
	wg       sync.WaitGroup
}

// smtpMessage is one message accepted.
type smtpMessage struct {
	From string
	To   []string
	Data string
}

func listenSMTP(t *testing.T, rcpt func(to string, n int) string) *smtpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &smtpServer{ln: ln, rcpt: rcpt}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.session(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpServer) session(c net.Conn) {
	defer c.Close()
	tc := textproto.NewConn(c)
	reply := func(lines ...string) {
		for _, l := range lines {
			if tc.PrintfLine("%s", l) != nil {
				return
			}
		}
	}
	reply("220 receiver.test ESMTP ready")
	var msg smtpMessage
	for {
		line, err := tc.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-receiver.test greets "+arg, "250-8BITMIME", "250-AUTH PLAIN", "250 SIZE 10485760")
		case "HELO", "NOOP":
			reply("250 ok")
		case "AUTH":
			mech, cred, _ := strings.Cut(arg, " ")
			b, err := base64.StdEncoding.DecodeString(cred)
			if strings.ToUpper(mech) != "PLAIN" || err != nil {
				reply("504 unsupported")
				continue
			}
			s.mu.Lock()
			s.auth = append(s.auth, string(b))
			s.mu.Unlock()
			reply("235 authenticated")
		case "MAIL":
			msg = smtpMessage{From: strings.TrimPrefix(arg, "FROM:")}
			reply("250 sender ok")
		case "RCPT":
			to := strings.TrimPrefix(arg, "TO:")
			s.mu.Lock()
			n := s.rcpts
			s.rcpts++
			s.mu.Unlock()
			if r := s.rcpt(to, n); r != "" {
				reply(r)
				continue
			}
			msg.To = append(msg.To, to)
			reply("250 recipient ok")
		case "DATA":
			reply("354 go ahead")
			data, err := io.ReadAll(tc.DotReader())
			if err != nil {
				return
			}
			msg.Data = string(data)
			s.mu.Lock()
			s.messages = append(s.messages, msg)
			s.mu.Unlock()
			reply("250 queued")
		case "RSET":
			msg = smtpMessage{}
			reply("250 ok")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("502 not implemented")
		}
	}
}

func (s *smtpServer) received() []smtpMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpMessage(nil), s.messages...)
}

// TestEmail: e-mails go through the configured SMTP server, once per
// recipient, with LAVA's subject and the job's details as the verbosity
// asks; the attempt records the server's reply.
func TestEmail(t *testing.T) {
	st := labtest.Backends()[0].Open(t)
	e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
	_, err := e.a.CreateUser(e.ctx, e.admin, app.NewUser{Username: "bob", Email: "bob@example.org", FirstName: "Bob", LastName: "Bâtisseur"})
	must(t, err)
	srv := listenSMTP(t, func(string, int) string { return "" })
	stop := run(t, e.sender(notify.Config{BaseURL: "https://lab.example.org/",
		SMTP: notify.SMTPConfig{Addr: srv.ln.Addr().String(), From: "Basalt <basalt@lab.example.org>", Username: "lab", Password: "pw"}}))
	defer stop()

	id := e.submit(job("smoke on qemu ✓", `  criteria: {status: all}
  verbosity: verbose
  recipients:
  - to: {method: email, email: qa@example.org}
  - to: {method: email, user: bob}`, "{kernel: '6.1'}"))
	e.runJob(id, jobLog, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest, Comment: "uname failed"})
	waitFor(t, "the e-mails", func() bool { return e.done(id) })

	ds := e.deliveries(id)
	if len(ds) != 2 {
		t.Fatalf("%d deliveries: recipients are told once, on the first matching transition", len(ds))
	}
	for _, d := range ds {
		if d.Status != lab.DeliveryDelivered || len(d.Log) != 1 || d.Log[0].StatusCode != 250 || d.State != lab.JobRunning {
			t.Errorf("delivery to %s: %s, %+v", d.Target, d.Status, d.Log)
		}
	}
	msgs := srv.received()
	if len(msgs) != 2 {
		t.Fatalf("%d messages received", len(msgs))
	}
	byTo := map[string]smtpMessage{}
	for _, m := range msgs {
		if !strings.HasPrefix(m.From, "<basalt@lab.example.org>") || len(m.To) != 1 {
			t.Errorf("envelope %q → %q", m.From, m.To)
		}
		byTo[strings.Join(m.To, ",")] = m
	}
	if strings.Join(srv.auth, "|") != "\x00lab\x00pw|\x00lab\x00pw" {
		t.Errorf("AUTH PLAIN credentials %q", srv.auth)
	}
	bob, ok := byTo["<bob@example.org>"]
	if !ok {
		t.Fatalf("no message to bob: %v", byTo)
	}
	m, err := mail.ReadMessage(strings.NewReader(bob.Data))
	must(t, err)
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	must(t, err)
	if want := fmt.Sprintf("LAVA notification for Test Job %d smoke on qemu ✓", id); subject != want {
		t.Errorf("subject %q, want %q", subject, want)
	}
	if m.Header.Get("To") != "<bob@example.org>" || m.Header.Get("Content-Transfer-Encoding") != "quoted-printable" ||
		m.Header.Get("Auto-Submitted") != "auto-generated" || m.Header.Get("Message-Id") == "" {
		t.Errorf("headers %v", m.Header)
	}
	// The verbose details are for a Finished job: this e-mail was queued
	// when the job started.
	body := readQP(t, m.Body)
	for _, want := range []string{"Hello Bob Bâtisseur,", fmt.Sprintf("Job %d (smoke on qemu ✓) is Running, health Unknown. It was submitted by alice.", id),
		fmt.Sprintf("Details and log: https://lab.example.org/jobs/%d", id)} {
		if !strings.Contains(body, want) {
			t.Errorf("bob's body lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "Results:") {
		t.Errorf("a Running job's e-mail lists results:\n%s", body)
	}

	// Verbose, on a finished job: details, metadata and results.
	before := len(srv.received())
	id = e.submit(job("finished", `  criteria: {status: incomplete}
  verbosity: verbose
  recipients:
  - to: {method: email, email: qa@example.org}`, "{kernel: '6.1'}"))
	e.runJob(id, jobLog, app.JobOutcome{Failed: true, ErrorType: lab.ErrorTest, Comment: "uname failed"})
	waitFor(t, "the e-mail", func() bool { return e.done(id) })
	msgs = srv.received()[before:]
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m, err = mail.ReadMessage(strings.NewReader(msgs[0].Data))
	must(t, err)
	body = readQP(t, m.Body)
	for _, want := range []string{"Hello,", "is Finished, health Incomplete", "Test error: uname failed", "Device: qemu01 (type qemu)",
		"Priority: 40", "Metadata:\n  kernel: 6.1\n", "Suite lava:\n    tmpfs-deploy: pass", "Suite 0_smoke:\n    uname: fail\n"} {
		if !strings.Contains(body, want) {
			t.Errorf("verbose body lacks %q:\n%s", want, body)
		}
	}

	// Status only: the first lines.
	before = len(srv.received())
	id = e.submit(job("brief", "  criteria: {status: finished}\n  verbosity: status-only\n  recipients:\n  - to: {method: email, email: qa@example.org}", ""))
	e.runJob(id, jobLog, app.JobOutcome{})
	waitFor(t, "the e-mail", func() bool { return e.done(id) })
	msgs = srv.received()[before:]
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	m, err = mail.ReadMessage(strings.NewReader(msgs[0].Data))
	must(t, err)
	if body = readQP(t, m.Body); strings.Contains(body, "Priority:") || !strings.Contains(body, "is Finished, health Complete") {
		t.Errorf("status-only body:\n%s", body)
	}
}

func readQP(t *testing.T, r io.Reader) string {
	t.Helper()
	var b strings.Builder
	_, err := io.Copy(&b, quotedprintable.NewReader(r))
	must(t, err)
	return strings.ReplaceAll(b.String(), "\r\n", "\n")
}

// TestEmailFailures: a temporary refusal (4xx) is tried again, a
// permanent one (5xx) ends the delivery, and without an SMTP server, or
// with STARTTLS required of a server without it, nothing is sent.
func TestEmailFailures(t *testing.T) {
	srv := listenSMTP(t, func(to string, n int) string {
		switch {
		case strings.Contains(to, "later@") && n < 2:
			return "451 4.3.0 try again later"
		case strings.Contains(to, "nobody@"):
			return "550 5.1.1 no such mailbox"
		}
		return ""
	})
	cases := []struct {
		name   string
		smtp   notify.SMTPConfig
		to     string
		status lab.DeliveryStatus
		codes  string
		err    string
	}{
		{"temporary", notify.SMTPConfig{Addr: srv.ln.Addr().String(), From: "basalt@lab.example.org"}, "later@example.org", lab.DeliveryDelivered, "451,451,250", ""},
		{"permanent", notify.SMTPConfig{Addr: srv.ln.Addr().String(), From: "basalt@lab.example.org"}, "nobody@example.org", lab.DeliveryFailed, "550", "SMTP 550 5.1.1 no such mailbox"},
		{"no SMTP server", notify.SMTPConfig{}, "qa@example.org", lab.DeliveryNotSent, "", "not sent: the server has no SMTP server (--smtp-server)"},
		{"STARTTLS required", notify.SMTPConfig{Addr: srv.ln.Addr().String(), From: "basalt@lab.example.org", StartTLS: notify.StartTLSAlways},
			"qa@example.org", lab.DeliveryFailed, "error", "does not offer STARTTLS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := labtest.Backends()[0].Open(t)
			e := newEnv(t, st, loopback, filepath.Join(t.TempDir(), "logs"))
			stop := run(t, e.sender(notify.Config{SMTP: c.smtp}))
			defer stop()
			id := e.submit(job("mail", "  criteria: {status: finished}\n  recipients:\n  - to: {method: email, email: "+c.to+"}", ""))
			e.runJob(id, "", app.JobOutcome{})
			waitFor(t, "the e-mail", func() bool { return e.done(id) })
			d := e.deliveries(id)[0]
			if d.Status != c.status || attempts(d) != c.codes || !strings.Contains(d.LastError, c.err) {
				t.Errorf("%s (%s): %q", d.Status, attempts(d), d.LastError)
			}
		})
	}
}
