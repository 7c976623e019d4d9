// Package pyyaml writes YAML, and Python's repr, byte for byte as LAVA's
// server writes them, so that what Basalt serves to LAVA's clients (the
// XML-RPC API's job logs and results exports) reads exactly as LAVA's.
//
// LAVA dumps with PyYAML's safe dumper backed by libyaml (CSafeDumper,
// through lava_common.yaml.yaml_safe_dump: keys in insertion order, no
// Unicode in the output). Dump writes a value the way
// yaml_safe_dump(value) does (block style, 80 columns, scalars folded as
// libyaml folds them); FlowQuoted writes it the way LAVA's log records
// are written (default_flow_style=True, default_style='"': one flow line,
// every scalar double-quoted, non-strings tagged "!"). The emitter follows
// libyaml's rules for choosing a scalar style (plain, single- or
// double-quoted) and PyYAML's implicit resolvers, so that a string that
// would read back as another type ("12", "true", "null", "2026-01-02") is
// quoted. The package's tests compare its output with PyYAML's on the
// host.
//
// Values are Go values standing for Python's: nil (None), bool, string,
// Int (an integer of any size, as its digits), int, int64, float64, []any
// (list) and Map (a dict, keys in order).
package pyyaml
