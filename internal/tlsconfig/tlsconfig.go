// Package tlsconfig holds the TLS settings Basalt's clients share (the CLI's
// API client and the worker): trusting a lab's own certificate authority.
package tlsconfig

import (
	"crypto/x509"
	"fmt"
	"os"
)

// CertPool returns the system's trusted roots plus the PEM certificates in
// file (a lab's own CA). A file without any certificate is an error.
func CertPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate found", file)
	}
	return pool, nil
}
