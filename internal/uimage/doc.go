// Package uimage reads and writes U-Boot's legacy image header: the 64
// bytes that `mkimage -A ARCH -T ramdisk -C none` puts before a ramdisk
// (and `-T kernel` before a kernel) so that U-Boot's bootm can check and
// place it. A tftp deploy removes the header from a ramdisk the job says
// carries one (header: u-boot), adds the test overlay, and puts a header
// back when the device's configuration asks (add_header: u-boot, with
// mkimage_arch).
//
// The format is U-Boot's (include/image.h): big-endian fields, CRC-32
// (IEEE) of the header with its CRC field zeroed and of the data. The
// tests check Wrap's output with Debian's mkimage and dumpimage.
package uimage
