package auth

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/basalt-lab/basalt/internal/lab"
)

// cheapArgon2 lowers the argon2id parameters for the duration of a test.
// Tests that call it must not run in parallel.
func cheapArgon2(t testing.TB) Argon2Params {
	t.Helper()
	saved := Argon2
	t.Cleanup(func() { Argon2 = saved })
	Argon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	return Argon2
}

// djangoHash computes a Django pbkdf2_sha256 hash in the test, with the
// standard library, the way Django's PBKDF2PasswordHasher.encode does.
func djangoEncode(t testing.TB, pw, salt string, iter int) string {
	t.Helper()
	key, err := pbkdf2.Key(sha256.New, pw, []byte(salt), iter, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("pbkdf2_sha256$%d$%s$%s", iter, salt, base64.StdEncoding.EncodeToString(key))
}

func TestHashPasswordFormat(t *testing.T) {
	cheapArgon2(t)
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	a, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	b, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{a, b} {
		if !re.MatchString(h) {
			t.Errorf("hash %q does not match %s", h, re)
		}
		if strings.Contains(h, "correct horse") {
			t.Errorf("hash %q contains the password", h)
		}
	}
	if a == b {
		t.Errorf("two hashes of one password are equal (salt not random): %q", a)
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	cheapArgon2(t)
	if _, err := HashPassword(""); !errors.Is(err, lab.ErrInvalid) {
		t.Errorf("HashPassword(\"\") error = %v, want lab.ErrInvalid", err)
	}
	if _, err := HashPassword(strings.Repeat("x", maxVerifyPasswordLen+1)); !errors.Is(err, lab.ErrInvalid) {
		t.Errorf("HashPassword(too long) error = %v, want lab.ErrInvalid", err)
	}
	for _, p := range []Argon2Params{
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 4, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: maxArgon2Memory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8},
	} {
		Argon2 = p
		if h, err := HashPassword("correct horse battery"); err == nil {
			t.Errorf("HashPassword with %+v = %q, want error", p, h)
		}
	}
}

func TestVerifyPassword(t *testing.T) {
	cur := cheapArgon2(t)
	hash := func(pw string) string {
		h, err := HashPassword(pw)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	// encodeArgon2 builds a PHC string by hand, independently of HashPassword.
	encodeArgon2 := func(pw string, p Argon2Params) string {
		salt := []byte("0123456789abcdef")[:p.SaltLen]
		key := argon2.IDKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", p.Memory, p.Time, p.Threads,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	}
	stronger := cur
	stronger.Time = 2
	shortSalt := cur
	shortSalt.SaltLen = 8
	longKey := cur
	longKey.KeyLen = 64
	unicode := "pässwörd-日本語-🔑"

	tests := []struct {
		name            string
		encoded, pw     string
		ok, needsRehash bool
	}{
		{"argon2 round trip", hash("correct horse battery"), "correct horse battery", true, false},
		{"argon2 wrong password", hash("correct horse battery"), "correct horse batterz", false, false},
		{"argon2 empty password", hash("correct horse battery"), "", false, false},
		{"argon2 case matters", hash("Correct Horse"), "correct horse", false, false},
		{"argon2 unicode", hash(unicode), unicode, true, false},
		{"argon2 unicode normalisation not applied", hash("é"), "e\u0301", false, false},
		{"argon2 password prefix", hash("correct horse battery"), "correct horse", false, false},
		{"argon2 too long cannot match", encodeArgon2(strings.Repeat("x", maxVerifyPasswordLen+1), cur),
			strings.Repeat("x", maxVerifyPasswordLen+1), false, false},
		{"argon2 by hand, current params", encodeArgon2("s3cret-s3cret", cur), "s3cret-s3cret", true, false},
		{"argon2 other params need rehash", encodeArgon2("s3cret-s3cret", stronger), "s3cret-s3cret", true, true},
		{"argon2 other salt length needs rehash", encodeArgon2("s3cret-s3cret", shortSalt), "s3cret-s3cret", true, true},
		{"argon2 other key length needs rehash", encodeArgon2("s3cret-s3cret", longKey), "s3cret-s3cret", true, true},
		{"argon2 rehash not reported on failure", encodeArgon2("s3cret-s3cret", stronger), "wrong", false, false},
		// Made by the reference implementation (Debian's argon2 CLI, 20190702):
		// echo -n "correct horse battery" | argon2 basaltsalt123456 -id -t 2 -m 10 -p 1 -l 32 -e
		{"argon2 reference vector", "$argon2id$v=19$m=1024,t=2,p=1$YmFzYWx0c2FsdDEyMzQ1Ng$p2tyBE6hnIvTvVTLqyIRzm8q0xqGBiJrzHipHSgkB9c",
			"correct horse battery", true, true},
		{"argon2 reference vector p=2", "$argon2id$v=19$m=4096,t=3,p=2$YmFzYWx0c2FsdDEyMzQ1Ng$AVVg0GrhfDS/TH3luxeN1z6TCi1Q5yK1qJWEXQUGKFU",
			"correct horse battery", true, true},
		{"argon2 reference vector wrong password", "$argon2id$v=19$m=1024,t=2,p=1$YmFzYWx0c2FsdDEyMzQ1Ng$p2tyBE6hnIvTvVTLqyIRzm8q0xqGBiJrzHipHSgkB9c",
			"correct horse", false, false},
		{"django computed here", djangoEncode(t, "lètmein", "seasalt", 1000), "lètmein", true, true},
		{"django computed here wrong password", djangoEncode(t, "lètmein", "seasalt", 1000), "letmein", false, false},
		{"django salt with odd characters", djangoEncode(t, "pw-pw-pw", "a b/c+d=é", 3), "pw-pw-pw", true, true},
		// Made by Django 3.2.25 (Debian bookworm, LAVA's):
		// PBKDF2PasswordHasher().encode("hunter2-hunter2", "lavasalt", iterations=1000)
		{"django 3.2 vector", "pbkdf2_sha256$1000$lavasalt$86deU/QlU+QrFn9jaOCdxEtQ5N1+Dqscazw8Eu0sibA=",
			"hunter2-hunter2", true, true},
		// make_password("lètmein-basalt", salt="Xy3kQm9Rt2LpVb7NcW4aZe") at Django 3.2's default cost.
		{"django 3.2 default iterations", "pbkdf2_sha256$260000$Xy3kQm9Rt2LpVb7NcW4aZe$oNgwTCglYiEBOeTXLD/xeJuHaW6Q8zwGFwmkz1FqGb0=",
			"lètmein-basalt", true, true},
		{"django 3.2 vector wrong password", "pbkdf2_sha256$1000$lavasalt$86deU/QlU+QrFn9jaOCdxEtQ5N1+Dqscazw8Eu0sibA=",
			"hunter2", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.encoded, tt.pw)
			if err != nil {
				t.Fatalf("VerifyPassword error: %v", err)
			}
			if ok != tt.ok || rehash != tt.needsRehash {
				t.Errorf("VerifyPassword = (%v, %v), want (%v, %v)", ok, rehash, tt.ok, tt.needsRehash)
			}
		})
	}
}

func TestVerifyPasswordRehashAfterParameterChange(t *testing.T) {
	cheapArgon2(t)
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	Argon2.Memory = 128
	ok, rehash, err := VerifyPassword(h, "correct horse battery")
	if err != nil || !ok || !rehash {
		t.Fatalf("after raising memory: VerifyPassword = (%v, %v, %v), want (true, true, nil)", ok, rehash, err)
	}
	h2, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h2, "$m=128,") {
		t.Errorf("new hash %q does not use the new memory cost", h2)
	}
	ok, rehash, err = VerifyPassword(h2, "correct horse battery")
	if err != nil || !ok || rehash {
		t.Errorf("rehashed: VerifyPassword = (%v, %v, %v), want (true, false, nil)", ok, rehash, err)
	}
}

