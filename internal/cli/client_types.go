package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
)

func (e *clientEnv) deviceTypesCommand() *cobra.Command {
	hc := group("health-check", "Read or set a device type's health-check job",
		e.healthCheckGet(), e.healthCheckSet())
	return group("device-types", "List, add, change and remove device types",
		e.deviceTypesList(), e.deviceTypesShow(), e.deviceTypesAdd(), e.deviceTypesUpdate(),
		e.deviceTypesDelete(), hc, e.deviceTypeTemplateCommand())
}

func (e *clientEnv) printDeviceType(cmd *cobra.Command, dt wire.DeviceType) error {
	if e.json {
		return printJSON(cmd.OutOrStdout(), dt)
	}
	return fields(cmd.OutOrStdout(),
		"Name", dt.Name,
		"Description", dt.Description,
		"Health check", yesNo(dt.HasHealthCheck),
		"Health frequency", frequencyText(dt),
		"Health checks disabled", yesNo(dt.DisableHealthCheck),
		"Displayed", yesNo(dt.Display),
		"Health check after reservations", yesNo(dt.HealthCheckAfterReservation),
	)
}

func frequencyText(dt wire.DeviceType) string {
	return "every " + strconv.Itoa(dt.HealthFrequency) + " " + dt.HealthDenominator
}

func (e *clientEnv) deviceTypesList() *cobra.Command {
	return command("list", "List device types", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListDeviceTypes(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "HEALTH CHECK", "FREQUENCY", "CHECKS DISABLED", "DISPLAYED", "DESCRIPTION")
		for _, dt := range page.Results {
			t.row(dt.Name, yesNo(dt.HasHealthCheck), frequencyText(dt), yesNo(dt.DisableHealthCheck), yesNo(dt.Display), dt.Description)
		}
		return t.flush()
	})
}

func (e *clientEnv) deviceTypesShow() *cobra.Command {
	return command("show NAME", "Show a device type", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		dt, err := cl.GetDeviceType(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return e.printDeviceType(cmd, dt)
	})
}

// deviceTypeFlags are the fields add and update share.
type deviceTypeFlags struct {
	description   string
	frequency     int
	denominator   string
	disableChecks bool
	display       bool
	afterRes      bool
}

func (f *deviceTypeFlags) add(c *cobra.Command) {
	c.Flags().StringVar(&f.description, "description", "", "free-text description")
	c.Flags().IntVar(&f.frequency, "health-frequency", 0, "run the health check every N hours or jobs")
	c.Flags().StringVar(&f.denominator, "health-denominator", "", "unit of --health-frequency: hours or jobs")
	c.Flags().BoolVar(&f.disableChecks, "disable-health-check", false, "do not run health checks")
	c.Flags().BoolVar(&f.display, "display", true, "show the type in listings (--display=false hides it)")
	c.Flags().BoolVar(&f.afterRes, "health-check-after-reservation", true,
		"run the health check when a reservation of a device ends, before other jobs (--health-check-after-reservation=false: the device takes jobs at once)")
}

func (f *deviceTypeFlags) input(cmd *cobra.Command, name string) wire.DeviceTypeInput {
	return wire.DeviceTypeInput{
		Name:                        name,
		Description:                 ptrIfChanged(cmd, "description", f.description),
		HealthFrequency:             ptrIfChanged(cmd, "health-frequency", f.frequency),
		HealthDenominator:           ptrIfChanged(cmd, "health-denominator", f.denominator),
		DisableHealthCheck:          ptrIfChanged(cmd, "disable-health-check", f.disableChecks),
		Display:                     ptrIfChanged(cmd, "display", f.display),
		HealthCheckAfterReservation: ptrIfChanged(cmd, "health-check-after-reservation", f.afterRes),
	}
}

func (e *clientEnv) deviceTypesAdd() *cobra.Command {
	var f deviceTypeFlags
	c := command("add NAME", "Add a device type", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		dt, err := cl.CreateDeviceType(cmd.Context(), f.input(cmd, args[0]))
		if err != nil {
			return err
		}
		return e.printDeviceType(cmd, dt)
	})
	f.add(c)
	return c
}

func (e *clientEnv) deviceTypesUpdate() *cobra.Command {
	var f deviceTypeFlags
	c := command("update NAME", "Change a device type", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		in := f.input(cmd, "")
		if in == (wire.DeviceTypeInput{}) {
			return usageError{fmt.Errorf("nothing to change: give --description, --health-frequency, --health-denominator, --disable-health-check, --display or --health-check-after-reservation")}
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		dt, err := cl.UpdateDeviceType(cmd.Context(), args[0], in)
		if err != nil {
			return err
		}
		return e.printDeviceType(cmd, dt)
	})
	f.add(c)
	return c
}

