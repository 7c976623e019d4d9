// Package download fetches deploy images (LAVA deploy URL items: url,
// compression, md5sum, sha256sum, sha512sum) into a cache directory shared
// by the jobs of a worker.
//
// # Layout
//
// A Cache over DIR keeps:
//
//	DIR/objects/<key>       the final, decompressed file
//	DIR/objects/<key>.meta  its size and sha256 (JSON), written first
//	DIR/locks/<key>.lock    the per-key flock(2) file (never removed)
//	DIR/tmp/                downloads and decompressions in progress
//
// A download goes to a temporary file in DIR/tmp, its checksums are
// verified against the downloaded (still compressed) bytes as LAVA does, it
// is decompressed into a second temporary file, synced and renamed into
// DIR/objects, so a partial file is never visible under its final name.
//
// # Keys
//
// An item with a checksum is keyed by it (sha512 before sha256 before md5)
// and its compression, so the same checksummed image is reused whatever
// URL it came from. Without a checksum the key is sha256(URL + "\n" +
// compression).
//
// # Sharing
//
// Fetch calls for one key within a process join one download. Across
// processes sharing DIR, the per-key lock file serializes the check and the
// download (exclusive lock), and every entry in use holds a shared lock on
// it until Release, so no process evicts what another one serves.
//
// # Size bound
//
// After an entry is added, least recently used entries (by modification
// time, which Fetch refreshes on every use) are removed until the objects
// fit in the bound, skipping entries in use here or in another process. An
// entry in use may keep the cache above the bound.
package download
