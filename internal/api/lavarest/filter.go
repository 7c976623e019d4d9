package lavarest

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Filters are LAVA's django-filter query parameters, field__lookup=value.
// Parameters the API does not know are ignored, as django-filter ignores
// them; a known one with a bad value is a field error (400).

// lookups are the lookup suffixes a parameter may end with.
var lookups = []string{"exact", "iexact", "in", "contains", "icontains", "startswith", "istartswith",
	"endswith", "iendswith", "gt", "gte", "lt", "lte", "isnull"}

// splitLookup splits a parameter into its field and lookup ("exact" when
// it has none): "state__in" → state, in; "actual_device__hostname" stays
// whole (hostname is a field, not a lookup).
func splitLookup(param string) (field, op string) {
	if i := strings.LastIndex(param, "__"); i > 0 && slices.Contains(lookups, param[i+2:]) {
		return param[:i], param[i+2:]
	}
	return param, "exact"
}

// related maps LAVA's related-object spellings to the field they filter:
// a job's requested_device_type is its type's name (the primary key), and
// so on. Users are named by username (LAVA: by number or username).
var related = map[string]string{
	"requested_device_type__name": "requested_device_type",
	"actual_device__hostname":     "actual_device",
	"submitter__username":         "submitter",
	"device_type__name":           "device_type",
	"worker_host__hostname":       "worker_host",
	"tags__name":                  "tags",
}

// maxMetadataFilters bounds the metadata conditions of one request (each
// is a subquery).
const maxMetadataFilters = 16

// maxListValues bounds the values of one __in filter.
const maxListValues = 100

// list splits a comma-separated value, dropping empty items.
func list(param, v string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) > maxListValues {
		return nil, fieldErr(param, "At most %d values.", maxListValues)
	}
	return out, nil
}

// choices parses display names (a comma-separated list when multi) (LAVA's choices, any case) with parse.
func choices[T any](param, v string, multi bool, parse func(string) (T, error), names []string) ([]T, error) {
	vals := []string{v}
	if multi {
		var err error
		if vals, err = list(param, v); err != nil {
			return nil, err
		}
	}
	out := make([]T, 0, len(vals))
	for _, s := range vals {
		x, err := parse(s)
		if err != nil {
			return nil, fieldErr(param, "Select a valid choice. %s is not one of the available choices: %s.", s, strings.Join(names, ", "))
		}
		out = append(out, x)
	}
	return out, nil
}

var (
	jobStateNames  = []string{"Submitted", "Scheduling", "Scheduled", "Running", "Canceling", "Finished"}
	jobHealthNames = []string{"Unknown", "Complete", "Incomplete", "Canceled"}
)

// jobOrders are the orderings jobs/ takes (?ordering=), LAVA's.
var jobOrders = []store.JobOrder{store.OrderID, store.OrderIDDesc, store.OrderSubmitTime, store.OrderSubmitTimeDesc,
	store.OrderStartTime, store.OrderStartTimeDesc, store.OrderEndTime, store.OrderEndTimeDesc}

// parseID reads a job id filter value.
func parseID(param, v string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return 0, fieldErr(param, "Enter a number.")
	}
	return n, nil
}

// timeLayouts are the date and time forms Django's DateTimeField reads;
// times without a zone are UTC (LAVA's TIME_ZONE).
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04",
	"2006-01-02",
}

// parseTime reads a time filter value.
func parseTime(param, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			if y := t.UTC().Year(); y < 1 || y > 9999 {
				break
			}
			return t.UTC(), nil
		}
	}
	return time.Time{}, fieldErr(param, "Enter a valid date/time.")
}

// parseBool reads a boolean filter value as django-filter does.
func parseBool(param, v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fieldErr(param, "Select a valid choice. %s is not one of the available choices.", v)
}

// metaOps maps LAVA's metadata lookups to the store's conditions.
var metaOps = map[string]store.MetaOp{
	"exact": store.MetaExact, "iexact": store.MetaIExact, "startswith": store.MetaStartsWith,
	"istartswith": store.MetaIStartsWith, "endswith": store.MetaEndsWith, "iendswith": store.MetaIEndsWith,
	"icontains": store.MetaIContains, "in": store.MetaIn,
}

