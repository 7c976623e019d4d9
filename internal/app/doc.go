// Package app holds the server's use cases — submit, cancel and resubmit
// jobs, manage devices, types, tags, workers, users, groups and tokens,
// authenticate callers, and drive the scheduler loop — over the store port.
// It checks permissions with internal/auth, validates definitions with
// internal/jobdef, asks internal/scheduler for decisions and commits each one
// atomically, and explains with the scheduler's own rules why a queued job
// waits (ExplainJob). It knows nothing of HTTP; transports call it and map its
// errors (wrapped lab sentinels) to their own codes.
package app
