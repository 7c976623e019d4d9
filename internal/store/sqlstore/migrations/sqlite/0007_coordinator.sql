-- The multinode coordinator's groups (LAVA's lava-coordinator keeps them
-- in memory only, so a restart loses every group): one row per group that
-- exists, by group name (LAVA's target_group), with its state as the
-- coordinator's versioned JSON (internal/coordinator), which the store
-- does not read. The coordinator replaces the whole state at each change
-- of the group, before it answers the request that made it, and deletes
-- the row when the group ends.
-- Keep in step with ../postgres/0007_coordinator.sql.

CREATE TABLE coordinator_groups (
    name    TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    state   BLOB    NOT NULL,
    updated INTEGER NOT NULL
) STRICT;
