// Package simdevice is a simulated device under test: a scripted serial
// console in the job process, for tests, demos and scale benchmarks of the
// whole pipeline without hardware or QEMU.
//
// A device is described by a device dictionary in plain YAML whose
// top-level simulated: mapping holds its settings (see Config and
// ParseDictionary; docs/simulated-devices.md lists them with examples).
//
// Power-on prints a kernel-like boot log: Config.BootLines lines (the first
// one contains "Linux version"), each padded to Config.LineLength bytes and
// spread evenly over Config.BootTime; then either a kernel panic (FailBoot:
// the console then stays silent) or an optional login dialogue and the shell
// prompt. The shell echoes every line it reads, like a terminal, and answers
// a small command set (echo, uname, true, false, cat, sleep, exit, flood) and
// LAVA's test helpers lava-test-case, lava-test-set, lava-test-raise,
// lava-test-event and lava-test-reference, which print the console signals
// LAVA's helper scripts print, and the multinode calls lava-send, lava-wait,
// lava-wait-all and lava-sync, which print LAVA's <LAVA_MULTI_NODE> lines
// and, for the waits, read the dispatcher's answer and keep it in
// MultinodeCache (cat prints it). Unknown commands print "sh: X: not found".
//
// Output is deterministic for a given configuration and input (kernel
// timestamps are computed, not measured), which keeps golden logs stable.
// The console stream lives as long as the Device: it survives power
// cycles, like a serial line, and Close ends it (Read returns io.EOF once the
// buffered output is drained).
package simdevice
