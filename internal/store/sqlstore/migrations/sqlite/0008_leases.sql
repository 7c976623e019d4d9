-- Leases: a named right held by one server replica at a time until it
-- expires, renewed by its holder (the scheduler leader holds the lease
-- "scheduler" and runs the periodic sweeps). One row per lease ever
-- taken; a lease is free when its row is missing or expired on the
-- clock of the replica asking. AcquireLease takes or renews one with a
-- single conditional upsert, so two replicas never both hold it.
-- Keep in step with ../postgres/0008_leases.sql.

CREATE TABLE leases (
    name    TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
    holder  TEXT    NOT NULL CHECK (holder <> ''),
    expires INTEGER NOT NULL
) STRICT;
