// Package rest is Basalt's JSON API under /api/v1: a route table mapped onto
// internal/app use cases, authentication from `Authorization: Token …` or
// HTTP Basic `user:token`, strict JSON decoding, and one error shape with a
// stable code per class of domain error (lab.ErrNotFound → 404 not_found,
// …). The OpenAPI description is generated from the route table and the wire
// types, and served at /api/v1/openapi.json. Authorization decisions live in
// internal/app and internal/auth, never here.
package rest
