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
//     expired job cannot grab a device.) The members of a multinode group
//     share their fate: when one expires, every queued member of its group
//     is listed too.
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
//  7. Multinode groups. The queued jobs sharing a Job.Group are placed all
//     at once or not at all. A group is served at the place in the order
//     of its first member (priority descending, submit time ascending, ID
//     ascending; its members share priority and submit time in practice).
//     At its turn the group is placed if its members can be given distinct
//     free devices, each fitting its member by rule 4, with no worker above
//     its limit counting the members together; its Assignments are then
//     listed consecutively, carry the group's name and must be committed in
//     one transaction. Otherwise the group takes nothing and the jobs
//     behind it are served as if it were not there (backfill). The search
//     is a matching, not a greedy choice: members of different roles that
//     compete for the same devices (one needs a tagged board, the other
//     any board) are placed whenever some assignment exists; each member
//     keeps its preferred device (rule 5) when no other member needs it. A
//     group is never placed when fewer of its members are queued than its
//     GroupSize (one left the queue), when its members disagree on the
//     size, or when a member's ID appears more than once in the queue.
//  8. Hold. A group that cannot be placed, whose hold is due (it has been
//     queued longer than Snapshot.GroupHoldAfter > 0, counted from the
//     submit time of its first member) and that would fit if the busy
//     devices were free, holds devices for this pass. The devices in
//     service are those of the pool (rule 4) and those only busy: Reserved
//     or Running, running a health check (rule 3), on a full worker, or
//     taken by a job ahead in this pass, when their health is Good or
//     Unknown (or Looping, for a type that runs checks). Among the devices
//     in service not claimed by a group held before it in this pass, the
//     group's matching is computed as if every one of them were free, each
//     worker taking up to its JobLimit minus the slots claimed before; the
//     members are matched in queue order and each member's devices are
//     tried in a fixed preference order (fewest tags, then hostname), not
//     free ones first, so that the matching stays the same from pass to
//     pass while the lab does not change. Its devices and worker slots are
//     then claimed, and those of its devices that are free now, on a
//     worker with room, are held: they take a worker slot and no job or
//     group served after it gets them. The others are busy: the group
//     waits for them. Each hold is listed in Decisions.Holds. A group whose
//     matching does not exist holds nothing. GroupHoldAfter 0 never holds.
//
// # Ordering guarantee
//
// Because jobs are served strictly in queue order and devices and worker
// slots are only ever consumed during a pass, a device is never given a
// job (or held for a group) while a higher-priority (or equally important
// and older, or equal and lower-ID) queued ordinary job that fits that
// device (type, requested device and worker, tags) stays unassigned. The
// pass is also work-conserving: when it ends, no unassigned, unexpired
// ordinary job fits a device that is still free (not held) on a worker with
// room. As the queue is ordered across device types too, worker slots under
// a JobLimit also go to the most important jobs first. A waiting group
// member is the exception to both: a group takes devices only when all its
// members can, so the jobs behind it may take devices one of its members
// fits (rule 7), until its hold is due (rule 8).
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
// # Groups: no deadlock, no starvation, bounded idling
//
// A group never holds devices across passes, and within a pass it either
// takes all its devices or none, so groups cannot deadlock on each other's
// partial allocations. Without holds a big group can starve behind a
// stream of smaller jobs: whichever of its devices frees up goes to the
// next ordinary job, and its devices are never all free at its turn. Rule
// 8 bounds that: consider the first group in queue order whose hold is due
// and that fits the devices in service, with no job ahead of it taking
// devices. Its matching is the same on every pass; each of its devices
// that frees up is held at the group's turn before any job behind it is
// served, as are the slots of its workers, which jobs behind it can only
// fill up to the limit minus the group's share. So once the jobs running
// on its devices and workers end, the group is placed. The property tests
// simulate passes with a stream of ordinary jobs and check that every
// group that fits the lab runs within a bound.
//
// The price is idle devices: a held device stays idle while the group
// waits for the rest of its matching, at most until the longest of the
// jobs running on them ends (or a job ahead takes it). GroupHoldAfter
// trades this against the group's wait: before it passes, groups only
// backfill; after, they hold. Holding the free devices of a matching fixed
// by preference rather than one that uses as many free devices as possible
// may hold fewer devices and wait a little longer for busy ones, but
// cannot wander between matchings from pass to pass and never make
// progress.
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
// For a member of a multinode group, the turn is the group's, the verdict
// is the group's (schedulable only when the whole group is placed), and
// Explanation.Group says what the pass saw at that turn: for each role, how
// many of its jobs the free devices could take with the role alone ("role
// client (1 of 2 jobs) has no free qemu device with tags [x]", "role
// server is satisfiable"), whether the roles only fail together (they
// compete for the same devices or worker slots), whether the group would
// fit the devices in service at all, and its hold: the devices held and
// waited for, or when the hold starts. The job codes are group_waits,
// group_incomplete, group_inconsistent, group_member_expired and the
// group_hold note; a device held for a group ahead has the device code
// held_for_group.
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
// the usable devices left in its bucket.
//
// Groups are ordered by a sort of the groups alone and merged with the
// type heaps. For a group of k members each member's candidate devices are
// collected from its bucket, keeping at most k per worker and stopping at
// the k-th worker: any matching can be rewritten onto those (a member's
// device not kept is either on a worker with k kept devices, one of which
// the k-1 others leave free, or k workers offer kept devices and one of
// them is the member's own or has no other member and so a free slot).
// The matching is then augmenting paths over at most k² candidates per
// member (Ford-Fulkerson on member → device → worker, the worker edge
// carrying its free slots), so its cost does not grow with the lab. When
// no device is free, groups whose hold is not due are skipped at once; a
// hold scans the devices in service of each member's type. With
// 10,000 queued jobs, 1,000 devices, 50 types and 50 workers it takes about
// 3 ms on one core; docs/scheduling.md has the measured figures and the
// benchmark command.
package scheduler
