// Package server wires a Basalt server together: it opens the store
// (SQLite in the data directory, or PostgreSQL), builds the app layer, mounts
// the REST API and health probe on one HTTP listener (HTTP/1.1, HTTP/2 with
// TLS, and h2c), runs the scheduler loop, and shuts all of it down
// gracefully. It is the only package that knows every server-side piece.
package server
