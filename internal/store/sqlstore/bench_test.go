package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// benchStore opens a fresh store with a device type and two tags.
func benchStore(b *testing.B, dsn string) *Store {
	b.Helper()
	s := open(b, dsn)
	ctx := context.Background()
	if err := s.CreateDeviceType(ctx, lab.DeviceType{Name: "qemu"}); err != nil {
		b.Fatal(err)
	}
	for _, t := range []string{"usb", "arm"} {
		if err := s.CreateTag(ctx, lab.Tag{Name: t}); err != nil {
			b.Fatal(err)
		}
	}
	return s
}

// benchJob is a typical submission: a type, two tags, metadata and a
// definition of a few hundred bytes.
func benchJob(i int) lab.Job {
	return lab.Job{
		Description:   fmt.Sprintf("boot test %d", i),
		Submitter:     "alice",
		Priority:      i % 101,
		RequestedType: "qemu",
		Tags:          []string{"usb", "arm"},
		SubmitTime:    time.Now(),
		QueueTimeout:  time.Hour,
		Metadata:      map[string]string{"build": fmt.Sprint(i), "branch": "main"},
		Definition: `device_type: qemu
job_name: boot test
timeouts: {job: {minutes: 15}, action: {minutes: 5}}
priority: medium
visibility: public
actions:
- deploy: {to: tmpfs, images: {rootfs: {url: "https://example.org/rootfs.img.gz", compression: gz}}}
- boot: {method: qemu, media: tmpfs, prompts: ["root@debian:~#"]}
- test: {definitions: [{repository: "https://example.org/tests.git", from: git, path: smoke.yaml, name: smoke}]}
`,
	}
}

func BenchmarkCreateJob(b *testing.B) {
	for _, d := range dialects {
		b.Run(d.name+"/sequential", func(b *testing.B) {
			s := benchStore(b, d.dsn(b))
			ctx := context.Background()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := s.CreateJob(ctx, benchJob(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(d.name+"/parallel", func(b *testing.B) {
			s := benchStore(b, d.dsn(b))
			ctx := context.Background()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					if _, err := s.CreateJob(ctx, benchJob(i)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkQueue10k reads a queue of 10,000 Submitted jobs (each with two
// tags) next to 2,000 finished ones.
func BenchmarkQueue10k(b *testing.B) {
	const queued, finished = 10_000, 2_000
	for _, d := range dialects {
		b.Run(d.name, func(b *testing.B) {
			s := benchStore(b, d.dsn(b))
			ctx := context.Background()
			for batch := 0; batch < queued+finished; batch += 1000 {
				err := s.InTx(ctx, func(q store.Queries) error {
					for i := batch; i < batch+1000; i++ {
						j := benchJob(i)
						if i >= queued {
							j.State, j.Health = lab.JobFinished, lab.JobHealthComplete
						}
						if _, err := q.CreateJob(ctx, j); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				q, err := s.Queue(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(q) != queued || len(q[0].Tags) != 2 {
					b.Fatalf("queue of %d jobs, first with tags %v", len(q), q[0].Tags)
				}
			}
		})
	}
}
