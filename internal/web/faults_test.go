package web_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestConditionBanner: while a condition of the server holds (its disk
// full), every page shows superusers a banner saying so; other users and
// anonymous visitors see no banner. (When an episode ends is the app's
// business: TestConditionEpisodes.)
func TestConditionBanner(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	const banner = `data-fault="storage_full"`
	for _, path := range []string{"/", "/jobs", "/devices", fmt.Sprintf("/jobs/%d", e.pubJob)} {
		if _, body, _ := e.get(admin, path); strings.Contains(body, banner) {
			t.Errorf("%s: banner of a healthy server", path)
		}
	}
	e.App.NoteFault(fmt.Errorf("append log of job 3: %w: no space left on device", lab.ErrStorageFull))
	for _, path := range []string{"/", "/jobs", "/devices", fmt.Sprintf("/jobs/%d", e.pubJob), "/tokens"} {
		for who := range nIdent {
			code, body, _ := e.get(who, path)
			if code != http.StatusOK && !(who == anon && path == "/tokens") {
				t.Errorf("%s as %s: %d", path, identNames[who], code)
			}
			if got := strings.Contains(body, banner); got != (who == admin) {
				t.Errorf("%s as %s: banner shown = %v, want %v", path, identNames[who], got, who == admin)
			}
			if who == admin && !strings.Contains(body, "The server&#39;s disk is full since") {
				t.Errorf("%s as admin: the banner does not say what is wrong:\n%s", path, body)
			}
		}
	}
}
