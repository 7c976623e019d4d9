package app

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/auth"
	"github.com/basalt-lab/basalt/internal/lab"
	"github.com/basalt-lab/basalt/internal/store"
)

// PrivateJob is how every reader-facing text names a job the reader may
// not see, in place of "job <id>": device histories, queue explanations,
// the web pages. Its id is never shown (0 in the API).
const PrivateJob = "a private job"

// PrivateGroup is how a queue explanation names a multinode group of which
// the reader may see no job, in place of "group <name>".
const PrivateGroup = "a private group"

// hiddenJobsChunk bounds the ids of one visibility query (an IN list).
const hiddenJobsChunk = 500

// hiddenJobs returns which of ids p may not see, by auth.CanViewJob: the
// one rule of job visibility. The jobs are read in one query (per 500
// distinct ids), whatever the number of objects referring to them, so a
// page of devices costs one query rather than one per device. Superusers
// see every job and cost none. Zero ids are ignored; ids that name no job
// are hidden. A nil map hides nothing.
func (a *App) hiddenJobs(ctx context.Context, p auth.Principal, ids []int64) (map[int64]bool, error) {
	if auth.IsAdmin(p) {
		return nil, nil
	}
	uniq := make([]int64, 0, len(ids))
	for _, id := range ids {
		if id != 0 {
			uniq = append(uniq, id)
		}
	}
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	if len(uniq) == 0 {
		return nil, nil
	}
	visible := make(map[int64]bool, len(uniq))
	for chunk := range slices.Chunk(uniq, hiddenJobsChunk) {
		jobs, _, err := a.st.ListJobs(ctx, store.JobFilter{IDs: chunk, Limit: len(chunk)})
		if err != nil {
			return nil, fmt.Errorf("job visibility: %w", err)
		}
		for _, j := range jobs {
			if auth.CanViewJob(p, j) {
				visible[j.ID] = true
			}
		}
	}
	hidden := map[int64]bool{}
	for _, id := range uniq {
		if !visible[id] {
			hidden[id] = true
		}
	}
	return hidden, nil
}

// hideJob replaces "job <id>" in s by PrivateJob (whole numbers only).
func hideJob(s string, id int64) string {
	re := regexp.MustCompile(`\bjob ` + strconv.FormatInt(id, 10) + `\b`)
	return re.ReplaceAllString(s, PrivateJob)
}

// hideGroup replaces "group <name>" in s by PrivateGroup.
func hideGroup(s, name string) string { return strings.ReplaceAll(s, "group "+name, PrivateGroup) }

// redactDevices shows devs as p may see them: the current job and the last
// health-check job are 0 when p may not see them (a device that is
// Reserved or Running with CurrentJob 0 is busy with a private job, see
// lab.Device.BusyWithPrivateJob), and the dictionary, which can hold lab
// secrets, is kept for superusers only. One visibility query for all devs.
func (a *App) redactDevices(ctx context.Context, p auth.Principal, devs []lab.Device) error {
	ids := make([]int64, 0, 2*len(devs))
	for _, d := range devs {
		ids = append(ids, d.CurrentJob, d.LastHealthReportJob)
	}
	hidden, err := a.hiddenJobs(ctx, p, ids)
	if err != nil {
		return err
	}
	admin := auth.IsAdmin(p)
	for i := range devs {
		d := &devs[i]
		if hidden[d.CurrentJob] {
			d.CurrentJob = 0
		}
		if hidden[d.LastHealthReportJob] {
			d.LastHealthReportJob = 0
		}
		if !admin {
			d.Dictionary = ""
		}
	}
	return nil
}

// redactTransitions shows a device's history as p may see it: a job p may
// not see is 0, and "job <id>" in the reason is PrivateJob.
func (a *App) redactTransitions(ctx context.Context, p auth.Principal, trs []lab.DeviceTransition) error {
	ids := make([]int64, len(trs))
	for i, t := range trs {
		ids[i] = t.Job
	}
	hidden, err := a.hiddenJobs(ctx, p, ids)
	if err != nil {
		return err
	}
	for i := range trs {
		t := &trs[i]
		if hidden[t.Job] {
			t.Reason, t.Job = hideJob(t.Reason, t.Job), 0
		}
	}
	return nil
}
