package auth

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Errors reported by VerifyPassword for stored hashes it cannot check. A
// login handler treats all of them as a failed login (and should log them:
// they point at bad data, not at a wrong password). Their messages never
// contain the hash or the password.
var (
	// ErrNoPassword: the stored hash is empty or Django's "unusable
	// password" marker ("!…"): the account has no password login.
	ErrNoPassword = errors.New("account has no usable password")
	// ErrMalformedHash: the stored hash names a supported algorithm but is
	// not well formed, or its cost parameters are out of bounds.
	ErrMalformedHash = errors.New("malformed password hash")
	// ErrUnsupportedHash: the stored hash uses an algorithm Basalt does not
	// verify (e.g. Django's legacy "sha1$…" or "bcrypt_sha256$…"); the user
	// needs a password reset.
	ErrUnsupportedHash = errors.New("unsupported password hash algorithm")
)

// Argon2Params are the argon2id cost parameters of a password hash.
type Argon2Params struct {
	Memory  uint32 // memory cost in KiB (argon2's m)
	Time    uint32 // number of passes (argon2's t)
	Threads uint8  // degree of parallelism (argon2's p)
	SaltLen uint32 // random salt length in bytes
	KeyLen  uint32 // derived key (hash) length in bytes
}

// Argon2 holds the parameters HashPassword uses for new hashes, and against
// which VerifyPassword decides needsRehash. The defaults are OWASP's
// argon2id minimum (m=19 MiB, t=2, p=1), which a two-core lab server can
// afford per login; RFC 9106's memory-constrained choice (m=64 MiB, t=3)
// is stronger if the server has the RAM. Every hash in flight holds
// Memory KiB, so callers should bound concurrent logins. Tests lower these
// values; production code sets them once at start-up, before serving, and
// they must stay within the bounds VerifyPassword accepts (HashPassword
// refuses otherwise).
var Argon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds applied to stored hashes before any work is done, so that a
// corrupt or tampered hash cannot make a login allocate gigabytes or spin
// for minutes.
const (
	maxArgon2Memory      = 256 * 1024 // KiB (256 MiB)
	maxArgon2Time        = 64
	minArgon2Salt        = 8
	maxArgon2Salt        = 64
	minArgon2Key         = 16
	maxArgon2Key         = 64
	maxPBKDF2Iterations  = 10_000_000 // Django 5.2 uses 1,000,000
	djangoPBKDF2KeyLen   = sha256.Size
	maxVerifyPasswordLen = 4096 // bytes; longer inputs cannot match (see ValidatePassword)
)

// Password policy for new passwords (ValidatePassword). Counts are in
// Unicode code points. The minimum sits between Django's default (8) and
// NIST SP 800-63B-4's 15 for single-factor use; deployments may change it
// at start-up. The maximum only bounds hashing work; it is far above what
// any person types.
var (
	MinPasswordLength = 12
	MaxPasswordLength = 1024
)

const (
	argon2Prefix = "$argon2id$"
	djangoPrefix = "pbkdf2_sha256$"
)

// phc is the unpadded standard base64 alphabet of the PHC string format.
var phc = base64.RawStdEncoding.Strict()

// ValidatePassword applies the policy for a new password chosen by
// username: valid UTF-8, at least MinPasswordLength and at most
// MaxPasswordLength code points, and not the username itself (ignoring
// case). Violations wrap lab.ErrInvalid; messages never echo the password.
func ValidatePassword(pw, username string) error {
	if !utf8.ValidString(pw) {
		return fmt.Errorf("password is not valid UTF-8: %w", lab.ErrInvalid)
	}
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLength {
		return fmt.Errorf("password must have at least %d characters: %w", MinPasswordLength, lab.ErrInvalid)
	}
	if n > MaxPasswordLength {
		return fmt.Errorf("password must have at most %d characters: %w", MaxPasswordLength, lab.ErrInvalid)
	}
	if username != "" && strings.EqualFold(pw, username) {
		return fmt.Errorf("password must differ from the username: %w", lab.ErrInvalid)
	}
	return nil
}

