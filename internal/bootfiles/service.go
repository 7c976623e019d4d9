package bootfiles

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Service is a Server listening: TFTP on a UDP address and, optionally,
// HTTP on a TCP one.
type Service struct {
	*Server
	// TFTPAddr is the TFTP socket's address.
	TFTPAddr net.Addr
	http     *http.Server
}

// Listen serves dir over TFTP on tftpAddr and, when httpAddr is not
// empty, over HTTP on httpAddr. With keep, job directories a previous run
// left are kept (Reopen) for the caller to Adopt or Sweep; otherwise they
// are cleared (New). A port that cannot be had is an error naming it.
// onError receives the errors of the servers once running (nil: ignored).
func Listen(dir, tftpAddr, httpAddr string, keep bool, onError func(error)) (*Service, error) {
	open := New
	if keep {
		open = Reopen
	}
	files, err := open(dir)
	if err != nil {
		return nil, err
	}
	report := func(err error) {
		if onError != nil && err != nil && !errors.Is(err, net.ErrClosed) && !errors.Is(err, http.ErrServerClosed) {
			onError(err)
		}
	}
	pc, err := net.ListenPacket("udp", tftpAddr)
	if err != nil {
		files.Close()
		return nil, fmt.Errorf("tftp on %s: %w (TFTP's port 69 needs root or CAP_NET_BIND_SERVICE)", tftpAddr, err)
	}
	s := &Service{Server: files, TFTPAddr: pc.LocalAddr()}
	go func() { report(files.ServeTFTP(pc)) }()
	if httpAddr != "" {
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			files.Close()
			return nil, fmt.Errorf("http on %s: %w", httpAddr, err)
		}
		s.http = &http.Server{Handler: files, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
		go func() { report(s.http.Serve(ln)) }()
	}
	return s, nil
}

// Close stops serving.
func (s *Service) Close() error {
	if s.http != nil {
		s.http.Close()
	}
	return s.Server.Close()
}

// ServerIP is the address boards reach a TFTP server listening on
// tftpAddr at: its host, when it names one (not an unspecified address).
func ServerIP(tftpAddr string) (string, error) {
	host, _, err := net.SplitHostPort(tftpAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || ip.IsUnspecified() {
		return "", fmt.Errorf("give the address boards reach this host at (the TFTP address %q names none)", tftpAddr)
	}
	return host, nil
}
