package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Notifications: the deliveries of notify blocks, their claims and their
// attempts.

// delivery is a pending callback of job, due at due.
func delivery(job int64, target string, due time.Time) lab.Delivery {
	return lab.Delivery{JobID: job, Kind: lab.DeliveryCallback, Target: target, State: lab.JobFinished,
		Health: lab.JobHealthComplete, Spec: `{"method":"POST"}`, Status: lab.DeliveryPending,
		Created: base, NextAttempt: due}
}

// testDeliveriesRoundTrip: deliveries read back as stored, by id, per job;
// not-sent ones are done at creation; bad ones are ErrInvalid.
func testDeliveriesRoundTrip(f *fx) {
	f.deviceType("qemu")
	j1 := f.job(lab.Job{RequestedType: "qemu"})
	j2 := f.job(lab.Job{RequestedType: "qemu"})
	cb := delivery(j1, "https://ci.example.org/cb/{ID}?s=é", base.Add(time.Second))
	mail := lab.Delivery{JobID: j1, Kind: lab.DeliveryEmail, Target: "qa@example.org", State: lab.JobRunning,
		Spec: `{"verbosity":"quiet"}`, Status: lab.DeliveryNotSent, Created: base, LastError: "no SMTP server"}
	irc := lab.Delivery{JobID: j2, Kind: lab.DeliveryIRC, Target: "bob", State: lab.JobFinished, Health: lab.JobHealthIncomplete,
		Status: lab.DeliveryNotSent, Created: base, LastError: "no IRC"}
	ids, err := f.s.AddDeliveries(f.ctx, []lab.Delivery{cb, mail, irc})
	f.ok(err, "add deliveries")
	if len(ids) != 3 || ids[0] <= 0 || ids[1] <= ids[0] || ids[2] <= ids[1] {
		f.t.Fatalf("ids %v", ids)
	}
	got, err := f.s.ListDeliveries(f.ctx, j1)
	f.ok(err, "list job 1")
	cb.ID, cb.Created, cb.NextAttempt = ids[0], stored(base), stored(cb.NextAttempt)
	mail.ID, mail.Created, mail.Done = ids[1], stored(base), stored(base)
	f.eq([]lab.Delivery{cb, mail}, got, "job 1's deliveries")
	got, err = f.s.ListDeliveries(f.ctx, j2)
	f.ok(err, "list job 2")
	if len(got) != 1 || got[0].Kind != lab.DeliveryIRC || got[0].Status != lab.DeliveryNotSent || got[0].LastError != "no IRC" {
		f.t.Errorf("job 2's deliveries: %+v", got)
	}
	j3 := f.job(lab.Job{RequestedType: "qemu"})
	got, err = f.s.ListDeliveries(f.ctx, j3)
	f.ok(err, "list job 3")
	if len(got) != 0 {
		f.t.Errorf("a job without deliveries lists %v", got)
	}

	bad := []struct {
		name string
		edit func(d *lab.Delivery)
	}{
		{"missing job", func(d *lab.Delivery) { d.JobID = 999999 }},
		{"unknown kind", func(d *lab.Delivery) { d.Kind = "pigeon" }},
		{"unknown status", func(d *lab.Delivery) { d.Status = "lost" }},
		{"pending without due time", func(d *lab.Delivery) { d.NextAttempt = time.Time{} }},
		{"done with due time", func(d *lab.Delivery) { d.Status = lab.DeliveryFailed }},
		{"bad state", func(d *lab.Delivery) { d.State = 9 }},
		{"no creation time", func(d *lab.Delivery) { d.Created = time.Time{} }},
		{"NUL in target", func(d *lab.Delivery) { d.Target = "a\x00b" }},
	}
	for _, b := range bad {
		d := delivery(j3, "https://ci.example.org/", base)
		b.edit(&d)
		_, err := f.s.AddDeliveries(f.ctx, []lab.Delivery{d})
		f.is(err, lab.ErrInvalid, b.name)
	}
	got, err = f.s.ListDeliveries(f.ctx, j3)
	f.ok(err, "list job 3 after errors")
	if len(got) != 0 {
		f.t.Errorf("refused deliveries were stored: %v", got)
	}
}

