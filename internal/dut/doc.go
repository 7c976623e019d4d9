// Package dut builds Basalt's own device under test for QEMU: Debian's
// kernel (linux-image-amd64) and a small initramfs made here from Debian's
// static busybox, whose init respawns a login shell with the prompt "/ # "
// on the first serial port. The initramfs is written in the kernel's newc
// cpio format by package cpio (no external cpio tool). Tests and the
// all-in-one lab boot it under QEMU with software emulation (TCG).
package dut
