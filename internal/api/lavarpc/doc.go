// Package lavarpc serves LAVA's XML-RPC API at /RPC2 (and /RPC2/), so that
// lavacli, and scripts written against LAVA's XML-RPC, work unchanged
// against Basalt: the method names, argument order, return shapes and
// fault codes are LAVA's (docs/lava-clients.md lists them).
//
// Authentication is LAVA's: HTTP Basic with the user name and an API token
// (lavacli puts them in the URL, https://user:token@host/RPC2). A request
// without credentials is anonymous; bad credentials are HTTP 401 "Invalid
// token", another scheme HTTP 400, as in LAVA. Errors of methods are
// faults whose codes are HTTP statuses (400, 401, 403, 404, 409, 500, …)
// from the one mapping every transport uses (package apierr); errors of
// the call itself use the XML-RPC codes LAVA uses (-32601 no such method,
// -32602 bad parameters, -32600 a body that is not XML-RPC).
//
// Methods are declared once in a table (Methods), which also answers
// system.listMethods, system.methodHelp and system.methodSignature; each
// calls package app, never a store.
package lavarpc
