package rest_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/api/rest"
)

// TestAPIDocListsEveryRoute keeps the endpoint table of docs/api.md true:
// every route is listed with its method, and every listed endpoint is a
// route. A cell lists endpoints as "`GET/POST /devices`, `GET /x/{id}`".
func TestAPIDocListsEveryRoute(t *testing.T) {
	doc, err := os.ReadFile("../../../docs/api.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "\n## Endpoints\n")
	if !ok {
		t.Fatal("docs/api.md has no Endpoints section")
	}
	endpoint := regexp.MustCompile("`([A-Z]+(?:/[A-Z]+)*) (/[^`]*)`")
	documented := map[string]bool{}
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		first := strings.Split(line, " | ")[0]
		for _, m := range endpoint.FindAllStringSubmatch(first, -1) {
			for _, method := range strings.Split(m[1], "/") {
				documented[method+" "+m[2]] = true
			}
		}
	}
	for _, r := range rest.Routes() {
		key := r.Method + " " + r.Pattern
		if !documented[key] {
			t.Errorf("docs/api.md does not list %s", key)
		}
		delete(documented, key)
	}
	for key := range documented {
		t.Errorf("docs/api.md lists %s, which is not a route", key)
	}
}
