// Package overlay builds what LAVA puts on a device for its test shell:
// the overlay directory (lava_test_results_dir, /lava-<job id> by default)
// with the helper scripts in bin/, the environment and secrets files and,
// per test action ("stage"), lava-test-runner.conf and one directory per
// test definition with its run.sh, install.sh, uuid, testdef.yaml and the
// repository checkout. The dispatcher then sources <root>/environment and
// runs <root>/bin/lava-test-runner <root>/<stage> on the console, and reads
// the console signals the scripts print (dispatcher.ParseSignal).
//
// The parts, in the order the dispatcher uses them:
//
//   - ParseTestdef and InlineTestdef read Lava-Test Test Definition 1.0
//     files (errors with line:column) and inline definitions.
//   - FetchGit clones a from: git definition with the git command (hooks
//     off, no prompts, cancellable) and reads its test definition;
//     FetchInstallRepos clones install: git-repos. Errors wrap
//     ErrUnreachable, ErrRevisionNotFound or ErrPathNotFound.
//   - Build lays the overlay out as a Tree (entries in order, repository
//     files read only when written).
//   - Tree.WriteCPIO writes it as a newc archive, Tree.WriteDir into a
//     host directory, and AppendToRamdisk appends it, gzip-compressed, to
//     a cpio ramdisk (the kernel unpacks concatenated archives).
//
// The helper scripts (lava-test-case, lava-test-set, lava-test-runner, …)
// are Basalt's own POSIX sh, written for busybox ash, dash and bash; they
// print exactly the signals LAVA's print. docs/test-overlay.md documents
// the layout, every script and what differs from LAVA.
package overlay
