// Package scheduler is Basalt's scheduling decision as pure logic: Plan
// takes a Snapshot of the lab (device types, devices, workers, the queue of
// Submitted jobs and the current time) and returns the Decisions of one pass
// (health checks to start, jobs to assign, jobs whose queue timeout expired).
// It does no I/O and never reads the clock, so it is deterministic and can be
// tested exhaustively; the application layer loads the snapshot from the
// store and applies the decisions with store transitions, which remain the
// final guard against concurrent changes. The package imports only the
// standard library and internal/lab.
//
// # Rules
//
// A pass follows LAVA's scheduler (lava_scheduler_app/scheduler.py), with a
// global queue order instead of LAVA's per-device one:
//
//  1. Expiry. A queued job with QueueTimeout > 0 and
//     SubmitTime+QueueTimeout < Now is listed in Decisions.Expired and is never
//     assigned. (LAVA expires after assigning; Basalt expires first, so an
//     expired job cannot grab a device.)
//  2. Usable devices. A device is considered only if it is Idle, its type is in
//     Snapshot.DeviceTypes, its worker exists and is Online and Active, and the
//     worker is not full: with JobLimit > 0, Busy plus everything this pass
//     has decided on the worker must stay ≤ JobLimit.
//  3. Health checks first. Device types are walked by name and their devices
//     by hostname. For a type with HasHealthCheck and not DisableHealthCheck,
//     a usable device whose health is Good, Unknown or Looping is due when its
//     health is Unknown or Looping, when it never had a check
//     (LastHealthCheck is zero), or when its frequency has run out: by hours,
//     LastHealthCheck + HealthFrequency hours < Now (LAVA's strict
//     comparison, so a check is not due at the very instant the period ends);
//     by jobs, JobsSinceHealthCheck ≥ HealthFrequency. A due device gets a
//     HealthCheck (its Reason says why), takes a slot on its worker and takes
//     no ordinary job this pass. Devices of types without an enabled check go
//     straight to ordinary jobs. Looping devices never take ordinary jobs.
//  4. Fit. An ordinary job fits a device with health Good or Unknown left over
//     by step 3 whose type is the job's Type, whose hostname is the job's
//     Device and whose worker is the job's Worker when those are set, and
//     whose tags include all the job's tags.
//  5. Order. The whole queue, across device types, is served in one order:
//     priority descending, then submit time ascending, then ID ascending.
//     Each job in turn gets the preferred free fitting device: the one with the fewest tags (keeping
//     specially tagged boards for the jobs that need them), then the smallest
//     hostname.
//  6. Exclusivity. No job is assigned twice, no device gets two jobs or a job
//     and a health check, no worker goes above its limit.
//
// # Ordering guarantee
//
// Because jobs are served strictly in queue order and devices and worker
// slots are only ever consumed during a pass, a device is never given a
// job while a higher-priority (or equally important and older, or equal and
// lower-ID) queued job that fits that device (type, requested device and
// worker, tags) stays unassigned. The pass is
// also work-conserving: when it ends, no unassigned, unexpired job fits a
// device that is still free on a worker with room. As the queue is ordered
// across device types too, worker slots under a JobLimit also go to the most
// important jobs first.
//
// LAVA instead walks the device types by name and, within a type, the idle
// devices in random order, giving each device the best queued job that fits
// it. Priority is therefore only compared among the jobs competing for one
// device, and three things differ from Basalt:
//
//   - Worker slots go by type name, not priority: under a JobLimit, the jobs
//     of an alphabetically earlier type fill the worker before more important
//     jobs of a later type are looked at.
//   - The random device order lets a job with loose requirements take the only
//     device a stricter job could use (a specially tagged board), leaving the
//     stricter job waiting while a plain board stays idle, on some passes and
//     not others. Basalt's fewest-tags preference avoids the common case;
//     being greedy it is still not an optimal matching (with boards tagged
//     {a} and {b}, an untagged job takes the {a} board by hostname even if an
//     {a} job waits behind it).
//   - The outcome is random; Basalt's is a function of the snapshot.
//
// # Explaining a wait
//
// Explain answers "why is my job queued?" for one job of a snapshot. It
// runs the same pass as Plan and evaluates the same predicates (rules.go:
// the device and worker checks, the request resolution, the tag sets, the
// worker limit, the queue expiry) at the job's turn, that is after the
// decisions taken for the jobs before it in queue order. Each device of the
// job's scope gets the first reason that keeps it from the job (a Code and
// a sentence); the job gets a summary, the number of jobs ahead that fit
// the same devices and the time its queue timeout ends. Its verdict is
// Plan's by construction, and the property tests check it over random
// labs.
//
// # Cost
//
// Avoiding an O(jobs × devices) scan:
//
//   - Devices are bucketed by type and by (type, worker); each bucket is a
//     linked list in preference order from which taken devices and devices
//     of full workers are unlinked as they are met, so a device is skipped at
//     most once per bucket after it stops being usable. A requested device is
//     looked up by hostname.
//   - Tag sets are interned as bitsets (one uint64 word up to 64 distinct
//     tags, more words beyond, with no limit), so a fit test is a few
//     AND-NOT operations. A job tag no free device carries rejects the job
//     at once.
//   - The queue is not sorted as a whole: each type's jobs form a heap and the
//     types a heap by their next job. A type with no free device left is
//     dropped together with its remaining jobs, and jobs of types with no
//     free device at the start are never ordered at all.
//   - A job whose signature (type, tags, requested device, requested worker)
//     already failed in this pass is skipped without a search: devices and
//     worker slots are only consumed during a pass, so it would fail again.
//
// A pass is O(D log D + J), plus for each job actually examined O(log J)
// heap work and, unless its signature already failed, one search bounded by
// the usable devices left in its bucket. With
// 10,000 queued jobs, 1,000 devices, 50 types and 50 workers it takes about
// 3 ms on one core; docs/scheduling.md has the measured figures and the
// benchmark command.
package scheduler