func TestVerifyPasswordBadHashes(t *testing.T) {
	cheapArgon2(t)
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"                        // 16 bytes
	const key = "p2tyBE6hnIvTvVTLqyIRzm8q0xqGBiJrzHipHSgkB9c"    // 32 bytes
	const djKey = "86deU/QlU+QrFn9jaOCdxEtQ5N1+Dqscazw8Eu0sibA=" // 32 bytes
	a := func(version, params, s, k string) string {
		return "$argon2id$" + version + "$" + params + "$" + s + "$" + k
	}
	tests := []struct {
		name    string
		encoded string
		want    error
	}{
		{"empty", "", ErrNoPassword},
		{"django unusable", "!mtbK0IGlceu7843OF7qofEwrZLeVb5JR9cQuXPSl", ErrNoPassword},
		{"django unusable bare", "!", ErrNoPassword},
		{"plain text", "hunter2", ErrUnsupportedHash},
		{"argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key, ErrUnsupportedHash},
		{"bcrypt", "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW", ErrUnsupportedHash},
		{"django sha1", "sha1$salt$0123456789abcdef0123456789abcdef01234567", ErrUnsupportedHash},
		{"django bcrypt_sha256", "bcrypt_sha256$$2b$12$abc", ErrUnsupportedHash},
		{"django pbkdf2_sha1", "pbkdf2_sha1$1000$salt$abc=", ErrUnsupportedHash},
		{"django argon2", "argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA", ErrUnsupportedHash},
		{"uppercase django", "PBKDF2_SHA256$1000$lavasalt$" + djKey, ErrUnsupportedHash},
		{"argon2 prefix only", "$argon2id$", ErrMalformedHash},
		{"argon2 missing hash", a("v=19", "m=64,t=1,p=1", salt, "")[:len(a("v=19", "m=64,t=1,p=1", salt, ""))-1], ErrMalformedHash},
		{"argon2 empty hash", a("v=19", "m=64,t=1,p=1", salt, ""), ErrMalformedHash},
		{"argon2 empty salt", a("v=19", "m=64,t=1,p=1", "", key), ErrMalformedHash},
		{"argon2 extra field", a("v=19", "m=64,t=1,p=1", salt, key) + "$x", ErrMalformedHash},
		{"argon2 no version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"argon2 version 16", a("v=16", "m=64,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 version garbage", a("v=x", "m=64,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 params reordered", a("v=19", "t=1,m=64,p=1", salt, key), ErrMalformedHash},
		{"argon2 params missing p", a("v=19", "m=64,t=1", salt, key), ErrMalformedHash},
		{"argon2 params extra", a("v=19", "m=64,t=1,p=1,k=3", salt, key), ErrMalformedHash},
		{"argon2 params keyid", a("v=19", "m=64,t=1,p=1,keyid=abc", salt, key), ErrMalformedHash},
		{"argon2 m empty", a("v=19", "m=,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 m negative", a("v=19", "m=-64,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 m plus sign", a("v=19", "m=+64,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 m hex", a("v=19", "m=0x40,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 m zero", a("v=19", "m=0,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 m below 8p", a("v=19", "m=15,t=1,p=2", salt, key), ErrMalformedHash},
		{"argon2 m too big", a("v=19", "m=4194304,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 m overflows uint32", a("v=19", "m=4294967296,t=1,p=1", salt, key), ErrMalformedHash},
		{"argon2 t zero", a("v=19", "m=64,t=0,p=1", salt, key), ErrMalformedHash},
		{"argon2 t too big", a("v=19", "m=64,t=100000,p=1", salt, key), ErrMalformedHash},
		{"argon2 p zero", a("v=19", "m=64,t=1,p=0", salt, key), ErrMalformedHash},
		{"argon2 p overflows uint8", a("v=19", "m=4096,t=1,p=256", salt, key), ErrMalformedHash},
		{"argon2 salt padded", a("v=19", "m=64,t=1,p=1", salt+"==", key), ErrMalformedHash},
		{"argon2 salt not base64", a("v=19", "m=64,t=1,p=1", "!!!!!!!!!!!!", key), ErrMalformedHash},
		{"argon2 salt url alphabet", a("v=19", "m=64,t=1,p=1", "c2FsdHNhbHRzYWx0c2Fsd_-", key), ErrMalformedHash},
		{"argon2 salt too short", a("v=19", "m=64,t=1,p=1", "c2FsdA", key), ErrMalformedHash},
		{"argon2 salt non-canonical", a("v=19", "m=64,t=1,p=1", "c2FsdHNhbHRzYWx0c2FsdB", key), ErrMalformedHash},
		{"argon2 hash too short", a("v=19", "m=64,t=1,p=1", salt, "aGFzaA"), ErrMalformedHash},
		{"argon2 hash too long", a("v=19", "m=64,t=1,p=1", salt, strings.Repeat("A", 100)), ErrMalformedHash},
		{"argon2 hash with space", a("v=19", "m=64,t=1,p=1", salt, " "+key), ErrMalformedHash},
		{"django prefix only", "pbkdf2_sha256$", ErrMalformedHash},
		{"django three fields", "pbkdf2_sha256$1000$lavasalt", ErrMalformedHash},
		{"django iterations empty", "pbkdf2_sha256$$lavasalt$" + djKey, ErrMalformedHash},
		{"django iterations zero", "pbkdf2_sha256$0$lavasalt$" + djKey, ErrMalformedHash},
		{"django iterations negative", "pbkdf2_sha256$-1000$lavasalt$" + djKey, ErrMalformedHash},
		{"django iterations text", "pbkdf2_sha256$many$lavasalt$" + djKey, ErrMalformedHash},
		{"django iterations float", "pbkdf2_sha256$1e3$lavasalt$" + djKey, ErrMalformedHash},
		{"django iterations too many", "pbkdf2_sha256$2000000000$lavasalt$" + djKey, ErrMalformedHash},
		{"django iterations overflow", "pbkdf2_sha256$99999999999999999999$lavasalt$" + djKey, ErrMalformedHash},
		{"django empty salt", "pbkdf2_sha256$1000$$" + djKey, ErrMalformedHash},
		{"django empty hash", "pbkdf2_sha256$1000$lavasalt$", ErrMalformedHash},
		{"django hash unpadded", "pbkdf2_sha256$1000$lavasalt$" + strings.TrimSuffix(djKey, "="), ErrMalformedHash},
		{"django hash not base64", "pbkdf2_sha256$1000$lavasalt$***", ErrMalformedHash},
		{"django hash short", "pbkdf2_sha256$1000$lavasalt$aGFzaA==", ErrMalformedHash},
		{"django hash with dollar", "pbkdf2_sha256$1000$lavasalt$" + djKey + "$", ErrMalformedHash},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := VerifyPassword(tt.encoded, "hunter2-hunter2")
			if ok || rehash {
				t.Errorf("VerifyPassword = (%v, %v), want (false, false)", ok, rehash)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("VerifyPassword error = %v, want %v", err, tt.want)
			}
		})
	}
}

// Errors about bad hashes must not echo the salt or the hash: they end up in
// logs.
func TestVerifyPasswordErrorsDoNotLeakHash(t *testing.T) {
	const marker = "U0VDUkVUU0FMVFNFQ1JFVA" // base64 of "SECRETSALTSECRET"
	for _, encoded := range []string{
		"$argon2id$v=19$m=0,t=1,p=1$" + marker + "$" + marker,
		"$argon2id$v=19$m=64,t=1,p=1$" + marker + "$short",
		"pbkdf2_sha256$1000$" + marker + "$" + marker,
		"pbkdf2_sha256$x$" + marker + "$" + marker,
		"sha1$" + marker + "$" + marker,
		marker + "$" + marker,
		marker,
	} {
		_, _, err := VerifyPassword(encoded, "hunter2-hunter2")
		if err == nil {
			t.Fatalf("VerifyPassword(%q) gave no error", encoded)
		}
		if strings.Contains(err.Error(), marker) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("VerifyPassword(%q) error %q leaks the hash or password", encoded, err)
		}
	}
}

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name, pw, user string
		ok             bool
	}{
		{"long enough", "correct horse", "alice", true},
		{"exactly minimum", strings.Repeat("a", 12), "alice", true},
		{"one short", strings.Repeat("a", 11), "alice", false},
		{"empty", "", "alice", false},
		{"counts code points not bytes", strings.Repeat("é", 12), "alice", true},
		{"multibyte but too few code points", strings.Repeat("日", 11), "alice", false},
		{"maximum", strings.Repeat("a", 1024), "alice", true},
		{"over maximum", strings.Repeat("a", 1025), "alice", false},
		{"invalid UTF-8", strings.Repeat("a", 12) + "\xff", "alice", false},
		{"equals username", "administrator", "administrator", false},
		{"equals username ignoring case", "Administrator", "administrator", false},
		{"contains username is fine", "administrator-2024!", "administrator", true},
		{"no username given", "administrator", "", true},
		{"spaces allowed", "            ", "alice", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidatePassword(tt.pw, tt.user)
			if tt.ok && err != nil {
				t.Errorf("ValidatePassword = %v, want nil", err)
			}
			if !tt.ok {
				if !errors.Is(err, lab.ErrInvalid) {
					t.Errorf("ValidatePassword = %v, want lab.ErrInvalid", err)
				} else if tt.pw != "" && strings.Contains(err.Error(), tt.pw) {
					t.Errorf("error %q echoes the password", err)
				}
			}
		})
	}
}

// DummyVerify must really do an argon2id derivation with the current
// parameters (so that unknown users cost as much as known ones): it
// allocates the memory cost.
func TestDummyVerifySpendsTheMemoryCost(t *testing.T) {
	cheapArgon2(t)
	Argon2.Memory = 4096 // KiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	DummyVerify("correct horse battery")
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got < 4096*1024 {
		t.Errorf("DummyVerify allocated %d bytes, want at least the 4 MiB memory cost", got)
	}
	Argon2.Time = 0 // invalid parameters: must not panic
	DummyVerify("x")
}

func FuzzVerifyPassword(f *testing.F) {
	cheapArgon2(f)
	h, err := HashPassword("correct horse battery")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		h,
		djangoEncode(f, "correct horse battery", "lavasalt", 10),
		"$argon2id$v=19$m=1024,t=2,p=1$YmFzYWx0c2FsdDEyMzQ1Ng$p2tyBE6hnIvTvVTLqyIRzm8q0xqGBiJrzHipHSgkB9c",
		"pbkdf2_sha256$1000$lavasalt$86deU/QlU+QrFn9jaOCdxEtQ5N1+Dqscazw8Eu0sibA=",
		"", "!", "$", "$$$$$", "$argon2id$v=19$m=,t=,p=$$", "pbkdf2_sha256$$$",
		"$argon2id$v=19$m=64,t=1,p=1$$", "bcrypt$x",
	} {
		f.Add(seed, "correct horse battery")
	}
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		parsed, perr := parseHash(encoded)
		if perr != nil {
			// Cheap: VerifyPassword fails in the parser before any work.
			ok, rehash, err := VerifyPassword(encoded, pw)
			if ok || rehash || err == nil {
				t.Fatalf("VerifyPassword(%q) = (%v, %v, %v) for an unparsable hash", encoded, ok, rehash, err)
			}
			if !errors.Is(err, ErrNoPassword) && !errors.Is(err, ErrMalformedHash) && !errors.Is(err, ErrUnsupportedHash) {
				t.Fatalf("VerifyPassword(%q) error %v wraps none of the hash errors", encoded, err)
			}
			return
		}
		// Parsed hashes are within the cost bounds; run only the cheap ones.
		switch h := parsed.(type) {
		case *argon2Hash:
			if h.params.check() != nil {
				t.Fatalf("parsed argon2 params %+v out of bounds", h.params)
			}
			if h.params.Memory > 1024 || h.params.Time > 4 {
				return
			}
		case *djangoHash:
			if h.iterations < 1 || h.iterations > maxPBKDF2Iterations || len(h.key) != sha256.Size {
				t.Fatalf("parsed django hash out of bounds: %d iterations, %d-byte key", h.iterations, len(h.key))
			}
			if h.iterations > 2000 {
				return
			}
		default:
			t.Fatalf("parseHash returned %T", parsed)
		}
		ok, rehash, err := VerifyPassword(encoded, pw)
		if err != nil {
			t.Fatalf("VerifyPassword(%q) error %v after a successful parse", encoded, err)
		}
		if !ok && rehash {
			t.Fatalf("VerifyPassword(%q) reports needsRehash without a match", encoded)
		}
	})
}