// testDeliveriesClaim: only due, unclaimed (or expired) pending deliveries
// are claimed, earliest due first, up to the limit; a live claim keeps
// others away.
func testDeliveriesClaim(f *fx) {
	f.deviceType("qemu")
	j := f.job(lab.Job{RequestedType: "qemu"})
	t0 := base
	ids, err := f.s.AddDeliveries(f.ctx, []lab.Delivery{
		delivery(j, "late", t0.Add(time.Minute)),
		delivery(j, "second", t0.Add(2*time.Second)),
		delivery(j, "first", t0.Add(time.Second)),
		delivery(j, "future", t0.Add(time.Hour)),
	})
	f.ok(err, "add")
	due, err := f.s.NextDeliveryDue(f.ctx)
	f.ok(err, "next due")
	f.eq(stored(t0.Add(time.Second)), due, "next due")

	claim := func(name string, now time.Time, limit int) []string {
		f.t.Helper()
		ds, err := f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Claim: name, Now: now, Until: now.Add(time.Minute), Limit: limit})
		f.ok(err, "claim by "+name)
		var out []string
		for _, d := range ds {
			out = append(out, d.Target)
		}
		return out
	}
	f.eq([]string(nil), claim("a", t0, 0), "nothing due yet")
	f.eq([]string{"first"}, claim("a", t0.Add(2*time.Second), 1), "limit 1: earliest due")
	f.eq([]string{"second"}, claim("b", t0.Add(2*time.Second), 0), "b gets what a does not hold")
	f.eq([]string{"late"}, claim("c", t0.Add(time.Minute), 0), "the claims of a and b live on")
	// a's claim expires at t0+2s+1m: then c may take "first".
	f.eq([]string{"first", "second"}, claim("c", t0.Add(2*time.Second+time.Minute), 0), "expired claims are taken again")

	f.ok(f.s.ReleaseDeliveries(f.ctx, "c"), "release c")
	f.eq([]string{"first", "second", "late"}, claim("d", t0.Add(2*time.Minute), 0), "released deliveries are due at once")

	_, err = f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Now: t0, Until: t0.Add(time.Minute)})
	f.is(err, lab.ErrInvalid, "claim without a name")
	_, err = f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Claim: "x", Now: t0, Until: t0})
	f.is(err, lab.ErrInvalid, "claim that expires at once")
	_ = ids
}

// testDeliveriesRecord: attempts are logged in order; a retry stays
// pending with its new due time; delivery ends it once; a stale or wrong
// claim changes nothing.
func testDeliveriesRecord(f *fx) {
	f.deviceType("qemu")
	j := f.job(lab.Job{RequestedType: "qemu"})
	t0 := base
	ids, err := f.s.AddDeliveries(f.ctx, []lab.Delivery{delivery(j, "https://ci.example.org/cb", t0), delivery(j, "other", t0.Add(time.Hour))})
	f.ok(err, "add")
	id := ids[0]
	take := func(name string, now time.Time) lab.Delivery {
		f.t.Helper()
		ds, err := f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Claim: name, Now: now, Until: now.Add(time.Minute), Limit: 1})
		f.ok(err, "claim")
		if len(ds) != 1 || ds[0].ID != id {
			f.t.Fatalf("claimed %+v, want delivery %d", ds, id)
		}
		return ds[0]
	}
	d := take("s1", t0)
	if d.Attempts != 0 || d.Status != lab.DeliveryPending {
		f.t.Errorf("claimed %+v", d)
	}
	retry := t0.Add(30 * time.Second)
	got, err := f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: id, Claim: "s1", At: t0.Add(time.Second),
		Attempt: &lab.DeliveryAttempt{At: t0, Duration: 1500 * time.Microsecond, StatusCode: 500, Error: "HTTP 500"},
		Status:  lab.DeliveryPending, NextAttempt: retry, Error: "HTTP 500"})
	f.ok(err, "record a failed attempt")
	if got.Attempts != 1 || got.Status != lab.DeliveryPending || !got.NextAttempt.Equal(stored(retry)) || got.LastError != "HTTP 500" || !got.Done.IsZero() {
		f.t.Errorf("after a failed attempt: %+v", got)
	}
	_, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: id, Claim: "s1", At: t0, Status: lab.DeliveryDelivered,
		Attempt: &lab.DeliveryAttempt{StatusCode: 200}})
	f.is(err, lab.ErrConflict, "recording again under a released claim")

	due, err := f.s.NextDeliveryDue(f.ctx)
	f.ok(err, "next due")
	f.eq(stored(retry), due, "next due after the retry was set")
	if ds, err := f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Claim: "s2", Now: t0.Add(10 * time.Second), Until: t0.Add(time.Minute)}); err != nil || len(ds) != 0 {
		f.t.Errorf("claimed before the retry is due: %v, %v", ds, err)
	}
	take("s2", retry)
	_, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: id, Claim: "s1", At: retry, Status: lab.DeliveryDelivered,
		Attempt: &lab.DeliveryAttempt{StatusCode: 200}})
	f.is(err, lab.ErrConflict, "another sender's claim")
	end := retry.Add(time.Second)
	got, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: id, Claim: "s2", At: end, Status: lab.DeliveryDelivered,
		Attempt: &lab.DeliveryAttempt{At: retry, Duration: time.Millisecond, StatusCode: 204}})
	f.ok(err, "record the delivery")
	if got.Attempts != 2 || got.Status != lab.DeliveryDelivered || !got.NextAttempt.IsZero() || !got.Done.Equal(stored(end)) || got.LastError != "" {
		f.t.Errorf("after delivery: %+v", got)
	}
	_, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: id, Claim: "s2", At: end, Status: lab.DeliveryDelivered,
		Attempt: &lab.DeliveryAttempt{StatusCode: 200}})
	f.is(err, lab.ErrConflict, "delivering twice")
	if ds, err := f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Claim: "s3", Now: end.Add(time.Hour), Until: end.Add(2 * time.Hour)}); err != nil || len(ds) != 1 || ds[0].Target != "other" {
		f.t.Errorf("a delivered delivery is claimed again: %v, %v", ds, err)
	}

	list, err := f.s.ListDeliveries(f.ctx, j)
	f.ok(err, "list")
	f.eq([]lab.DeliveryAttempt{
		{Attempt: 1, At: stored(t0), Duration: 1500 * time.Microsecond, StatusCode: 500, Error: "HTTP 500"},
		{Attempt: 2, At: stored(retry), Duration: time.Millisecond, StatusCode: 204},
	}, list[0].Log, "attempt log")
	if list[1].Log != nil {
		f.t.Errorf("the other delivery has attempts %v", list[1].Log)
	}

	// Not sent: no attempt, done at once.
	ds, err := f.s.ClaimDeliveries(f.ctx, store.DeliveryClaim{Claim: "s4", Now: end.Add(3 * time.Hour), Until: end.Add(4 * time.Hour)})
	f.ok(err, "claim other")
	if len(ds) != 1 {
		f.t.Fatalf("claimed %v", ds)
	}
	got, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: ds[0].ID, Claim: "s4", At: end, Status: lab.DeliveryNotSent, Error: "no SMTP server"})
	f.ok(err, "record not sent")
	if got.Attempts != 0 || got.Status != lab.DeliveryNotSent || got.LastError != "no SMTP server" {
		f.t.Errorf("not sent: %+v", got)
	}
	if due, err := f.s.NextDeliveryDue(f.ctx); err != nil || !due.IsZero() {
		f.t.Errorf("next due with nothing pending: %v, %v", due, err)
	}

	_, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: 999999, Claim: "s", At: end, Status: lab.DeliveryDelivered})
	f.is(err, lab.ErrNotFound, "missing delivery")
	_, err = f.s.RecordDeliveryAttempt(f.ctx, store.DeliveryOutcome{ID: id, Claim: "s", At: end, Status: lab.DeliveryPending})
	f.is(err, lab.ErrInvalid, "pending without a due time")
}

