// Package lavawire holds the JSON shapes of LAVA's REST API v0.2 as
// Basalt serves it at /api/v0.2 (internal/api/lavarest): LAVA's field
// names, Django REST Framework's pagination envelope and date format, the
// display strings of states and healths. Clients written for LAVA
// (KernelCI's LAVA runtime, CI scripts) read these shapes unchanged.
//
// The package imports only the standard library, so a Go client of the
// v0.2 API depends on the wire format only, never on the server.
package lavawire
