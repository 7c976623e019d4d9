// Package dispatcher is the job process: what `basalt worker run-job DIR`
// does for one job (LAVA's lava-run). The worker daemon writes the job's
// assignment to DIR/job.json and starts the process; Run reads it, runs
// the job's pipeline against the device and leaves the journal
// (DIR/log.ndjson) and the result (DIR/result.json) behind. jobdir.go
// states the directory contract exactly.
//
// # Pipeline
//
// Run validates first (LAVA's validate step): it parses the definition,
// opens the device named by the assignment (OpenDevice: its dictionary,
// parsed and resolved with the job's context by package devicedict, gives a
// QEMU device — package qemu — or a simulated one — package simdevice) and
// builds one Action per job action — deploy (tmpfs, downloads, download:
// images fetched through the worker's download cache, package download,
// and the LAVA test overlay appended to a cpio ramdisk with overlays:
// {lava: true}, package overlay), boot (qemu, minimal, the bootloader
// methods on boards, with auto_login and kernel panic detection; and
// new_connection, which opens a board's secondary connection for its
// namespace: connections.go), test (definitions inline or from git, run by
// lava-test-runner from the overlay, or typed on the console of a device
// without one; interactive scripts; monitors) and command (the device's
// user_commands, undone at finalize) — refusing what the device cannot do
// (git definitions without an overlay, images QEMU cannot attach). It then runs the actions in order under the job timeout (the
// assignment's, or timeouts.job) and always runs finalize, which powers the
// device off, runs the session's cleanups and closes its consoles, under
// its own timeout. Settings of the worker host (cache directory, proxy)
// come from DIR/settings.json (settings.go).
//
// Each action runs with a timeout resolved by LAVA's rules (timeouts.go,
// lowest priority first: the job's timeouts.action, the device's
// timeouts.actions.<name> (DeviceTimeouts for names it has none for), the
// block's timeout, the retrying parent's timeout ÷ its attempts, the job's
// timeouts.actions.<name>, the block's timeouts.<name>; 30 s without any),
// capped by the time its parent and the job have left. An action with
// failure_retry or repeat (or the device's failure_retry and boot_retry)
// bounds all its attempts by its timeout and gives each attempt, and each
// sub-action, its share; a test block's own timeout with skip: true
// continues with the next action when the test times out. Sub-actions
// (Env.RunChild) get levels such as "2.1". Connection timeouts (the job's
// timeouts.connection, the device's timeouts.connections.<name>, the job's
// timeouts.connections.<name>) bound the prompt after each login command
// and a monitor's waits, as in LAVA.
//
// A timeout that ends a wait on the console (Conn.Expect) says what the
// wait was for, how long it lasted and the last line the console printed,
// escaped: "boot-qemu-image timed out after 120 seconds: waited 118 s for
// prompt 'root@debian:~# '; last line: '/ # '". Conn tracks that line
// without allocating.
//
// # Journal
//
// Everything goes to the journal (package journal) as LAVA-style records:
// "start: 2 boot-qemu-image (timeout 00:02:00 from the device's
// timeouts.actions.boot-qemu-image)" (LAVA's record, and where the timeout
// came from) and "end: … (duration 00:00:01)" info records around every
// action, a results record
// in the lava suite per action (case = action name, with duration and
// level), every console line as a target record (a feedback record with
// its namespace when the running action uses another of the job's
// consoles), every line sent as an input record, test results in the suite "<index>_<name>", and last the
// lava/job result with its error type and message. Secrets of the job and
// the job token are masked.
//
// # Console signals
//
// The test shell reads LAVA's console signals (<LAVA_SIGNAL_TESTCASE …>,
// STARTRUN/ENDRUN, TESTSET, TESTRAISE, …) with ParseSignal, which tolerates
// kernel messages on the same line and partial lines, and applies the
// definitions' parse: patterns (parse.go) inside their runs. With the
// overlay on the device, each test action types `. ROOT/environment` and
// `ROOT/bin/lava-test-runner ROOT/<stage>` and reads the runs' signals
// until the runner's exit marker; without it (simulated devices), the
// steps of inline definitions are typed as shell commands between echoed
// STARTRUN and ENDRUN signals.
//
// # Multinode
//
// A job of a multinode group (Assign.Multinode) keeps the actions of its
// role, joins its group before the first action (group_data, then
// lava_start for a delayed start) and leaves it in finalize
// (clear_group), as LAVA's MultinodeProtocol does. Its calls go through a
// Coordinator: the worker's Unix socket in the job directory
// (SocketCoordinator), one JSON line each way, held by the server until
// the answer is not "wait". In its test shells, the DUT's
// "<LAVA_MULTI_NODE> <LAVA_SEND …>" lines become calls, made on a goroutine
// of their own, recorded as multinode-<api>-<id> test cases and answered
// on the console (<LAVA_WAIT_COMPLETE …>); interactive scripts and action
// blocks (protocols) make the same calls. A call without an answer in time
// is LAVA's MultinodeTimeout. docs/multinode.md has the details.
//
// # Console sessions
//
// A reservation's job (Assign.Console) runs an interactive console
// session of its board instead of a pipeline (consolesession.go): the
// board's console and power commands as a job uses them, every byte the
// board prints recorded as target records that concatenate back to the
// console's bytes, the holder's input applied from the console socket
// (consolesocket.go: ListenConsole, each input once, in Seq order,
// acknowledged to the worker), power actions and lost consoles recorded,
// until the session is canceled; then the board is powered off.
// docs/worker-protocol.md, "Console sessions", has the records and the
// socket's protocol.
//
// # Errors
//
// Actions fail with *Error values carrying LAVA's error types (package
// lab): Infrastructure, Job, Test, Configuration, MultinodeTimeout;
// timeouts become LAVATimeout, a cancel Canceled, anything unclassified
// Bug.
//
// The package imports no HTTP, database or server package: it only needs
// jobdef, lab, workerproto and its own subpackages.
package dispatcher
