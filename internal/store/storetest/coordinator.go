package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Multinode coordinator groups.

// testCoordinatorCRUD: save creates then replaces, list returns every
// group's bytes as saved, delete removes; deleting a missing group is
// ErrNotFound.
func testCoordinatorCRUD(f *fx) {
	groups, err := f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list empty")
	if groups == nil || len(groups) != 0 {
		f.t.Errorf("fresh store lists coordinator groups %v (want an empty map)", groups)
	}
	a := []byte(`{"v":1,"group":"9b2f…","count":2}`)
	b := []byte(`{"v":1,"group":"b","count":3,"messages":{"é":"✓"}}`)
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "9b2f0c1e-4a36-4f8e-9d43-1df1c0a1e5b7", a), "save a")
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "b", b), "save b")
	groups, err = f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list")
	f.eq(map[string][]byte{"9b2f0c1e-4a36-4f8e-9d43-1df1c0a1e5b7": a, "b": b}, groups, "list")

	a2 := []byte(`{"v":1,"group":"9b2f…","count":2,"complete":1}`)
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "9b2f0c1e-4a36-4f8e-9d43-1df1c0a1e5b7", a2), "replace a")
	groups, err = f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list after replace")
	f.eq(map[string][]byte{"9b2f0c1e-4a36-4f8e-9d43-1df1c0a1e5b7": a2, "b": b}, groups, "list after replace")

	f.ok(f.s.DeleteCoordinatorGroup(f.ctx, "b"), "delete b")
	f.is(f.s.DeleteCoordinatorGroup(f.ctx, "b"), lab.ErrNotFound, "delete b twice")
	f.is(f.s.DeleteCoordinatorGroup(f.ctx, "never"), lab.ErrNotFound, "delete a group never saved")
	groups, err = f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list after delete")
	f.eq(map[string][]byte{"9b2f0c1e-4a36-4f8e-9d43-1df1c0a1e5b7": a2}, groups, "list after delete")
	// A deleted group may be saved again.
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "b", b), "save b again")
	groups, err = f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list after saving again")
	if !bytes.Equal(groups["b"], b) {
		f.t.Errorf("b saved again = %q", groups["b"])
	}
}

// testCoordinatorBytes: states are bytes, kept exactly: any byte value
// (NUL, invalid UTF-8), an empty or nil state (read back empty), and 4 MiB
// (the coordinator's limit for a group).
func testCoordinatorBytes(f *fx) {
	all := make([]byte, 512)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte(`{"k":"é✓\u0000"}`), (4<<20)/17+1)[:4<<20]
	states := map[string][]byte{"all": all, "empty": {}, "big": big}
	for name, st := range states {
		f.ok(f.s.SaveCoordinatorGroup(f.ctx, name, st), "save "+name)
	}
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "nil", nil), "save nil")
	states["nil"] = []byte{}
	groups, err := f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list")
	if len(groups) != len(states) {
		f.t.Errorf("listed %d groups, want %d", len(groups), len(states))
	}
	for name, want := range states {
		got, ok := groups[name]
		if !ok || got == nil || !bytes.Equal(got, want) {
			f.t.Errorf("group %s: %d bytes back (present %v, nil %v), want %d", name, len(got), ok, got == nil, len(want))
		}
	}
}

// testCoordinatorErrors: an empty name, or a name no database can hold,
// is ErrInvalid and stores nothing.
func testCoordinatorErrors(f *fx) {
	f.is(f.s.SaveCoordinatorGroup(f.ctx, "", []byte("x")), lab.ErrInvalid, "save an empty name")
	f.is(f.s.SaveCoordinatorGroup(f.ctx, nulText, []byte("x")), lab.ErrInvalid, "save a NUL name")
	f.is(f.s.SaveCoordinatorGroup(f.ctx, invalidUTF8, []byte("x")), lab.ErrInvalid, "save an invalid UTF-8 name")
	f.is(f.s.DeleteCoordinatorGroup(f.ctx, nulText), lab.ErrInvalid, "delete a NUL name")
	groups, err := f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list")
	if len(groups) != 0 {
		f.t.Errorf("refused saves stored %v", groups)
	}
}

// testCoordinatorInTx: coordinator writes are part of InTx's transaction:
// rolled back with it, and seen by its reads.
func testCoordinatorInTx(f *fx) {
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "kept", []byte("old")), "save kept")
	boom := errors.New("boom")
	err := f.s.InTx(f.ctx, func(q store.Queries) error {
		if err := q.SaveCoordinatorGroup(f.ctx, "new", []byte("n")); err != nil {
			return err
		}
		if err := q.DeleteCoordinatorGroup(f.ctx, "kept"); err != nil {
			return err
		}
		groups, err := q.ListCoordinatorGroups(f.ctx)
		if err != nil {
			return err
		}
		if len(groups) != 1 || string(groups["new"]) != "n" {
			f.t.Errorf("inside the transaction: %v", groups)
		}
		return boom
	})
	f.is(err, boom, "rolled back InTx")
	groups, err := f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list")
	f.eq(map[string][]byte{"kept": []byte("old")}, groups, "after the rollback")
}