// HashPassword returns an argon2id hash of pw with a fresh random salt and
// the current Argon2 parameters, encoded in PHC string format:
//
//	$argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>
//
// with salt and hash in unpadded standard base64. It does not apply the
// password policy (see ValidatePassword) but refuses the empty password
// (an empty User.PasswordHash already means "no password login") and
// passwords over 4096 bytes, which VerifyPassword never accepts.
func HashPassword(pw string) (string, error) {
	if pw == "" {
		return "", fmt.Errorf("hash password: empty password: %w", lab.ErrInvalid)
	}
	if len(pw) > maxVerifyPasswordLen {
		return "", fmt.Errorf("hash password: longer than %d bytes: %w", maxVerifyPasswordLen, lab.ErrInvalid)
	}
	p := Argon2
	if err := p.check(); err != nil {
		return "", fmt.Errorf("hash password: parameters: %w", err)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", argon2Prefix, argon2.Version,
		p.Memory, p.Time, p.Threads, phc.EncodeToString(salt), phc.EncodeToString(key)), nil
}

// VerifyPassword reports whether pw matches the stored hash encoded, in
// constant time with respect to the password. It understands
//
//   - argon2id in PHC format, as written by HashPassword; needsRehash is
//     true when the hash's parameters differ from the current Argon2;
//   - Django's "pbkdf2_sha256$<iterations>$<salt>$<base64 hash>", as found
//     in a LAVA database; needsRehash is always true.
//
// needsRehash is only meaningful when ok is true: the caller should then
// store HashPassword(pw). A wrong password gives (false, false, nil), as
// does any password over 4096 bytes (no policy allows one). A
// stored hash that cannot be checked gives ok false and an error wrapping
// ErrNoPassword, ErrMalformedHash or ErrUnsupportedHash. It never panics.
func VerifyPassword(encoded, pw string) (ok, needsRehash bool, err error) {
	h, err := parseHash(encoded)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if len(pw) > maxVerifyPasswordLen {
		return false, false, nil
	}
	ok, err = h.verify(pw)
	if err != nil {
		return false, false, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		return false, false, nil
	}
	return true, h.needsRehash(), nil
}

// DummyVerify spends the time and memory of verifying pw against a hash
// with the current Argon2 parameters and discards the result. Login
// handlers call it when the user does not exist or has no password, so that
// response times do not reveal which usernames are valid.
func DummyVerify(pw string) {
	p := Argon2
	if p.check() != nil {
		return
	}
	salt := make([]byte, p.SaltLen)
	_ = argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
}

// check reports whether p is within the bounds accepted for stored hashes.
func (p Argon2Params) check() error {
	switch {
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("%w: time %d not in [1, %d]", ErrMalformedHash, p.Time, maxArgon2Time)
	case p.Threads < 1:
		return fmt.Errorf("%w: zero threads", ErrMalformedHash)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgon2Memory:
		return fmt.Errorf("%w: memory %d KiB not in [%d, %d]", ErrMalformedHash, p.Memory, 8*uint32(p.Threads), maxArgon2Memory)
	case p.SaltLen < minArgon2Salt || p.SaltLen > maxArgon2Salt:
		return fmt.Errorf("%w: salt length %d not in [%d, %d]", ErrMalformedHash, p.SaltLen, minArgon2Salt, maxArgon2Salt)
	case p.KeyLen < minArgon2Key || p.KeyLen > maxArgon2Key:
		return fmt.Errorf("%w: key length %d not in [%d, %d]", ErrMalformedHash, p.KeyLen, minArgon2Key, maxArgon2Key)
	}
	return nil
}

// storedHash is a parsed, bounds-checked stored password hash.
type storedHash interface {
	verify(pw string) (bool, error)
	needsRehash() bool
}

// parseHash decodes a stored hash of any supported format.
func parseHash(encoded string) (storedHash, error) {
	switch {
	case encoded == "" || strings.HasPrefix(encoded, "!"):
		return nil, ErrNoPassword
	case strings.HasPrefix(encoded, argon2Prefix):
		return parseArgon2(encoded)
	case strings.HasPrefix(encoded, djangoPrefix):
		return parseDjango(encoded)
	default:
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedHash, algorithmOf(encoded))
	}
}

