// Package apierr is the one mapping from Basalt's domain errors (the
// sentinels of internal/lab, the positioned errors of job definitions and
// device dictionaries, an over-long request body) to what goes on the wire:
// an HTTP status, a stable machine code and a message, with the problems'
// positions where there are some. The REST API, the web UI and the worker
// API all answer through it, so one error gets one status everywhere;
// later transports (XML-RPC faults, REST v0.2) derive their codes from the
// same Mapped value. Internal errors never show their text: transports log
// them and answer InternalMessage. The server's conditions (its disk full:
// 507, its database unavailable: 503) answer a fixed message and a
// Retry-After; transports report them to the app, which logs them once per
// episode.
package apierr
