package rest

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/basalt-lab/basalt/internal/api/httpparam"
	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
)

// Reservations (docs/reservations.md): jobs that hold one device for a
// person. The app decides who may do what; handlers only read and write.

// parseDuration reads a duration field ("2h", "90m").
func parseDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, invalidf("%s is required (a duration such as \"2h\" or \"90m\")", field)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, invalidf("%s %q is not a duration such as \"2h\" or \"90m\"", field, s)
	}
	return d, nil
}

func (api *API) reserveDevice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	var in wire.ReserveInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	d, err := parseDuration("duration", in.Duration)
	if err != nil {
		return err
	}
	priority := lab.PriorityMedium
	if in.Priority != nil {
		priority = *in.Priority
	}
	j, err := api.app.Reserve(r.Context(), p, r.PathValue("hostname"), d, in.Reason, priority)
	if err != nil {
		return err
	}
	w.Header().Set("Location", fmt.Sprintf("%s/reservations/%d", wire.Prefix, j.ID))
	writeJSON(w, http.StatusCreated, reservationJSON(j))
	return nil
}

func (api *API) listReservations(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	q := r.URL.Query()
	f := app.ReservationFilter{Device: q.Get("device"), Holder: q.Get("holder")}
	if s := q.Get("finished"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return invalidf("finished=%q must be true or false", s)
		}
		f.Finished = b
	}
	var err error
	if f.Limit, err = httpparam.QueryInt(r, "limit", 50); err != nil {
		return err
	}
	if f.Limit == 0 || f.Limit > 1000 {
		return invalidf("limit must be between 1 and 1000")
	}
	if f.Offset, err = httpparam.QueryInt(r, "offset", 0); err != nil {
		return err
	}
	jobs, total, err := api.app.ListReservations(r.Context(), p, f)
	if err != nil {
		return err
	}
	out := wire.List[wire.Reservation]{Count: total, Limit: f.Limit, Offset: f.Offset, Results: make([]wire.Reservation, 0, len(jobs))}
	for _, j := range jobs {
		out.Results = append(out.Results, reservationJSON(j))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// answerReservation answers the reservation {id} of the path as act
// gives it.
func (api *API) answerReservation(w http.ResponseWriter, r *http.Request, p auth.Principal,
	act func(ctx context.Context, p auth.Principal, id int64) (lab.Job, error)) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	j, err := act(r.Context(), p, id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reservationJSON(j))
	return nil
}

func (api *API) getReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return api.answerReservation(w, r, p, api.app.GetReservation)
}

func (api *API) extendReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	id, err := httpparam.PathID(r, "id")
	if err != nil {
		return err
	}
	var in wire.ExtendInput
	if err := readJSON(r, &in); err != nil {
		return err
	}
	by, err := parseDuration("duration", in.Duration)
	if err != nil {
		return err
	}
	j, err := api.app.ExtendReservation(r.Context(), p, id, by)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, reservationJSON(j))
	return nil
}

func (api *API) releaseReservation(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	return api.answerReservation(w, r, p, api.app.ReleaseReservation)
}
