// Package jinja is Basalt's own Jinja2 template engine, written to render
// LAVA's device-type templates and device dictionaries exactly as LAVA's
// Python Jinja2 environment does (jinja2.sandbox.SandboxedEnvironment with
// autoescape off and trim_blocks on; NewLAVA sets this up, with LAVA's
// filters shlex_quote, yaml_quote and qemu_guest_fs_interface).
//
// The package owns the lexer, parser and renderer, the Python value model
// the templates compute with, the loaders, and two analyses: Env.Undeclared
// (the context variables a template chain can read, which device
// dictionaries set) and Env.Declarations (a template's top-level items
// with their positions, how internal/devicedict reads dictionaries).
//
// Supported surface: {{ }}, {% %}, {# #}, whitespace control (- and +),
// trim_blocks, lstrip_blocks, raw; extends (also with a variable), block
// (scoped), super(), self.name(), set (single, tuple unpacking, namespace
// attributes, block set with filters), if/elif/else, for (else, filtering
// with if, unpacking, recursive, loop.index/index0/revindex/revindex0/
// first/last/length/depth/previtem/nextitem/cycle/changed), macro, call
// blocks with caller, include (with/without context, ignore missing),
// import and from-import, filter blocks, with, print. Expressions have
// Python precedence and semantics: literals, attribute/item access with
// Jinja2's fallbacks, slices, calls with keyword and * / ** arguments,
// filters, tests, and/or/not, in/not in, chained comparisons, ~, + - * /
// // % ** (int stays int: 2 ** 3 is 8), conditional expressions. Globals:
// range (capped at 100000 like the sandbox), dict, namespace. Methods of
// str, dict and list that templates use (get, items, keys, values, update,
// split, strip, replace, startswith, format, join, append, ...).
//
// Values follow Python: None, bool, int (int64; overflow is an error where
// Python would grow), float, str, *List, Tuple, *Dict (ordered, Python key
// equality), and *Undefined with Jinja2's default Undefined behaviour.
// Output is Python's str(): True, None, ['a', 1], {'k': 'v'}, ('a',),
// 1.0, 1e+20. Render contexts take Go values (see FromGo); plain Go maps
// are ordered by sorted keys, pass a *Dict to choose the order.
//
// Differences from Jinja2 that cannot matter to LAVA's templates: filters
// that return iterators in Python (map, select, reverse, ...) return lists,
// so printing them directly shows the list rather than "<generator ...>";
// dict.items() returns a list of tuples; autoescape, i18n, the do and loop
// control extensions and async are not supported.
//
// Every failure is an *Error with the template name, line and column, and
// the include/extends chain; the template source is never copied into the
// message. Limits bound source size, nesting, template depth (extends and
// include cycles), output and value size, loop iterations and macro
// recursion, so hostile templates (device dictionaries are uploaded by
// users) end in an error, never a panic or a hang.
//
// The differential test (lava_diff_test.go) renders every device type of
// Debian's lava-server package, plus generated device dictionaries and
// contexts over each, with this package and with Python Jinja2
// (testdata/render.py), and requires identical YAML.
package jinja
