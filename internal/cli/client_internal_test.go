package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/client"
)

func TestStatusExitCode(t *testing.T) {
	tests := []struct {
		status, want int
	}{
		{400, ExitUsage}, {401, ExitAuth}, {403, ExitAuth}, {404, ExitNotFound},
		{409, ExitConflict}, {422, ExitUnavailable}, {413, ExitFailure}, {500, ExitFailure}, {502, ExitFailure},
	}
	for _, tt := range tests {
		err := exitError(fmt.Errorf("context: %w", &client.APIError{Status: tt.status, Message: "m"}))
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != tt.want {
			t.Errorf("status %d: %v, want exit %d", tt.status, err, tt.want)
		}
	}
	ce := exitError(&client.ConnectionError{URI: "http://x", Err: errors.New("refused")})
	if exitCodeOf(ce) != ExitFailure {
		t.Errorf("connection error: exit %d", exitCodeOf(ce))
	}
	if exitError(nil) != nil {
		t.Error("exitError(nil) != nil")
	}
	if u := exitError(usageError{errors.New("bad flag")}); exitCodeOf(u) != ExitUsage {
		t.Errorf("usage error: exit %d", exitCodeOf(u))
	}
	if k := exitError(&ExitError{Code: ExitJobFailed, Err: errors.New("x")}); exitCodeOf(k) != ExitJobFailed {
		t.Errorf("ExitError does not pass through: %d", exitCodeOf(k))
	}
}

func TestParseExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "30d", want: now.AddDate(0, 0, 30)},
		{in: "720h", want: now.Add(720 * time.Hour)},
		{in: "90m", want: now.Add(90 * time.Minute)},
		{in: "2026-12-31", want: time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)},
		{in: "2026-12-31T08:00:00+02:00", want: time.Date(2026, 12, 31, 6, 0, 0, 0, time.UTC)},
		{in: "0d", wantErr: true},
		{in: "-5h", wantErr: true},
		{in: "soon", wantErr: true},
		{in: "31/12/2026", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		switch {
		case tt.wantErr && (err == nil || !isUsage(err)):
			t.Errorf("parseExpiry(%q) = %v, %v; want a usage error", tt.in, got, err)
		case !tt.wantErr && (err != nil || !got.Equal(tt.want)):
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func TestMaskToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "****"},
		{"bst_abcdefghijklmnopqrstuvwxyz", "bst_…wxyz"},
	}
	for _, tt := range tests {
		if got := maskToken(tt.in); got != tt.want {
			t.Errorf("maskToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDefaultIdentity(t *testing.T) {
	id := identity{URI: "http://x"}
	tests := []struct {
		name string
		f    identityFile
		want string
	}{
		{"explicit", identityFile{Default: "b", Identities: map[string]identity{"a": id, "b": id}}, "b"},
		{"named default", identityFile{Identities: map[string]identity{"a": id, "default": id}}, "default"},
		{"only one", identityFile{Identities: map[string]identity{"lab": id}}, "lab"},
		{"ambiguous", identityFile{Identities: map[string]identity{"a": id, "b": id}}, ""},
		{"empty", identityFile{Identities: map[string]identity{}}, ""},
	}
	for _, tt := range tests {
		if got := tt.f.defaultName(); got != tt.want {
			t.Errorf("%s: defaultName() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestIdentityFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "basalt.yaml")

	f, err := loadIdentities(path)
	if err != nil || len(f.Identities) != 0 {
		t.Fatalf("missing file: %+v, %v", f, err)
	}
	f.Identities["lab"] = identity{URI: "https://lab", Username: "alice", Token: "bst_t", CAFile: "/ca.pem"}
	f.Default = "lab"
	if err := f.save(path); err != nil {
		t.Fatal(err)
	}
	g, err := loadIdentities(path)
	if err != nil || g.Default != "lab" || g.Identities["lab"] != f.Identities["lab"] {
		t.Fatalf("round trip: %+v, %v", g, err)
	}

	// A file that was world-readable is replaced by a private one.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := g.save(path); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("mode after save: %v, %v", info.Mode().Perm(), err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}

	// Unknown keys are errors, not silently ignored (a typo in "token").
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("identities:\n  lab:\n    uri: http://x\n    tokne: bst_x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadIdentities(bad); err == nil || !strings.Contains(err.Error(), "tokne") {
		t.Errorf("unknown key: %v", err)
	}
}
