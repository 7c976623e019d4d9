package app_test

import (
	"context"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// jobReads counts the job reads made on the store outside transactions.
type jobReads struct {
	store.Store
	mu            sync.Mutex
	gets, listing int
}

func (s *jobReads) GetJob(ctx context.Context, id int64) (lab.Job, error) {
	s.mu.Lock()
	s.gets++
	s.mu.Unlock()
	return s.Store.GetJob(ctx, id)
}

func (s *jobReads) ListJobs(ctx context.Context, f store.JobFilter) ([]lab.Job, int, error) {
	s.mu.Lock()
	s.listing++
	s.mu.Unlock()
	return s.Store.ListJobs(ctx, f)
}

func (s *jobReads) reset() (gets, listing int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gets, listing = s.gets, s.listing
	s.gets, s.listing = 0, 0
	return gets, listing
}

// TestDevicesHidePrivateJobs: the app shows a device's current job only to
// those who may see the job (its submitter, members of all its groups,
// superusers; everyone for public jobs), with one query for a whole list
// of devices rather than one per device. Device dictionaries are for
// superusers only.
func TestDevicesHidePrivateJobs(t *testing.T) {
	for _, b := range labtest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			counted := &jobReads{Store: b.Open(t)}
			f := newFixture(t, counted)
			hosts := []string{"d1", "d2", "d3", "d4", "d5"}
			f.lab("qemu", "w1", hosts...)
			f.online("w1")
			must(t, f.app.CreateGroup(f.ctx, f.admin, "team"))
			u, err := f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "bob"})
			must(t, err)
			bob := principalOf(t, u)
			_, err = f.app.CreateUser(f.ctx, f.admin, app.NewUser{Username: "carol"})
			must(t, err)
			must(t, f.app.SetGroupMember(f.ctx, f.admin, "team", "carol", true))
			carol, err := f.app.GetUser(f.ctx, f.admin, "carol")
			must(t, err)
			carolPr := principalOf(t, carol)
			const dict = "{% extends 'qemu.jinja2' %}\n{% set memory = 2048 %}\n"
			must(t, f.app.SetDeviceDictionary(f.ctx, f.admin, "d5", dict))

			// Alice's jobs: public, personal, and visible to team.
			public := f.submit(definition("public", "qemu", "visibility: public"))
			personal := f.submit(definition("personal", "qemu", "visibility: personal"))
			group := f.submit(definition("group", "qemu", "visibility: {group: [team]}"))
			f.pass()
			held := map[int64]string{}
			for _, id := range []int64{public, personal, group} {
				j := f.job(id)
				if j.ActualDevice == "" {
					t.Fatalf("job %d was not scheduled", id)
				}
				held[id] = j.ActualDevice
			}
			cases := []struct {
				who   string
				p     auth.Principal
				sees  map[int64]bool
				admin bool
			}{
				{"anonymous", auth.Anonymous(), map[int64]bool{public: true}, false},
				{"bob", bob, map[int64]bool{public: true}, false},
				{"carol of team", carolPr, map[int64]bool{public: true, group: true}, false},
				{"alice", f.user, map[int64]bool{public: true, personal: true, group: true}, false},
				{"admin", f.admin, map[int64]bool{public: true, personal: true, group: true}, true},
			}
			for _, c := range cases {
				counted.reset()
				devs, err := f.app.ListDevices(f.ctx, c.p, store.DeviceFilter{})
				must(t, err)
				gets, listing := counted.reset()
				wantListing := 1
				if c.admin {
					wantListing = 0
				}
				if gets != 0 || listing != wantListing {
					t.Errorf("%s: listing %d devices read jobs %d times one by one and %d times in lists, want 0 and %d",
						c.who, len(devs), gets, listing, wantListing)
				}
				byHost := map[string]lab.Device{}
				for _, d := range devs {
					byHost[d.Hostname] = d
				}
				for id, host := range held {
					want := int64(0)
					if c.sees[id] {
						want = id
					}
					for _, d := range []lab.Device{byHost[host], f.deviceAs(c.p, host)} {
						if d.CurrentJob != want || d.State == lab.DeviceIdle || d.BusyWithPrivateJob() == (want != 0) {
							t.Errorf("%s: %s holds job %d (%s, private %v), want job %d shown as %d",
								c.who, host, d.CurrentJob, d.State, d.BusyWithPrivateJob(), id, want)
						}
					}
				}
				for _, d := range []lab.Device{byHost["d5"], f.deviceAs(c.p, "d5")} {
					if (d.Dictionary == dict) != c.admin {
						t.Errorf("%s: device d5 comes with dictionary %q", c.who, d.Dictionary)
					}
				}
			}
		})
	}
}

func (f *fixture) deviceAs(p auth.Principal, host string) lab.Device {
	f.t.Helper()
	d, err := f.app.GetDevice(f.ctx, p, host)
	must(f.t, err)
	return d
}
