package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
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
	var sweep, heartbeat, lostGrace time.Duration
	var missed int
	var bootstrapAdmin bool
	var logLevel string
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
			f.cfg.App = app.Config{SweepInterval: sweep, LostJobGrace: lostGrace, Logger: logger}
			f.cfg.HeartbeatInterval, f.cfg.MissedHeartbeats = heartbeat, missed
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			srv, err := server.Open(ctx, f.cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Basalt %s server\n  listening on  %s\n  database      %s\n", version.Version, srv.URL(), srv.Config().Describe())
			if bootstrapAdmin {
				if err := ensureAdmin(ctx, srv, out); err != nil {
					srv.Close()
					return err
				}
			}
			fmt.Fprintf(out, "  API           %s/api/v1/  (OpenAPI: %s/api/v1/openapi.json)\n", srv.URL(), srv.URL())
			fmt.Fprintf(out, "  client        basalt identities add local --uri %s --username <user> --token <token>\n", srv.URL())
			return srv.Serve(ctx)
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&f.cfg.Listen, "listen", envOr("BASALT_LISTEN", "127.0.0.1:8000"), "address to listen on (env BASALT_LISTEN)")
	cmd.Flags().StringVar(&f.cfg.TLSCert, "tls-cert", "", "TLS certificate file (PEM); serves HTTPS with --tls-key")
	cmd.Flags().StringVar(&f.cfg.TLSKey, "tls-key", "", "TLS private key file (PEM)")
	cmd.Flags().DurationVar(&sweep, "sweep-interval", 10*time.Second, "period of the scheduler's safety sweep (events trigger passes at once)")
	cmd.Flags().DurationVar(&heartbeat, "heartbeat-interval", 10*time.Second, "how often workers send heartbeats and the server pings their stream")
	cmd.Flags().IntVar(&missed, "missed-heartbeats", 3, "a worker silent for this many heartbeat intervals is marked Offline")
	cmd.Flags().DurationVar(&lostGrace, "lost-job-grace", 5*time.Minute, "a job whose worker stays Offline past the job's timeout plus this is finished Incomplete")
	cmd.Flags().BoolVar(&bootstrapAdmin, "bootstrap-admin", true, "on first start, create user 'admin' and write its password and token to <data-dir>/admin-credentials (mode 0600)")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}

// ensureAdmin creates a first superuser when the lab has none, so a new lab
// can be logged into at once; the credentials go to a 0600 file, never to
// the log.
func ensureAdmin(ctx context.Context, srv *server.Server, out interface{ Write([]byte) (int, error) }) error {
	users, err := srv.App().Store().ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("list users: %w", err)
	}
	for _, u := range users {
		if u.IsSuperuser {
			fmt.Fprintf(out, "  log in        with an existing administrator's token (basalt admin token --username %s)\n", u.Username)
			return nil
		}
	}
	password, err := randomPassword()
	if err != nil {
		return err
	}
	a := srv.App()
	u, err := a.CreateSuperuser(ctx, "admin", "", password)
	if err != nil {
		return err
	}
	p, err := auth.UserPrincipal(u)
	if err != nil {
		return err
	}
	_, token, err := a.CreateToken(ctx, p, u.Username, "bootstrap token", time.Time{})
	if err != nil {
		return err
	}
	path := filepath.Join(srv.Config().DataDir, "admin-credentials")
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	body := fmt.Sprintf("username: admin\npassword: %s\ntoken: %s\n", password, token)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	fmt.Fprintf(out, "  log in        created user 'admin'; password and API token are in %s\n", path)
	return nil
}
