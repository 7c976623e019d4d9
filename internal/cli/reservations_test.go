package cli_test

import (
	"context"
	"regexp"
	"strconv"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/cli"
)

// TestClientReservations: reserve a device, see the reservation listed,
// shown and extended, and release it by device or by id; another user may
// not extend or release it; a device type's setting for the health check
// after reservations.
func TestClientReservations(t *testing.T) {
	l := newClientLab(t)
	l.setup()
	l.ok("users", "add", "bob")
	tk := decode[wire.Token](t, l.ok("tokens", "add", "--owner", "bob", "--json"))
	l.ok("identities", "add", "bob", "--uri", l.url, "--username", "bob", "--token", tk.Secret)

	// The scheduler does not run in this lab: reservations stay queued.
	out := l.ok("devices", "reserve", "d1", "--for", "2h", "--reason", "u-boot bisect", "--priority", "60")
	mine := regexp.MustCompile(`(?m)^Reservation:\s+(\d+)$`).FindStringSubmatch(out)
	if mine == nil {
		t.Fatalf("devices reserve output:\n%s", out)
	}
	for _, want := range []string{`(?m)^Reservation:\s+\d+$`, `(?m)^Device:\s+d1$`, `(?m)^Holder:\s+admin$`,
		`(?m)^State:\s+Submitted$`, `(?m)^When:\s+queued, 0 jobs ahead$`, `(?m)^Duration:\s+2h$`, `(?m)^Reason:\s+u-boot bisect$`,
		`(?m)^Priority:\s+60$`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("devices reserve output lacks %s:\n%s", want, out)
		}
	}
	r := decode[wire.Reservation](t, l.ok("-i", "bob", "devices", "reserve", "d1", "--for", "30m", "--json"))
	if r.Holder != "bob" || r.Priority != 50 || r.Duration != 1800 {
		t.Errorf("bob's reservation: %+v", r)
	}
	bobs := strconv.FormatInt(r.ID, 10)
	if out := l.ok("-i", "bob", "reservations", "show", bobs); !regexp.MustCompile(`(?m)^When:\s+queued, 1 job ahead$`).MatchString(out) {
		t.Errorf("bob's queued reservation:\n%s", out)
	}

	out = l.ok("reservations", "list")
	if !regexp.MustCompile(`(?m)^`+mine[1]+`\s+d1\s+admin\s+Submitted\s+queued\s+2h\s+u-boot bisect$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^`+bobs+`\s+d1\s+bob\s+Submitted\s+queued\s+30m\s+-$`).MatchString(out) {
		t.Errorf("reservations list:\n%s", out)
	}
	list := decode[wire.List[wire.Reservation]](t, l.ok("reservations", "list", "--holder", "bob", "--json"))
	if list.Count != 1 || list.Results[0].ID != r.ID {
		t.Errorf("reservations list --holder bob: %+v", list)
	}

	// Extend: bob's own, by bob; the admin's is not bob's.
	r = decode[wire.Reservation](t, l.ok("-i", "bob", "reservations", "extend", bobs, "--by", "1h", "--json"))
	if r.Duration != 5400 {
		t.Errorf("extended: %+v", r)
	}
	l.expect(cli.ExitAuth, "-i", "bob", "reservations", "extend", mine[1], "--by", "1h")
	l.expect(cli.ExitAuth, "-i", "bob", "reservations", "release", mine[1])
	l.expect(cli.ExitUsage, "reservations", "extend", bobs)
	l.expect(cli.ExitUsage, "devices", "reserve", "d1")
	l.expect(cli.ExitUsage, "reservations", "show", "x")

	// Release by device: bob's queued one.
	out = l.ok("-i", "bob", "devices", "release", "d1")
	if !regexp.MustCompile(`(?m)^State:\s+Finished$`).MatchString(out) || !regexp.MustCompile(`(?m)^Ended by:\s+bob$`).MatchString(out) {
		t.Errorf("devices release:\n%s", out)
	}
	if code, _, _ := l.run("-i", "bob", "devices", "release", "d1"); code == cli.ExitOK {
		t.Errorf("bob released d1 twice")
	}
	// The admin releases its own by id.
	out = l.ok("reservations", "release", mine[1])
	if !regexp.MustCompile(`(?m)^When:\s+ended \S+ \(Canceled\)$`).MatchString(out) {
		t.Errorf("reservations release:\n%s", out)
	}
	if out := l.ok("reservations", "list"); regexp.MustCompile(`(?m)^\d+\s+d1`).MatchString(out) {
		t.Errorf("ended reservations listed without --all:\n%s", out)
	}
	if list := decode[wire.List[wire.Reservation]](t, l.ok("reservations", "list", "--all", "--json")); list.Count != 2 {
		t.Errorf("reservations list --all: %+v", list)
	}

	// Held: the device says by whom until when.
	r = decode[wire.Reservation](t, l.ok("devices", "reserve", "d1", "--for", "1h", "--json"))
	ctx := context.Background()
	_, err := l.app.Heartbeat(ctx, auth.WorkerPrincipal("w1"), "w1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.app.SchedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := l.app.StartJob(ctx, auth.WorkerPrincipal("w1"), r.ID); err != nil {
		t.Fatal(err)
	}
	out = l.ok("devices", "show", "d1")
	if !regexp.MustCompile(`(?m)^Reserved by:\s+admin until \S+Z \(reservation ` + strconv.FormatInt(r.ID, 10) + `\)$`).MatchString(out) {
		t.Errorf("devices show of a reserved device:\n%s", out)
	}
	if out := l.ok("reservations", "show", strconv.FormatInt(r.ID, 10)); !regexp.MustCompile(`(?m)^When:\s+until \S+Z$`).MatchString(out) {
		t.Errorf("reservations show of a running reservation:\n%s", out)
	}

	// The device type's setting.
	if out := l.ok("device-types", "show", "qemu"); !regexp.MustCompile(`(?m)^Health check after reservations:\s+yes$`).MatchString(out) {
		t.Errorf("device-types show:\n%s", out)
	}
	dt := decode[wire.DeviceType](t, l.ok("device-types", "update", "qemu", "--health-check-after-reservation=false", "--json"))
	if dt.HealthCheckAfterReservation {
		t.Errorf("device-types update: %+v", dt)
	}
}
