// Package auth is Basalt's authentication and authorization core. It is
// pure: it imports only the standard library, internal/lab and
// golang.org/x/crypto, performs no I/O beyond reading crypto/rand, and knows
// nothing about HTTP or storage. The REST, XML-RPC and web layers look users
// and tokens up in the store and then call into this package.
//
// It has four parts:
//
//   - Passwords (password.go): HashPassword encodes argon2id hashes in PHC
//     string format; VerifyPassword checks those and also Django's
//     "pbkdf2_sha256$…" hashes so that users imported from LAVA log in
//     without a reset (such hashes always report needsRehash, and the
//     caller stores a fresh argon2id hash after a successful login).
//     ValidatePassword is the password policy for new passwords.
//
//   - API tokens (token.go): NewSecret makes a random secret that is shown
//     to its owner once; only HashSecret(secret), a SHA-256, is stored and
//     used for lookup. Check rejects expired or ill-formed tokens and
//     TokenPrincipal turns a token into the Principal it acts for.
//
//   - Principals and policy (principal.go, policy.go): a Principal is who
//     is calling (anonymous, a user, a worker, or a job). Every
//     authorization rule of Basalt lives here, as pure functions
//     (CanViewJob, CanCancelJob, …) and as a table of Operations, each with
//     the Rule that Allowed and Require apply. Rules fail closed: an unknown
//     operation, an unknown principal kind or a principal lacking its
//     identity field is denied.
//
//   - Login throttling (throttle.go): LoginThrottle counts failed logins
//     per username and per client address and refuses attempts for
//     windows that double up to a cap and always expire. app.Login, the
//     one password check of the server, applies it; its state is in
//     memory, bounded, per process.
//
// Errors returned by this package wrap the lab sentinels
// (lab.ErrUnauthenticated, lab.ErrForbidden, lab.ErrNotFound, lab.ErrInvalid)
// or this package's ErrNoPassword, ErrMalformedHash and ErrUnsupportedHash, so
// transports can map them with errors.Is.
package auth
