package main_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/notify"
)

// callbackReceiver is a CI's callback endpoint on loopback: it answers
// every request with status and keeps what it got.
type callbackReceiver struct {
	srv    *http.Server
	done   chan struct{}
	mu     sync.Mutex
	got    []receivedCallback
	secret []byte
}

type receivedCallback struct {
	path, delivery string
	signed         bool
	status         int
	data           map[string]any
}

func startReceiver(t *testing.T, addr string, status int, secret []byte) *callbackReceiver {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc := &callbackReceiver{done: make(chan struct{}), secret: secret}
	rc.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var data map[string]any
		_ = json.Unmarshal(body, &data)
		rc.mu.Lock()
		rc.got = append(rc.got, receivedCallback{path: r.URL.Path, delivery: r.Header.Get(notify.DeliveryHeader),
			signed: r.Header.Get(notify.SignatureHeader) == notify.Sign(secret, body), status: status, data: data})
		rc.mu.Unlock()
		w.WriteHeader(status)
	})}
	go func() { defer close(rc.done); _ = rc.srv.Serve(ln) }()
	t.Cleanup(rc.stop)
	return rc
}

func (rc *callbackReceiver) stop() {
	_ = rc.srv.Close()
	<-rc.done
}

func (rc *callbackReceiver) received() []receivedCallback {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]receivedCallback(nil), rc.got...)
}

// notifications reads a job's notifications from the server's API.
func (l *lab) notifications(t *testing.T, id int64) []wire.Notification {
	t.Helper()
	req, err := http.NewRequest("GET", fmt.Sprintf("%s%s/jobs/%d/notifications", l.url, wire.Prefix, id), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Token "+l.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil // restarting
	}
	defer resp.Body.Close()
	var list wire.List[wire.Notification]
	if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return nil
	}
	return list.Results
}

// waitNotifications polls until cond holds for every job's notifications.
func (l *lab) waitNotifications(t *testing.T, ids []int64, what string, cond func([]wire.Notification) bool) map[int64]wire.Notification {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out := map[int64]wire.Notification{}
		for _, id := range ids {
			if ns := l.notifications(t, id); len(ns) == 1 && cond(ns) {
				out[id] = ns[0]
			}
		}
		if len(out) == len(ids) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s: %d of %d jobs", what, len(out), len(ids))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNotificationsAcrossRestarts is the test with the real
// binaries: jobs run on a simulated lab and their callbacks go to a
// receiver on loopback that fails them; the server and the receiver are
// both stopped and started again; then each job's callback is accepted
// exactly once, signed, with its results and log, and every attempt is
// in the job's notification log.
func TestNotificationsAcrossRestarts(t *testing.T) {
	secret := []byte("callback secret of the lab")
	secretFile := filepath.Join(t.TempDir(), "callback-secret")
	if err := os.WriteFile(secretFile, append(secret, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := []string{"--heartbeat-interval", "500ms", "--sweep-interval", "500ms", "--callback-allowed-hosts", "127.0.0.1",
		"--callback-secret-file", secretFile, "--notify-retry", "200ms", "--notify-retry-max", "400ms", "--notify-max-attempts", "1000"}
	addr, rcAddr := freePort(t), freePort(t)
	rejecting := startReceiver(t, rcAddr, http.StatusServiceUnavailable, secret)

	s := startServer(t, append([]string{"--listen", addr}, flags...)...)
	l := attachLab(t, s)
	l.addDevices(t, "w1", 2, simDictionary("200ms", 20))
	startWorker(t, l.url, "w1", l.workers["w1"], t.TempDir())
	var ids []int64
	for i := range 3 {
		def := strings.Replace(simJob(fmt.Sprintf("notified-%d", i), "minutes: 2"), "visibility: public\n", "visibility: public\nnotify:\n"+
			"  criteria: {status: finished}\n"+
			"  callback: {url: 'http://"+rcAddr+"/lava/{ID}/{STATUS_STRING}', method: POST, dataset: all, content-type: json, token: ci-token}\n", 1)
		ids = append(ids, l.submit(t, def))
	}
	l.waitFinished(t, ids, 2*time.Minute)
	l.waitNotifications(t, ids, "two failed attempts of each callback", func(ns []wire.Notification) bool { return ns[0].Attempts >= 2 })

	// Both go down, the server first; both come back on the same addresses.
	s.cmd.Process.Signal(os.Interrupt)
	s.cmd.Wait()
	rejecting.stop()
	failed := map[string]int{}
	for _, r := range rejecting.received() {
		failed[r.path]++
	}
	accepting := startReceiver(t, rcAddr, http.StatusOK, secret)
	s2 := startServerIn(t, http.DefaultClient, s.dataDir, append([]string{"--listen", addr}, flags...)...)
	s2.config = s.config
	l2 := attachLab(t, s2)
	delivered := l2.waitNotifications(t, ids, "every callback delivered", func(ns []wire.Notification) bool { return ns[0].Status == "delivered" })

	accepted := map[string][]receivedCallback{}
	for _, r := range accepting.received() {
		accepted[r.path] = append(accepted[r.path], r)
	}
	for _, id := range ids {
		path := fmt.Sprintf("/lava/%d/complete", id)
		got := accepted[path]
		if len(got) != 1 {
			t.Errorf("job %d: %d accepted callbacks, want exactly 1", id, len(got))
			continue
		}
		r := got[0]
		n := delivered[id]
		if !r.signed || r.delivery != fmt.Sprint(n.ID) {
			t.Errorf("job %d: signed %v, delivery %q (notification %d)", id, r.signed, r.delivery, n.ID)
		}
		if r.data["id"] != float64(id) || r.data["health_string"] != "Complete" || r.data["submitter_username"] != "admin" {
			t.Errorf("job %d: data %v", id, r.data)
		}
		if res, _ := r.data["results"].(map[string]any); !strings.Contains(fmt.Sprint(res["0_smoke"]), "name: throughput") {
			t.Errorf("job %d: results %v", id, r.data["results"])
		}
		if log, _ := r.data["log"].(string); !strings.Contains(log, "Linux version") {
			t.Errorf("job %d: log %.200q", id, log)
		}
		// Each failed attempt is in the log (the stop may have cut one
		// short: the receiver answered, the server no longer listened).
		k := n.Attempts - 1
		if k < 2 || failed[path] < k || failed[path] > k+1 || len(n.Log) != n.Attempts || !n.TokenSet {
			t.Errorf("job %d: %d attempts recorded, %d failed at the receiver", id, n.Attempts, failed[path])
		}
		for i, a := range n.Log {
			want := 503
			if i == len(n.Log)-1 {
				want = 200
			}
			if a.StatusCode != want || a.Attempt != i+1 {
				t.Errorf("job %d attempt %d: %+v, want status %d", id, i+1, a, want)
			}
		}
	}
}
