package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/app"
)

// Device-type templates stored by the server: basalt device-types template
// get|set|delete|list, as lavacli device-types template get|set NAME FILE.

func (e *clientEnv) deviceTypeTemplateCommand() *cobra.Command {
	return group("template", "Read, set, remove and list the device-type templates (Jinja2) stored by the server",
		e.templateGet(), e.templateSet(), e.templateDelete(), e.templateList())
}

func (e *clientEnv) templateGet() *cobra.Command {
	return command("get TYPE", "Print a device type's stored template", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		t, err := cl.DeviceTypeTemplate(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), t)
		}
		text := t.Template
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, err = io.WriteString(cmd.OutOrStdout(), text)
		return err
	})
}

func (e *clientEnv) templateSet() *cobra.Command {
	return command("set TYPE FILE", "Store FILE (\"-\" reads standard input) as a device type's template, replacing any; at most 1 MiB",
		exactArgs(2), func(cmd *cobra.Command, args []string) error {
			text, err := readTemplate(cmd, args[1])
			if err != nil {
				return err
			}
			cl, err := e.connect()
			if err != nil {
				return err
			}
			t, err := cl.SetDeviceTypeTemplate(cmd.Context(), args[0], text)
			if err != nil {
				return fileError(cmd.ErrOrStderr(), inputName(args[1]), err)
			}
			if e.json {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: template set (%d bytes)\n", args[0], len(t.Template))
			return nil
		})
}

// readTemplate reads a template file, or standard input for "-", refusing
// an empty one and reading no more than the server would take.
func readTemplate(cmd *cobra.Command, path string) (string, error) {
	var r io.Reader = cmd.InOrStdin()
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return "", usageError{fmt.Errorf("read %s: %w", inputName(path), err)}
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, app.MaxTemplateSize+1))
	switch {
	case err != nil:
		return "", usageError{fmt.Errorf("read %s: %w", inputName(path), err)}
	case len(b) > app.MaxTemplateSize:
		return "", usageError{fmt.Errorf("%s is larger than %d bytes (1 MiB), the largest template the server takes", inputName(path), app.MaxTemplateSize)}
	case strings.TrimSpace(string(b)) == "":
		return "", usageError{fmt.Errorf("%s is empty (use \"basalt device-types template delete\" to remove a template)", inputName(path))}
	}
	return string(b), nil
}

func (e *clientEnv) templateDelete() *cobra.Command {
	return command("delete TYPE", "Remove a device type's stored template (the server's directory and Basalt's own then apply)", exactArgs(1),
		func(cmd *cobra.Command, args []string) error {
			cl, err := e.connect()
			if err != nil {
				return err
			}
			t, err := cl.SetDeviceTypeTemplate(cmd.Context(), args[0], "")
			if err != nil {
				return err
			}
			if e.json {
				return printJSON(cmd.OutOrStdout(), t)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: template removed\n", args[0])
			return nil
		})
}

func (e *clientEnv) templateList() *cobra.Command {
	return command("list", "List the stored templates with when each was set", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListDeviceTemplates(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "UPDATED")
		for _, tm := range page.Results {
			t.row(tm.Name, timeText(tm.Updated))
		}
		return t.flush()
	})
}
