package rest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/basalt-lab/basalt/internal/api/wire"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
	"github.com/basalt-lab/basalt/internal/testutil/labtest"
)

// seedNotifications gives job a delivered callback with a token (one
// failed attempt, one accepted) and an e-mail not sent, as the sender
// leaves them.
func seedNotifications(t testing.TB, e *env, job int64) {
	t.Helper()
	ctx := t.Context()
	st := e.App.Store()
	at := time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)
	_, err := st.AddDeliveries(ctx, []lab.Delivery{
		{JobID: job, Kind: lab.DeliveryCallback, Target: "https://ci.example.org/cb/{ID}", State: lab.JobFinished, Health: lab.JobHealthComplete,
			Spec:   `{"method":"POST","token":"s3cret","header":"Authorization","dataset":"all","content_type":"json"}`,
			Status: lab.DeliveryPending, Created: at, NextAttempt: at},
		{JobID: job, Kind: lab.DeliveryEmail, Target: "qa@example.org", State: lab.JobFinished, Health: lab.JobHealthComplete,
			Spec: `{"verbosity":"quiet"}`, Status: lab.DeliveryNotSent, Created: at, LastError: "not sent: the server has no SMTP server (--smtp-server)"},
	})
	must(t, err)
	claim := func() lab.Delivery {
		ds, err := st.ClaimDeliveries(ctx, store.DeliveryClaim{Claim: "s", Now: at.Add(time.Hour), Until: at.Add(2 * time.Hour), Limit: 1})
		must(t, err)
		if len(ds) != 1 {
			t.Fatalf("claimed %v", ds)
		}
		return ds[0]
	}
	d := claim()
	_, err = st.RecordDeliveryAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Claim: "s", At: at.Add(time.Second), Status: lab.DeliveryPending,
		NextAttempt: at.Add(30 * time.Second), Error: "HTTP 503 Service Unavailable",
		Attempt: &lab.DeliveryAttempt{At: at, Duration: 1500 * time.Microsecond, StatusCode: 503, Error: "HTTP 503 Service Unavailable"}})
	must(t, err)
	d = claim()
	_, err = st.RecordDeliveryAttempt(ctx, store.DeliveryOutcome{ID: d.ID, Claim: "s", At: at.Add(time.Minute), Status: lab.DeliveryDelivered,
		Attempt: &lab.DeliveryAttempt{At: at.Add(time.Minute), Duration: 2 * time.Millisecond, StatusCode: 200}})
	must(t, err)
}

// TestJobNotifications: a job's notifications, with their attempts, as
// its viewers see them: never the callback's token.
func TestJobNotifications(t *testing.T) {
	e := newEnv(t, labtest.Backends()[0])
	seedNotifications(t, e, e.privJob)
	status, body := e.do(alice, "GET", fmt.Sprintf("/jobs/%d/notifications", e.privJob), "")
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	var list wire.List[wire.Notification]
	must(t, json.Unmarshal(body, &list))
	if list.Count != 2 || len(list.Results) != 2 {
		t.Fatalf("%s", body)
	}
	cb, mail := list.Results[0], list.Results[1]
	if cb.Kind != "callback" || cb.Target != "https://ci.example.org/cb/{ID}" || cb.Method != "POST" || cb.Dataset != "all" ||
		cb.ContentType != "json" || cb.Header != "Authorization" || !cb.TokenSet || cb.Status != "delivered" || cb.Attempts != 2 ||
		cb.JobState != "Finished" || cb.JobHealth != "Complete" || cb.NextAttempt != nil || cb.Done == nil || cb.LastError != "" {
		t.Errorf("callback: %+v", cb)
	}
	if len(cb.Log) != 2 || cb.Log[0].StatusCode != 503 || cb.Log[0].DurationMS != 1.5 || cb.Log[0].Error != "HTTP 503 Service Unavailable" ||
		cb.Log[1].Attempt != 2 || cb.Log[1].StatusCode != 200 || cb.Log[1].Error != "" {
		t.Errorf("callback's log: %+v", cb.Log)
	}
	if mail.Kind != "email" || mail.Status != "not_sent" || mail.Attempts != 0 || len(mail.Log) != 0 || mail.Method != "" ||
		mail.LastError != "not sent: the server has no SMTP server (--smtp-server)" {
		t.Errorf("e-mail: %+v", mail)
	}
	if strings.Contains(string(body), "s3cret") {
		t.Errorf("the token is shown: %s", body)
	}
	if status, _ := e.do(bob, "GET", fmt.Sprintf("/jobs/%d/notifications", e.privJob), ""); status != 404 {
		t.Errorf("another user's personal job: %d", status)
	}
	if status, _ := e.do(alice, "GET", "/jobs/999999/notifications", ""); status != 404 {
		t.Errorf("a missing job: %d", status)
	}
}
