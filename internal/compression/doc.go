// Package compression reads and writes the stream compressions a job
// definition names for its images (an image's compression: gz, bz2, xz or
// zstd), as LAVA's dispatcher does with gzip, bzip2, xz and zstd. zip,
// the other value LAVA accepts, is an archive of files rather than a
// stream, and is not handled here.
//
// NewReader decompresses (concatenated streams read as one, as the
// command-line tools do); NewWriter compresses in the form the Linux
// kernel unpacks for an initramfs: xz with a CRC-32 check (LAVA's
// xz --check=crc32; the kernel's xz decoder takes no CRC-64), and bz2
// through Debian's bzip2 program, since Go's library has no bzip2
// compressor. Both stream: memory stays bounded whatever the size.
package compression
