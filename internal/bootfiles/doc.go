// Package bootfiles is the worker's boot-file server: what bootloaders on
// physical boards (U-Boot, iPXE, GRUB, PXE ROMs) fetch their kernel,
// ramdisk and device tree from, over TFTP (package tftp, read-only) or
// HTTP (GET and HEAD, with ranges), from the same directory tree.
//
// The tree is one directory opened with os.Root. Nothing in it is served
// unless a job published it: Publish(jobID) makes a fresh directory
// jobs/<id>-<random> (only [A-Za-z0-9._-] in the name; other characters
// of the ID become "_") and returns its absolute path, for the deploy step
// to write the job's files into, and the prefix a bootloader puts in front
// of their names ("jobs/42-1f3a.../kernel/vmlinuz", with or without a
// leading "/"; over HTTP "/jobs/42-1f3a.../kernel/vmlinuz" relative to
// where the handler is mounted). Unpublish(jobID) withdraws the directory
// and removes it; transfers of its files in flight fail at their next
// read. Files elsewhere under the root, those of unpublished jobs, ".."
// elements, symlinks leaving the job's directory (each is an os.Root), directories (no listings) and
// anything but regular files are refused: TFTP answers "file not found"
// or "access violation", HTTP 404 (400 for a path with "..").
//
// New clears the jobs directory a previous run may have left behind, so
// a restarted worker serves nothing stale. The TFTP side's limits and log
// are set on Server.TFTP before ServeTFTP.
package bootfiles
