package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestSubmitPageWarnings: a definition LAVA accepts with a key written
// twice is submitted, and the page says so with the warning under its
// line instead of going to the job; Validate only checks, strictly or not.
func TestSubmitPageWarnings(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	// Line 4 writes priority a second time.
	def := labtest.Job("warned-job", "qemu", "priority: high\npriority: low")
	count := func() int {
		t.Helper()
		_, total, err := e.App.ListJobs(context.Background(), e.Principal(admin), storeAll())
		must(t, err)
		return total
	}
	before := count()

	resp, body := e.post(alice, "/jobs/new", url.Values{"definition": {def}})
	checkPage(t, "submission with a warning", body)
	if resp.StatusCode != http.StatusCreated || count() != before+1 {
		t.Fatalf("status %d, %d jobs; want 201 and one more job", resp.StatusCode, count()-before)
	}
	id := before + 1
	if !strings.Contains(body, fmt.Sprintf(`Job <a href="/jobs/%d">%d</a> was submitted, with 1 warning.`, id, id)) {
		t.Errorf("no link to the new job:\n%s", body)
	}
	li := body[strings.Index(body, `<li id="D4" class="warn">`):]
	li = li[:strings.Index(li, "</li>")]
	if !strings.Contains(li, "<strong>Line 4, warning:</strong> column 1: $.priority: key &#34;priority&#34; is written again (first at 3:1)") {
		t.Errorf("line 4 does not carry its warning: %s", li)
	}
	if strings.Count(body, `class="warn"`) != 1 || strings.Contains(body, `class="bad"`) {
		t.Errorf("want exactly one line with a warning:\n%s", body)
	}

	// Validate only: the same warning, no job.
	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {def}, "action": {"validate"}})
	checkPage(t, "validation with a warning", body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The definition is valid, with 1 warning.") || !strings.Contains(body, `<li id="D4" class="warn">`) || count() != before+1 {
		t.Errorf("validate: status %d, %d jobs:\n%s", resp.StatusCode, count()-before, body)
	}
	// Strictly: the warning is a problem; the box stays checked.
	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {def}, "action": {"validate"}, "strict": {"1"}})
	checkPage(t, "strict validation", body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "1 problem.") || !strings.Contains(body, `<li id="D4" class="bad">`) ||
		!strings.Contains(body, "is written more than once in this mapping") || !strings.Contains(body, `name="strict" value="1" checked="checked"`) {
		t.Errorf("strict validate: status %d:\n%s", resp.StatusCode, body)
	}
	// A clean definition validates without a warning.
	resp, body = e.post(alice, "/jobs/new", url.Values{"definition": {labtest.Job("clean", "qemu", "")}, "action": {"validate"}, "strict": {"1"}})
	checkPage(t, "clean validation", body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "The definition is valid.") || strings.Contains(body, `class="warn"`) || count() != before+1 {
		t.Errorf("clean validate: status %d:\n%s", resp.StatusCode, body)
	}
}
