// Package lavarest serves LAVA's REST API v0.2 at /api/v0.2/, so that
// clients written for LAVA — KernelCI's LAVA runtime, CI scripts — work
// against Basalt unchanged: `Authorization: Token <secret>`, LAVA's paths
// with their trailing slashes (a path without one is redirected, as
// Django does), Django REST Framework's pagination ({count, next,
// previous, results}, ?limit=&offset=, 50 a page), filters
// (field__lookup=value) and ordering, LAVA's field names and display
// strings, job submission, validation, cancel and resubmission, logs in
// LAVA's YAML format (package lavalog) and results as JSON, CSV, YAML,
// JUnit and TAP13. The shapes are in package lavawire; docs/lava-clients.md
// lists the endpoints and where Basalt differs.
//
// Like the /api/v1 API (package rest) it calls package app with the
// caller's auth.Principal and nothing below it, authenticates through
// httpauth, maps every error with apierr (bodies in DRF's form:
// {"detail": …}, {"<field>": [...]}, LAVA's {"message": …} for refused
// submissions), bounds request bodies and sheds load with admit. A job the
// caller may not see is not found, like a missing one.
package lavarest
