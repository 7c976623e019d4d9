package tlsconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCertPool(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, []byte("not a certificate"), 0o644)
	if _, err := CertPool(empty); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("file without a certificate: %v", err)
	}
	if _, err := CertPool(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("missing file accepted")
	}
}
