// Package lavalog writes job log records in LAVA's log format, the one
// LAVA's APIs serve (REST v0.2 jobs/<id>/logs/, XML-RPC
// scheduler.jobs.logs and scheduler.job_output) and its clients parse:
// one record a line, prefixed "- " so that a whole log is a YAML list,
// each record a YAML flow mapping written as LAVA's dumper writes it
// (PyYAML's C dumper with default_style='"' and default_flow_style=True,
// internal/pyyaml's FlowQuoted): every scalar double-quoted, non-ASCII
// characters escaped, numbers, booleans and null as a non-specific tag
// before their quoted text (`! "10"`), keys in the record's order. A
// results record, for instance (after its "- "):
//
//	{"dt": "2026-08-21T10:00:00.123456+00:00", "lvl": "results", "msg": {"case": "uname", "measurement": ! "1.5", "starttc": ! "10"}}
//
// The records come from the log store, one JSON object a line ({"dt",
// "lvl", "msg"[, "ns"]}, workerproto.Record); their "dt" is written as
// Python's isoformat of the UTC time (microseconds unless zero, +00:00).
package lavalog
