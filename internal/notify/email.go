package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/lab"
)

// STARTTLS modes of SMTPConfig.
const (
	StartTLSAuto   = "auto"   // when the server offers it (the default)
	StartTLSAlways = "always" // required: no e-mail goes out in clear
	StartTLSNever  = "never"  // never (a relay on the same host)
)

// SMTPConfig is the mail server e-mails go through.
type SMTPConfig struct {
	// Addr is host:port; empty: no mail server, e-mails are recorded as
	// not sent.
	Addr string
	// From is the sender's address (required with Addr).
	From string
	// Username and Password, when Username is set, authenticate with
	// PLAIN, which net/smtp allows only over TLS or to localhost.
	Username, Password string
	// StartTLS is auto, always or never (default auto).
	StartTLS string
	// TLS configures STARTTLS (nil: the system's roots, ServerName the
	// host of Addr).
	TLS *tls.Config
}

func (c *SMTPConfig) validate() error {
	if c.Addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return fmt.Errorf("SMTP server %q: want host:port: %w", c.Addr, err)
	}
	if c.From == "" {
		return errors.New("an SMTP server needs a From address")
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("SMTP From %q: %w", c.From, err)
	}
	if c.StartTLS == "" {
		c.StartTLS = StartTLSAuto
	}
	if !slices.Contains([]string{StartTLSAuto, StartTLSAlways, StartTLSNever}, c.StartTLS) {
		return fmt.Errorf("SMTP STARTTLS %q: want auto, always or never", c.StartTLS)
	}
	return nil
}

// email tries one e-mail delivery.
func (s *Sender) email(ctx context.Context, d lab.Delivery) outcome {
	if s.cfg.SMTP.Addr == "" {
		return outcome{status: lab.DeliveryNotSent, err: "not sent: the server has no SMTP server (--smtp-server)"}
	}
	to, err := mail.ParseAddress(d.Target)
	if err != nil {
		return outcome{status: lab.DeliveryFailed, err: fmt.Sprintf("%q is not an e-mail address", d.Target)}
	}
	subj, err := s.a.NotificationSubject(ctx, d)
	if err != nil {
		return outcome{status: lab.DeliveryPending, err: err.Error(), interrupted: ctx.Err() != nil}
	}
	spec, err := app.ParseDeliverySpec(d)
	if err != nil {
		return outcome{status: lab.DeliveryFailed, err: err.Error()}
	}
	var cases []lab.TestCase
	if spec.Verbosity == "verbose" && subj.Job.State == lab.JobFinished {
		if cases, err = s.a.NotificationResults(ctx, subj.Job.ID); err != nil {
			return outcome{status: lab.DeliveryPending, err: err.Error(), interrupted: ctx.Err() != nil}
		}
	}
	msg := s.message(d.ID, to, subj, spec, cases)
	start := time.Now()
	a := &lab.DeliveryAttempt{At: s.a.Now()}
	code, err := s.sendMail(ctx, to.Address, msg)
	a.Duration, a.StatusCode = time.Since(start), code
	if err != nil && ctx.Err() != nil {
		return outcome{interrupted: true}
	}
	o := outcome{attempt: a, status: lab.DeliveryDelivered}
	if err != nil {
		a.Error = err.Error()
		var te *textproto.Error
		if errors.As(err, &te) {
			a.Error = fmt.Sprintf("SMTP %d %s", te.Code, te.Msg)
		}
		o.err = a.Error
		o.status = lab.DeliveryPending
		if te != nil && te.Code >= 500 || errors.Is(err, errNoStartTLS) {
			o.status = lab.DeliveryFailed // refused: trying again changes nothing
		}
	}
	return o
}

var errNoStartTLS = errors.New("the SMTP server does not offer STARTTLS, which --smtp-starttls=always requires")

// sendMail runs one SMTP session that sends msg to rcpt, within the
// timeout; it returns the last reply code it knows (250 when accepted).
func (s *Sender) sendMail(ctx context.Context, rcpt string, msg []byte) (int, error) {
	cfg := s.cfg.SMTP
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	host, _, _ := net.SplitHostPort(cfg.Addr)
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", cfg.Addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) }) // a stopping sender cuts the session
	defer stop()
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return replyCode(err), err
	}
	defer c.Close()
	if err := c.Hello("basalt"); err != nil {
		return replyCode(err), err
	}
	if cfg.StartTLS != StartTLSNever {
		if ok, _ := c.Extension("STARTTLS"); ok {
			tc := cfg.TLS
			if tc == nil {
				tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
			}
			if err := c.StartTLS(tc); err != nil {
				return replyCode(err), fmt.Errorf("STARTTLS: %w", err)
			}
		} else if cfg.StartTLS == StartTLSAlways {
			return 0, errNoStartTLS
		}
	}
	if cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", cfg.Username, cfg.Password, host)); err != nil {
			return replyCode(err), fmt.Errorf("authenticate: %w", err)
		}
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return 0, fmt.Errorf("SMTP From: %w", err)
	}
	if err := c.Mail(from.Address); err != nil {
		return replyCode(err), err
	}
	if err := c.Rcpt(rcpt); err != nil {
		return replyCode(err), err
	}
	w, err := c.Data()
	if err != nil {
		return replyCode(err), err
	}
	if _, err := w.Write(msg); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return replyCode(err), err
	}
	_ = c.Quit() // the message is accepted; a failed goodbye changes nothing
	return 250, nil
}

