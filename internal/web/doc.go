// Package web is Basalt's browser interface: server-rendered HTML pages
// (html/template) with embedded assets (one stylesheet, one small script),
// no Node build. It calls only the use cases of internal/app, always with
// the caller's principal where the app takes one, so pages honour job
// visibility exactly as the REST API does: a job the caller may not see
// answers 404, as if it did not exist.
//
// Authentication is the REST API's (an `Authorization: Token <secret>` or
// HTTP Basic `user:token` header) or, for browsers, a session cookie from
// the login page (session.go); without either the caller is anonymous and
// sees public objects only.
package web
