// Package worker is the `basalt worker` daemon: the lab host side of the
// worker protocol (internal/workerproto).
//
// A Worker keeps one outbound HTTP connection to the server (HTTP/2 over TLS
// with ALPN, or h2c on plain HTTP, with an automatic fall-back to HTTP/1.1
// for plain reverse proxies). Over it runs the server → worker stream of
// frames (hello, assign, cancel, ping), the heartbeats, and every job's
// start, log upload and finish requests. Given several server URLs
// (replicas of one lab on one database), it uses one at a time and moves
// to the next when that one fails, sending the failed request again there:
// every request of the protocol can be repeated.
//
// Each assigned job gets a directory DATA/jobs/<id>/ holding the assignment
// (job.json), the worker's bookkeeping (state.json), and what the job
// process `basalt worker run-job DIR` produces: its journal (log.ndjson),
// its result (result.json) and its stdout/stderr. The job process runs in
// its own session, so it survives the worker: a restarted worker (even after
// kill -9) finds it again through state.json and /proc, resumes the upload
// from the last acknowledged offset and reports the end. Nothing the job
// wrote is lost or sent twice: uploads are tagged with their offset, the
// server acknowledges what it stored durably, and the finish carries the
// size and SHA-256 of the whole journal.
//
// A reservation's console session (Assign.Console) gets its holder's
// input through the worker (console.go): the worker long-polls the server
// over the same link and hands the inputs to the job process on the job's
// console socket, acknowledging only what the job process applied.
//
// The package talks to the server only over HTTP; it imports no server
// package.
package worker