// Benchmarks use the production parameters: ms/op bounds login throughput
// per core (and each argon2id call holds Argon2.Memory KiB while it runs).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := HashPassword("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword("correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if ok, _, err := VerifyPassword(h, "correct horse battery staple"); !ok || err != nil {
			b.Fatal("verify failed", err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
}

// BenchmarkVerifyDjango measures an imported LAVA hash at the default cost
// of Django 3.2 (Debian bookworm's LAVA, 260000) and Django 5.2 (1000000).
func BenchmarkVerifyDjango(b *testing.B) {
	for _, iter := range []int{260_000, 1_000_000} {
		b.Run(fmt.Sprint(iter), func(b *testing.B) {
			h := djangoEncode(b, "correct horse battery staple", "Xy3kQm9Rt2LpVb7NcW4aZe", iter)
			for b.Loop() {
				if ok, _, err := VerifyPassword(h, "correct horse battery staple"); !ok || err != nil {
					b.Fatal("verify failed", err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
		})
	}
}

func TestVerifyPasswordNamesUnsupportedAlgorithm(t *testing.T) {
	tests := []struct{ encoded, want string }{
		{"sha1$salt$0123456789abcdef", `"sha1"`},
		{"bcrypt_sha256$$2b$12$abc", `"bcrypt_sha256"`},
		{"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi", `"2b"`},
		{"$argon2i$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA", `"argon2i"`},
		{"Mixed$Case", `"unknown"`},
		{"no-dollar-at-all", `"unknown"`},
		{"$$x", `"unknown"`},
		{strings.Repeat("a", 25) + "$x", `"unknown"`},
	}
	for _, tt := range tests {
		_, _, err := VerifyPassword(tt.encoded, "pw")
		if !errors.Is(err, ErrUnsupportedHash) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("VerifyPassword(%q) error = %v, want ErrUnsupportedHash naming %s", tt.encoded, err, tt.want)
		}
	}
}
