// Package devicedict reads, validates and resolves device dictionaries: the
// per-device settings (lab.Device.Dictionary) that say how a device under
// test is run.
//
// Two forms are accepted. LAVA's form is a Jinja2 child template. It is
// read with internal/jinja's own lexer and parser (jinja.Env.Declarations,
// with LAVA's settings) — the engine that renders it, so there is one
// reader of dictionaries and Parse accepts nothing the renderer would not
// parse. Its top level may hold only:
//
//   - exactly one {% extends '<template>.jinja2' %} (a string literal);
//   - {% set NAME = LITERAL %}, where a literal is a string (adjacent
//     strings are joined), an integer, a float, true, True, false,
//     False, none, None, a signed number, or a list, tuple or dict of
//     literals (dict keys are strings, each written once), nested at most
//     MaxDepth levels;
//   - {% set NAME = OTHER | default(LITERAL) %} (or | d(LITERAL)), which
//     reads the job's context variable OTHER (usually NAME itself);
//   - {# comments #}, blank lines and YAML comment lines (# …);
//   - whitespace control (-, +) on any tag.
//
// A name is set once. Anything else is reported with its position, and
// Parse goes on reading: other statements (block, if, for, macro,
// include, import, print, …; reported once, at their {%, with their body),
// {{ }} output, other text, other expressions (variables, operators,
// other filters, set blocks, several targets, attributes). Jinja2 syntax
// errors carry the engine's own message and position; reading resumes
// after a syntax error inside a bodiless top-level tag (set, extends, an
// unknown tag) and stops at a lexical error or one inside a body. The
// plain form is a YAML mapping of the same variable names with an
// optional extends: key. Empty text is a device without a dictionary.
//
// Parse checks the syntax; Dict.Validate checks the variables against the
// template's schema (LAVA's qemu.jinja2 and base.jinja2 variables, and
// Basalt's simulated devices) and reports every problem at once, with
// positions, as *Errors. The server validates dictionaries when they are
// uploaded. Dictionaries of qemu devices and boards are rendered with their
// device-type templates (Renderer, as LAVA does); QEMUConfig reads a qemu
// device's command from its rendered configuration. The job process
// resolves a simulated device's dictionary with the job's context
// (Dict.Resolve) and reads typed settings from the result (UserCommands,
// Environment, ReadConstants, Timeouts, …).
//
// The package has no transport, storage or dispatcher dependencies other
// than the simulated device's configuration rules (simdevice.ParseConfig).
package devicedict
