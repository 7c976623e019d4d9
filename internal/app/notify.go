package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// Notifications (LAVA's notify block, reference §10): when a job reaches
// Running or Finished and its criteria match, its deliveries — one per
// callback, and on the first match one per e-mail or IRC recipient — are
// queued in the transaction that moves the job (moveJob), so that a job
// never changes state without them nor gets them twice. A sender
// (internal/notify) claims and sends them later (notifysend.go).

// DeliverySpec is what sending a delivery needs beyond its target, kept
// as the delivery's Spec.
type DeliverySpec struct {
	// Callbacks: LAVA's method (GET, POST), token, header (default
	// Authorization), dataset (minimal, logs, results, all) and content
	// type (urlencoded, json).
	Method      string `json:"method,omitempty"`
	Token       string `json:"token,omitempty"`
	Header      string `json:"header,omitempty"`
	Dataset     string `json:"dataset,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	// E-mail: the notify block's verbosity (verbose, quiet, status-only)
	// and the recipient's user name when it was given by user (for the
	// greeting).
	Verbosity string `json:"verbosity,omitempty"`
	User      string `json:"user,omitempty"`
	// IRC: the server named.
	Server string `json:"server,omitempty"`
}

// ParseDeliverySpec reads a delivery's Spec.
func ParseDeliverySpec(d lab.Delivery) (DeliverySpec, error) {
	var s DeliverySpec
	if d.Spec == "" {
		return s, nil
	}
	if err := json.Unmarshal([]byte(d.Spec), &s); err != nil {
		return s, fmt.Errorf("delivery %d: read its parameters: %w", d.ID, err)
	}
	return s, nil
}

func (s DeliverySpec) encode() string {
	b, _ := json.Marshal(s) // strings only: cannot fail
	return string(b)
}

// deviceOwner is LAVA's recipient user that stands for the device's
// physical owner.
const deviceOwner = "{LAVA_DEVICE_OWNER}"

// Why deliveries are not sent, as their LastError says it.
const (
	whyNoIRC   = "not sent: Basalt has no IRC client"
	whyNoOwner = "not sent: devices have no physical owner in Basalt"
)

// moveJob moves a job with q.TransitionJob and, when the move reaches
// Running or Finished, queues the job's notifications in the same
// transaction. It returns the job and how many deliveries it queued.
func (a *App) moveJob(ctx context.Context, q store.Queries, t store.JobTransition) (lab.Job, int, error) {
	j, err := q.TransitionJob(ctx, t)
	if err != nil {
		return j, 0, err
	}
	n, err := a.queueNotifications(ctx, q, j)
	if err != nil {
		return j, 0, fmt.Errorf("queue the notifications of job %d: %w", j.ID, err)
	}
	return j, n, nil
}

// notifyBlock returns the job's notify block, nil when it has none.
func (a *App) notifyBlock(j lab.Job) *jobdef.Notify {
	if !strings.Contains(j.Definition, "notify") {
		return nil // most jobs: no parse
	}
	def, err := parseStored(j.Definition)
	if err != nil {
		// It parsed at submission; a parser that changed since must not
		// stop the job's move: log, and notify nobody.
		a.log.Warn("job definition no longer parses: no notifications", "job", j.ID, "err", err)
		return nil
	}
	return def.Notify
}

// queueNotifications queues the deliveries of job j, just moved to its
// current state with q, when its notify criteria match.
func (a *App) queueNotifications(ctx context.Context, q store.Queries, j lab.Job) (int, error) {
	if j.State != lab.JobRunning && j.State != lab.JobFinished {
		return 0, nil
	}
	nt := a.notifyBlock(j)
	if nt == nil {
		return 0, nil
	}
	if nt.Criteria.DependencyQuery != "" {
		// Refused at submission (there are no LAVA queries here); a
		// health check's definition is not checked that way.
		a.log.Warn("notify criteria with a dependency_query are not supported: no notifications", "job", j.ID)
		return 0, nil
	}
	var prev *lab.JobHealth
	if nt.Criteria.Type != "" && j.State == lab.JobFinished && len(j.Metadata) > 0 {
		// A job without metadata has no earlier job of its kind.
		p, err := q.LatestFinishedJob(ctx, store.PreviousJobFilter{Metadata: j.Metadata, Exclude: j.ID,
			Health: []lab.JobHealth{lab.JobHealthComplete, lab.JobHealthIncomplete}})
		switch {
		case err == nil:
			prev = &p.Health
		case !errors.Is(err, lab.ErrNotFound):
			return 0, err
		}
	}
	if !notifyMatches(nt.Criteria, j.State, j.Health, prev) {
		return 0, nil
	}
	now := a.now()
	pending := func(kind lab.DeliveryKind, target string, spec DeliverySpec) lab.Delivery {
		return lab.Delivery{JobID: j.ID, Kind: kind, Target: target, State: j.State, Health: j.Health, Spec: spec.encode(),
			Status: lab.DeliveryPending, Created: now, NextAttempt: now}
	}
	notSent := func(kind lab.DeliveryKind, target string, spec DeliverySpec, why string) lab.Delivery {
		return lab.Delivery{JobID: j.ID, Kind: kind, Target: target, State: j.State, Health: j.Health, Spec: spec.encode(),
			Status: lab.DeliveryNotSent, Created: now, Done: now, LastError: why}
	}
	var ds []lab.Delivery
	for _, cb := range nt.Callbacks {
		ds = append(ds, pending(lab.DeliveryCallback, cb.URL, DeliverySpec{Method: cb.Method, Token: cb.Token, Header: cb.Header,
			Dataset: cb.Dataset, ContentType: cb.ContentType}))
	}
	// Recipients are told once, on the first transition that matches (LAVA
	// marks each one sent); callbacks on every one.
	had, err := q.ListDeliveries(ctx, j.ID)
	if err != nil {
		return 0, err
	}
	told := false
	for _, d := range had {
		told = told || d.Kind != lab.DeliveryCallback
	}
	recipients := nt.Recipients
	if len(recipients) == 0 && len(nt.Callbacks) == 0 {
		recipients = []jobdef.Recipient{{Method: "email", User: j.Submitter}} // LAVA's default: the submitter
	}
	if told {
		recipients = nil
	}
	for _, r := range recipients {
		if r.Method == "irc" {
			handle := r.Handle
			if handle == "" {
				handle = r.User
			}
			ds = append(ds, notSent(lab.DeliveryIRC, handle, DeliverySpec{User: r.User, Server: r.Server}, whyNoIRC))
			continue
		}
		spec := DeliverySpec{Verbosity: nt.Verbosity, User: r.User}
		switch {
		case r.Email != "":
			ds = append(ds, pending(lab.DeliveryEmail, r.Email, spec))
		case r.User == deviceOwner:
			spec.User = ""
			ds = append(ds, notSent(lab.DeliveryEmail, deviceOwner, spec, whyNoOwner))
		default:
			u, err := q.GetUser(ctx, r.User)
			switch {
			case errors.Is(err, lab.ErrNotFound):
				ds = append(ds, notSent(lab.DeliveryEmail, r.User, spec, fmt.Sprintf("not sent: user %q does not exist", r.User)))
			case err != nil:
				return 0, err
			case u.Email == "":
				ds = append(ds, notSent(lab.DeliveryEmail, r.User, spec, fmt.Sprintf("not sent: user %q has no e-mail address", r.User)))
			default:
				ds = append(ds, pending(lab.DeliveryEmail, u.Email, spec))
			}
		}
	}
	if len(ds) == 0 {
		return 0, nil
	}
	if _, err := q.AddDeliveries(ctx, ds); err != nil {
		return 0, err
	}
	queued := 0
	for _, d := range ds {
		if d.Status == lab.DeliveryPending {
			queued++
		}
	}
	return queued, nil
}

// notifyMatches reports whether a job that reached state with health
// meets notify criteria c (LAVA's notification_criteria). prev is the
// health of the job it is compared with for a type (regression,
// progression): the latest earlier Finished job, Complete or Incomplete,
// with the same metadata; nil when there is none, and then a type never
// matches.
func notifyMatches(c jobdef.NotifyCriteria, state lab.JobState, health lab.JobHealth, prev *lab.JobHealth) bool {
	var want lab.JobHealth
	switch c.Status {
	case "all":
		return state == lab.JobRunning || state == lab.JobFinished
	case "running":
		return state == lab.JobRunning
	case "finished":
		return state == lab.JobFinished
	case "complete":
		want = lab.JobHealthComplete
	case "incomplete":
		want = lab.JobHealthIncomplete
	case "canceled":
		want = lab.JobHealthCanceled
	default:
		return false
	}
	if state != lab.JobFinished || health != want {
		return false
	}
	switch c.Type {
	case "":
		return true
	case "regression":
		return prev != nil && *prev == lab.JobHealthComplete && health == lab.JobHealthIncomplete
	case "progression":
		return prev != nil && *prev == lab.JobHealthIncomplete && health == lab.JobHealthComplete
	}
	return false
}

// kickNotify tells the sender that deliveries were queued.
func (a *App) kickNotify() {
	select {
	case a.notifyWake <- struct{}{}:
	default:
	}
}

// NotificationsQueued is signalled (coalesced) after a transaction queued
// notifications: the sender of this process waits on it beside its
// polling for those queued by other processes.
func (a *App) NotificationsQueued() <-chan struct{} { return a.notifyWake }

// checkNotify checks a definition's notify block against the lab at
// submission: the callbacks' hosts against the server's policy, the users
// named as recipients; a dependency_query (LAVA's queries, which Basalt
// does not have) is refused rather than ignored, since it decides
// whether anything is sent. A compare block is accepted with a warning:
// e-mails carry no comparison.
func (a *App) checkNotify(ctx context.Context, def *jobdef.Job) error {
	nt := def.Notify
	if nt == nil {
		return nil
	}
	if nt.Criteria.DependencyQuery != "" {
		return defError(def, "$.notify.criteria.dependency_query", "dependency_query is not supported: Basalt has no LAVA queries to run it")
	}
	for i, cb := range nt.Callbacks {
		if err := a.cfg.Callbacks.CheckURL(cb.URL); err != nil {
			path := jobdef.IndexPath("$.notify.callbacks", i) + ".url"
			if _, ok := def.PosOf(path); !ok {
				path = "$.notify.callback.url"
			}
			return defError(def, path, err.Error())
		}
	}
	for i, r := range nt.Recipients {
		if r.User == "" || r.User == deviceOwner {
			continue
		}
		if _, err := a.st.GetUser(ctx, r.User); errors.Is(err, lab.ErrNotFound) {
			return defError(def, jobdef.IndexPath("$.notify.recipients", i)+".to.user", fmt.Sprintf("user %q does not exist", r.User))
		} else if err != nil {
			return fmt.Errorf("check notify recipient %q: %w", r.User, err)
		}
	}
	if nt.Compare != nil {
		pos, ok := def.PosOf("$.notify.compare")
		if !ok {
			pos = def.Pos
		}
		def.Warnings = append(def.Warnings, jobdef.Warning{Line: pos.Line, Column: pos.Column, Path: "$.notify.compare",
			Msg: "compare is not supported: notify e-mails carry no comparison with other jobs"})
	}
	return nil
}
