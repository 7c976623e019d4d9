package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/client"
)

// Reservations (docs/reservations.md): `basalt devices reserve|release`
// and `basalt reservations list|show|extend|release`.

func (e *clientEnv) reservationsCommand() *cobra.Command {
	return group("reservations", "List, show, extend and release device reservations",
		e.reservationsList(), e.reservationsShow(), e.reservationsExtend(), e.reservationsRelease())
}

// reservationWhen says when a reservation ends or where it stands: "until
// 2026-12-06T22:00:00Z", "queued, 2 jobs ahead", "Finished (Complete)".
func reservationWhen(r wire.Reservation, ahead *int) string {
	switch {
	case r.State == "Finished":
		return "ended " + timeText(r.EndTime) + " (" + r.Health + ")"
	case r.State == "Canceling":
		return "ending"
	case r.Until != nil:
		return "until " + timeText(r.Until)
	case r.State == "Submitted" && ahead != nil:
		return "queued, " + strconv.Itoa(*ahead) + " job" + plural(*ahead) + " ahead"
	case r.State == "Submitted":
		return "queued"
	default:
		return "starting"
	}
}

// durationSeconds writes a number of seconds as "2h", "1h30m", "45m" or
// "90s".
func durationSeconds(s int64) string {
	t := (time.Duration(s) * time.Second).String()
	if strings.HasSuffix(t, "m0s") {
		t = strings.TrimSuffix(t, "0s")
	}
	if strings.HasSuffix(t, "h0m") {
		t = strings.TrimSuffix(t, "0m")
	}
	return t
}

// showReservation prints one reservation; ahead is its queue position
// when known.
func showReservation(w io.Writer, r wire.Reservation, ahead *int) error {
	return fields(w,
		"Reservation", idText(r.ID),
		"Device", r.Device,
		"Device type", r.DeviceType,
		"Holder", r.Holder,
		"Reason", r.Reason,
		"State", r.State,
		"When", reservationWhen(r, ahead),
		"Duration", durationSeconds(r.Duration),
		"Priority", strconv.Itoa(r.Priority),
		"Submitted", timeText(r.SubmitTime),
		"Started", timeText(r.StartTime),
		"Ended by", r.EndedBy,
		"Comment", r.FailureComment,
	)
}

// printReservation prints r as JSON or fields, with its queue position
// when it is queued (GET /jobs/{id}/queue).
func (e *clientEnv) printReservation(cmd *cobra.Command, cl *client.Client, r wire.Reservation) error {
	if e.json {
		return printJSON(cmd.OutOrStdout(), r)
	}
	var ahead *int
	if r.State == "Submitted" {
		if q, err := cl.JobQueue(cmd.Context(), r.ID); err == nil {
			ahead = &q.JobsAhead
		}
	}
	return showReservation(cmd.OutOrStdout(), r, ahead)
}

func (e *clientEnv) devicesReserve() *cobra.Command {
	var (
		dur, reason string
		priority    int
	)
	c := command("reserve HOSTNAME --for DURATION", "Reserve a device for yourself: it waits in the queue like a job of its priority, then holds the device until it expires or you release it",
		exactArgs(1), func(cmd *cobra.Command, args []string) error {
			if dur == "" {
				return usageError{fmt.Errorf("give --for, how long to hold the device once the reservation starts (e.g. --for 2h)")}
			}
			in := wire.ReserveInput{Duration: dur, Reason: reason}
			if cmd.Flags().Changed("priority") {
				in.Priority = &priority
			}
			cl, err := e.connect()
			if err != nil {
				return err
			}
			r, err := cl.Reserve(cmd.Context(), args[0], in)
			if err != nil {
				return err
			}
			return e.printReservation(cmd, cl, r)
		})
	c.Flags().StringVar(&dur, "for", "", "how long to hold the device once the reservation starts (1m to the server's maximum, 24h by default): 2h, 90m")
	c.Flags().StringVar(&reason, "reason", "", "what the board is for (shown to others)")
	c.Flags().IntVar(&priority, "priority", 50, "queue priority, 0–100, as a job's")
	return c
}

