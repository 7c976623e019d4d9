package auth

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

func TestNewSecret(t *testing.T) {
	re := regexp.MustCompile(`^` + SecretPattern + `$`)
	seen := make(map[string]bool)
	for range 1000 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if len(s) != 56 {
			t.Fatalf("len(%q) = %d, want 56", s, len(s))
		}
		if !re.MatchString(s) {
			t.Fatalf("secret %q does not match SecretPattern %s", s, SecretPattern)
		}
		raw, err := secretEncoding.DecodeString(s[len(SecretPrefix):])
		if err != nil || len(raw) != 32 {
			t.Fatalf("secret %q does not decode to 32 bytes: %d, %v", s, len(raw), err)
		}
		if seen[s] {
			t.Fatalf("secret %q made twice", s)
		}
		seen[s] = true
	}
}

// Every bit position of the 32 random bytes must vary across secrets: a
// cheap guard against a constant or truncated random source.
func TestNewSecretUsesAllBytes(t *testing.T) {
	var or, and [32]byte
	for i := range and {
		and[i] = 0xff
	}
	for range 200 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := secretEncoding.DecodeString(s[len(SecretPrefix):])
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range raw {
			or[i] |= b
			and[i] &= b
		}
	}
	for i := range or {
		if or[i] != 0xff || and[i] != 0 {
			t.Errorf("byte %d: some bit never varied in 200 secrets (or %08b, and %08b)", i, or[i], and[i])
		}
	}
}

// lavacli puts the token in the URL ("https://user:token@host/RPC2"): the
// secret must survive there without escaping.
func TestNewSecretInURLUserinfo(t *testing.T) {
	s, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	raw := "https://alice:" + s + "@lab.example/RPC2"
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if pw, _ := u.User.Password(); pw != s || u.User.Username() != "alice" || u.Host != "lab.example" {
		t.Errorf("parsed %q as user %q password %q host %q", raw, u.User.Username(), pw, u.Host)
	}
	if u.String() != raw {
		t.Errorf("URL re-encodes to %q, want %q unchanged (no escaping needed)", u.String(), raw)
	}
}

func TestHashSecret(t *testing.T) {
	tests := []struct{ secret, want string }{
		// FIPS 180-2 SHA-256 example.
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		if got := hex.EncodeToString(HashSecret(tt.secret)); got != tt.want {
			t.Errorf("HashSecret(%q) = %s, want %s", tt.secret, got, tt.want)
		}
	}
	a, b := HashSecret("bst_aaaa"), HashSecret("bst_aaab")
	if bytes.Equal(a, b) {
		t.Error("different secrets hash equal")
	}
	if !bytes.Equal(a, HashSecret("bst_aaaa")) {
		t.Error("HashSecret is not deterministic")
	}
	// LAVA's secrets (128 chars of [0-9a-z]) hash the same way, so imported
	// tokens keep working.
	lava := "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
	if len(HashSecret(lava)) != 32 {
		t.Error("HashSecret of a LAVA secret is not 32 bytes")
	}
}

func TestCheck(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hash := HashSecret("bst_x")
	user := lab.Token{ID: 1, Kind: lab.TokenUser, Owner: "alice", Hash: hash}
	with := func(f func(*lab.Token)) lab.Token {
		tok := user
		f(&tok)
		return tok
	}
	tests := []struct {
		name string
		tok  lab.Token
		ok   bool
	}{
		{"user, never expires", user, true},
		{"worker", with(func(t *lab.Token) { t.Kind = lab.TokenWorker; t.Owner = "w1" }), true},
		{"job", with(func(t *lab.Token) { t.Kind = lab.TokenJob; t.Owner = ""; t.JobID = 7 }), true},
		{"expires later", with(func(t *lab.Token) { t.Expires = now.Add(time.Nanosecond) }), true},
		{"expires now", with(func(t *lab.Token) { t.Expires = now }), false},
		{"expired", with(func(t *lab.Token) { t.Expires = now.Add(-time.Hour) }), false},
		{"expiry in another zone, still valid", with(func(t *lab.Token) {
			t.Expires = now.Add(time.Minute).In(time.FixedZone("X", 5*3600))
		}), true},
		{"unknown kind", with(func(t *lab.Token) { t.Kind = "admin" }), false},
		{"empty kind", with(func(t *lab.Token) { t.Kind = "" }), false},
		{"user without owner", with(func(t *lab.Token) { t.Owner = "" }), false},
		{"worker without owner", with(func(t *lab.Token) { t.Kind = lab.TokenWorker; t.Owner = "" }), false},
		{"job without job", with(func(t *lab.Token) { t.Kind = lab.TokenJob }), false},
		{"job with negative job", with(func(t *lab.Token) { t.Kind = lab.TokenJob; t.JobID = -1 }), false},
		{"no hash", with(func(t *lab.Token) { t.Hash = nil }), false},
		{"short hash", with(func(t *lab.Token) { t.Hash = hash[:16] }), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check(tt.tok, now)
			if tt.ok && err != nil {
				t.Errorf("Check = %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, lab.ErrUnauthenticated) {
				t.Errorf("Check = %v, want lab.ErrUnauthenticated", err)
			}
		})
	}
}

func TestTokenPrincipal(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hash := HashSecret("bst_x")
	alice := lab.User{Username: "alice", IsActive: true, Groups: []string{"lab", "ci"}}
	root := lab.User{Username: "root", IsActive: true, IsSuperuser: true}
	tests := []struct {
		name  string
		tok   lab.Token
		owner lab.User
		want  Principal
		ok    bool
	}{
		{"user token", lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash}, alice,
			Principal{Kind: KindUser, Username: "alice", Groups: []string{"lab", "ci"}}, true},
		{"superuser token", lab.Token{Kind: lab.TokenUser, Owner: "root", Hash: hash}, root,
			Principal{Kind: KindUser, Username: "root", Superuser: true}, true},
		{"user token, inactive owner", lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash},
			lab.User{Username: "alice", IsActive: false}, Principal{}, false},
		{"user token, wrong owner record", lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash}, root, Principal{}, false},
		{"user token, no owner record", lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash}, lab.User{}, Principal{}, false},
		{"user token, expired", lab.Token{Kind: lab.TokenUser, Owner: "alice", Hash: hash, Expires: now}, alice, Principal{}, false},
		{"worker token ignores owner record", lab.Token{Kind: lab.TokenWorker, Owner: "w1", Hash: hash}, root,
			Principal{Kind: KindWorker, Worker: "w1"}, true},
		{"job token", lab.Token{Kind: lab.TokenJob, JobID: 42, Hash: hash}, lab.User{},
			Principal{Kind: KindJob, JobID: 42}, true},
		{"job token, expired", lab.Token{Kind: lab.TokenJob, JobID: 42, Hash: hash, Expires: now.Add(-time.Second)}, lab.User{}, Principal{}, false},
		{"unknown kind", lab.Token{Kind: "root", Owner: "alice", Hash: hash}, alice, Principal{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := TokenPrincipal(tt.tok, tt.owner, now)
			if !tt.ok {
				if !errors.Is(err, lab.ErrUnauthenticated) {
					t.Errorf("TokenPrincipal error = %v, want lab.ErrUnauthenticated", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("TokenPrincipal error = %v", err)
			}
			if p.Kind != tt.want.Kind || p.Username != tt.want.Username || p.Superuser != tt.want.Superuser ||
				p.Worker != tt.want.Worker || p.JobID != tt.want.JobID || !slices.Equal(p.Groups, tt.want.Groups) {
				t.Errorf("TokenPrincipal = %+v, want %+v", p, tt.want)
			}
		})
	}
}
