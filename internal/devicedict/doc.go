// Package devicedict reads, validates and resolves device dictionaries: the
// per-device settings (lab.Device.Dictionary) that say how a device under
// test is run.
//
// Two forms are accepted. LAVA's form is a Jinja2 child template made of
// exactly one {% extends '<template>.jinja2' %}, {% set NAME = LITERAL %}
// statements and {# comments #}; a value may also read the job's context
// with NAME | default(LITERAL). No other Jinja2 construct is accepted: Parse
// names anything else (blocks, if/for, other filters, expressions, {{ }}
// output) with its position rather than ignoring it. The plain form is a
// YAML mapping of the same variable names with an optional extends: key.
// Empty text is a device without a dictionary.
//
// Parse checks the syntax; Dict.Validate checks the variables against the
// template's schema (LAVA's qemu.jinja2 and base.jinja2 variables, and
// Basalt's simulated devices) and reports every problem at once, with
// positions, as *Errors. The server validates dictionaries when they are
// uploaded; the job process resolves them with the job's context
// (Dict.Resolve) and reads typed settings from the result (QEMUConfig,
// UserCommands, Environment, ReadConstants, Timeouts, …).
//
// The package has no transport, storage or dispatcher dependencies other
// than the simulated device's configuration rules (simdevice.ParseConfig).
package devicedict