func (e *clientEnv) deviceTypesDelete() *cobra.Command {
	return command("delete NAME", "Remove a device type that no device or job uses", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		if err := cl.DeleteDeviceType(cmd.Context(), args[0]); err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(cmd.OutOrStdout(), "device type %s deleted\n", args[0])
		}
		return nil
	})
}

func (e *clientEnv) healthCheckGet() *cobra.Command {
	return command("get NAME", "Print a device type's health-check job definition", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		hc, err := cl.HealthCheck(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), hc)
		}
		if hc.Definition == "" {
			fmt.Fprintf(cmd.ErrOrStderr(), "device type %s has no health check\n", args[0])
			return nil
		}
		def := hc.Definition
		if !strings.HasSuffix(def, "\n") {
			def += "\n"
		}
		_, err = io.WriteString(cmd.OutOrStdout(), def)
		return err
	})
}

func (e *clientEnv) healthCheckSet() *cobra.Command {
	var remove bool
	c := command("set NAME [FILE]", "Set a device type's health-check job from FILE (\"-\" reads standard input), or remove it with --remove",
		rangeArgs(1, 2), func(cmd *cobra.Command, args []string) error {
			var def string
			switch {
			case remove && len(args) == 2:
				return usageError{fmt.Errorf("give FILE or --remove, not both")}
			case !remove && len(args) == 1:
				return usageError{fmt.Errorf("give the health-check FILE, or --remove")}
			case !remove:
				var err error
				if def, err = readInput(cmd, args[1]); err != nil {
					return err
				}
				if strings.TrimSpace(def) == "" {
					return usageError{fmt.Errorf("%s is empty (use --remove to remove the health check)", inputName(args[1]))}
				}
			}
			cl, err := e.connect()
			if err != nil {
				return err
			}
			hc, err := cl.SetHealthCheck(cmd.Context(), args[0], def)
			if err != nil {
				if len(args) == 2 {
					return fileError(cmd.ErrOrStderr(), inputName(args[1]), err)
				}
				return err
			}
			switch {
			case e.json:
				return printJSON(cmd.OutOrStdout(), hc)
			case remove:
				fmt.Fprintf(cmd.OutOrStdout(), "device type %s: health check removed\n", args[0])
			default:
				fmt.Fprintf(cmd.OutOrStdout(), "device type %s: health check set\n", args[0])
			}
			return nil
		})
	c.Flags().BoolVar(&remove, "remove", false, "remove the health check")
	return c
}

// --- aliases

func (e *clientEnv) aliasesCommand() *cobra.Command {
	list := command("list", "List device-type aliases", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListAliases(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "DEVICE TYPE")
		for _, a := range page.Results {
			t.row(a.Name, a.DeviceType)
		}
		return t.flush()
	})
	add := command("add NAME DEVICE-TYPE", "Add an alias for a device type", exactArgs(2), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		a, err := cl.CreateAlias(cmd.Context(), wire.Alias{Name: args[0], DeviceType: args[1]})
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), a)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "alias %s -> %s added\n", a.Name, a.DeviceType)
		return nil
	})
	del := command("delete NAME", "Remove an alias", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		if err := cl.DeleteAlias(cmd.Context(), args[0]); err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(cmd.OutOrStdout(), "alias %s deleted\n", args[0])
		}
		return nil
	})
	return group("aliases", "Manage device-type aliases", list, add, del)
}

// --- tags

func (e *clientEnv) tagsCommand() *cobra.Command {
	list := command("list", "List tags", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListTags(cmd.Context())
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "NAME", "DESCRIPTION")
		for _, tg := range page.Results {
			t.row(tg.Name, tg.Description)
		}
		return t.flush()
	})
	show := command("show NAME", "Show a tag", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		tg, err := cl.GetTag(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), tg)
		}
		return fields(cmd.OutOrStdout(), "Name", tg.Name, "Description", tg.Description)
	})
	var description string
	add := command("add NAME", "Add a tag", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		tg, err := cl.CreateTag(cmd.Context(), wire.Tag{Name: args[0], Description: description})
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), tg)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "tag %s added\n", tg.Name)
		return nil
	})
	add.Flags().StringVar(&description, "description", "", "what the tag means")
	del := command("delete NAME", "Remove a tag", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		if err := cl.DeleteTag(cmd.Context(), args[0]); err != nil {
			return err
		}
		if !e.json {
			fmt.Fprintf(cmd.OutOrStdout(), "tag %s deleted\n", args[0])
		}
		return nil
	})
	return group("tags", "Manage device tags", list, show, add, del)
}
