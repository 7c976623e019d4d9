package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
)

func (e *clientEnv) devicesCommand() *cobra.Command {
	dict := group("dict", "Read or replace a device dictionary", e.devicesDictGet(), e.devicesDictSet())
	tags := group("tags", "Add or remove device tags", e.devicesTags("add"), e.devicesTags("remove"))
	return group("devices", "List, add and change devices",
		e.devicesList(), e.devicesShow(), e.devicesAdd(), e.devicesUpdate(), e.devicesHealth(),
		dict, tags, e.devicesHistory(), e.devicesReserve(), e.devicesRelease())
}

func deviceRows(w io.Writer, devs []wire.Device) error {
	t := newTable(w, "HOSTNAME", "TYPE", "WORKER", "STATE", "HEALTH", "STATUS", "JOB", "TAGS")
	for _, d := range devs {
		t.row(d.Hostname, d.DeviceType, d.Worker, d.State, d.Health, statusText(d), deviceJobText(d, "private"), listText(d.Tags))
	}
	return t.flush()
}

// statusText is the device's status with its detail: "idle", or "offline
// (worker lab-1 Offline)".
func statusText(d wire.Device) string {
	if d.StatusDetail != "" {
		return d.Status + " (" + d.StatusDetail + ")"
	}
	return d.Status
}

// deviceJobText is the device's current job: its id, private when the
// device is busy with a job the server does not show to this caller (the
// API gives 0 for it), or empty when the device is free.
func deviceJobText(d wire.Device, private string) string {
	if d.CurrentJob == 0 && (d.Status == "reserved" || d.Status == "running") {
		return private
	}
	return idText(d.CurrentJob)
}

func showDevice(w io.Writer, d wire.Device) error {
	return fields(w,
		"Hostname", d.Hostname,
		"Device type", d.DeviceType,
		"Worker", d.Worker,
		"Description", d.Description,
		"Tags", listText(d.Tags),
		"State", d.State,
		"Health", d.Health,
		"Status", statusText(d),
		"Current job", deviceJobText(d, "a private job"),
		"Reserved by", reservedText(d.Reservation),
		"Last health job", idText(d.LastHealthReportJob),
	)
}

// reservedText says who holds a device by reservation: "alice until
// 2026-12-06T22:00:00Z (reservation 42)"; empty when none does.
func reservedText(r *wire.DeviceReservation) string {
	if r == nil {
		return ""
	}
	s := r.Holder
	if r.Until != nil {
		s += " until " + timeText(r.Until)
	}
	return s + " (reservation " + idText(r.ID) + ")"
}

// printDevice prints a device as JSON or fields, by --json.
func (e *clientEnv) printDevice(cmd *cobra.Command, d wire.Device) error {
	if e.json {
		return printJSON(cmd.OutOrStdout(), d)
	}
	return showDevice(cmd.OutOrStdout(), d)
}

func (e *clientEnv) devicesList() *cobra.Command {
	var (
		f              client.DeviceFilter
		health, states string
	)
	c := command("list", "List devices", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		f.Health, f.State = splitComma(health), splitComma(states)
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListDevices(cmd.Context(), f)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		return deviceRows(cmd.OutOrStdout(), page.Results)
	})
	c.Flags().StringVar(&f.DeviceType, "device-type", "", "only devices of this type")
	c.Flags().StringVar(&f.Worker, "worker", "", "only devices of this worker")
	c.Flags().StringVar(&health, "health", "", "only devices with these healths (comma list: Good,Unknown,Looping,Bad,Maintenance,Retired)")
	c.Flags().StringVar(&states, "state", "", "only devices in these states (comma list: Idle,Reserved,Running)")
	return c
}

func (e *clientEnv) devicesShow() *cobra.Command {
	return command("show HOSTNAME", "Show a device", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.GetDevice(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return e.printDevice(cmd, d)
	})
}

// deviceFlags are the fields add and update share.
type deviceFlags struct {
	deviceType, worker, description, tags, health string
}

func (f *deviceFlags) add(c *cobra.Command, create bool) {
	c.Flags().StringVar(&f.deviceType, "type", "", "device type")
	c.Flags().StringVar(&f.worker, "worker", "", "worker the device is attached to")
	c.Flags().StringVar(&f.description, "description", "", "free-text description")
	c.Flags().StringVar(&f.tags, "tags", "", "tags, comma separated (replaces the device's tags)")
	if create {
		c.Flags().StringVar(&f.health, "health", "", "initial health (default Maintenance)")
	}
}

