package lavarest

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// FuzzJobFilter reads arbitrary query strings as jobs/ filters. A query
// is either refused with a field error (400) or gives a filter that the
// store runs without error: metadata conditions well formed and bounded,
// a known order, lists bounded. The store is a real SQLite database, so
// whatever reaches its SQL (metadata keys, values, times) is exercised.
func FuzzJobFilter(f *testing.F) {
	for _, q := range []string{
		"state=Finished&health__in=Complete,incomplete&submitter=alice&ordering=-end_time",
		"id__gt=3&id__lt=10&id__in=4,5,x&requested_device_type=qemu&actual_device__hostname=d1",
		"submit_time__gt=2026-01-01&end_time__lt=2026-01-01T10:00:00%2B02:00&health_check=yes",
		"metadata__branch=main&metadata__arch__in=arm64,x86&metadata__build__id__startswith=1",
		"metadata__contains=%7B%22a%22%3A1%2C%22b%22%3A%22c%22%7D&metadata__has_keys=a,b&metadata__x__isnull=true",
		"metadata__k%27%22%3B--=v%00&metadata__%25__icontains=%5F",
		"limit=0&offset=-1&format=json&ordering=priority,id",
		"metadata__=x", "state__in=,,,", "id=99999999999999999999",
	} {
		f.Add(q)
	}
	st := labtest.Backends()[0].Open(f) // SQLite
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		flt, err := jobFilter(q, paging{limit: defaultLimit})
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) || !errors.Is(err, lab.ErrInvalid) || fe.field == "" || fe.msg == "" {
				t.Fatalf("%q: error %v is not a field error", raw, err)
			}
			return
		}
		if len(flt.Metadata) > maxMetadataFilters || len(flt.States) > maxListValues || len(flt.Health) > maxListValues || len(flt.IDs) > maxListValues {
			t.Fatalf("%q: unbounded filter %+v", raw, flt)
		}
		if flt.Order != store.OrderNewest && !slices.Contains(jobOrders, flt.Order) {
			t.Fatalf("%q: order %q", raw, flt.Order)
		}
		flt.VisibleTo = &store.Viewer{Username: "alice", Groups: []string{"team"}}
		if _, _, err := st.ListJobs(context.Background(), flt); err != nil {
			t.Fatalf("%q: the store refuses the filter %+v: %v", raw, flt, err)
		}
	})
}

// FuzzLabFilter reads arbitrary query strings as the filters of the lists
// kept in memory: a field error or a subset of the items, in order.
func FuzzLabFilter(f *testing.F) {
	for _, q := range []string{"health=good&state__in=Idle,Running&ordering=-health", "hostname__in=a,b&tags=x&all=1",
		"is_synced=1&device_type__name=qemu&worker_host__hostname=w", "description__iendswith=B&ordering=,-,tags"} {
		f.Add(q)
	}
	devs := []lab.Device{
		{Hostname: "a", DeviceType: "qemu", Worker: "w", Tags: []string{"x", "y"}, Health: lab.DeviceGood},
		{Hostname: "b", DeviceType: "bbb", Description: "a B", State: lab.DeviceRunning, Health: lab.DeviceRetired},
		{Hostname: "c", DeviceType: "qemu", Health: 42, State: -1}, // out-of-range values must not break ordering
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := filterItems(q, devs, "hostname", deviceFields)
		if err != nil {
			var fe *fieldError
			if !errors.As(err, &fe) {
				t.Fatalf("%q: error %v is not a field error", raw, err)
			}
			return
		}
		if len(got) > len(devs) {
			t.Fatalf("%q: %d devices from %d", raw, len(got), len(devs))
		}
		for _, d := range got {
			if !slices.ContainsFunc(devs, func(x lab.Device) bool { return x.Hostname == d.Hostname }) {
				t.Fatalf("%q: device %q made up", raw, d.Hostname)
			}
		}
	})
}
