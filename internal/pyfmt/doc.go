// Package pyfmt writes, and reads, values as Python writes and reads them,
// for the formats Basalt shares with LAVA: repr() of a float, a str and of
// the values below (what str() gives for a dict or a list), str() and
// isoformat() of an aware UTC datetime, json.loads into values that keep
// the order of an object's keys, and json.dumps of a string (ensure_ascii).
//
// Values are Go values standing for Python's: nil (None), bool, string,
// Int (an integer of any size, as its digits), int, int64, float64, []any
// (list) and Map (a dict, its keys in order). The YAML emitter
// (internal/pyyaml) writes the same values; the Jinja2 engine
// (internal/jinja), LAVA's log format (internal/lavalog) and LAVA's APIs
// (internal/api/lavarpc, lavarest and events) write with this package.
package pyfmt
