package storetest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
)

// Console input of reservations' sessions.

// testConsoleInput: inputs are numbered from 1 per job in order, read back
// after a number with a limit, and removed with DeleteConsoleInput; bad
// inputs are refused.
func testConsoleInput(f *fx) {
	f.deviceType("qemu")
	a := f.job(lab.Job{RequestedType: "qemu"})
	b := f.job(lab.Job{RequestedType: "qemu"})

	last, err := f.s.LastConsoleInput(f.ctx, a)
	f.ok(err, "last input of a job without any")
	f.eq(int64(0), last, "last input of a job without any")

	want := []lab.ConsoleInput{
		{JobID: a, User: "alice", Data: []byte("ls\r"), Time: t0},
		{JobID: a, User: "alice", Power: lab.PowerReset, Time: t0.Add(time.Microsecond)},
		{JobID: a, User: "alice", Data: []byte{0, 0xff, 0x1b, '['}, Time: t0.Add(2 * time.Microsecond)},
	}
	for i, in := range want {
		got, err := f.s.AppendConsoleInput(f.ctx, in)
		f.ok(err, fmt.Sprintf("append input %d", i))
		want[i].Seq = int64(i + 1)
		f.eq(want[i], got, fmt.Sprintf("input %d as appended", i))
	}
	other, err := f.s.AppendConsoleInput(f.ctx, lab.ConsoleInput{JobID: b, User: "bob", Data: []byte("x")})
	f.ok(err, "append to another job")
	f.eq(int64(1), other.Seq, "another job's inputs are numbered on their own")
	if other.Time.IsZero() {
		f.t.Errorf("an input without a time gets the store's clock")
	}

	got, err := f.s.ConsoleInputAfter(f.ctx, a, 0, 10)
	f.ok(err, "read all")
	f.eq(want, got, "all inputs")
	got, err = f.s.ConsoleInputAfter(f.ctx, a, 1, 1)
	f.ok(err, "read after 1, limit 1")
	f.eq(want[1:2], got, "one input after 1")
	got, err = f.s.ConsoleInputAfter(f.ctx, a, 3, 10)
	f.ok(err, "read after the last")
	f.eq(0, len(got), "inputs after the last")
	last, err = f.s.LastConsoleInput(f.ctx, a)
	f.ok(err, "last input")
	f.eq(int64(3), last, "last input")

	for _, bad := range []struct {
		what string
		in   lab.ConsoleInput
	}{
		{"no user", lab.ConsoleInput{JobID: a, Data: []byte("x")}},
		{"neither data nor power", lab.ConsoleInput{JobID: a, User: "alice"}},
		{"both data and power", lab.ConsoleInput{JobID: a, User: "alice", Data: []byte("x"), Power: lab.PowerOn}},
		{"unknown power", lab.ConsoleInput{JobID: a, User: "alice", Power: "explode"}},
		{"too long", lab.ConsoleInput{JobID: a, User: "alice", Data: make([]byte, lab.MaxConsoleInput+1)}},
	} {
		_, err := f.s.AppendConsoleInput(f.ctx, bad.in)
		f.is(err, lab.ErrInvalid, bad.what)
	}
	_, err = f.s.AppendConsoleInput(f.ctx, lab.ConsoleInput{JobID: 999999, User: "alice", Data: []byte("x")})
	f.is(err, lab.ErrNotFound, "input of a missing job")

	f.ok(f.s.DeleteConsoleInput(f.ctx, a), "delete")
	got, err = f.s.ConsoleInputAfter(f.ctx, a, 0, 10)
	f.ok(err, "read after delete")
	f.eq(0, len(got), "inputs after delete")
	got, err = f.s.ConsoleInputAfter(f.ctx, b, 0, 10)
	f.ok(err, "read the other job")
	f.eq(1, len(got), "the other job keeps its inputs")
}

// testRaceConsoleInput: inputs appended concurrently get the numbers 1…n,
// each once.
func testRaceConsoleInput(f *fx) {
	f.deviceType("qemu")
	id := f.job(lab.Job{RequestedType: "qemu"})
	const n = 16
	var mu sync.Mutex
	var seqs []int64
	errs := race(n, func(i int) error {
		in, err := f.s.AppendConsoleInput(f.ctx, lab.ConsoleInput{JobID: id, User: "alice", Data: []byte{byte('a' + i)}})
		mu.Lock()
		seqs = append(seqs, in.Seq)
		mu.Unlock()
		return err
	})
	for i, err := range errs {
		f.ok(err, fmt.Sprintf("append %d", i))
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != int64(i+1) {
			f.t.Fatalf("numbers of concurrent inputs: %v, want 1…%d", seqs, n)
		}
	}
}
