// Package notify sends the notifications of jobs' notify blocks (LAVA's
// notify: reference §10): the callbacks, over HTTP, and the e-mails,
// through the SMTP server the lab is configured with.
//
// The app queues the deliveries in the transaction that moves a job to
// Running or Finished (internal/app, notify.go); a Sender, started by the
// server beside the scheduler loop, claims the due ones from the store,
// tries each with a timeout, and records every attempt. A failed attempt
// is retried with exponential back-off up to a bound; the queue is the
// database, so nothing is lost when a server stops, and the claims make
// two servers on one database share it without sending a delivery twice.
//
// A callback is LAVA's request: GET without a body, or POST of the job's
// data (id, status, state, health, times, submitter, definition, metadata
// and, per dataset, the log and the results) form-encoded or as JSON,
// with the job's token in the header the definition names. Basalt adds
// X-Basalt-Delivery (the delivery's id, the same on every attempt: a
// receiver deduplicates by it) and, when the server has a callback
// secret, X-Basalt-Signature: sha256=<hex HMAC-SHA256 of the body>.
//
// Where callbacks may go is app.CallbackPolicy: the administrator's
// allowed hosts, or else public addresses only, checked on the address
// actually dialled.
package notify
