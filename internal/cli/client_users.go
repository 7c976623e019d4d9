package cli

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/version"
)

func (e *clientEnv) usersCommand() *cobra.Command {
	return group("users", "Manage user accounts (admins; users may show and update themselves)",
		e.usersList(), e.usersShow(), e.usersAdd(), e.usersUpdate(), e.usersDelete())
}

func (e *clientEnv) printUser(cmd *cobra.Command, u wire.User) error {
	if e.json {
		return printJSON(cmd.OutOrStdout(), u)
	}
	return fields(cmd.OutOrStdout(),
		"Username", u.Username,
		"Name", strings.TrimSpace(u.FirstName+" "+u.LastName),
		"E-mail", u.Email,
		"Superuser", yesNo(u.IsSuperuser),
		"Active", yesNo(u.IsActive),
		"Groups", listText(u.Groups),
		"Joined", timeText(&u.DateJoined),
	)
}

func (e *clientEnv) usersList() *cobra.Command {
	return command("list", "List users", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListUsers(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "USERNAME", "NAME", "E-MAIL", "SUPERUSER", "ACTIVE", "GROUPS")
		for _, u := range page.Results {
			t.row(u.Username, strings.TrimSpace(u.FirstName+" "+u.LastName), u.Email, yesNo(u.IsSuperuser), yesNo(u.IsActive), listText(u.Groups))
		}
		return t.flush()
	})
}

func (e *clientEnv) usersShow() *cobra.Command {
	return command("show USERNAME", "Show a user", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		u, err := cl.GetUser(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return e.printUser(cmd, u)
	})
}

// userFlags are the fields add and update share. Passwords are read from
// standard input, never from the command line (shell history, ps).
type userFlags struct {
	email, firstName, lastName string
	superuser, active          bool
	passwordStdin              bool
}

func (f *userFlags) add(c *cobra.Command, update bool) {
	c.Flags().StringVar(&f.email, "email", "", "e-mail address")
	c.Flags().StringVar(&f.firstName, "first-name", "", "first name")
	c.Flags().StringVar(&f.lastName, "last-name", "", "last name")
	c.Flags().BoolVar(&f.superuser, "superuser", false, "administrator (--superuser=false to revoke)")
	c.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read a password from the first line of standard input (without one the account is token-only)")
	if update {
		c.Flags().BoolVar(&f.active, "active", true, "whether the account may log in (--active=false disables it)")
	}
}

func (f *userFlags) input(cmd *cobra.Command, username string) (wire.UserInput, error) {
	in := wire.UserInput{
		Username:    username,
		Email:       ptrIfChanged(cmd, "email", f.email),
		FirstName:   ptrIfChanged(cmd, "first-name", f.firstName),
		LastName:    ptrIfChanged(cmd, "last-name", f.lastName),
		IsSuperuser: ptrIfChanged(cmd, "superuser", f.superuser),
		IsActive:    ptrIfChanged(cmd, "active", f.active),
	}
	if f.passwordStdin {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			if err != nil {
				return in, usageError{fmt.Errorf("--password-stdin: no password on standard input: %w", err)}
			}
			return in, usageError{fmt.Errorf("--password-stdin: the password is empty")}
		}
		in.Password = &line
	}
	return in, nil
}

func (e *clientEnv) usersAdd() *cobra.Command {
	var f userFlags
	c := command("add USERNAME", "Add a user", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		in, err := f.input(cmd, args[0])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		u, err := cl.CreateUser(cmd.Context(), in)
		if err != nil {
			return err
		}
		return e.printUser(cmd, u)
	})
	f.add(c, false)
	return c
}

func (e *clientEnv) usersUpdate() *cobra.Command {
	var f userFlags
	c := command("update USERNAME", "Change a user", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		in, err := f.input(cmd, "")
		if err != nil {
			return err
		}
		if in == (wire.UserInput{}) {
			return usageError{fmt.Errorf("nothing to change: give --email, --first-name, --last-name, --superuser, --active or --password-stdin")}
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		u, err := cl.UpdateUser(cmd.Context(), args[0], in)
		if err != nil {
			return err
		}
		return e.printUser(cmd, u)
	})
	f.add(c, true)
	return c
}

func (e *clientEnv) usersDelete() *cobra.Command {
	return command("delete USERNAME", "Remove a user and their tokens", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		if err := cl.DeleteUser(cmd.Context(), args[0]); err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", args[0])
		}
		return nil
	})
}

// --- groups

