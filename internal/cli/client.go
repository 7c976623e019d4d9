package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/client"
)

// clientEnv is the state shared by the client commands of one invocation:
// the global connection flags and --json.
type clientEnv struct {
	configPath string // --config
	identity   string // --identity/-i
	uri        string // --uri
	token      string // --token
	caFile     string // --ca-file
	json       bool   // --json
}

// addClientCommands adds the client commands (jobs, devices, …, identities)
// and their global flags to root.
func addClientCommands(root *cobra.Command) {
	e := &clientEnv{}
	pf := root.PersistentFlags()
	pf.StringVar(&e.configPath, "config", "", "identity file (default $"+envConfig+", else $XDG_CONFIG_HOME/basalt.yaml or ~/.config/basalt.yaml)")
	pf.StringVarP(&e.identity, "identity", "i", "", "identity to use from the identity file (default $"+envIdentity+", else the file's default)")
	pf.StringVar(&e.uri, "uri", "", "server address, e.g. https://lab.example.com (default $"+envURI+"); without --identity the identity file is not read")
	pf.StringVar(&e.token, "token", "", "API token (default $"+envToken+"); replaces the identity's username and token")
	pf.StringVar(&e.caFile, "ca-file", "", "PEM file of certificate authorities to trust (default: the identity's ca_file)")

	groups := []*cobra.Command{
		e.identitiesCommand(),
		e.jobsCommand(),
		e.devicesCommand(),
		e.reservationsCommand(),
		e.deviceTypesCommand(),
		e.aliasesCommand(),
		e.tagsCommand(),
		e.workersCommand(),
		e.usersCommand(),
		e.groupsCommand(),
		e.tokensCommand(),
		e.consoleCommand(),
		e.whoamiCommand(),
		e.versionCommand(),
	}
	for _, g := range groups {
		g.PersistentFlags().BoolVar(&e.json, "json", false, "print the API's JSON instead of a table")
		root.AddCommand(g)
	}
}

// group returns a command that only holds subcommands.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: noArgs}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		return usageError{fmt.Errorf("%s needs a subcommand (see basalt %s --help)", use, use)}
	}
	c.AddCommand(subs...)
	return c
}

// noArgs rejects positional arguments with a usage-classified error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())}
	}
	return nil
}

// rangeArgs is cobra.RangeArgs with a usage-classified error.
func rangeArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := cobra.RangeArgs(min, max)(cmd, args); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// command builds a leaf command whose errors are mapped to exit codes.
func command(use, short string, args cobra.PositionalArgs, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args,
		RunE: func(cmd *cobra.Command, a []string) error {
			return exitError(run(cmd, a))
		},
	}
}

// resolved is where and how to connect, after flags, environment and the
// identity file.
type resolved struct {
	uri, username, token, caFile string
	identity                     string // the identity used, "" if none
}

// resolve applies the precedence rules: flags, then environment, then the
// identity file. --uri (or BASALT_URI) without an explicit identity does not
// read the file, so an identity's token is never sent to another server.
func (e *clientEnv) resolve() (resolved, error) {
	var r resolved
	name := firstNonEmpty(e.identity, os.Getenv(envIdentity))
	uri := firstNonEmpty(e.uri, os.Getenv(envURI))
	token := firstNonEmpty(e.token, os.Getenv(envToken))
	if name != "" || uri == "" {
		path, err := e.configFile()
		if err != nil {
			return r, err
		}
		f, err := loadIdentities(path)
		if err != nil {
			return r, err
		}
		if name == "" {
			name = f.defaultName()
		}
		if name == "" {
			return r, usageError{fmt.Errorf("no server to talk to: pass --uri, set %s, or add an identity with `basalt identities add NAME --uri URI --token TOKEN` (identity file: %s)", envURI, path)}
		}
		id, ok := f.Identities[name]
		if !ok {
			return r, usageError{fmt.Errorf("no identity %q in %s (see `basalt identities list`)", name, path)}
		}
		r = resolved{uri: id.URI, username: id.Username, token: id.Token, caFile: id.CAFile, identity: name}
	}
	if uri != "" {
		r.uri = uri
	}
	if token != "" {
		r.token, r.username = token, ""
	}
	if e.caFile != "" {
		r.caFile = e.caFile
	}
	return r, nil
}

