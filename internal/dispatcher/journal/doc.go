// Package journal writes and reads a job's journal: the file log.ndjson in
// the job directory, one workerproto.Record per line.
//
// A Writer is the only writer of a journal. It appends complete lines only,
// each with one write(2) call (several records may share one call, never a
// record two), so a reader tailing the file sees whole records, except at
// the very tail while a write is in progress. It fsyncs the file every
// SyncInterval while records keep coming and once more at Close. Every
// message passes through the mask first: each secret registered with Mask
// is replaced by "[MASKED]".
//
// Methods that log do not return errors: the first write or sync error is
// kept, later records are dropped, and Err and Close report it. A job whose
// journal failed is not complete, and the job process says so by exiting
// without a result file.
package journal