// testDeliveriesInTx: deliveries added in a transaction that fails are
// gone with it, like the job move they belong to.
func testDeliveriesInTx(f *fx) {
	f.deviceType("qemu")
	j := f.job(lab.Job{RequestedType: "qemu"})
	boom := errors.New("boom")
	err := f.s.InTx(f.ctx, func(q store.Queries) error {
		if _, err := q.TransitionJob(f.ctx, store.JobTransition{ID: j, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobFinished,
			Health: lab.JobHealthCanceled, At: base}); err != nil {
			return err
		}
		if _, err := q.AddDeliveries(f.ctx, []lab.Delivery{delivery(j, "x", base)}); err != nil {
			return err
		}
		if ds, err := q.ListDeliveries(f.ctx, j); err != nil || len(ds) != 1 {
			return fmt.Errorf("inside the transaction: %v, %v", ds, err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		f.t.Fatalf("InTx: %v", err)
	}
	ds, err := f.s.ListDeliveries(f.ctx, j)
	f.ok(err, "list")
	if len(ds) != 0 || f.getJob(j).State != lab.JobSubmitted {
		f.t.Errorf("after rollback: deliveries %v, job %s", ds, f.getJob(j).State)
	}
	f.ok(f.s.InTx(f.ctx, func(q store.Queries) error {
		_, err := q.AddDeliveries(f.ctx, []lab.Delivery{delivery(j, "x", base)})
		return err
	}), "commit")
	if ds, err := f.s.ListDeliveries(f.ctx, j); err != nil || len(ds) != 1 {
		f.t.Errorf("after commit: %v, %v", ds, err)
	}
}

// testLatestFinishedJob: the last Finished job with exactly the same
// metadata and a wanted health, other than the one excluded.
func testLatestFinishedJob(f *fx) {
	f.deviceType("qemu")
	meta := map[string]string{"kernel": "6.1", "board": "bbb"}
	finish := func(md map[string]string, h lab.JobHealth, end time.Time) int64 {
		f.t.Helper()
		id := f.job(lab.Job{RequestedType: "qemu", Metadata: md})
		f.move(store.JobTransition{ID: id, From: []lab.JobState{lab.JobSubmitted}, To: lab.JobFinished, Health: h, At: end})
		return id
	}
	older := finish(meta, lab.JobHealthComplete, base)
	newer := finish(map[string]string{"board": "bbb", "kernel": "6.1"}, lab.JobHealthIncomplete, base.Add(time.Hour))
	finish(meta, lab.JobHealthCanceled, base.Add(2*time.Hour))
	finish(map[string]string{"kernel": "6.1", "board": "bbb", "extra": "x"}, lab.JobHealthComplete, base.Add(3*time.Hour))
	finish(map[string]string{"kernel": "6.1"}, lab.JobHealthComplete, base.Add(3*time.Hour))
	plain := finish(nil, lab.JobHealthComplete, base.Add(3*time.Hour))
	f.job(lab.Job{RequestedType: "qemu", Metadata: meta}) // not finished
	current := f.job(lab.Job{RequestedType: "qemu", Metadata: meta})

	pass := []lab.JobHealth{lab.JobHealthComplete, lab.JobHealthIncomplete}
	cases := []struct {
		name string
		f    store.PreviousJobFilter
		want int64
	}{
		{"latest with the same metadata", store.PreviousJobFilter{Metadata: meta, Exclude: current, Health: pass}, newer},
		{"excluding it", store.PreviousJobFilter{Metadata: meta, Exclude: newer, Health: pass}, older},
		{"complete only", store.PreviousJobFilter{Metadata: meta, Exclude: current, Health: []lab.JobHealth{lab.JobHealthComplete}}, older},
		{"any health", store.PreviousJobFilter{Metadata: meta, Exclude: current}, 0},
		{"no metadata", store.PreviousJobFilter{Exclude: current, Health: pass}, plain},
		{"other metadata", store.PreviousJobFilter{Metadata: map[string]string{"kernel": "5.4"}, Exclude: current, Health: pass}, -1},
	}
	for _, c := range cases {
		j, err := f.s.LatestFinishedJob(f.ctx, c.f)
		switch {
		case c.want == -1:
			f.is(err, lab.ErrNotFound, c.name)
		case c.want == 0: // the canceled one, whose id we did not keep
			f.ok(err, c.name)
			if j.Health != lab.JobHealthCanceled || j.Metadata["kernel"] != "6.1" {
				f.t.Errorf("%s: job %d %s %v", c.name, j.ID, j.Health, j.Metadata)
			}
		default:
			f.ok(err, c.name)
			if j.ID != c.want {
				f.t.Errorf("%s: job %d, want %d", c.name, j.ID, c.want)
			}
		}
	}
}

func testRaceClaimDeliveries(f *fx) { RaceClaimDeliveries(f.t, f.s) }

// RaceClaimDeliveries has senders on stores (the same database) claim and
// deliver a queue of deliveries at once, as server processes do: each
// delivery is claimed by exactly one sender and delivered exactly once.
func RaceClaimDeliveries(t *testing.T, stores ...store.Store) {
	ctx := context.Background()
	s := stores[0]
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil && !errors.Is(err, lab.ErrConflict) {
		t.Fatal(err)
	}
	const n = 60
	var ds []lab.Delivery
	for i := range n {
		id, err := s.CreateJob(ctx, lab.Job{Submitter: "alice", RequestedType: "qemu", SubmitTime: base, Priority: lab.PriorityMedium})
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, delivery(id, fmt.Sprintf("cb%d", i), base))
	}
	if _, err := s.AddDeliveries(ctx, ds); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	sent := map[int64]int{}
	now := base.Add(time.Second)
	errs := race(raceWidth, func(i int) error {
		st := stores[i%len(stores)]
		claim := fmt.Sprintf("sender%d", i)
		for {
			got, err := st.ClaimDeliveries(ctx, store.DeliveryClaim{Claim: claim, Now: now, Until: now.Add(time.Hour), Limit: 3})
			if err != nil {
				return err
			}
			if len(got) == 0 {
				return nil
			}
			for _, d := range got {
				mu.Lock()
				sent[d.ID]++
				mu.Unlock()
				if _, err := st.RecordDeliveryAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Claim: claim, At: now,
					Attempt: &lab.DeliveryAttempt{StatusCode: 200}, Status: lab.DeliveryDelivered}); err != nil {
					return err
				}
			}
		}
	})
	for i, err := range errs {
		if err != nil {
			t.Errorf("sender %d: %v", i, err)
		}
	}
	if len(sent) != n {
		t.Errorf("%d deliveries sent, want %d", len(sent), n)
	}
	for id, c := range sent {
		if c != 1 {
			t.Errorf("delivery %d sent %d times", id, c)
		}
	}
	if due, err := s.NextDeliveryDue(ctx); err != nil || !due.IsZero() {
		t.Errorf("deliveries left pending (next due %v, %v)", due, err)
	}
}
