package lavarest

import (
	"cmp"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/basalt-lab/basalt/internal/api/lavawire"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

func labRoutes() []Route {
	return []Route{
		{Method: "GET", Pattern: "/devices/", handler: (*API).listDevices,
			Summary: "Devices, retired ones only with ?all= (filters: hostname, device_type, state, health, worker_host, tags, description, is_synced; ordering; limit, offset)"},
		{Method: "GET", Pattern: "/devices/{name}/", handler: (*API).getDevice, Summary: "One device (a retired one only with ?all=)"},
		{Method: "GET", Pattern: "/devicetypes/", handler: (*API).listDeviceTypes,
			Summary: "Device types with their devices' availability and queue depth (filters: name, description, display, disable_health_check, health_denominator; ordering; limit, offset)"},
		{Method: "GET", Pattern: "/devicetypes/{name}/", handler: (*API).getDeviceType, Summary: "One device type"},
		{Method: "GET", Pattern: "/workers/", handler: (*API).listWorkers,
			Summary: "Workers (filters: hostname, description, state, health; ordering; limit, offset)"},
		{Method: "GET", Pattern: "/workers/{name}/", handler: (*API).getWorker, Summary: "One worker"},
		{Method: "GET", Pattern: "/aliases/", handler: (*API).listAliases,
			Summary: "Aliases of the device types that are displayed (filters: name, device_type; ordering; limit, offset)"},
		{Method: "GET", Pattern: "/aliases/{name}/", handler: (*API).getAlias, Summary: "One alias"},
		{Method: "GET", Pattern: "/tags/", handler: (*API).listTags, Summary: "Device tags (filters: name, description; ordering; limit, offset)"},
		{Method: "GET", Pattern: "/tags/{name}/", handler: (*API).getTag, Summary: "One tag"},
	}
}

// field is a filterable, orderable field of objects listed in memory.
type field[T any] struct {
	get func(T) []string // the field's values (several for tags)
	// choices, when set, are the display names the field takes: filter
	// values must be one of them (any case).
	choices []string
	boolean bool // a boolean, filtered with true/false, 1/0, yes/no
}

func one[T any](get func(T) string) field[T] {
	return field[T]{get: func(x T) []string { return []string{get(x)} }}
}

func choiceField[T any](get func(T) string, names []string) field[T] {
	f := one(get)
	f.choices = names
	return f
}

func boolField[T any](get func(T) bool) field[T] {
	f := one(func(x T) string { return fmt.Sprint(get(x)) })
	f.boolean = true
	return f
}

// filterItems keeps the items that every filter of q on fields matches,
// and orders them by ?ordering= (a field, "-" first for descending; an
// unknown one is ignored), else by their first field, key.
func filterItems[T any](q url.Values, items []T, key string, fields map[string]field[T]) ([]T, error) {
	params := make([]string, 0, len(q))
	for p := range q {
		params = append(params, p)
	}
	slices.Sort(params)
	out := slices.Clone(items)
	for _, param := range params {
		name := param
		if r, ok := related[name]; ok {
			name = r
		}
		fname, op := splitLookup(name)
		if r, ok := related[fname]; ok {
			fname = r
		}
		fd, ok := fields[fname]
		if !ok {
			continue
		}
		vals := q[param]
		v := vals[len(vals)-1]
		switch {
		case fd.boolean:
			if op != "exact" {
				continue
			}
			b, err := parseBool(param, v)
			if err != nil {
				return nil, err
			}
			v = fmt.Sprint(b)
		case fd.choices != nil:
			want := []string{v}
			if op == "in" {
				var err error
				if want, err = list(param, v); err != nil {
					return nil, err
				}
			} else if op != "exact" && op != "iexact" {
				continue
			}
			for i, w := range want {
				j := slices.IndexFunc(fd.choices, func(c string) bool { return strings.EqualFold(c, w) })
				if j < 0 {
					return nil, fieldErr(param, "Select a valid choice. %s is not one of the available choices: %s.", w, strings.Join(fd.choices, ", "))
				}
				want[i] = fd.choices[j]
			}
			v, op = strings.Join(want, ","), "in"
		}
		if !slices.Contains([]string{"exact", "iexact", "in", "contains", "icontains", "startswith", "istartswith", "endswith", "iendswith"}, op) {
			continue
		}
		kept := out[:0]
		for _, it := range out {
			for _, s := range fd.get(it) {
				ok, err := textMatch(param, s, op, v)
				if err != nil {
					return nil, err
				}
				if ok {
					kept = append(kept, it)
					break
				}
			}
		}
		out = kept
	}
	order, desc := key, false
	for _, o := range strings.Split(q.Get("ordering"), ",") {
		o = strings.TrimSpace(o)
		name := strings.TrimPrefix(o, "-")
		if _, ok := fields[name]; ok && name != "" {
			order, desc = name, strings.HasPrefix(o, "-")
			break
		}
	}
	of := fields[order]
	first := func(x T) string {
		v := of.get(x)
		if len(v) == 0 {
			return ""
		}
		if of.choices != nil { // choices sort in their order (LAVA's numbers)
			return fmt.Sprintf("%03d", slices.Index(of.choices, v[0]))
		}
		return v[0]
	}
	keyOf := fields[key].get
	slices.SortStableFunc(out, func(a, b T) int {
		c := cmp.Compare(first(a), first(b))
		if c == 0 {
			c = cmp.Compare(keyOf(a)[0], keyOf(b)[0])
		}
		if desc {
			return -c
		}
		return c
	})
	return out, nil
}

var (
	deviceStateNames  = []string{"Idle", "Reserved", "Running"}
	deviceHealthNames = []string{"Good", "Unknown", "Looping", "Bad", "Maintenance", "Retired"}
	workerStateNames  = []string{"Online", "Offline"}
	workerHealthNames = []string{"Active", "Maintenance", "Retired"}
)

var deviceFields = map[string]field[lab.Device]{
	"hostname":    one(func(d lab.Device) string { return d.Hostname }),
	"device_type": one(func(d lab.Device) string { return d.DeviceType }),
	"worker_host": one(func(d lab.Device) string { return d.Worker }),
	"description": one(func(d lab.Device) string { return d.Description }),
	"state":       choiceField(func(d lab.Device) string { return d.State.String() }, deviceStateNames),
	"health":      choiceField(func(d lab.Device) string { return d.Health.String() }, deviceHealthNames),
	"tags":        {get: func(d lab.Device) []string { return d.Tags }},
	"is_synced":   boolField(func(lab.Device) bool { return false }),
}

func deviceJSON(d lab.Device) lavawire.Device {
	return lavawire.Device{Hostname: d.Hostname, DeviceType: d.DeviceType, Description: d.Description, Tags: nonNil(d.Tags),
		State: d.State.String(), Health: d.Health.String(), LastHealthReportJob: idOrNull(d.LastHealthReportJob),
		WorkerHost: strOrNull(d.Worker)}
}

// visibleDevices lists the devices as p may see them, without the retired
// ones unless the request says ?all= (LAVA's rule).
func (api *API) visibleDevices(r *http.Request, p auth.Principal) ([]lab.Device, error) {
	devs, err := api.app.ListDevices(r.Context(), p, store.DeviceFilter{})
	if err != nil {
		return nil, err
	}
	if r.URL.Query().Get("all") == "" {
		devs = slices.DeleteFunc(devs, func(d lab.Device) bool { return d.Health == lab.DeviceRetired })
	}
	return devs, nil
}

func (api *API) listDevices(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	devs, err := api.visibleDevices(r, p)
	if err != nil {
		return err
	}
	if devs, err = filterItems(r.URL.Query(), devs, "hostname", deviceFields); err != nil {
		return err
	}
	pg := readPaging(r)
	out := []lavawire.Device{}
	for _, d := range window(devs, pg) {
		out = append(out, deviceJSON(d))
	}
	writeJSON(w, http.StatusOK, page(r, pg, len(devs), out))
	return nil
}

func (api *API) getDevice(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	d, err := api.app.GetDevice(r.Context(), p, r.PathValue("name"))
	if err != nil {
		return err
	}
	if d.Health == lab.DeviceRetired && r.URL.Query().Get("all") == "" {
		return fmt.Errorf("device %s is retired: %w", d.Hostname, lab.ErrNotFound)
	}
	writeJSON(w, http.StatusOK, deviceJSON(d))
	return nil
}

var deviceTypeFields = map[string]field[lab.DeviceType]{
	"name":                 one(func(t lab.DeviceType) string { return t.Name }),
	"description":          one(func(t lab.DeviceType) string { return t.Description }),
	"display":              boolField(func(t lab.DeviceType) bool { return !t.Hidden }),
	"disable_health_check": boolField(func(t lab.DeviceType) bool { return t.DisableHealthCheck }),
	"health_denominator":   choiceField(func(t lab.DeviceType) string { return t.HealthDenominator.String() }, []string{"hours", "jobs"}),
}

// typeState is what the device-type answers add to a type: its aliases
// and its devices by availability.
type typeState struct {
	aliases                      map[string][]string
	idle, busy, offline, retired map[string]int
}

// labState counts the devices of every type by availability, as the web
// overview does: retired; busy (reserved or running); offline (a health
// or a worker that cannot take jobs, lab.SimpleDeviceStatus); idle.
func (api *API) labState(r *http.Request, p auth.Principal) (typeState, error) {
	s := typeState{aliases: map[string][]string{}, idle: map[string]int{}, busy: map[string]int{},
		offline: map[string]int{}, retired: map[string]int{}}
	aliases, err := api.app.ListAliases(r.Context())
	if err != nil {
		return s, err
	}
	for _, a := range aliases {
		s.aliases[a.DeviceType] = append(s.aliases[a.DeviceType], a.Name)
	}
	devs, err := api.app.ListDevices(r.Context(), p, store.DeviceFilter{})
	if err != nil {
		return s, err
	}
	workers, err := api.app.ListWorkers(r.Context())
	if err != nil {
		return s, err
	}
	byName := map[string]*lab.Worker{}
	for i := range workers {
		byName[workers[i].Name] = &workers[i]
	}
	for _, d := range devs {
		status, _ := lab.SimpleDeviceStatus(d, byName[d.Worker])
		switch {
		case d.Health == lab.DeviceRetired:
			s.retired[d.DeviceType]++
		case d.State != lab.DeviceIdle:
			s.busy[d.DeviceType]++
		case status != "idle":
			s.offline[d.DeviceType]++
		default:
			s.idle[d.DeviceType]++
		}
	}
	return s, nil
}

// deviceTypeJSON is type t with its state s and the number of jobs
// waiting for it that p may see.
func (api *API) deviceTypeJSON(r *http.Request, p auth.Principal, t lab.DeviceType, s typeState) (lavawire.DeviceType, error) {
	_, queued, err := api.app.ListJobs(r.Context(), p, store.JobFilter{States: []lab.JobState{lab.JobSubmitted}, DeviceType: t.Name, Limit: 1})
	if errors.Is(err, lab.ErrForbidden) { // a worker's token sees no jobs
		queued, err = 0, nil
	}
	if err != nil {
		return lavawire.DeviceType{}, fmt.Errorf("queue of %s: %w", t.Name, err)
	}
	aliases := nonNil(s.aliases[t.Name])
	slices.Sort(aliases)
	return lavawire.DeviceType{Name: t.Name, Aliases: aliases, Cores: []string{}, Description: t.Description,
		HealthFrequency: t.HealthFrequency, DisableHealthCheck: t.DisableHealthCheck,
		HealthDenominator: t.HealthDenominator.String(), Display: !t.Hidden,
		Idle: s.idle[t.Name], Busy: s.busy[t.Name], Offline: s.offline[t.Name], Retired: s.retired[t.Name], QueuedJobs: queued}, nil
}

func (api *API) listDeviceTypes(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	types, err := api.app.ListDeviceTypes(r.Context())
	if err != nil {
		return err
	}
	if types, err = filterItems(r.URL.Query(), types, "name", deviceTypeFields); err != nil {
		return err
	}
	s, err := api.labState(r, p)
	if err != nil {
		return err
	}
	pg := readPaging(r)
	out := []lavawire.DeviceType{}
	for _, t := range window(types, pg) {
		dt, err := api.deviceTypeJSON(r, p, t, s)
		if err != nil {
			return err
		}
		out = append(out, dt)
	}
	writeJSON(w, http.StatusOK, page(r, pg, len(types), out))
	return nil
}

func (api *API) getDeviceType(w http.ResponseWriter, r *http.Request, p auth.Principal) error {
	t, err := api.app.GetDeviceType(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	s, err := api.labState(r, p)
	if err != nil {
		return err
	}
	dt, err := api.deviceTypeJSON(r, p, t, s)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, dt)
	return nil
}

var workerFields = map[string]field[lab.Worker]{
	"hostname":    one(func(w lab.Worker) string { return w.Name }),
	"description": one(func(w lab.Worker) string { return w.Description }),
	"state":       choiceField(func(w lab.Worker) string { return w.State.String() }, workerStateNames),
	"health":      choiceField(func(w lab.Worker) string { return w.Health.String() }, workerHealthNames),
}

func workerJSON(w lab.Worker) lavawire.Worker {
	return lavawire.Worker{Hostname: w.Name, State: w.State.String(), Health: w.Health.String(), Description: w.Description,
		LastPing: lavawire.Time(w.LastHeartbeat), JobLimit: w.JobLimit, Version: strOrNull(w.Version)}
}

func (api *API) listWorkers(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	ws, err := api.app.ListWorkers(r.Context())
	if err != nil {
		return err
	}
	if ws, err = filterItems(r.URL.Query(), ws, "hostname", workerFields); err != nil {
		return err
	}
	pg := readPaging(r)
	out := []lavawire.Worker{}
	for _, wk := range window(ws, pg) {
		out = append(out, workerJSON(wk))
	}
	writeJSON(w, http.StatusOK, page(r, pg, len(ws), out))
	return nil
}

func (api *API) getWorker(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	wk, err := api.app.GetWorker(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, workerJSON(wk))
	return nil
}

var aliasFields = map[string]field[lab.Alias]{
	"name":        one(func(a lab.Alias) string { return a.Name }),
	"device_type": one(func(a lab.Alias) string { return a.DeviceType }),
}

// displayedAliases lists the aliases of the device types that are
// displayed, as LAVA lists them.
func (api *API) displayedAliases(r *http.Request) ([]lab.Alias, error) {
	aliases, err := api.app.ListAliases(r.Context())
	if err != nil {
		return nil, err
	}
	types, err := api.app.ListDeviceTypes(r.Context())
	if err != nil {
		return nil, err
	}
	hidden := map[string]bool{}
	for _, t := range types {
		hidden[t.Name] = t.Hidden
	}
	return slices.DeleteFunc(aliases, func(a lab.Alias) bool { return hidden[a.DeviceType] }), nil
}

func (api *API) listAliases(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	aliases, err := api.displayedAliases(r)
	if err != nil {
		return err
	}
	if aliases, err = filterItems(r.URL.Query(), aliases, "name", aliasFields); err != nil {
		return err
	}
	pg := readPaging(r)
	out := []lavawire.Alias{}
	for _, a := range window(aliases, pg) {
		out = append(out, lavawire.Alias{Name: a.Name, DeviceType: a.DeviceType})
	}
	writeJSON(w, http.StatusOK, page(r, pg, len(aliases), out))
	return nil
}

func (api *API) getAlias(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	aliases, err := api.displayedAliases(r)
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	i := slices.IndexFunc(aliases, func(a lab.Alias) bool { return a.Name == name })
	if i < 0 {
		return fmt.Errorf("alias %q: %w", name, lab.ErrNotFound)
	}
	writeJSON(w, http.StatusOK, lavawire.Alias{Name: aliases[i].Name, DeviceType: aliases[i].DeviceType})
	return nil
}

var tagFields = map[string]field[lab.Tag]{
	"name":        one(func(t lab.Tag) string { return t.Name }),
	"description": one(func(t lab.Tag) string { return t.Description }),
}

func (api *API) listTags(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	tags, err := api.app.ListTags(r.Context())
	if err != nil {
		return err
	}
	if tags, err = filterItems(r.URL.Query(), tags, "name", tagFields); err != nil {
		return err
	}
	pg := readPaging(r)
	out := []lavawire.Tag{}
	for _, t := range window(tags, pg) {
		out = append(out, lavawire.Tag{Name: t.Name, Description: t.Description})
	}
	writeJSON(w, http.StatusOK, page(r, pg, len(tags), out))
	return nil
}

func (api *API) getTag(w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
	t, err := api.app.GetTag(r.Context(), r.PathValue("name"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, lavawire.Tag{Name: t.Name, Description: t.Description})
	return nil
}