func (e *clientEnv) groupsCommand() *cobra.Command {
	printGroup := func(cmd *cobra.Command, g wire.Group) error {
		if e.json {
			return printJSON(cmd.OutOrStdout(), g)
		}
		return fields(cmd.OutOrStdout(), "Name", g.Name, "Members", listText(g.Members))
	}
	list := command("list", "List groups", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListGroups(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "MEMBERS")
		for _, g := range page.Results {
			t.row(g.Name, listText(g.Members))
		}
		return t.flush()
	})
	show := command("show NAME", "Show a group and its members", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		g, err := cl.GetGroup(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printGroup(cmd, g)
	})
	add := command("add NAME", "Add a group", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		g, err := cl.CreateGroup(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return printGroup(cmd, g)
	})
	del := command("delete NAME", "Remove a group", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		if err := cl.DeleteGroup(cmd.Context(), args[0]); err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(cmd.OutOrStdout(), "group %s deleted\n", args[0])
		}
		return nil
	})
	addMember := command("add-member GROUP USERNAME...", "Add users to a group", minArgs(2), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		var g wire.Group
		for _, u := range args[1:] {
			if g, err = cl.AddGroupMember(cmd.Context(), args[0], u); err != nil {
				return fmt.Errorf("add %s to %s: %w", u, args[0], err)
			}
		}
		return printGroup(cmd, g)
	})
	removeMember := command("remove-member GROUP USERNAME...", "Remove users from a group", minArgs(2), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		var g wire.Group
		for _, u := range args[1:] {
			if g, err = cl.RemoveGroupMember(cmd.Context(), args[0], u); err != nil {
				return fmt.Errorf("remove %s from %s: %w", u, args[0], err)
			}
		}
		return printGroup(cmd, g)
	})
	return group("groups", "Manage groups (admins)", list, show, add, del, addMember, removeMember)
}

// --- tokens

func (e *clientEnv) tokensCommand() *cobra.Command {
	var owner string
	list := command("list", "List your API tokens (admins: --owner)", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListTokens(cmd.Context(), owner)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "ID", "OWNER", "CREATED", "LAST USED", "EXPIRES", "DESCRIPTION")
		for _, tk := range page.Results {
			t.row(idText(tk.ID), tk.Owner, timeText(&tk.Created), timeText(tk.LastUsed), timeText(tk.Expires), tk.Description)
		}
		return t.flush()
	})
	list.Flags().StringVar(&owner, "owner", "", "list another user's tokens (admins)")

	var (
		in      wire.TokenInput
		expires string
	)
	add := command("add", "Create an API token; prints the secret, shown only once", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		if expires != "" {
			t, err := parseExpiry(expires, time.Now())
			if err != nil {
				return err
			}
			in.Expires = &t
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		tk, err := cl.CreateToken(cmd.Context(), in)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), tk)
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "Token %d for %s (the secret is shown only once):\n\n    %s\n\n", tk.ID, tk.Owner, tk.Secret)
		fmt.Fprintf(out, "Use it with:\n\n    basalt identities add NAME --uri %s --username %s --token %s\n", cl.URI(), tk.Owner, tk.Secret)
		return nil
	})
	add.Flags().StringVar(&in.Description, "description", "", "what the token is for")
	add.Flags().StringVar(&expires, "expires", "", "expiry: a duration from now (720h, 30d) or a date (2026-12-31, RFC 3339)")
	add.Flags().StringVar(&in.Owner, "owner", "", "create the token for another user (admins)")

	del := command("delete ID", "Revoke a token", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		id, err := parseID("token", args[0])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		if err := cl.DeleteToken(cmd.Context(), id); err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(cmd.OutOrStdout(), "token %d revoked\n", id)
		}
		return nil
	})
	return group("tokens", "Manage API tokens", list, add, del)
}

// parseExpiry reads --expires: a positive duration from now (Go syntax, or
// whole days as "30d"), a date (midnight UTC) or an RFC 3339 time.
func parseExpiry(s string, now time.Time) (time.Time, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(days); err == nil && n > 0 {
			return now.UTC().Add(time.Duration(n) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, usageError{fmt.Errorf("--expires %q: the duration must be positive", s)}
		}
		return now.UTC().Add(d), nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, usageError{fmt.Errorf("--expires %q: want a duration (720h, 30d), a date (2026-12-31) or an RFC 3339 time", s)}
}

// --- whoami, version

func (e *clientEnv) whoamiCommand() *cobra.Command {
	return command("whoami", "Show who the server takes you for", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		w, err := cl.Whoami(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), w)
		}
		user := w.User
		if w.Kind == "anonymous" {
			user = "(anonymous)"
		}
		return fields(cmd.OutOrStdout(), "Server", cl.URI(), "User", user, "Kind", w.Kind, "Superuser", yesNo(w.IsSuperuser))
	})
}

// versionsJSON is what `version --json` prints.
type versionsJSON struct {
	Client string `json:"client"`
	Server string `json:"server"`
}

func (e *clientEnv) versionCommand() *cobra.Command {
	return command("version", "Show the client's and the server's versions", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		v := versionsJSON{Client: version.Version}
		cl, err := e.connect()
		if err == nil {
			var sv wire.Version
			if sv, err = cl.Version(cmd.Context()); err == nil {
				v.Server = sv.Version
			}
		}
		if e.json {
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "client: %s\n", v.Client)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "server: %s (%s)\n", v.Server, cl.URI())
		return nil
	})
}
