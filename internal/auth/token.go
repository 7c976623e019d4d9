package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// SecretPrefix starts every secret NewSecret makes, so that leaked Basalt
// secrets are easy to recognise (secret scanners, logs, pastes). '_' is an
// unreserved URL character, so a secret can stand unescaped as the password
// in a URL's userinfo ("https://user:<secret>@host/RPC2"), as lavacli writes
// it.
const SecretPrefix = "bst_"

// secretBytes is the entropy of a secret: 256 bits.
const secretBytes = 32

// SecretPattern is a regular expression (RE2 and PCRE syntax) matching
// exactly the secrets NewSecret makes: the prefix and 52 characters of
// lowercase unpadded base32. It is for secret scanning only: tokens imported
// from LAVA (128 characters of [0-9a-z]) do not match it and are still valid,
// so authentication must never reject a secret by its shape.
const SecretPattern = SecretPrefix + "[a-z2-7]{52}"

// secretEncoding is lowercase RFC 4648 base32 without padding.
var secretEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewSecret returns a new API token secret: SecretPrefix followed by 32
// bytes from crypto/rand in lowercase unpadded base32, 56 characters in all,
// every one a lowercase letter, a digit 2–7 or '_'. The secret is shown to
// its owner once; only HashSecret(secret) is stored.
func NewSecret() (string, error) {
	b := make([]byte, secretBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new secret: %w", err)
	}
	return SecretPrefix + secretEncoding.EncodeToString(b), nil
}

// HashSecret returns the SHA-256 of secret, the value stored as lab.Token.Hash
// and looked up on every authenticated request. A fast unsalted hash is
// right here: secrets have 256 bits of entropy, so there is nothing to
// brute-force, and lookup by hash is an exact index match that never
// compares secrets byte by byte. It accepts any string, so secrets imported
// from LAVA are hashed the same way.
func HashSecret(secret string) []byte {
	sum := sha256.Sum256([]byte(secret))
	return sum[:]
}

// Check reports whether tok may authenticate a request at now: it must be
// well formed (a known kind with its owner or job set, a SHA-256 hash) and
// not expired. A token expires at its Expires instant; a zero Expires never
// expires. Failures wrap lab.ErrUnauthenticated.
func Check(tok lab.Token, now time.Time) error {
	switch tok.Kind {
	case lab.TokenUser, lab.TokenWorker:
		if tok.Owner == "" {
			return fmt.Errorf("token %d: %s token without owner: %w", tok.ID, tok.Kind, lab.ErrUnauthenticated)
		}
	case lab.TokenJob:
		if tok.JobID <= 0 {
			return fmt.Errorf("token %d: job token without job: %w", tok.ID, lab.ErrUnauthenticated)
		}
	default:
		return fmt.Errorf("token %d: unknown kind %q: %w", tok.ID, tok.Kind, lab.ErrUnauthenticated)
	}
	if len(tok.Hash) != sha256.Size {
		return fmt.Errorf("token %d: hash is not a SHA-256: %w", tok.ID, lab.ErrUnauthenticated)
	}
	if !tok.Expires.IsZero() && !now.Before(tok.Expires) {
		return fmt.Errorf("token %d: expired at %s: %w", tok.ID, tok.Expires.UTC().Format(time.RFC3339), lab.ErrUnauthenticated)
	}
	return nil
}

// TokenPrincipal returns the principal tok acts for at now, after Check.
// For a user token, owner must be the user record named by tok.Owner (the
// caller loads it); it must be active, and the principal carries its
// current superuser flag and groups. For worker and job tokens owner is
// ignored and the principal can act only as that worker or for that job.
// Failures wrap lab.ErrUnauthenticated.
func TokenPrincipal(tok lab.Token, owner lab.User, now time.Time) (Principal, error) {
	if err := Check(tok, now); err != nil {
		return Principal{}, err
	}
	switch tok.Kind {
	case lab.TokenUser:
		if owner.Username != tok.Owner {
			return Principal{}, fmt.Errorf("token %d: owner record mismatch: %w", tok.ID, lab.ErrUnauthenticated)
		}
		return UserPrincipal(owner)
	case lab.TokenWorker:
		return WorkerPrincipal(tok.Owner), nil
	default: // lab.TokenJob, the only other kind Check accepts
		return JobPrincipal(tok.JobID), nil
	}
}
