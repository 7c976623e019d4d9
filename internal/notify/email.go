package notify

import (
	"context"
	"fmt"

	"github.com/basalt-lab/basalt/internal/lab"
)

// SMTPConfig is the mail server e-mails go through.
type SMTPConfig struct {
	// Addr is host:port; empty: no mail server, e-mails are not sent.
	Addr string
	// From is the sender's address (required with Addr).
	From string
}

func (c SMTPConfig) validate() error {
	if c.Addr != "" && c.From == "" {
		return fmt.Errorf("notify: an SMTP server needs a From address")
	}
	return nil
}

// email tries one e-mail delivery.
func (s *Sender) email(ctx context.Context, d lab.Delivery) outcome {
	if s.cfg.SMTP.Addr == "" {
		return outcome{status: lab.DeliveryNotSent, err: "not sent: the server has no SMTP server configured (--smtp-server)"}
	}
	return outcome{status: lab.DeliveryNotSent, err: "not sent: e-mail is not implemented yet"}
}
