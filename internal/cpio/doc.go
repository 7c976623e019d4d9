// Package cpio reads and writes the "newc" cpio format (magic 070701), the
// format the Linux kernel unpacks into its initramfs.
//
// Every entry is a 110-byte ASCII header of thirteen 8-digit hexadecimal
// fields, the NUL-terminated name and the data, name and data each padded
// with zeros to a multiple of four bytes counted from the start of the
// archive; a "TRAILER!!!" entry ends the archive. Writer records every
// entry with uid, gid and mtime 0 (reproducible archives) and numbers
// inodes from 1; hard links are not written. Reader accepts both newc
// magics (070701, and 070702 whose checksum it does not verify).
//
// The kernel accepts several archives one after the other, each compressed
// on its own or not (see the overlay package, which appends one to a
// ramdisk); an uncompressed archive must start at an offset that is a
// multiple of four.
package cpio
