// Package wire holds the JSON shapes of Basalt's REST API (/api/v1): the
// request bodies, the responses and the error envelope. The server's
// handlers (internal/api/rest) and the Go client (internal/client) both use
// these types, so the client depends on the wire format only, never on the
// server. Enumerations travel as LAVA's display names ("Submitted", "Good",
// "Online"); times as RFC 3339 UTC, null when unset.
//
// The package imports only the standard library: later transports (REST
// v0.2, XML-RPC) and clients can share it without pulling in the server.
package wire
