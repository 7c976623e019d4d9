package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/basalt-lab/basalt/internal/api/wire"
)

// ReservationFilter selects reservations for ListReservations; zero fields
// do not filter.
type ReservationFilter struct {
	Device   string
	Holder   string
	Finished bool // include the ended ones
	Limit    int
}

func (f ReservationFilter) query() url.Values {
	q := url.Values{}
	if f.Device != "" {
		q.Set("device", f.Device)
	}
	if f.Holder != "" {
		q.Set("holder", f.Holder)
	}
	if f.Finished {
		q.Set("finished", "true")
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q
}

// Reserve reserves a device for the caller (POST
// /devices/{hostname}/reservations).
func (c *Client) Reserve(ctx context.Context, hostname string, in wire.ReserveInput) (wire.Reservation, error) {
	var out wire.Reservation
	err := c.do(ctx, request{method: "POST", path: "/devices/" + seg(hostname) + "/reservations", body: in, out: &out})
	return out, err
}

// ListReservations returns the reservations matching f (GET
// /reservations).
func (c *Client) ListReservations(ctx context.Context, f ReservationFilter) (wire.List[wire.Reservation], error) {
	var out wire.List[wire.Reservation]
	err := c.do(ctx, request{method: "GET", path: "/reservations", query: f.query(), out: &out})
	return out, err
}

// GetReservation returns one reservation (GET /reservations/{id}).
func (c *Client) GetReservation(ctx context.Context, id int64) (wire.Reservation, error) {
	var out wire.Reservation
	err := c.do(ctx, request{method: "GET", path: "/reservations/" + strconv.FormatInt(id, 10), out: &out})
	return out, err
}

// ExtendReservation gives a reservation more time (POST
// /reservations/{id}/extend); by is a duration such as "1h".
func (c *Client) ExtendReservation(ctx context.Context, id int64, by string) (wire.Reservation, error) {
	var out wire.Reservation
	err := c.do(ctx, request{method: "POST", path: "/reservations/" + strconv.FormatInt(id, 10) + "/extend",
		body: wire.ExtendInput{Duration: by}, out: &out})
	return out, err
}

// ReleaseReservation ends a reservation (POST /reservations/{id}/release).
func (c *Client) ReleaseReservation(ctx context.Context, id int64) (wire.Reservation, error) {
	var out wire.Reservation
	err := c.do(ctx, request{method: "POST", path: "/reservations/" + strconv.FormatInt(id, 10) + "/release", out: &out})
	return out, err
}