// configFile is the identity file's path: --config, $BASALT_CONFIG, or the
// default location.
func (e *clientEnv) configFile() (string, error) {
	if p := firstNonEmpty(e.configPath, os.Getenv(envConfig)); p != "" {
		return p, nil
	}
	return defaultConfigPath()
}

// connect returns a client for the resolved server.
func (e *clientEnv) connect() (*client.Client, error) {
	r, err := e.resolve()
	if err != nil {
		return nil, err
	}
	c, err := client.New(r.uri, r.username, r.token, client.Options{CAFile: r.caFile})
	if err != nil {
		if r.identity != "" {
			err = fmt.Errorf("identity %q: %w", r.identity, err)
		}
		return nil, usageError{err}
	}
	return c, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// exitError maps client errors to the documented exit codes: the API
// status for an *client.APIError, ExitFailure for an unreachable server.
// Errors that already carry a code pass through.
func exitError(err error) error {
	if err == nil {
		return nil
	}
	var ee *ExitError
	if errors.As(err, &ee) || isUsage(err) {
		return err
	}
	var ae *client.APIError
	if errors.As(err, &ae) {
		return &ExitError{Code: statusExitCode(ae.Status), Err: err}
	}
	return &ExitError{Code: ExitFailure, Err: err}
}

// statusExitCode maps an HTTP status to an exit code.
func statusExitCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return ExitUsage
	case http.StatusUnauthorized, http.StatusForbidden:
		return ExitAuth
	case http.StatusNotFound:
		return ExitNotFound
	case http.StatusConflict:
		return ExitConflict
	case http.StatusUnprocessableEntity:
		return ExitUnavailable
	}
	return ExitFailure
}

// --- output

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode JSON: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// table writes aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)}
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

// row adds a line; empty cells show as "-" so columns stay readable, and
// tabs or newlines in values cannot break the layout.
func (t *table) row(cells ...string) {
	for i, c := range cells {
		c = strings.Join(strings.Fields(c), " ")
		if c == "" {
			c = "-"
		}
		cells[i] = c
	}
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error {
	if err := t.tw.Flush(); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// fields writes "Name:  value" lines for show commands.
func fields(w io.Writer, kv ...string) error {
	t := newTable(w)
	for i := 0; i+1 < len(kv); i += 2 {
		v := strings.Join(strings.Fields(kv[i+1]), " ")
		if v == "" {
			v = "-"
		}
		fmt.Fprintf(t.tw, "%s:\t%s\n", kv[i], v)
	}
	return t.flush()
}

// timeText formats an optional time in UTC.
func timeText(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func idText(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}

func listText(ss []string) string { return strings.Join(ss, ",") }

func mapText(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

// readInput reads a file, or standard input for "-".
func readInput(cmd *cobra.Command, path string) (string, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(cmd.InOrStdin())
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", usageError{fmt.Errorf("read %s: %w", inputName(path), err)}
	}
	return string(b), nil
}

func inputName(path string) string {
	if path == "-" {
		return "<stdin>"
	}
	return path
}

// parseID parses a positive integer id (jobs, tokens).
func parseID(kind, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%s id %q is not a positive integer", kind, s)}
	}
	return id, nil
}

// splitComma splits a comma-separated flag value, dropping blanks.
func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// ptrIfChanged returns &v when the flag was given, nil otherwise, for PATCH
// inputs where nil means "keep".
func ptrIfChanged[T any](cmd *cobra.Command, flag string, v T) *T {
	if !cmd.Flags().Changed(flag) {
		return nil
	}
	return &v
}

// requireFlag fails with a usage error when a mandatory string flag is empty.
func requireFlag(name, value string) error {
	if strings.TrimSpace(value) == "" {
		return usageError{fmt.Errorf("--%s is required", name)}
	}
	return nil
}