// testCoordinatorConcurrent: goroutines saving their own groups and one
// shared group, as the coordinator's groups do at once, all succeed; each
// group ends with one of the states written to it.
func testCoordinatorConcurrent(f *fx) {
	const workers, saves = 8, 15
	var wg sync.WaitGroup
	errs := make(chan error, workers*saves*2)
	for w := range workers {
		wg.Go(func() {
			for i := range saves {
				own := fmt.Sprintf("group-%d", w)
				if err := f.s.SaveCoordinatorGroup(f.ctx, own, fmt.Appendf(nil, `{"w":%d,"i":%d}`, w, i)); err != nil {
					errs <- err
				}
				if err := f.s.SaveCoordinatorGroup(f.ctx, "shared", fmt.Appendf(nil, `{"w":%d}`, w)); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		f.t.Error(err)
	}
	groups, err := f.s.ListCoordinatorGroups(f.ctx)
	f.ok(err, "list")
	if len(groups) != workers+1 {
		f.t.Errorf("%d groups, want %d", len(groups), workers+1)
	}
	for w := range workers {
		if got, want := string(groups[fmt.Sprintf("group-%d", w)]), fmt.Sprintf(`{"w":%d,"i":%d}`, w, saves-1); got != want {
			f.t.Errorf("group-%d = %s, want the last save %s", w, got, want)
		}
	}
	var shared struct{ W *int }
	if err := json.Unmarshal(groups["shared"], &shared); err != nil || shared.W == nil {
		f.t.Errorf("shared = %s (%v)", groups["shared"], err)
	}
}

// testCoordinatorVersions: a group's save and delete on condition of its
// version, as coordinators shared by server replicas use them.
func testCoordinatorVersions(f *fx) {
	_, _, err := f.s.GetCoordinatorGroup(f.ctx, "v")
	f.is(err, lab.ErrNotFound, "get a group never saved")
	v1, err := f.s.SaveCoordinatorGroupIf(f.ctx, "v", []byte("one"), 0)
	f.ok(err, "create")
	if v1 <= 0 {
		f.t.Errorf("version of a created group: %d, want > 0", v1)
	}
	_, err = f.s.SaveCoordinatorGroupIf(f.ctx, "v", []byte("again"), 0)
	f.is(err, lab.ErrConflict, "create an existing group")
	st, ver, err := f.s.GetCoordinatorGroup(f.ctx, "v")
	f.ok(err, "get")
	f.eq([]byte("one"), st, "state after a refused create")
	f.eq(v1, ver, "version after a refused create")

	v2, err := f.s.SaveCoordinatorGroupIf(f.ctx, "v", []byte("two"), v1)
	f.ok(err, "save at the version read")
	if v2 == v1 || v2 <= 0 {
		f.t.Errorf("version after a save: %d (was %d)", v2, v1)
	}
	_, err = f.s.SaveCoordinatorGroupIf(f.ctx, "v", []byte("stale"), v1)
	f.is(err, lab.ErrConflict, "save at an old version")
	_, err = f.s.SaveCoordinatorGroupIf(f.ctx, "nope", []byte("x"), v1)
	f.is(err, lab.ErrConflict, "save a missing group at a version")
	f.is(f.s.DeleteCoordinatorGroupIf(f.ctx, "v", v1), lab.ErrConflict, "delete at an old version")
	st, ver, err = f.s.GetCoordinatorGroup(f.ctx, "v")
	f.ok(err, "get after refusals")
	f.eq([]byte("two"), st, "state after refusals")
	f.eq(v2, ver, "version after refusals")
	// An unconditional save changes the version too.
	f.ok(f.s.SaveCoordinatorGroup(f.ctx, "v", []byte("three")), "save")
	_, v3, err := f.s.GetCoordinatorGroup(f.ctx, "v")
	f.ok(err, "get after save")
	if v3 == v2 {
		f.t.Errorf("an unconditional save kept version %d", v3)
	}
	f.is(f.s.DeleteCoordinatorGroupIf(f.ctx, "v", v2), lab.ErrConflict, "delete at the version before the save")
	f.ok(f.s.DeleteCoordinatorGroupIf(f.ctx, "v", v3), "delete at the version read")
	f.is(f.s.DeleteCoordinatorGroupIf(f.ctx, "v", v3), lab.ErrNotFound, "delete twice")
	// Created again, it never repeats an old version.
	v4, err := f.s.SaveCoordinatorGroupIf(f.ctx, "v", []byte("four"), 0)
	f.ok(err, "create again")
	for _, old := range []int64{v1, v2, v3} {
		if v4 == old {
			f.t.Errorf("the group created again repeats version %d", old)
		}
	}
	_, err = f.s.SaveCoordinatorGroupIf(f.ctx, "", []byte("x"), 0)
	f.is(err, lab.ErrInvalid, "save without a name")
	_, err = f.s.SaveCoordinatorGroupIf(f.ctx, "v", []byte("x"), -1)
	f.is(err, lab.ErrInvalid, "save at a negative version")
}

// RaceCoordinatorVersions has goroutines on stores (the same database)
// increment a counter kept as a group's state, each by reading it and
// saving it on condition of its version, again when refused, as
// coordinators on server replicas do: no increment is lost.
func RaceCoordinatorVersions(t *testing.T, stores ...store.Store) {
	ctx := context.Background()
	const perStore, each = 4, 25
	n := perStore * len(stores)
	if _, err := stores[0].SaveCoordinatorGroupIf(ctx, "race", []byte("0"), 0); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			s := stores[i%len(stores)]
			for range each {
				for {
					st, ver, err := s.GetCoordinatorGroup(ctx, "race")
					if err != nil {
						errs <- err
						return
					}
					c, err := strconv.Atoi(string(st))
					if err != nil {
						errs <- err
						return
					}
					_, err = s.SaveCoordinatorGroupIf(ctx, "race", []byte(strconv.Itoa(c+1)), ver)
					if err == nil {
						break
					}
					if !errors.Is(err, lab.ErrConflict) {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st, _, err := stores[0].GetCoordinatorGroup(ctx, "race")
	if err != nil {
		t.Fatal(err)
	}
	if want := strconv.Itoa(n * each); string(st) != want {
		t.Errorf("counter after %d increments: %s", n*each, st)
	}
}
