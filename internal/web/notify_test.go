package web_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// TestJobPageNotifications: the job page lists the notifications of the
// job's notify block, their attempts with status codes, and when a pending
// one is tried next; a job without any has no such section.
func TestJobPageNotifications(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	_, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.pubJob))
	if strings.Contains(body, "Notifications") {
		t.Error("a job without notifications shows the section")
	}

	ctx := t.Context()
	st := e.App.Store()
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	retry := at.Add(90 * time.Second)
	_, err := st.AddDeliveries(ctx, []lab.Delivery{
		{JobID: e.pubJob, Kind: lab.DeliveryCallback, Target: "https://ci.example.org/cb/{ID}?a=1&b=2", State: lab.JobFinished, Health: lab.JobHealthComplete,
			Spec: `{"method":"POST","token":"s3cret","dataset":"all"}`, Status: lab.DeliveryPending, Created: at, NextAttempt: at},
		{JobID: e.pubJob, Kind: lab.DeliveryEmail, Target: "qa@example.org", State: lab.JobRunning,
			Status: lab.DeliveryNotSent, Created: at, LastError: "not sent: the server has no SMTP server (--smtp-server)"},
	})
	must(t, err)
	ds, err := st.ClaimDeliveries(ctx, store.DeliveryClaim{Claim: "s", Now: at, Until: at.Add(time.Minute), Limit: 1})
	must(t, err)
	_, err = st.RecordDeliveryAttempt(ctx, store.DeliveryOutcome{ID: ds[0].ID, Claim: "s", At: at.Add(time.Second), Status: lab.DeliveryPending,
		NextAttempt: retry, Error: "HTTP 503 Service Unavailable",
		Attempt: &lab.DeliveryAttempt{At: at, Duration: time.Millisecond, StatusCode: 503, Error: "HTTP 503 Service Unavailable"}})
	must(t, err)

	status, body, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.pubJob))
	if status != 200 {
		t.Fatalf("job page: %d", status)
	}
	if err := checkHTML(body); err != nil {
		t.Errorf("job page: %v", err)
	}
	for _, want := range []string{
		`<h2 id="notify-h">Notifications</h2>`,
		`callback POST <code>https://ci.example.org/cb/{ID}?a=1&amp;b=2</code>`,
		`<span class="badge s-finished">Finished</span> <span class="badge s-complete">Complete</span>`,
		`<span class="badge n-pending">pending</span> <span class="error">HTTP 503 Service Unavailable</span>`,
		`<li>2026-11-02 10:00:00 UTC: 503 — HTTP 503 Service Unavailable</li>`,
		`<td>2026-11-02 10:01:30 UTC</td>`,
		`email <code>qa@example.org</code>`,
		`<span class="badge n-not_sent">not_sent</span> <span class="error">not sent: the server has no SMTP server (--smtp-server)</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("job page lacks %q", want)
		}
	}
	if strings.Contains(body, "s3cret") {
		t.Error("the job page shows the callback's token")
	}
	if status, _, _ := e.get(bob, fmt.Sprintf("/jobs/%d", e.privJob)); status != 404 {
		t.Errorf("another user's private job: %d", status)
	}
}