// replyCode is the SMTP reply code an error carries, 0 when none.
func replyCode(err error) int {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}

// Subject is an e-mail's subject: LAVA's, so that mail filters written
// for LAVA keep working.
func Subject(j lab.Job) string {
	desc := []rune(j.Description)
	if len(desc) > 200 {
		desc = desc[:200]
	}
	return strings.Join(strings.Fields(fmt.Sprintf("LAVA notification for Test Job %d %s", j.ID, string(desc))), " ")
}

// maxMailCases bounds the results listed in a verbose e-mail.
const maxMailCases = 500

// message is the e-mail of a delivery to to: headers and a plain text body in
// quoted-printable.
func (s *Sender) message(delivery int64, to *mail.Address, subj app.NotificationSubject, spec app.DeliverySpec, cases []lab.TestCase) []byte {
	j := subj.Job
	var body strings.Builder
	name := strings.TrimSpace(subj.Recipient.FirstName + " " + subj.Recipient.LastName)
	if name == "" {
		name = subj.Recipient.Username
	}
	if name != "" {
		fmt.Fprintf(&body, "Hello %s,\n\n", name)
	} else {
		body.WriteString("Hello,\n\n")
	}
	fmt.Fprintf(&body, "Job %d (%s) is %s, health %s. It was submitted by %s.\n\n", j.ID, j.Description, j.State, j.Health, j.Submitter)
	fmt.Fprintf(&body, "Details and log: %s/jobs/%d\n", strings.TrimRight(s.cfg.BaseURL, "/"), j.ID)
	if j.State == lab.JobFinished && spec.Verbosity != "status-only" {
		if j.Health == lab.JobHealthIncomplete && j.FailureComment != "" {
			typ := string(j.ErrorType)
			if typ == "" {
				typ = "Unknown"
			}
			fmt.Fprintf(&body, "\n%s error: %s\n", typ, j.FailureComment)
		}
		if j.ActualDevice != "" {
			fmt.Fprintf(&body, "\nDevice: %s (type %s)\n", j.ActualDevice, j.RequestedType)
		}
		fmt.Fprintf(&body, "\nPriority: %d\nSubmitted: %s\nStarted: %s\nFinished: %s\n", j.Priority,
			mailTime(j.SubmitTime), mailTime(j.StartTime), mailTime(j.EndTime))
		if !j.StartTime.IsZero() && !j.EndTime.IsZero() {
			fmt.Fprintf(&body, "Duration: %s\n", j.EndTime.Sub(j.StartTime).Round(time.Second))
		}
		if spec.Verbosity == "verbose" {
			if len(j.Metadata) > 0 {
				body.WriteString("\nMetadata:\n")
				for _, k := range sortedKeys(j.Metadata) {
					fmt.Fprintf(&body, "  %s: %s\n", k, j.Metadata[k])
				}
			}
			body.WriteString("\nResults:\n")
			suite := ""
			for i, c := range cases {
				if i == maxMailCases {
					fmt.Fprintf(&body, "  … and %d more: see the job's results\n", len(cases)-i)
					break
				}
				if c.Suite != suite {
					suite = c.Suite
					fmt.Fprintf(&body, "  Suite %s:\n", suite)
				}
				fmt.Fprintf(&body, "    %s: %s", c.Name, c.Result)
				if c.Measurement != "" {
					fmt.Fprintf(&body, " (%s %s)", c.Measurement, c.Units)
				}
				body.WriteString("\n")
			}
			if len(cases) == 0 {
				body.WriteString("  none\n")
			}
		}
	}
	body.WriteString("\n-- \nBasalt, on behalf of the lab: this job's notify block asked for this e-mail.\n")

	var m bytes.Buffer
	header := func(k, v string) { fmt.Fprintf(&m, "%s: %s\r\n", k, v) }
	header("From", s.cfg.SMTP.From)
	header("To", to.String())
	header("Subject", mime.QEncoding.Encode("utf-8", Subject(j)))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-ID", fmt.Sprintf("<basalt.job%d.delivery%d@%s>", j.ID, delivery, mailDomain(s.cfg.SMTP.From)))
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	header("Auto-Submitted", "auto-generated")
	header("X-Basalt-Job", fmt.Sprint(j.ID))
	m.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&m)
	_, _ = qp.Write([]byte(strings.ReplaceAll(body.String(), "\n", "\r\n")))
	_ = qp.Close()
	return m.Bytes()
}

// mailTime is a time for the e-mail's reader, or "-".
func mailTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 MST")
}

// mailDomain is the domain of an address ("basalt" when none).
func mailDomain(addr string) string {
	if a, err := mail.ParseAddress(addr); err == nil {
		if _, d, ok := strings.Cut(a.Address, "@"); ok && d != "" {
			return d
		}
	}
	return "basalt"
}
