package rest

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/testutil/syncbuf"
)

// TestAbortMidStream: a streamed answer that fails after its first bytes
// (abort) reaches the client as a broken body, over HTTP/1.1 (chunked or
// with a Content-Length) and h2c, never as a complete answer: the route
// wrapper's panic recovery lets http.ErrAbortHandler through instead of
// appending an error document. The failure is logged.
func TestAbortMidStream(t *testing.T) {
	var logged syncbuf.Buffer
	api := New(nil, slog.New(slog.NewTextHandler(&logged, nil)))
	for _, length := range []string{"", "100"} {
		h := api.wrap(Route{Method: "GET", Pattern: "/x", handler: func(api *API, w http.ResponseWriter, r *http.Request, _ auth.Principal) error {
			if length != "" {
				w.Header().Set("Content-Length", length)
			}
			_, _ = io.WriteString(w, `{"count": 3, "results": [`)
			_ = http.NewResponseController(w).Flush()
			api.guard.Abort(r, errors.New("the store failed halfway"))
			return nil
		}})
		srv := httptest.NewUnstartedServer(h)
		srv.Config.Protocols = new(http.Protocols)
		srv.Config.Protocols.SetHTTP1(true)
		srv.Config.Protocols.SetUnencryptedHTTP2(true)
		srv.Start()
		h2 := &http.Transport{Protocols: new(http.Protocols)}
		h2.Protocols.SetUnencryptedHTTP2(true)
		for name, client := range map[string]*http.Client{"http1": {Transport: &http.Transport{}}, "h2c": {Transport: h2}} {
			resp, err := client.Get(srv.URL + "/x")
			if err != nil {
				t.Fatalf("%s, Content-Length %q: %v", name, length, err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil || resp.StatusCode != 200 || !bytes.HasPrefix(body, []byte(`{"count": 3`)) || bytes.Contains(body, []byte("internal")) {
				t.Errorf("%s, Content-Length %q: status %d, body %q, read error %v; want the first bytes, then a read error",
					name, length, resp.StatusCode, body, err)
			}
		}
		srv.Close()
	}
	if !strings.Contains(logged.String(), "the store failed halfway") {
		t.Errorf("the failure was not logged: %q", logged.String())
	}
}
