// Package pyfmt writes values as Python and PyYAML write them, for the
// formats Basalt shares with LAVA: Python's repr of a float, PyYAML's
// double-quoted scalars (its C dumper without allow_unicode, as LAVA's
// log dumper and yaml_quote filter use it) and datetime.isoformat of a UTC
// time. The Jinja2 engine (internal/jinja) and the LAVA log format
// (internal/lavalog) both write with it.
package pyfmt
