package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/client"
)

// identityView is an identity as list/show print it: the token masked.
type identityView struct {
	Name     string `json:"name"`
	Default  bool   `json:"default"`
	URI      string `json:"uri"`
	Username string `json:"username,omitempty"`
	Token    string `json:"token,omitempty"`
	CAFile   string `json:"ca_file,omitempty"`
}

func (e *clientEnv) identitiesCommand() *cobra.Command {
	return group("identities", "Manage server identities (URI, username, token) in the identity file",
		e.identitiesAdd(), e.identitiesList(), e.identitiesShow(), e.identitiesDelete())
}

// editIdentities loads the identity file, applies edit and saves it.
func (e *clientEnv) editIdentities(edit func(f *identityFile, path string) error) error {
	path, err := e.configFile()
	if err != nil {
		return err
	}
	f, err := loadIdentities(path)
	if err != nil {
		return err
	}
	if err := edit(f, path); err != nil {
		return err
	}
	return f.save(path)
}

func (e *clientEnv) identitiesAdd() *cobra.Command {
	var (
		id          identity
		makeDefault bool
	)
	c := command("add NAME", "Add or replace an identity", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		name := args[0]
		if strings.TrimSpace(name) == "" || strings.ContainsAny(name, " \t\n") {
			return usageError{fmt.Errorf("identity name %q must be a non-empty word", name)}
		}
		if err := requireFlag("uri", id.URI); err != nil {
			return err
		}
		// Check the URI now rather than at first use.
		if _, err := client.New(id.URI, id.Username, id.Token, client.Options{}); err != nil {
			return usageError{err}
		}
		verb, file := "added", ""
		err := e.editIdentities(func(f *identityFile, path string) error {
			if _, ok := f.Identities[name]; ok {
				verb = "replaced"
			}
			prev := f.defaultName()
			f.Identities[name] = id
			switch {
			case makeDefault || prev == "":
				f.Default = name
			case f.Default == "":
				f.Default = prev // keep the implicit default explicit
			}
			file = path
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "identity %q %s in %s\n", name, verb, file)
		return nil
	})
	c.Flags().StringVar(&id.URI, "uri", "", "server address, e.g. https://lab.example.com (required)")
	c.Flags().StringVar(&id.Username, "username", "", "username (sends HTTP Basic username:token; optional)")
	c.Flags().StringVar(&id.Token, "token", "", "API token (from `basalt tokens add` or the web UI)")
	c.Flags().StringVar(&id.CAFile, "ca-file", "", "PEM file of certificate authorities to trust for this server")
	c.Flags().BoolVar(&makeDefault, "default", false, "make it the default identity")
	return c
}

func (e *clientEnv) identityViews() ([]identityView, error) {
	path, err := e.configFile()
	if err != nil {
		return nil, err
	}
	f, err := loadIdentities(path)
	if err != nil {
		return nil, err
	}
	def := f.defaultName()
	out := make([]identityView, 0, len(f.Identities))
	for _, n := range f.names() {
		id := f.Identities[n]
		out = append(out, identityView{Name: n, Default: n == def, URI: id.URI, Username: id.Username,
			Token: maskToken(id.Token), CAFile: id.CAFile})
	}
	return out, nil
}

func (e *clientEnv) identitiesList() *cobra.Command {
	return command("list", "List identities (tokens masked)", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		views, err := e.identityViews()
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), views)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "DEFAULT", "URI", "USERNAME", "TOKEN")
		for _, v := range views {
			def := ""
			if v.Default {
				def = "*"
			}
			t.row(v.Name, def, v.URI, v.Username, v.Token)
		}
		return t.flush()
	})
}

func (e *clientEnv) identitiesShow() *cobra.Command {
	return command("show NAME", "Show an identity (token masked)", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		views, err := e.identityViews()
		if err != nil {
			return err
		}
		for _, v := range views {
			if v.Name != args[0] {
				continue
			}
			if e.json {
				return printJSON(cmd.OutOrStdout(), v)
			}
			return fields(cmd.OutOrStdout(), "Name", v.Name, "Default", yesNo(v.Default), "URI", v.URI,
				"Username", v.Username, "Token", v.Token, "CA file", v.CAFile)
		}
		return &ExitError{Code: ExitNotFound, Err: fmt.Errorf("no identity %q", args[0])}
	})
}

func (e *clientEnv) identitiesDelete() *cobra.Command {
	return command("delete NAME", "Delete an identity", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		err := e.editIdentities(func(f *identityFile, path string) error {
			if _, ok := f.Identities[args[0]]; !ok {
				return &ExitError{Code: ExitNotFound, Err: fmt.Errorf("no identity %q in %s", args[0], path)}
			}
			delete(f.Identities, args[0])
			if f.Default == args[0] {
				f.Default = ""
			}
			return nil
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "identity %q deleted\n", args[0])
		return nil
	})
}
