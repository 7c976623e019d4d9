// Package jobdef parses and validates LAVA job definitions (the job YAML a
// user submits) into a typed Job that keeps the source position of the job,
// of every action and of the values inside them.
//
// # What is checked here
//
// Parse is the submission-time check. It needs nothing but the YAML text and
// rejects everything that can be known wrong without looking at the lab:
//
//   - YAML syntax, more than one document, unknown tags and aliases to
//     undefined anchors (a key written twice is a warning, see below);
//   - LAVA's top-level keys and their types: job_name (1–200 characters),
//     device_type, device, worker, priority (high/medium/low or 0–100,
//     default 50), visibility (public, personal or {group: [names]}), tags,
//     timeouts, context (LAVA's allow-list of variables, plus
//     WithExtraContext), metadata, secrets, environment, protocols, notify,
//     reboot_to_fastboot and actions;
//   - timeouts: exactly one of days/hours/minutes/seconds, an integer ≥ 1,
//     optional skip; pipeline action names match ^[a-z-]+$; every action and
//     connection timeout (global, per name and per action block) is at most
//     the job timeout;
//   - the action list: single-key mappings whose key is deploy, boot, test
//     or command, the keys every action accepts, and a typed body per family
//     (unknown keys are warnings there, see below);
//   - what this lab runs today: deploy to tmpfs, downloads or download; boot
//     methods qemu and minimal; test definitions from git or inline,
//     interactive tests and monitors. LAVA's other deploy targets, boot
//     methods, from: url, the docker test shell and test services are
//     recognised and reported as "not supported", anything else as unknown;
//   - multinode rules: with protocols.lava-multinode, top-level device_type,
//     environment, context and tags are forbidden and every action names
//     defined roles; without it device_type is required; role definitions
//     are checked (count, device/worker, host_role/expect_role), every role
//     with members has an action, the group has at most MaxGroupSize jobs;
//   - the notify block (criteria, recipients, callbacks);
//   - if any action has a namespace, all do.
//
// # Multinode jobs
//
// Split makes the jobs of a multinode submission, one per role instance,
// as LAVA's server does (lava_scheduler_app.utils.split_multinode_yaml):
// each SubJob has its definition (YAML, written from the submission's
// values) and that definition parsed. A sub-job's definition is parsed
// with the ServerGenerated option, which allows what only the server
// writes (protocols.lava-multinode with target_group, role, group_size and
// sub_id); Job.Member says which member of its group the job is, and the
// job's DeviceType, Context, Tags, Environment, Device and Worker are its
// role's. Without ServerGenerated that form is refused.
//
// # What is checked later
//
// Parse does not know the lab. The server checks at submission that the
// device type, device, worker and tags exist and that the submitter may use
// them; the dispatcher checks on the worker, against the rendered device
// configuration, that the device supports the deploy target and boot method,
// that named command sets and user commands exist, and fills in device
// timeouts. Action.Raw carries each action block as plain values for it, and
// Job.PosOf maps an error path back to a source position.
//
// # Errors
//
// A failed Parse returns *Errors: every problem found in one pass (up to
// 100), sorted by position, each formatted as
//
//	12:5: $.actions[1].boot.method: boot method "fastboot" is not supported (supported: minimal, qemu)
//
// that is line:column, the path of the value in the document and what was
// expected. YAML syntax errors carry a position but no path. errors.Is(err,
// lab.ErrInvalid) holds for every error Parse returns.
//
// # Warnings
//
// What LAVA's submission accepts but is most likely a mistake is accepted,
// and said in Job.Warnings (positioned like errors): a mapping key written
// twice (the last value is used, as PyYAML reads it), an unknown key where
// LAVA's submission schema lets any key through (action blocks and what
// they hold, notify, multinode roles; it is ignored), auto_login on a boot
// without prompts (ignored, as LAVA logs in only with prompts). Where LAVA's
// submission refuses unknown keys (the top level, timeouts, context,
// auto_login, interactive tests, monitors, recipients, protocols), and for
// keys LAVA runs and Basalt does not, they are errors. With the Strict
// option every warning is an error at the same place: LAVA's strict
// validation.
//
// # YAML dialect
//
// The YAML is read as YAML 1.2 (github.com/goccy/go-yaml), while LAVA reads
// it with PyYAML (YAML 1.1). Where the two disagree on something the job
// depends on, Parse refuses instead of guessing: a boolean field given yes,
// no, on, off, y or n, and an integer with a leading zero (octal in YAML
// 1.1), are errors. In free-form maps (metadata, environment, params) such
// scalars stay strings. Anchors, aliases and merge keys (<<) are supported.
//
// # Limits
//
// Parse never panics and bounds its work on hostile input: at most
// MaxSourceSize bytes, MaxDepth levels of nesting, MaxKeys keys in one
// block mapping, and MaxAliasExpansion nodes added by aliases and merge
// keys. These are checked on the token stream before the YAML parser, whose
// cost grows faster than linearly with nesting and mapping size, runs.
//
// The package imports only the standard library, internal/lab and the YAML
// library; any layer may use it.
package jobdef
