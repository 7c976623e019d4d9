package journal

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/basalt-lab/basalt/internal/workerproto"
)

// SyncInterval is how often a Writer fsyncs a journal that received records.
const SyncInterval = 100 * time.Millisecond

// Masked replaces every secret in a journal message.
const Masked = "[MASKED]"

// MaxMsgLen bounds a text message in bytes; longer messages are cut and end
// with TruncatedSuffix. LAVA replaces records of 100 000 characters or more.
const MaxMsgLen = 64 << 10

// TruncatedSuffix ends a message cut to MaxMsgLen.
const TruncatedSuffix = " …[truncated]"

// flushSize is the most a batch buffers before it writes anyway.
const flushSize = 256 << 10

// errClosed is kept as the error of a Writer used after Close.
var errClosed = errors.New("journal: closed")

// Writer appends records to one journal file. It is safe for concurrent use;
// records are written in the order their methods took the Writer's lock, and
// their times are taken under that lock, so they never go backwards in the
// file.
type Writer struct {
	f *os.File

	mu      sync.Mutex
	secrets []string
	mask    *strings.Replacer // nil: nothing to mask
	buf     []byte            // complete encoded lines not yet written
	depth   int               // open Batch calls
	err     error             // first failure; sticky
	closed  bool
	records int64
	written int64

	dirty   atomic.Bool // written since the last fsync
	onWrite func()      // called after each write (OnWrite)
	stop    chan struct{}
	done    chan struct{}
}

// Create creates the journal file at path, which must not exist: a job runs
// once, and its journal is never appended to by a second process.
func Create(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create journal: %w", err)
	}
	w := &Writer{f: f, stop: make(chan struct{}), done: make(chan struct{})}
	go w.syncLoop()
	return w, nil
}

// Mask adds secrets that every later message has replaced by Masked.
// Empty strings are ignored. Longer secrets are replaced first, so a secret
// that contains another is masked whole.
func (w *Writer) Mask(secrets ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range secrets {
		if s != "" && !slices.Contains(w.secrets, s) {
			w.secrets = append(w.secrets, s)
		}
	}
	if len(w.secrets) == 0 {
		return
	}
	slices.SortStableFunc(w.secrets, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	pairs := make([]string, 0, 2*len(w.secrets))
	for _, s := range w.secrets {
		pairs = append(pairs, s, Masked)
	}
	w.mask = strings.NewReplacer(pairs...)
}

// MaskString returns s with every registered secret replaced by Masked, for
// text that leaves the job process by another way than the journal (such as
// the result file's error message).
func (w *Writer) MaskString(s string) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mask == nil {
		return s
	}
	return w.mask.Replace(s)
}

// Log appends a record with a text message.
func (w *Writer) Log(level workerproto.Level, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.appendLocked(level, workerproto.TextMsg(w.textLocked(msg)))
}

// Feedback appends a "feedback" record: a line of a console the running
// action does not use, with the namespace whose connection it is (LAVA's
// ns key).
func (w *Writer) Feedback(ns, msg string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.appendNSLocked(workerproto.LevelFeedback, ns, workerproto.TextMsg(w.textLocked(msg)))
}

// Logf appends a record with a formatted text message.
func (w *Writer) Logf(level workerproto.Level, format string, args ...any) {
	w.Log(level, fmt.Sprintf(format, args...))
}

// Result appends a "results" record. Every string of m is masked.
func (w *Writer) Result(m workerproto.ResultMsg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mask != nil {
		for _, p := range []*string{&m.Definition, &m.Case, &m.Result, &m.Measurement, &m.Units, &m.Set, &m.Duration, &m.Level, &m.ErrorMsg, &m.ErrorType} {
			*p = w.mask.Replace(*p)
		}
	}
	raw, err := json.Marshal(m)
	if err != nil { // cannot happen: only strings
		w.failLocked(fmt.Errorf("encode result: %w", err))
		return
	}
	w.appendLocked(workerproto.LevelResults, raw)
}

// Batch runs f with the Writer holding back writes: the records f (or any
// other goroutine) appends meanwhile are written together when f returns,
// in as few write calls as possible, each of complete lines. Batches nest.
func (w *Writer) Batch(f func()) {
	w.mu.Lock()
	w.depth++
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.depth--
		w.flushIfDoneLocked()
		w.mu.Unlock()
	}()
	f()
}

// OnWrite sets f, called after each write of records to the file (a
// record appended outside a Batch, or a Batch's records together), for a
// reader that wants to hear of new records at once instead of polling. f
// runs with the Writer's lock held: it must return quickly and must not
// call the Writer (a non-blocking channel send is the idea).
func (w *Writer) OnWrite(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.onWrite = f
}

