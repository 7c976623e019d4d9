// Package server wires a Basalt server together: it opens the store
// (SQLite in the data directory, or PostgreSQL), builds the app layer, mounts
// the REST API and health probe on one HTTP listener (HTTP/1.1, HTTP/2 with
// TLS, and h2c), runs the scheduler loop, and shuts all of it down
// gracefully. It is the only package that knows every server-side piece.
//
// It also bounds what one client can hold (Limits, limits.go): open
// connections per client address, the time headers may take, and a read
// deadline on request bodies that moves as they arrive, so slow clients
// cannot keep connections and handlers forever while streams without a
// body (the worker link, Server-Sent Events) are left alone.
package server