// metadataFilter reads one metadata__… parameter: metadata__<key>[__<lookup>]
// with LAVA's lookups (exact, iexact, in, isnull, startswith, istartswith,
// endswith, iendswith, icontains), metadata__contains=<JSON object> (every
// key equal), metadata__has_key=<key>, metadata__has_keys=<k1,k2> (all)
// and metadata__has_any_keys is refused (it is an OR). Basalt's metadata is
// flat: a key path a__b is the key "a__b". An empty value filters nothing,
// as in LAVA.
func metadataFilter(param, v string) ([]store.MetadataCond, error) {
	suffix := strings.TrimPrefix(param, "metadata__")
	if suffix == "" {
		return nil, fieldErr(param, "Missing metadata key.")
	}
	if v == "" {
		return nil, nil
	}
	switch suffix {
	case "has_key":
		return []store.MetadataCond{{Key: v, Op: store.MetaHasKey}}, nil
	case "has_keys":
		keys, err := list(param, v)
		if err != nil {
			return nil, err
		}
		out := make([]store.MetadataCond, 0, len(keys))
		for _, k := range keys {
			out = append(out, store.MetadataCond{Key: k, Op: store.MetaHasKey})
		}
		return out, nil
	case "contains":
		m, err := jsonObject(v)
		if err != nil {
			return nil, fieldErr(param, "metadata__contains expects a JSON object of strings, got %q.", v)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k == "" { // no metadata has an empty key
				return nil, fieldErr(param, "metadata__contains expects a JSON object of strings with keys, got %q.", v)
			}
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make([]store.MetadataCond, 0, len(keys))
		for _, k := range keys {
			out = append(out, store.MetadataCond{Key: k, Op: store.MetaExact, Values: []string{m[k]}})
		}
		return out, nil
	case "has_any_keys":
		return nil, fieldErr(param, "metadata__has_any_keys is not supported; use has_key or has_keys.")
	}
	key, lookup := suffix, "exact"
	if i := strings.LastIndex(suffix, "__"); i > 0 {
		switch l := suffix[i+2:]; {
		case l == "isnull":
			b, err := parseBool(param, v)
			if err != nil {
				return nil, fieldErr(param, "isnull expects a boolean, got %q.", v)
			}
			op := store.MetaHasKey
			if b {
				op = store.MetaNoKey
			}
			return []store.MetadataCond{{Key: suffix[:i], Op: op}}, nil
		case l == "regex" || l == "iregex":
			return nil, fieldErr(param, "Regular expressions on metadata are not supported.")
		case metaOps[l] != "":
			key, lookup = suffix[:i], l
		}
	}
	c := store.MetadataCond{Key: key, Op: metaOps[lookup], Values: []string{v}}
	if lookup == "in" {
		vals, err := list(param, v)
		if err != nil {
			return nil, err
		}
		if len(vals) == 0 {
			return nil, nil
		}
		c.Values = vals
	}
	return []store.MetadataCond{c}, nil
}

// jobFilter reads the filters, ordering and page of jobs/. The filters
// are LAVA's: id (exact, in, gt, lt), state and health (display names in
// any case; exact, iexact, in), submitter (username), requested_device_type
// and actual_device (by name), target_group, health_check, submit_time, start_time and
// end_time (gt, lt), description__icontains, and metadata__… filters
// (metadataFilter). ordering is id, submit_time, start_time or end_time,
// "-" first for descending; an unknown one is ignored, as DRF ignores it.
func jobFilter(q url.Values, pg paging) (store.JobFilter, error) {
	f := store.JobFilter{Limit: pg.limit, Offset: pg.offset, WithDefinition: true}
	params := make([]string, 0, len(q))
	for p := range q {
		params = append(params, p)
	}
	slices.Sort(params) // the first bad parameter is always the same one
	for _, param := range params {
		vals := q[param]
		if len(vals) == 0 {
			continue
		}
		v := vals[len(vals)-1] // Django reads the last of repeated parameters
		for _, x := range append(vals, param) {
			if err := lab.CheckText("the value", x); err != nil {
				field := param
				if param == "" || lab.CheckText("the name", param) != nil {
					field = "non_field_errors"
				}
				return f, fieldErr(field, "Enter text without NUL characters, in UTF-8.")
			}
		}
		if strings.HasPrefix(param, "metadata__") {
			for _, v := range vals { // each a condition, as in LAVA
				conds, err := metadataFilter(param, v)
				if err != nil {
					return f, err
				}
				f.Metadata = append(f.Metadata, conds...)
				if len(f.Metadata) > maxMetadataFilters {
					return f, fieldErr(param, "At most %d metadata conditions.", maxMetadataFilters)
				}
			}
			continue
		}
		if param == "ordering" {
			for _, o := range strings.Split(v, ",") {
				if o := store.JobOrder(strings.TrimSpace(o)); slices.Contains(jobOrders, o) {
					f.Order = o
					break
				}
			}
			continue
		}
		name := param
		if r, ok := related[name]; ok {
			name = r
		}
		field, op := splitLookup(name)
		if r, ok := related[field]; ok {
			field = r
		}
		var err error
		switch field + "__" + op {
		case "id__exact":
			var id int64
			if id, err = parseID(param, v); err == nil {
				f.IDs = intersect(f.IDs, []int64{id})
			}
		case "id__in":
			var vals []string
			if vals, err = list(param, v); err == nil {
				ids := make([]int64, 0, len(vals))
				for _, s := range vals {
					var id int64
					if id, err = parseID(param, s); err != nil {
						break
					}
					ids = append(ids, id)
				}
				f.IDs = intersect(f.IDs, ids)
			}
		case "id__gt":
			f.IDAfter, err = parseID(param, v)
		case "id__lt":
			f.IDBefore, err = parseID(param, v)
			if err == nil && f.IDBefore <= 0 {
				f.IDs = []int64{} // no job id is below 1 (and 0 would be no bound)
			}
		case "state__exact", "state__iexact", "state__in":
			f.States, err = choices(param, v, op == "in", lab.ParseJobState, jobStateNames)
		case "health__exact", "health__iexact", "health__in":
			f.Health, err = choices(param, v, op == "in", lab.ParseJobHealth, jobHealthNames)
		case "submitter__exact":
			f.Submitter = v
		case "requested_device_type__exact":
			f.DeviceType = v
		case "actual_device__exact":
			f.Device = v
		case "target_group__exact":
			f.TargetGroup = v
		case "health_check__exact":
			var b bool
			if b, err = parseBool(param, v); err == nil {
				f.HealthCheck = &b
			}
		case "description__icontains":
			f.Text = v
		case "submit_time__gt":
			f.SubmittedAfter, err = parseTime(param, v)
		case "submit_time__lt":
			f.SubmittedBefore, err = parseTime(param, v)
		case "start_time__gt":
			f.StartedAfter, err = parseTime(param, v)
		case "start_time__lt":
			f.StartedBefore, err = parseTime(param, v)
		case "end_time__gt":
			f.EndedAfter, err = parseTime(param, v)
		case "end_time__lt":
			f.EndedBefore, err = parseTime(param, v)
		}
		if err != nil {
			return f, err
		}
	}
	return f, nil
}

// intersect returns the ids both lists hold; a nil have is "any id".
func intersect(have, ids []int64) []int64 {
	if have == nil {
		return ids
	}
	out := []int64{}
	for _, id := range ids {
		if slices.Contains(have, id) {
			out = append(out, id)
		}
	}
	return out
}

// textMatch reports whether s passes the string lookup op with value v
// (the lookups of names in memory: devices, workers, types, aliases,
// tags).
func textMatch(param, s, op, v string) (bool, error) {
	switch op {
	case "exact":
		return s == v, nil
	case "iexact":
		return strings.EqualFold(s, v), nil
	case "in":
		vals, err := list(param, v)
		return slices.Contains(vals, s), err
	case "contains":
		return strings.Contains(s, v), nil
	case "icontains":
		return strings.Contains(strings.ToLower(s), strings.ToLower(v)), nil
	case "startswith":
		return strings.HasPrefix(s, v), nil
	case "istartswith":
		return strings.HasPrefix(strings.ToLower(s), strings.ToLower(v)), nil
	case "endswith":
		return strings.HasSuffix(s, v), nil
	case "iendswith":
		return strings.HasSuffix(strings.ToLower(s), strings.ToLower(v)), nil
	}
	return false, fieldErr(param, "The lookup %s does not apply to this field.", op)
}

// jsonObject reads a JSON object of scalars as metadata: strings as they
// are, numbers as written, booleans as true/false (Basalt keeps metadata
// values as text).
func jsonObject(v string) (map[string]string, error) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(v))
	if err := dec.Decode(&m); err != nil || m == nil || dec.More() {
		return nil, errors.New("not a JSON object")
	}
	out := make(map[string]string, len(m))
	for k, raw := range m {
		raw = bytes.TrimSpace(raw)
		var s string
		switch {
		case len(raw) > 0 && raw[0] == '"':
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, err
			}
		case len(raw) > 0 && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')), string(raw) == "true", string(raw) == "false":
			s = string(raw)
		default:
			return nil, errors.New("values must be strings, numbers or booleans")
		}
		out[k] = s
	}
	return out, nil
}
