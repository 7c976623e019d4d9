package workerapi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/workerapi"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/logstore"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// BenchmarkLogIngestion measures log records stored durably (fsynced) per
// second through the worker protocol over loopback HTTP, from one worker
// and from 50 workers at once, each uploading its job's journal in the
// worker's default 1 MiB chunks of ~100-byte records.
func BenchmarkLogIngestion(b *testing.B) {
	for _, workers := range []int{1, 50} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			logs, err := logstore.Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer logs.Close()
			a := app.New(labtest.Backends()[0].Open(b), app.Config{Logs: logs})
			must(b, a.Bootstrap(ctx))
			u, _ := a.CreateSuperuser(ctx, "admin", "", "")
			adm, _ := auth.UserPrincipal(u)
			ws := workerapi.New(a, nil, time.Second)
			srv := httptest.NewServer(ws)
			defer srv.Close()
			go a.Run(ctx)
			must(b, a.CreateDeviceType(ctx, adm, lab.DeviceType{Name: "sim"}))
			tokens := make([]string, workers)
			for i := range workers {
				name := fmt.Sprintf("w%02d", i)
				tok, err := a.CreateWorker(ctx, adm, lab.Worker{Name: name})
				must(b, err)
				tokens[i] = tok
				must(b, a.CreateDevice(ctx, adm, lab.Device{Hostname: name + "-d", DeviceType: "sim", Worker: name, Health: lab.DeviceGood}, "b"))
				_, err = a.Heartbeat(ctx, auth.WorkerPrincipal(name), name, "b")
				must(b, err)
			}
			jobs := make([]int64, workers)
			for i := range workers {
				ids, _, err := a.SubmitJob(ctx, adm, jobYAML)
				must(b, err)
				jobs[i] = ids[0]
			}
			// wait until each job is on a device, and map jobs to workers
			owner := map[int64]int{}
			for len(owner) < workers {
				for i := range workers {
					js, err := a.WorkerJobs(ctx, auth.WorkerPrincipal(fmt.Sprintf("w%02d", i)), fmt.Sprintf("w%02d", i))
					must(b, err)
					for _, j := range js {
						owner[j.ID] = i
					}
				}
				time.Sleep(10 * time.Millisecond)
			}
			// one 1 MiB chunk of 100-byte records
			rec, _ := wp.EncodeRecord(wp.Record{Time: time.Now().UTC(), Level: wp.LevelTarget, Msg: wp.TextMsg(string(bytes.Repeat([]byte("x"), 38)))})
			chunk := bytes.Repeat(rec, (1<<20)/len(rec))
			recsPerChunk := (1 << 20) / len(rec)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
			put := func(job int64, token string, off int64) error {
				req, _ := http.NewRequest("PUT", srv.URL+wp.Prefix+fmt.Sprintf(wp.PathLog, job)+"?offset="+strconv.FormatInt(off, 10), bytes.NewReader(chunk))
				req.Header.Set(wp.VersionHeader, strconv.Itoa(wp.Version))
				req.Header.Set("Authorization", "Token "+token)
				resp, err := client.Do(req)
				if err != nil {
					return err
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			}
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			var wg sync.WaitGroup
			var mu sync.Mutex
			var firstErr error
			n := b.N
			per := (n + workers - 1) / workers
			for id, i := range owner {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var off int64
					for range per {
						if err := put(id, tokens[i], off); err != nil {
							mu.Lock()
							firstErr = err
							mu.Unlock()
							return
						}
						off += int64(len(chunk))
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if firstErr != nil {
				b.Fatal(firstErr)
			}
			total := float64(per * workers)
			b.ReportMetric(total*float64(recsPerChunk)/b.Elapsed().Seconds(), "records/s")
			for id := range owner {
				size, _ := logs.Size(context.Background(), id)
				if size != int64(per)*int64(len(chunk)) {
					b.Fatalf("job %d stored %d bytes, want %d", id, size, per*len(chunk))
				}
			}
		})
	}
}
