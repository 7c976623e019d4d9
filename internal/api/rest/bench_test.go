package rest_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/rest"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// BenchmarkSubmit measures job submission through the REST API over a real
// loopback HTTP connection, on each database, by one client and by 16
// concurrent clients, with the scheduler loop running as in a real server
// (each submission triggers a scheduling pass; passes coalesce). The
// submissions/s metric is the figure reported in
// docs/performance.md.
func BenchmarkSubmit(b *testing.B) {
	body := jsonDef(job("bench", "public"))
	for _, be := range labtest.Backends() {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("%s/clients=%d", be.Name, clients), func(b *testing.B) {
				e := newEnv(b, be)
				// a real server runs the scheduler loop: every submission kicks a pass
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				go e.App.Run(ctx)
				tr := &http.Transport{MaxIdleConnsPerHost: clients}
				client := &http.Client{Transport: tr}
				defer tr.CloseIdleConnections()
				submit := func() error {
					req, _ := http.NewRequest("POST", e.srv.URL+rest.Prefix+"/jobs", strings.NewReader(body))
					req.Header.Set("Authorization", "Token "+e.Tokens[alice])
					resp, err := client.Do(req)
					if err != nil {
						return err
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 201 {
						return fmt.Errorf("status %d", resp.StatusCode)
					}
					return nil
				}
				var failed atomic.Int64
				b.ResetTimer()
				if clients == 1 {
					for b.Loop() {
						if err := submit(); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(max(1, clients/runtime.GOMAXPROCS(0))) // parallelism × GOMAXPROCS goroutines
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							if err := submit(); err != nil {
								failed.Add(1)
							}
						}
					})
				}
				b.StopTimer()
				if failed.Load() > 0 {
					b.Fatalf("%d submissions failed", failed.Load())
				}
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "submissions/s")
			})
		}
	}
}
