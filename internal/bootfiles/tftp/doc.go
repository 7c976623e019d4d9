// Package tftp is a read-only TFTP server for the files bootloaders fetch
// (U-Boot, iPXE, GRUB, PXE ROMs): kernels, ramdisks, device trees.
//
// It implements read requests of RFC 1350 in octet and netascii modes
// (netascii turns LF into CR LF and CR into CR NUL; mail mode and write
// requests are refused, the latter with error 2 "access violation"), option
// negotiation with OACK (RFC 2347) for blksize (RFC 2348, 8..65464, capped
// by Server.MaxBlockSize), timeout and tsize (RFC 2349; for netascii the
// converted size, computed for files up to 64 MiB and left out above) and
// windowsize (RFC 7440, capped by Server.MaxWindow). Unknown or invalid
// options are left out of the OACK. A netascii transfer keeps its window in
// memory for retransmission, so its window is cut to fit 1 MiB. Block numbers wrap from 65535 to 0, as
// tftp-hpa and U-Boot expect, so files of any size can be sent.
//
// Each transfer runs in its own goroutine on its own UDP socket (a new
// transfer ID) bound to the local address the request was sent to, which
// matters on hosts with several addresses and behind QEMU's user-mode
// network. Packets from another address get error 5 and are otherwise
// ignored. A window is sent again when no acknowledgement moves it within
// the timeout, up to Server.Retries times in a row; duplicate
// acknowledgements are ignored, never answered, so the sorcerer's
// apprentice bug cannot happen. A whole transfer is bounded by
// Server.TransferTimeout and the number of transfers by
// Server.MaxTransfers (beyond it: error 0 "server busy").
//
// Files come from one directory opened with os.Root, or from Server.Open.
// A leading "/" in a request is dropped; a ".." element anywhere is
// refused with "access violation", and os.Root refuses absolute paths and
// symlinks that leave the root. Only regular files are served. Requests
// are parsed within fixed bounds (1024-byte packet, 512-byte filename, 16
// options of 64 bytes).
//
// Server.Log receives a Transfer record for every request: the client, the
// file, the bytes acknowledged, the negotiated block and window sizes, the
// duration and the error, if any.
package tftp
