-- Server replicas share the coordinator's groups (issue 14): each saved
-- state gets a version, a fresh random number at every save, so that a
-- replica saves or deletes a group only if nobody changed it since it read
-- it (never a counter, which a group ended and created again would repeat).
-- Keep in step with ../postgres/0009_coordinator_versions.sql.

ALTER TABLE coordinator_groups ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
