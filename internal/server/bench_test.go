package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
	wp "github.com/basalt-lab/basalt/internal/workerproto"
)

// BenchmarkMultinodeBarrier measures one lava-sync barrier between the two
// jobs of a multinode group as their worker makes the calls: each job's
// lava_sync goes over HTTP to the server (POST
// /api/worker/v1/jobs/{id}/multinode, held until it can be answered), to
// the coordinator, whose every change is saved in the store (SQLite here)
// before it answers. One op is one barrier passed by both jobs. LAVA's
// clients re-poll its coordinator every poll_delay (1–3 s) instead.
func BenchmarkMultinodeBarrier(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	a := srv.App()
	admin, err := a.CreateSuperuser(ctx, "admin", "", "")
	if err != nil {
		b.Fatal(err)
	}
	ap, err := auth.UserPrincipal(admin)
	if err != nil {
		b.Fatal(err)
	}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu"}))
	token, err := a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	must(err)
	for _, h := range []string{"d1", "d2"} {
		must(a.CreateDevice(ctx, ap, lab.Device{Hostname: h, DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "bench"))
	}
	ids, _, err := a.SubmitJob(ctx, ap, labtest.MultinodeJob("pair", labtest.Role{Name: "server", DeviceType: "qemu", Count: 1},
		labtest.Role{Name: "client", DeviceType: "qemu", Count: 1}))
	must(err)
	wpr := auth.WorkerPrincipal("w1")
	_, err = a.Heartbeat(ctx, wpr, "w1", "bench")
	must(err)
	_, err = a.SchedulePass(ctx)
	must(err)
	for _, id := range ids {
		_, err := a.StartJob(ctx, wpr, id)
		must(err)
	}
	call := func(id int64, req wp.MultinodeRequest) (wp.MultinodeResponse, error) {
		body, _ := json.Marshal(req)
		hr, _ := http.NewRequest("POST", srv.URL()+wp.Prefix+fmt.Sprintf(wp.PathMultinode, id), bytes.NewReader(body))
		hr.Header.Set(wp.VersionHeader, fmt.Sprint(wp.Version))
		hr.Header.Set("Authorization", "Token "+token)
		hr.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			return wp.MultinodeResponse{}, err
		}
		defer resp.Body.Close()
		var out wp.MultinodeResponse
		if resp.StatusCode != 200 {
			return out, fmt.Errorf("HTTP %s", resp.Status)
		}
		return out, json.NewDecoder(resp.Body).Decode(&out)
	}
	for _, id := range ids {
		if _, err := call(id, wp.MultinodeRequest{Request: "group_data", Hold: 10 * time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Go(func() {
				for {
					r, err := call(id, wp.MultinodeRequest{Request: "lava_sync", MessageID: fmt.Sprintf("b%d", i), Hold: 10 * time.Second})
					if err != nil {
						b.Error(err)
						return
					}
					if r.Response == "ack" {
						return
					}
				}
			})
		}
		wg.Wait()
	}
}
