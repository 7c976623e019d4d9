package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/admit"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/version"
)

// serverFlags are shared by `server` and `admin`, which open the same store.
type serverFlags struct {
	cfg server.Config
}

func (f *serverFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cfg.DataDir, "data-dir", envOr("BASALT_DATA_DIR", "basalt-data"), "directory for the embedded database and job data (env BASALT_DATA_DIR)")
	cmd.Flags().StringVar(&f.cfg.Database, "database", os.Getenv("BASALT_DATABASE"), "PostgreSQL URL (postgres://…); empty = SQLite in the data directory (env BASALT_DATABASE)")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func newServerCommand() *cobra.Command {
	var f serverFlags
	var sweep, heartbeat, lostGrace, healthInterval, groupHold, leaderLease, maxReservation time.Duration
	var missed int
	var bootstrapAdmin bool
	var logLevel, templatesDir string
	var callbackHosts []string
	var callbackSecretFile, smtpPasswordFile string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the Basalt server (API, scheduler, database)",
		Long: `Run the Basalt server: the REST API, the scheduler and the database.

By default it keeps everything in ./basalt-data with the embedded SQLite
database and listens on 127.0.0.1:8000. Give --database postgres://… for a
large lab, and --tls-cert/--tls-key to serve HTTPS.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return usageError{fmt.Errorf("--log-level: %w", err)}
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: lvl}))
			f.cfg.Logger = logger
			f.cfg.App = app.Config{SweepInterval: sweep, LeaseTTL: leaderLease, LostJobGrace: lostGrace, HealthInterval: healthInterval, Logger: logger,
				GroupHoldAfter: groupHold, MaxReservation: maxReservation,
				TemplatesDir: templatesDir, Callbacks: app.CallbackPolicy{Hosts: callbackHosts}}
			if maxReservation < app.MinReservation {
				return usageError{fmt.Errorf("--max-reservation %s: at least %s", maxReservation, app.MinReservation)}
			}
			if err := f.cfg.App.Callbacks.Validate(); err != nil {
				return usageError{fmt.Errorf("--callback-allowed-hosts: %w", err)}
			}
			if callbackSecretFile != "" {
				secret, err := readSecretFile(callbackSecretFile)
				if err != nil {
					return usageError{fmt.Errorf("--callback-secret-file: %w", err)}
				}
				f.cfg.Notify.Secret = secret
			}
			if smtpPasswordFile != "" {
				pw, err := readSecretFile(smtpPasswordFile)
				if err != nil {
					return usageError{fmt.Errorf("--smtp-password-file: %w", err)}
				}
				f.cfg.Notify.SMTP.Password = string(pw)
			}
			if f.cfg.Notify.SMTP.Addr != "" && f.cfg.Notify.SMTP.From == "" {
				return usageError{errors.New("--smtp-server needs --smtp-from")}
			}
			f.cfg.HeartbeatInterval, f.cfg.MissedHeartbeats = heartbeat, missed
			if f.cfg.Limits.MaxConnsPerClient == 0 {
				f.cfg.Limits.MaxConnsPerClient = -1 // 0 on the command line: no cap
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.Open(ctx, f.cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Basalt %s server\n  listening on  %s\n  database      %s\n  job logs      %s\n", version.Version, srv.URL(), srv.Config().Describe(), srv.Config().DescribeLogs())
			if addr := srv.CoordinatorAddr(); addr != "" {
				fmt.Fprintf(out, "  coordinator   %s  (LAVA's lava-coordinator protocol, plain TCP)\n", addr)
			}
			login := adminLogin{Username: "<user>", TokenCommand: "basalt admin token --username <user>"}
			if bootstrapAdmin {
				if login, err = ensureAdmin(ctx, srv, out); err != nil {
					srv.Close()
					return err
				}
			}
			fmt.Fprintf(out, "  API           %s/api/v1/  (OpenAPI: %s/api/v1/openapi.json)\n", srv.URL(), srv.URL())
			fmt.Fprintf(out, "  client        basalt identities add local --uri %s --username %s --token %s --default\n", srv.URL(), login.Username, login.tokenArg())
			return srv.Serve(ctx)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.cfg.LogStore, "log-store", "", "where job logs are kept: files (under the data directory: one server) or database (in the database: every server replica on it appends to and serves them; see basalt admin import-logs)")
	cmd.Flags().StringVar(&f.cfg.Listen, "listen", envOr("BASALT_LISTEN", "127.0.0.1:8000"), "address to listen on (env BASALT_LISTEN)")
	cmd.Flags().StringVar(&f.cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS with --tls-key")
	cmd.Flags().StringVar(&f.cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	cmd.Flags().DurationVar(&sweep, "sweep-interval", 10*time.Second, "period of the scheduler's safety sweep (events trigger passes at once)")
	cmd.Flags().DurationVar(&leaderLease, "leader-lease", app.DefaultLeaseTTL, "of the server replicas on one database, one (holding a lease of this duration in the database, renewed every third of it) runs the periodic sweeps; when it dies another takes over within this plus a third")
	cmd.Flags().StringVar(&f.cfg.CoordinatorListen, "coordinator-listen", "", "also serve LAVA's coordinator protocol on this TCP address (e.g. 0.0.0.0:3079), for stock LAVA dispatchers; off when empty")
	cmd.Flags().DurationVar(&groupHold, "group-hold-after", app.DefaultGroupHoldAfter, "how long a multinode group may wait before the scheduler keeps free devices idle for it (0: never)")
	cmd.Flags().DurationVar(&maxReservation, "max-reservation", app.DefaultMaxReservation, "the longest a reservation may hold a device (basalt devices reserve), and the most time an extension may leave it")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat-interval", 10*time.Second, "how often workers send heartbeats and the server pings their stream")
	cmd.Flags().IntVar(&missed, "missed-heartbeats", 3, "a worker silent for this many heartbeat intervals is marked Offline")
	cmd.Flags().DurationVar(&lostGrace, "lost-job-grace", 5*time.Minute, "a job whose worker stays Offline past the job's timeout plus this is finished Incomplete")
	cmd.Flags().DurationVar(&healthInterval, "health-interval", 5*time.Second, "period of the health probe behind /healthz (database, disk space); a condition ends after three periods without failures")
	cmd.Flags().BoolVar(&bootstrapAdmin, "bootstrap-admin", true, "on first start, create user 'admin' and write its password and token to <data-dir>/admin-credentials (mode 0600)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.Flags().StringVar(&templatesDir, "device-types-dir", "", "a directory of device-type templates (LAVA's form, NAME.jinja2), such as an existing LAVA lab's device-types directory: searched after the templates stored with \"basalt device-types template set\" and before the ones Basalt ships")
	cmd.Flags().IntVar(&f.cfg.MaxRequests, "max-requests", admit.DefaultMax, "API and web requests served at once; beyond, a request waits --queue-wait, then gets 503 with Retry-After (the worker link is not limited)")
	cmd.Flags().DurationVar(&f.cfg.QueueWait, "queue-wait", admit.DefaultWait, "how long a request waits for one of the --max-requests slots")
	cmd.Flags().IntVar(&f.cfg.Limits.MaxConnsPerClient, "max-conns-per-client", 256, "open connections one client address (an IPv6 /64) may hold; further ones are closed at once (0: no cap)")
	cmd.Flags().DurationVar(&f.cfg.Limits.BodyTimeout, "body-timeout", 30*time.Second, "longest pause in a request body, and its grace before --min-body-rate applies")
	cmd.Flags().IntVar(&f.cfg.Limits.MinBodyRate, "min-body-rate", 16<<10, "slowest average rate, in bytes/s, a request body may arrive at after --body-timeout")
	cmd.Flags().DurationVar(&f.cfg.Limits.IdleTimeout, "idle-timeout", 2*time.Minute, "close connections without a request for this long")
	cmd.Flags().StringSliceVar(&callbackHosts, "callback-allowed-hosts", nil, "host name patterns (shell-style: *, ?, [seq]) that jobs' notify callbacks may call, at any address; without any, callbacks may call any host at a public address only (LAVA's CALLBACK_ALLOWED_HOSTS)")
	cmd.Flags().StringVar(&callbackSecretFile, "callback-secret-file", "", "a file holding the secret that signs every notify callback: header "+notify.SignatureHeader+": sha256=<hex HMAC-SHA256 of the body>")
	cmd.Flags().DurationVar(&f.cfg.Notify.Timeout, "notify-timeout", notify.DefaultTimeout, "longest a notify callback's request or an e-mail's SMTP session may take")
	cmd.Flags().IntVar(&f.cfg.Notify.MaxAttempts, "notify-max-attempts", notify.DefaultMaxAttempts, "attempts of one notification before it is given up")
	cmd.Flags().DurationVar(&f.cfg.Notify.RetryBase, "notify-retry", notify.DefaultRetryBase, "wait after a notification's first failed attempt, doubled after each next one")
	cmd.Flags().DurationVar(&f.cfg.Notify.RetryMax, "notify-retry-max", notify.DefaultRetryMax, "longest wait between two attempts of a notification")
	cmd.Flags().StringVar(&f.cfg.Notify.SMTP.Addr, "smtp-server", "", "host:port of the SMTP server that sends jobs' notify e-mails; without one they are recorded as not sent")
	cmd.Flags().StringVar(&f.cfg.Notify.SMTP.From, "smtp-from", "", "the From address of notify e-mails")
	cmd.Flags().StringVar(&f.cfg.Notify.SMTP.Username, "smtp-username", "", "log in to the SMTP server with this user (AUTH PLAIN: over TLS, or to localhost)")
	cmd.Flags().StringVar(&smtpPasswordFile, "smtp-password-file", "", "a file holding the SMTP password of --smtp-username")
	cmd.Flags().StringVar(&f.cfg.Notify.SMTP.StartTLS, "smtp-starttls", notify.StartTLSAuto, "STARTTLS with the SMTP server: auto (when it offers it), always (refuse to send in clear) or never")
	cmd.Flags().StringVar(&f.cfg.Notify.BaseURL, "public-url", "", "the server's URL as users reach it, for the links in notify e-mails (default: the listening address)")
	return cmd
}

// readSecretFile reads a secret from a file, without its final newline.
func readSecretFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = []byte(strings.TrimRight(string(b), "\r\n"))
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return b, nil
}

// adminLogin is how to log in as the lab's administrator, as ensureAdmin
// told the user.
type adminLogin struct {
	Username string
	// Credentials is the admin-credentials file ensureAdmin wrote on the
	// first start, "" when there is none (the administrators were made
	// otherwise, or the file was removed).
	Credentials string
	// TokenCommand creates a new API token when there is no file.
	TokenCommand string
}

// tokenArg is the --token argument of `basalt identities add` for l, as
// a shell word: read from the credentials file, or a placeholder naming
// the command that makes one.
func (l adminLogin) tokenArg() string {
	if l.Credentials != "" {
		return fmt.Sprintf(`"$(awk '/^token:/{print $2}' %s)"`, shellQuote(l.Credentials))
	}
	return "<token from: " + l.TokenCommand + ">"
}

// ensureAdmin creates a first superuser when the lab has none, so a new lab
// can be logged into at once; the credentials go to a 0600 file,
// DATA/admin-credentials, never to the log. On later starts it says where
// the credentials are: in that file when it exists, else how to make a
// token for an existing administrator.
func ensureAdmin(ctx context.Context, srv *server.Server, out io.Writer) (adminLogin, error) {
	path := filepath.Join(srv.Config().DataDir, "admin-credentials")
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	users, err := srv.App().Store().ListUsers(ctx)
	if err != nil {
		return adminLogin{}, fmt.Errorf("list users: %w", err)
	}
	var admins []string
	for _, u := range users {
		if u.IsSuperuser && u.IsActive {
			admins = append(admins, u.Username)
		}
	}
	if len(admins) > 0 {
		if name, ok := readCredentials(path); ok && slices.Contains(admins, name) {
			fmt.Fprintf(out, "  log in        as '%s': password and API token are in %s (written on the first start)\n", name, path)
			return adminLogin{Username: name, Credentials: path}, nil
		}
		l := adminLogin{Username: admins[0], TokenCommand: adminTokenCommand(srv.Config(), admins[0])}
		fmt.Fprintf(out, "  log in        as an administrator (%s); a new API token: %s\n", strings.Join(admins, ", "), l.TokenCommand)
		return l, nil
	}
	if slices.ContainsFunc(users, func(u lab.User) bool { return u.IsSuperuser }) {
		l := adminLogin{Username: "<user>", TokenCommand: "basalt admin token --username <user>"}
		fmt.Fprintf(out, "  log in        no active administrator: reactivate one, or make one with basalt admin create-superuser --username NAME\n")
		return l, nil
	}
	password, err := randomPassword()
	if err != nil {
		return adminLogin{}, err
	}
	a := srv.App()
	u, err := a.CreateSuperuser(ctx, "admin", "", password)
	if err != nil {
		return adminLogin{}, fmt.Errorf("create the first administrator: %w", err)
	}
	p, err := auth.UserPrincipal(u)
	if err != nil {
		return adminLogin{}, err
	}
	_, token, err := a.CreateToken(ctx, p, u.Username, "bootstrap token", time.Time{})
	if err != nil {
		return adminLogin{}, fmt.Errorf("create the first administrator's token: %w", err)
	}
	body := fmt.Sprintf("username: admin\npassword: %s\ntoken: %s\n", password, token)
	if err := writeFileAtomic(path, []byte(body), 0o600); err != nil {
		return adminLogin{}, err
	}
	fmt.Fprintf(out, "  log in        created user 'admin'; password and API token are in %s\n", path)
	return adminLogin{Username: "admin", Credentials: path}, nil
}

// readCredentials returns the user name of an admin-credentials file that
// holds a token.
func readCredentials(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	var name, token string
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "username: "); ok {
			name = strings.TrimSpace(v)
		} else if v, ok := strings.CutPrefix(l, "token: "); ok {
			token = strings.TrimSpace(v)
		}
	}
	return name, name != "" && token != ""
}

// adminTokenCommand is the `basalt admin token` command line for user on
// the server's database (a PostgreSQL URL is not printed: it may hold a
// password).
func adminTokenCommand(cfg server.Config, user string) string {
	db := "--data-dir " + shellQuote(cfg.DataDir)
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		db = "--data-dir " + shellQuote(abs)
	}
	if cfg.Database != "" {
		db = "--database <the server's --database>"
	}
	return fmt.Sprintf("basalt admin token --username %s %s", shellQuote(user), db)
}

// writeFileAtomic writes path through a temporary file and a rename, so
// that a reader never sees it half written.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+:@%=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
