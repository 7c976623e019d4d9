// Package workerproto is the versioned contract between `basalt worker` and
// the server: endpoint paths, the messages of the server → worker stream,
// the worker's requests, and the job journal's record format. It holds no
// transport code; internal/api/workerapi (server) and internal/worker
// (client) implement the two sides, and docs/worker-protocol.md describes it
// for people.
package workerproto
