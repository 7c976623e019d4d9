// Package pyyaml writes YAML byte for byte as LAVA's server writes it, so
// that what Basalt serves to LAVA's clients (job logs, results exports,
// device checks) reads exactly as LAVA's.
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
// quoted. AppendDoubleQuoted and Float are its double-quoted scalar and
// its text of a float, for writers of their own (Jinja2's yaml_quote).
// The package's tests compare its output with PyYAML's on the host.
//
// Values are internal/pyfmt's: nil, bool, string, pyfmt.Int, int, int64,
// float64, []any, []string and pyfmt.Map.
package pyyaml