// ownReservation is user's reservation among rs (one device's): the
// current one, else a queued one; nil when user has none that is not
// already ending.
func ownReservation(rs []wire.Reservation, user string) *wire.Reservation {
	var pick *wire.Reservation
	for i := range rs {
		r := &rs[i]
		if r.Holder != user || r.State == "Canceling" {
			continue
		}
		if pick == nil || (r.State != "Submitted" && pick.State == "Submitted") {
			pick = r
		}
	}
	return pick
}

func (e *clientEnv) devicesRelease() *cobra.Command {
	return command("release HOSTNAME", "Release your reservation of a device (the current one, else your queued one)", exactArgs(1),
		func(cmd *cobra.Command, args []string) error {
			cl, err := e.connect()
			if err != nil {
				return err
			}
			who, err := cl.Whoami(cmd.Context())
			if err != nil {
				return err
			}
			page, err := cl.ListReservations(cmd.Context(), client.ReservationFilter{Device: args[0], Holder: who.User})
			if err != nil {
				return err
			}
			pick := ownReservation(page.Results, who.User)
			if pick == nil {
				return fmt.Errorf("%s holds no reservation of %s", who.User, args[0])
			}
			r, err := cl.ReleaseReservation(cmd.Context(), pick.ID)
			if err != nil {
				return err
			}
			return e.printReservation(cmd, cl, r)
		})
}

func (e *clientEnv) reservationsList() *cobra.Command {
	var f client.ReservationFilter
	c := command("list", "List queued and current reservations", exactArgs(0), func(cmd *cobra.Command, args []string) error {
		cl, err := e.connect()
		if err != nil {
			return err
		}
		page, err := cl.ListReservations(cmd.Context(), f)
		if err != nil {
			return err
		}
		if e.json {
			return printJSON(cmd.OutOrStdout(), page)
		}
		t := newTable(cmd.OutOrStdout(), "ID", "DEVICE", "HOLDER", "STATE", "WHEN", "DURATION", "REASON")
		for _, r := range page.Results {
			t.row(idText(r.ID), r.Device, r.Holder, r.State, reservationWhen(r, nil), durationSeconds(r.Duration), r.Reason)
		}
		return t.flush()
	})
	c.Flags().StringVar(&f.Device, "device", "", "only the reservations of this device")
	c.Flags().StringVar(&f.Holder, "holder", "", "only the reservations of this user")
	c.Flags().BoolVar(&f.Finished, "all", false, "include the reservations that ended")
	c.Flags().IntVar(&f.Limit, "limit", 0, "at most this many (default: the server's page, 50)")
	return c
}

// reservationCommand is a command acting on the reservation its ID
// argument names: act's answer is printed.
func (e *clientEnv) reservationCommand(use, short string, act func(*client.Client, context.Context, int64) (wire.Reservation, error)) *cobra.Command {
	return idCommand(e, "reservation", use, short, act, e.printReservation)
}

func (e *clientEnv) reservationsShow() *cobra.Command {
	return e.reservationCommand("show ID", "Show a reservation", (*client.Client).GetReservation)
}

func (e *clientEnv) reservationsExtend() *cobra.Command {
	var by string
	c := e.reservationCommand("extend ID --by DURATION", "Give a reservation more time (queued: a longer duration; running: a later end)",
		func(cl *client.Client, ctx context.Context, id int64) (wire.Reservation, error) {
			if by == "" {
				return wire.Reservation{}, usageError{fmt.Errorf("give --by, how much more time (e.g. --by 1h)")}
			}
			return cl.ExtendReservation(ctx, id, by)
		})
	c.Flags().StringVar(&by, "by", "", "how much more time: 1h, 30m")
	return c
}

func (e *clientEnv) reservationsRelease() *cobra.Command {
	return e.reservationCommand("release ID", "End a reservation (yours; admins end anyone's)", (*client.Client).ReleaseReservation)
}
