package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/app"
	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/notify"
	"github.com/basalt-lab/basalt/internal/server"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestServerSendsNotifications: a server sends the callbacks of a job's
// notify block as it runs (the sender is started with it, signs with its
// secret, exports results), and shows them at
// /api/v1/jobs/{id}/notifications.
func TestServerSendsNotifications(t *testing.T) {
	var mu sync.Mutex
	var got []string
	secret := []byte("lab secret")
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ok := r.Header.Get(notify.SignatureHeader) == notify.Sign(secret, body)
		var data map[string]any
		_ = json.Unmarshal(body, &data)
		mu.Lock()
		got = append(got, fmt.Sprintf("%s %s signed=%v state=%v", r.Method, r.URL.Path, ok, data["state_string"]))
		mu.Unlock()
	}))
	defer rc.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv, err := server.Open(ctx, server.Config{Listen: "127.0.0.1:0", DataDir: t.TempDir(),
		App:    app.Config{Callbacks: app.CallbackPolicy{Hosts: []string{"127.0.0.1"}}},
		Notify: notify.Config{Secret: secret, Poll: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	a := srv.App()
	admin, err := a.CreateSuperuser(ctx, "admin", "", "")
	must(t, err)
	ap, err := auth.UserPrincipal(admin)
	must(t, err)
	must(t, a.CreateDeviceType(ctx, ap, lab.DeviceType{Name: "qemu"}))
	_, err = a.CreateWorker(ctx, ap, lab.Worker{Name: "w1"})
	must(t, err)
	must(t, a.CreateDevice(ctx, ap, lab.Device{Hostname: "qemu01", DeviceType: "qemu", Worker: "w1", Health: lab.DeviceGood}, "test"))
	wp := auth.WorkerPrincipal("w1")
	_, err = a.Heartbeat(ctx, wp, "w1", "test")
	must(t, err)
	_, token, err := a.CreateToken(ctx, ap, "admin", "test", time.Time{})
	must(t, err)

	def := labtest.Job("notified", "qemu", "notify:\n  criteria: {status: all}\n  callback: {url: '"+rc.URL+"/cb/{ID}', method: POST, dataset: results, content-type: json}")
	ids, _, err := a.SubmitJob(ctx, ap, def)
	must(t, err)
	id := ids[0]
	// The scheduler loop assigns the job; the worker link would start it.
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := a.GetJob(ctx, ap, id)
		must(t, err)
		if j.State == lab.JobScheduled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d is still %s", id, j.State)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, err = a.StartJob(ctx, wp, id)
	must(t, err)
	_, err = a.FinishJob(ctx, wp, id, app.JobOutcome{})
	must(t, err)

	var list wire.List[wire.Notification]
	for {
		req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s/jobs/%d/notifications", srv.URL(), wire.Prefix, id), nil)
		req.Header.Set("Authorization", "Token "+token)
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		must(t, json.NewDecoder(resp.Body).Decode(&list))
		resp.Body.Close()
		if len(list.Results) == 2 && list.Results[0].Status == "delivered" && list.Results[1].Status == "delivered" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications: %+v", list.Results)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{fmt.Sprintf("POST /cb/%d signed=true state=Running", id), fmt.Sprintf("POST /cb/%d signed=true state=Finished", id)}
	if strings.Join(got, "\n") != strings.Join(want, "\n") && strings.Join(got, "\n") != strings.Join([]string{want[1], want[0]}, "\n") {
		t.Errorf("receiver got:\n%s", strings.Join(got, "\n"))
	}
}
