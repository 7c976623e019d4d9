package lavarest_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/lavarest"
)

// TestDocListsEveryRoute keeps the endpoint table of docs/lava-clients.md
// true: every route is listed with its method, and every listed endpoint
// is a route.
func TestDocListsEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/lava-clients.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n### Endpoints\n")
	if !ok {
		t.Fatal("docs/lava-clients.md has no Endpoints section")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	endpoint := regexp.MustCompile("^\\| `([A-Z]+) (/[^`]*)` \\|")
	documented := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if m := endpoint.FindStringSubmatch(line); m != nil {
			documented[m[1]+" "+m[2]] = true
		}
	}
	for _, r := range lavarest.Routes() {
		key := r.Method + " " + r.Pattern
		if !documented[key] {
			t.Errorf("docs/lava-clients.md does not list %s", key)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("docs/lava-clients.md lists %s, which is not a route", key)
	}
}
