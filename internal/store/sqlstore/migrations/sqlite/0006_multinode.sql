-- Multinode groups (LAVA's protocols: lava-multinode): a submission
-- becomes one job per role instance, created together in one transaction.
-- They share target_group (LAVA's TestJob.target_group, a UUID) and are
-- scheduled as one unit; sub_id is LAVA's "<parent id>.<n>", the id of the
-- group's first job and the job's 0-based index in the group. Columns are
-- NULL (or 0, false) on jobs that are not part of a group.
-- Keep in step with ../postgres/0006_multinode.sql.

ALTER TABLE jobs ADD COLUMN target_group TEXT;
ALTER TABLE jobs ADD COLUMN sub_id TEXT;
ALTER TABLE jobs ADD COLUMN multinode_role TEXT;
ALTER TABLE jobs ADD COLUMN group_size INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN multinode_essential INTEGER NOT NULL DEFAULT 0 CHECK (multinode_essential IN (0, 1));
-- A group's jobs (cancel, resubmit, the coordinator, the job pages).
CREATE INDEX jobs_target_group ON jobs (target_group, id) WHERE target_group IS NOT NULL;
