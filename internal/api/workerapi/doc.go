// Package workerapi is the server side of the worker protocol
// (internal/workerproto): the join exchange, the long-lived server → worker
// stream of assignments, cancellations and pings, heartbeats, job start and
// finish, and idempotent, offset-tagged log uploads acknowledged once stored
// durably. It turns HTTP into internal/app calls and pushes the app's job
// events to the connected worker the moment they are committed.
package workerapi
