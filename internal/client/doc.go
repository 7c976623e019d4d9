// Package client is a small Go client for Basalt's REST API (/api/v1).
//
// A Client is made with New from a base URL (the server's address, with or
// without the "/api/v1" suffix), an optional username and an API token.
// Requests carry "Authorization: Token <secret>", or HTTP Basic
// "username:token" when a username is configured, which the server accepts
// alike. Every route of rest.Routes has one method, which returns the wire
// types of internal/api/rest.
//
// Failures come in two kinds: an *APIError when the server answered with an
// error status (its body, wire.ErrorResponse, decoded), and a *ConnectionError
// when the server could not be reached at all.
package client