// input returns the fields given on the command line.
func (f *deviceFlags) input(cmd *cobra.Command, hostname string) wire.DeviceInput {
	in := wire.DeviceInput{
		Hostname:    hostname,
		DeviceType:  ptrIfChanged(cmd, "type", f.deviceType),
		Worker:      ptrIfChanged(cmd, "worker", f.worker),
		Description: ptrIfChanged(cmd, "description", f.description),
		Health:      ptrIfChanged(cmd, "health", f.health),
	}
	if cmd.Flags().Changed("tags") {
		tags := splitComma(f.tags)
		if tags == nil {
			tags = []string{}
		}
		in.Tags = &tags
	}
	return in
}

func (e *clientEnv) devicesAdd() *cobra.Command {
	var df deviceFlags
	c := command("add HOSTNAME", "Add a device (it starts in Maintenance unless --health says otherwise)", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		if err := requireFlag("type", df.deviceType); err != nil {
			return err
		}
		if err := requireFlag("worker", df.worker); err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.CreateDevice(cmd.Context(), df.input(cmd, args[0]))
		if err != nil {
			return err
		}
		return e.printDevice(cmd, d)
	})
	df.add(c, true)
	return c
}

func (e *clientEnv) devicesUpdate() *cobra.Command {
	var df deviceFlags
	c := command("update HOSTNAME", "Change a device's type, worker, description or tags", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		in := df.input(cmd, "")
		if in == (wire.DeviceInput{}) {
			return usageError{fmt.Errorf("nothing to change: give --type, --worker, --description or --tags")}
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.UpdateDevice(cmd.Context(), args[0], in)
		if err != nil {
			return err
		}
		return e.printDevice(cmd, d)
	})
	df.add(c, false)
	return c
}

func (e *clientEnv) devicesHealth() *cobra.Command {
	var reason string
	c := command("health HOSTNAME HEALTH", "Set a device's health (Good, Unknown, Looping, Bad, Maintenance, Retired) with a reason", exactArgs(2), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.SetDeviceHealth(cmd.Context(), args[0], args[1], reason)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), d)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: health %s\n", d.Hostname, d.Health)
		return nil
	})
	c.Flags().StringVar(&reason, "reason", "", "why (recorded in the device's history)")
	return c
}

func (e *clientEnv) devicesDictGet() *cobra.Command {
	return command("get HOSTNAME", "Print a device dictionary", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.DeviceDictionary(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), d)
		}
		text := d.Dictionary
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		_, err = io.WriteString(cmd.OutOrStdout(), text)
		return err
	})
}

func (e *clientEnv) devicesDictSet() *cobra.Command {
	return command("set HOSTNAME FILE", "Replace a device dictionary with FILE (\"-\" reads standard input)", exactArgs(2), func(cmd *cobra.Command, args []string) error {
		text, err := readInput(cmd, args[1])
		if err != nil {
			return err
		}
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.SetDeviceDictionary(cmd.Context(), args[0], text)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), d)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: dictionary set (%d bytes)\n", args[0], len(d.Dictionary))
		return nil
	})
}

// devicesTags adds or removes tags: it reads the device's tags and writes
// the new list back. Two admins editing one device's tags at once may lose
// one change; the API has no finer operation.
func (e *clientEnv) devicesTags(op string) *cobra.Command {
	short := "Add tags to a device"
	if op == "remove" {
		short = "Remove tags from a device"
	}
	return command(op+" HOSTNAME TAG...", short, minArgs(2), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		d, err := cl.GetDevice(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		tags := slices.Clone(d.Tags)
		for _, t := range args[1:] {
			i := slices.Index(tags, t)
			switch {
			case op == "add" && i < 0:
				tags = append(tags, t)
			case op == "remove" && i >= 0:
				tags = slices.Delete(tags, i, i+1)
			case op == "remove":
				return &ExitError{Code: ExitNotFound, Err: fmt.Errorf("device %s has no tag %q", d.Hostname, t)}
			}
		}
		if tags == nil {
			tags = []string{}
		}
		d, err = cl.UpdateDevice(cmd.Context(), args[0], wire.DeviceInput{Tags: &tags})
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), d)
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s: tags %s\n", d.Hostname, listText(d.Tags))
		return nil
	})
}

func (e *clientEnv) devicesHistory() *cobra.Command {
	var limit int
	c := command("history HOSTNAME", "Show a device's health changes, newest first", exactArgs(1), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.DeviceHistory(cmd.Context(), args[0], limit)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "TIME", "ACTOR", "OLD", "NEW", "JOB", "REASON")
		for _, tr := range page.Results {
			t.row(timeText(&tr.Time), tr.Actor, tr.OldHealth, tr.NewHealth, idText(tr.Job), tr.Reason)
		}
		return t.flush()
	})
	c.Flags().IntVar(&limit, "limit", 0, "at most this many entries (default: the server's, 100)")
	return c
}