// algorithmOf names the algorithm of an unsupported hash for error
// messages: its first '$'-separated field if that looks like an algorithm
// identifier (Django's "sha1", "bcrypt_sha256", crypt's "2b"), otherwise
// "unknown", so that no salt or hash material reaches a log.
func algorithmOf(encoded string) string {
	s := strings.TrimPrefix(encoded, "$")
	s, _, found := strings.Cut(s, "$")
	if !found || s == "" || len(s) > 24 || strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' && r != '-'
	}) {
		return "unknown"
	}
	return s
}

// argon2Hash is a parsed argon2id PHC string.
type argon2Hash struct {
	params Argon2Params
	salt   []byte
	key    []byte
}

// parseArgon2 decodes "$argon2id$v=19$m=M,t=T,p=P$salt$hash".
func parseArgon2(encoded string) (*argon2Hash, error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=…,t=…,p=…", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, fmt.Errorf("%w: argon2id: want 5 '$'-separated fields", ErrMalformedHash)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, fmt.Errorf("%w: argon2id: unsupported version field", ErrMalformedHash)
	}
	var p Argon2Params
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return nil, fmt.Errorf("%w: argon2id: want parameters m,t,p", ErrMalformedHash)
	}
	m, err1 := paramValue(fields[0], "m=", 32)
	t, err2 := paramValue(fields[1], "t=", 32)
	th, err3 := paramValue(fields[2], "p=", 8)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, fmt.Errorf("%w: argon2id: %w", ErrMalformedHash, err)
	}
	p.Memory, p.Time, p.Threads = uint32(m), uint32(t), uint8(th)
	salt, err := phc.DecodeString(parts[4])
	if err != nil {
		return nil, fmt.Errorf("%w: argon2id: salt is not unpadded base64", ErrMalformedHash)
	}
	key, err := phc.DecodeString(parts[5])
	if err != nil {
		return nil, fmt.Errorf("%w: argon2id: hash is not unpadded base64", ErrMalformedHash)
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	if err := p.check(); err != nil {
		return nil, fmt.Errorf("argon2id: %w", err)
	}
	return &argon2Hash{params: p, salt: salt, key: key}, nil
}

// paramValue parses one "name=value" parameter as an unsigned decimal of
// at most bits bits.
func paramValue(field, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(field, name)
	if !ok {
		return 0, fmt.Errorf("want parameter %q", strings.TrimSuffix(name, "="))
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("parameter %q is not a %d-bit unsigned integer", strings.TrimSuffix(name, "="), bits)
	}
	return n, nil
}

func (h *argon2Hash) verify(pw string) (bool, error) {
	p := h.params
	key := argon2.IDKey([]byte(pw), h.salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

func (h *argon2Hash) needsRehash() bool { return h.params != Argon2 }

// djangoHash is a parsed Django "pbkdf2_sha256" hash.
type djangoHash struct {
	iterations int
	salt       string
	key        []byte
}

// parseDjango decodes "pbkdf2_sha256$<iterations>$<salt>$<base64 hash>",
// split the way Django does (at the first three '$').
func parseDjango(encoded string) (*djangoHash, error) {
	parts := strings.SplitN(encoded, "$", 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("%w: pbkdf2_sha256: want 4 '$'-separated fields", ErrMalformedHash)
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > maxPBKDF2Iterations {
		return nil, fmt.Errorf("%w: pbkdf2_sha256: iterations not an integer in [1, %d]", ErrMalformedHash, maxPBKDF2Iterations)
	}
	if parts[2] == "" {
		return nil, fmt.Errorf("%w: pbkdf2_sha256: empty salt", ErrMalformedHash)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(parts[3])
	if err != nil || len(key) != djangoPBKDF2KeyLen {
		return nil, fmt.Errorf("%w: pbkdf2_sha256: hash is not base64 of %d bytes", ErrMalformedHash, djangoPBKDF2KeyLen)
	}
	return &djangoHash{iterations: iter, salt: parts[2], key: key}, nil
}

func (h *djangoHash) verify(pw string) (bool, error) {
	key, err := pbkdf2.Key(sha256.New, pw, []byte(h.salt), h.iterations, djangoPBKDF2KeyLen)
	if err != nil {
		return false, fmt.Errorf("pbkdf2_sha256: derive key: %w", err)
	}
	return subtle.ConstantTimeCompare(key, h.key) == 1, nil
}

// needsRehash is always true: imported Django hashes are replaced by
// argon2id at the first successful login.
func (h *djangoHash) needsRehash() bool { return true }
