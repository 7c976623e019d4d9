package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
)

// newAdminCommand is the bootstrap path: it opens the server's database
// directly (whoever can do that owns the lab anyway) to create the first
// superuser and mint tokens, without needing a running server or a token.
func newAdminCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "admin",
		Short: "Bootstrap administration on the server's database (no server or token needed)",
	}
	cmd.AddCommand(newAdminCreateSuperuser(), newAdminToken(), newAdminImportLogs())
	return cmd
}

func withApp(ctx context.Context, f *serverFlags, fn func(*app.App) error) error {
	st, err := server.OpenStore(ctx, f.cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	a := app.New(st, app.Config{})
	if err := a.Bootstrap(ctx); err != nil {
		return err
	}
	return fn(a)
}

func newAdminCreateSuperuser() *cobra.Command {
	var f serverFlags
	var username, email, password string
	var passwordStdin, noToken bool
	cmd := &cobra.Command{
		Use:   "create-superuser",
		Short: "Create an administrator and print an API token for it",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return usageError{errors.New("--username is required")}
			}
			if passwordStdin {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read password: %w", err)
				}
				password = strings.TrimRight(line, "\r\n")
			}
			return withApp(cmd.Context(), &f, func(a *app.App) error {
				u, err := a.CreateSuperuser(cmd.Context(), username, email, password)
				if err != nil {
					return exitFor(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "created superuser %q\n", u.Username)
				if noToken {
					return nil
				}
				return printNewToken(cmd, a, u, "created by basalt admin create-superuser")
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&username, "username", "", "user name (required)")
	cmd.Flags().StringVar(&email, "email", "", "e-mail address")
	cmd.Flags().StringVar(&password, "password", "", "password for logging in (prefer --password-stdin); empty = token-only")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().BoolVar(&noToken, "no-token", false, "do not create an API token")
	return cmd
}

func newAdminToken() *cobra.Command {
	var f serverFlags
	var username, description string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Create a new API token for an existing user and print it",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if username == "" {
				return usageError{errors.New("--username is required")}
			}
			return withApp(cmd.Context(), &f, func(a *app.App) error {
				u, err := a.Store().GetUser(cmd.Context(), username)
				if err != nil {
					return exitFor(fmt.Errorf("user %q: %w", username, err))
				}
				return printNewToken(cmd, a, u, description)
			})
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&username, "username", "", "user name (required)")
	cmd.Flags().StringVar(&description, "description", "created by basalt admin token", "what the token is for")
	return cmd
}

func printNewToken(cmd *cobra.Command, a *app.App, u lab.User, description string) error {
	p, err := auth.UserPrincipal(u)
	if err != nil {
		return err
	}
	_, secret, err := a.CreateToken(cmd.Context(), p, u.Username, description, time.Time{})
	if err != nil {
		return exitFor(err)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "token: %s\n(shown once; only its hash is stored)\n", secret)
	return nil
}

// exitFor maps a domain error to the matching exit code.
func exitFor(err error) error {
	code := ExitFailure
	switch {
	case errors.Is(err, lab.ErrInvalid):
		code = ExitUsage
	case errors.Is(err, lab.ErrNotFound):
		code = ExitNotFound
	case errors.Is(err, lab.ErrUnauthenticated), errors.Is(err, lab.ErrForbidden):
		code = ExitAuth
	case errors.Is(err, lab.ErrConflict):
		code = ExitConflict
	case errors.Is(err, lab.ErrUnavailable):
		code = ExitUnavailable
	}
	return &ExitError{Code: code, Err: err}
}

// randomPassword returns a 24-character password from the OS's CSPRNG.
func randomPassword() (string, error) {
	b := make([]byte, 15)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.EncodeToString(b)), nil
}

func newAdminImportLogs() *cobra.Command {
	var f serverFlags
	var quiet bool
	cmd := &cobra.Command{
		Use:   "import-logs",
		Short: "Copy the job logs kept in files (--log-store files) into the database (--log-store database)",
		Long: `Copies every job log kept in files under the data directory into the
database, checking each by size and SHA-256, so that a lab moving to
server replicas (basalt server --log-store database) keeps its history.
Stop the server first. Running it again completes an interrupted run and
changes nothing else.`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			jobs, n, err := server.ImportLogs(cmd.Context(), f.cfg, func(id, size int64, err error) {
				switch {
				case err != nil:
					fmt.Fprintf(cmd.ErrOrStderr(), "job %d: %v\n", id, err)
				case !quiet:
					fmt.Fprintf(out, "job %d: %d bytes\n", id, size)
				}
			})
			fmt.Fprintf(out, "copied %d job logs, %d bytes\n", jobs, n)
			return err
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&quiet, "quiet", false, "print only the summary and the failures")
	return cmd
}