// Records is the number of records appended so far.
func (w *Writer) Records() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.records
}

// Size is the number of bytes written to the file so far.
func (w *Writer) Size() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Err returns the first error that made the Writer drop records, if any.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == errClosed {
		return nil
	}
	return w.err
}

// Close writes what is buffered, fsyncs and closes the file. It returns the
// first error the Writer met. Records appended after Close are dropped.
// Close is idempotent.
func (w *Writer) Close() error {
	w.mu.Lock()
	if w.closed {
		err := w.err
		w.mu.Unlock()
		if err == errClosed {
			return nil
		}
		return err
	}
	w.closed = true
	w.flushLocked()
	w.mu.Unlock()

	close(w.stop)
	<-w.done

	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	if err == nil {
		if e := w.f.Sync(); e != nil {
			err = fmt.Errorf("sync journal: %w", e)
		}
	}
	if e := w.f.Close(); e != nil && err == nil {
		err = fmt.Errorf("close journal: %w", e)
	}
	if err == nil {
		w.err = errClosed
	} else {
		w.err = err
	}
	return err
}

// textLocked masks and bounds a text message.
func (w *Writer) textLocked(msg string) string {
	if w.mask != nil {
		msg = w.mask.Replace(msg)
	}
	if len(msg) > MaxMsgLen {
		cut := MaxMsgLen - len(TruncatedSuffix)
		for cut > 0 && !isRuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + TruncatedSuffix
	}
	return msg
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// appendLocked encodes one record and writes it unless a batch is open.
func (w *Writer) appendLocked(level workerproto.Level, msg json.RawMessage) {
	w.appendNSLocked(level, "", msg)
}

// appendNSLocked is appendLocked for a record with a namespace ("" for
// none).
func (w *Writer) appendNSLocked(level workerproto.Level, ns string, msg json.RawMessage) {
	if w.err != nil || w.closed {
		return
	}
	line, err := workerproto.EncodeRecord(workerproto.Record{Time: time.Now().UTC(), Level: level, Msg: msg, NS: ns})
	if err != nil {
		w.failLocked(err)
		return
	}
	w.buf = append(w.buf, line...)
	w.records++
	if w.depth == 0 || len(w.buf) >= flushSize {
		w.flushLocked()
	}
}

func (w *Writer) flushIfDoneLocked() {
	if w.depth == 0 {
		w.flushLocked()
	}
}

// flushLocked writes the buffered complete lines with one write call.
func (w *Writer) flushLocked() {
	if len(w.buf) == 0 || w.err != nil {
		w.buf = w.buf[:0]
		return
	}
	n, err := w.f.Write(w.buf)
	w.written += int64(n)
	if err != nil {
		w.failLocked(fmt.Errorf("write journal: %w", err))
	}
	if cap(w.buf) > 4*flushSize {
		w.buf = nil
	} else {
		w.buf = w.buf[:0]
	}
	w.dirty.Store(true)
	if w.onWrite != nil && n > 0 {
		w.onWrite()
	}
}

func (w *Writer) failLocked(err error) {
	if w.err == nil {
		w.err = err
	}
}

// syncLoop fsyncs the file every SyncInterval when something was written.
func (w *Writer) syncLoop() {
	defer close(w.done)
	t := time.NewTicker(SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			if w.dirty.Swap(false) {
				if err := w.f.Sync(); err != nil {
					w.mu.Lock()
					w.failLocked(fmt.Errorf("sync journal: %w", err))
					w.mu.Unlock()
				}
			}
		}
	}
}

// Read decodes a journal. It returns the complete records, the number of
// bytes they span, and an error for a complete line that is not a valid
// record. An incomplete last line (no newline yet: the writer is at work)
// is not an error; it is left out of both results.
func Read(r io.Reader) ([]workerproto.Record, int64, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var recs []workerproto.Record
	var off int64
	for n := 1; ; n++ {
		line, err := br.ReadBytes('\n')
		if err == io.EOF {
			return recs, off, nil
		}
		if err != nil {
			return recs, off, fmt.Errorf("read journal: %w", err)
		}
		rec, derr := workerproto.DecodeRecord(bytes.TrimSuffix(line, []byte{'\n'}))
		if derr != nil {
			return recs, off, fmt.Errorf("journal line %d: %w", n, derr)
		}
		recs = append(recs, rec)
		off += int64(len(line))
	}
}

// ReadFile is Read on the file at path.
func ReadFile(path string) ([]workerproto.Record, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	recs, _, err := Read(f)
	return recs, err
}
