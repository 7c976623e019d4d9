package logstore

import (
	"container/list"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/basalt-lab/basalt/internal/lab"
)

// File names inside a job's directory.
const (
	logName = "log.ndjson"
	idxName = "log.idx"
	// entrySize is the size of one index entry: a little-endian uint64.
	entrySize = 8
)

// DefaultMaxOpen is how many jobs keep their two files open while no
// operation uses them (see WithMaxOpen): a lab with hundreds of running
// jobs and their live followers must not close and reopen their files on
// every append.
const DefaultMaxOpen = 1024

// defaultMaxOpen is DefaultMaxOpen, or less when the process may open few
// files (budget, 0 when unknown): idle jobs take at most half of them (two
// files each), the rest is for connections, the database and open jobs.
func defaultMaxOpen(budget int) int {
	if budget <= 0 {
		return DefaultMaxOpen
	}
	return max(16, min(DefaultMaxOpen, budget/4))
}

// maxKnown bounds the states kept of jobs whose files were closed (known).
const maxKnown = 1 << 16

// ErrClosed is returned by every operation on a Store after Close.
var ErrClosed = errors.New("log store closed")

// ErrGap is wrapped by Append when an upload starts beyond the stored size.
// It wraps lab.ErrConflict; the worker link answers it with the worker
// protocol's log_gap code and the stored size, and the worker resends from
// there.
var ErrGap = fmt.Errorf("log gap: %w", lab.ErrConflict)

// ErrMismatch is wrapped by Append when an upload overlaps stored bytes and
// differs from them: the upload is not a resend of the same journal. It
// wraps lab.ErrConflict (the worker protocol's log_mismatch code).
var ErrMismatch = fmt.Errorf("log mismatch: %w", lab.ErrConflict)

// Option configures Open.
type Option func(*Store)

// WithMaxOpen bounds how many idle jobs keep their files open (two file
// descriptors each); the least recently used idle job is closed first. Jobs
// in use are never closed, so the bound can be exceeded while more than n
// jobs have operations in flight. n < 1 means 1.
func WithMaxOpen(n int) Option {
	return func(s *Store) { s.maxOpen = max(n, 1) }
}

// Store is the server's durable, idempotent store of job logs, one
// directory per job under the directory given to Open. It is safe for
// concurrent use: Appends to one job are serialised, different jobs proceed
// in parallel, readers never wait for an Append's fsync of another job and
// see only bytes that are durable. One Store owns its directory: Open takes
// an exclusive lock on it, so two processes cannot write the same logs.
type Store struct {
	dir     string
	maxOpen int
	lock    *os.File
	done    chan struct{} // closed by Close; wakes waiters

	mu     sync.Mutex
	jobs   map[int64]*job // jobs in use, watched, or with open files
	idle   list.List      // of *job: open files, no refs; front = most recent
	nopen  int            // jobs with open files
	closed bool
	// known holds the published state of jobs whose files this process
	// closed while they were sound (evicted idle jobs). This process alone
	// writes the directory (the lock), so reopening such a job needs no
	// reconciliation: no scan, no fsync.
	known map[int64]knownState
}

// knownState is a job's published state when its files were closed.
type knownState struct {
	size, next int64
	lines      int
}

// job is the in-memory state of one job's log. An entry lives in
// Store.jobs while it has refs (operations in flight), watchers (Wait
// callers) or open files; the entry, its locks and its growth channel are
// therefore the same for everybody who uses the job at the same time.
type job struct {
	id  int64
	dir string

	// Guarded by Store.mu.
	refs     int
	watchers int
	open     bool          // log and idx are open; counted in Store.nopen
	idleElem *list.Element // set while on Store.idle

	// wmu serialises Append, Remove and loading. Holders also hold a ref.
	wmu sync.Mutex

	// smu guards the published state below. Every published size is
	// durable: Append publishes only after fsync.
	smu    sync.RWMutex
	loaded bool
	log    *os.File // nil while the job has no files
	idx    *os.File
	size   int64         // bytes in the log
	lines  int           // complete lines = index entries
	next   int64         // offset just past the last complete line
	grow   chan struct{} // closed and replaced whenever the state changes

	// sumMu guards the running checksum of log[0:sumAt].
	sumMu sync.Mutex
	sum   hash.Hash
	sumAt int64
}

// Open opens (creating it if needed) the log store rooted at dir and locks
// it for this process. Jobs are opened and reconciled lazily, on first use.
func Open(dir string, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open log store: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, fmt.Errorf("open log store %s: %w", dir, err)
	}
	s := &Store{
		dir:     dir,
		maxOpen: defaultMaxOpen(fileBudget()),
		lock:    lock,
		done:    make(chan struct{}),
		jobs:    make(map[int64]*job),
		known:   make(map[int64]knownState),
	}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close closes every open file and releases the directory lock. It waits
// for Appends and Removes in flight; reads in flight may fail, and Wait
// callers return ErrClosed. Further calls are no-ops.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	jobs := make([]*job, 0, len(s.jobs))
	for _, j := range s.jobs {
		jobs = append(jobs, j)
	}
	s.mu.Unlock()
	close(s.done)
	var errs []error
	for _, j := range jobs {
		j.wmu.Lock()
		errs = append(errs, j.closeFiles())
		j.wmu.Unlock()
	}
	errs = append(errs, unlockDir(s.lock))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close log store: %w", err)
	}
	return nil
}

// jobDir is dir/<id % 1000 as %03d>/<id>.
func (s *Store) jobDir(id int64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%03d", id%1000), strconv.FormatInt(id, 10))
}

func checkID(id int64) error {
	if id <= 0 {
		return fmt.Errorf("job id %d: %w", id, lab.ErrInvalid)
	}
	return nil
}

// acquire returns the job's entry with a ref (or, with watch, a watcher)
// taken; the caller gives it back with release (or unwatch).
func (s *Store) acquire(id int64, watch bool) (*job, error) {
	if err := checkID(id); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	j := s.jobs[id]
	if j == nil {
		j = &job{id: id, dir: s.jobDir(id), grow: make(chan struct{})}
		s.jobs[id] = j
	}
	if watch {
		j.watchers++
	} else {
		s.refLocked(j)
	}
	return j, nil
}

// ref takes a ref on an entry the caller keeps alive (it watches it).
func (s *Store) ref(j *job) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.refLocked(j)
	return nil
}

func (s *Store) refLocked(j *job) {
	j.refs++
	if j.idleElem != nil {
		s.idle.Remove(j.idleElem)
		j.idleElem = nil
	}
}

// release gives back a ref. The last ref parks a job with open files on the
// idle list, then the least recently used idle jobs beyond maxOpen are
// closed.
func (s *Store) release(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.refs--
	if j.refs == 0 {
		if j.open && !s.closed {
			j.idleElem = s.idle.PushFront(j)
		}
		s.forgetLocked(j)
	}
	for s.nopen > s.maxOpen && s.idle.Len() > 0 {
		e := s.idle.Back()
		old := e.Value.(*job)
		s.idle.Remove(e)
		old.idleElem = nil
		// No ref means nobody holds old.wmu or reads its files. A close
		// error on a file opened for writing after its last fsync cannot
		// lose acknowledged data, so it is ignored.
		old.smu.RLock()
		if old.loaded && old.log != nil {
			if len(s.known) >= maxKnown {
				clear(s.known) // a cache: the jobs reconcile once more
			}
			s.known[old.id] = knownState{size: old.size, next: old.next, lines: old.lines}
		}
		old.smu.RUnlock()
		_ = old.closeFiles()
		old.open = false
		s.nopen--
		s.forgetLocked(old)
	}
}

// unwatch gives back a watcher.
func (s *Store) unwatch(j *job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j.watchers--
	s.forgetLocked(j)
}

// forgetLocked drops an entry nobody uses any more.
func (s *Store) forgetLocked(j *job) {
	if j.refs == 0 && j.watchers == 0 && !j.open && s.jobs[j.id] == j {
		delete(s.jobs, j.id)
	}
}

// setOpen records that j's files were opened or closed. Called with j.wmu
// and a ref held.
func (s *Store) setOpen(j *job, open bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j.open == open {
		return
	}
	j.open = open
	if open {
		s.nopen++
	} else {
		s.nopen--
	}
}

// closeFiles closes the job's files and marks it to be loaded again.
func (j *job) closeFiles() error {
	j.smu.Lock()
	defer j.smu.Unlock()
	var errs []error
	if j.log != nil {
		errs = append(errs, j.log.Close(), j.idx.Close())
	}
	j.log, j.idx = nil, nil
	j.loaded = false
	return errors.Join(errs...)
}

// publishLocked replaces the published state and wakes waiters. Called
// with j.wmu held.
func (j *job) publishLocked(size int64, lines int, next int64) {
	j.smu.Lock()
	defer j.smu.Unlock()
	j.loaded = true
	j.size, j.lines, j.next = size, lines, next
	close(j.grow)
	j.grow = make(chan struct{})
}

// view is a snapshot of a job's published state. Its files stay open while
// the ref it was taken under is held.
type view struct {
	log, idx *os.File // nil when the job has no log
	size     int64
	lines    int
	next     int64
	grow     chan struct{}
}

// view loads the job if needed and returns its published state. Called
// with a ref held.
func (s *Store) view(j *job) (view, error) {
	for {
		j.smu.RLock()
		if j.loaded {
			v := view{log: j.log, idx: j.idx, size: j.size, lines: j.lines, next: j.next, grow: j.grow}
			j.smu.RUnlock()
			return v, nil
		}
		j.smu.RUnlock()
		j.wmu.Lock()
		err := s.loadLocked(j)
		j.wmu.Unlock()
		if err != nil {
			return view{}, err
		}
	}
}

// with runs f on a snapshot of job id under a ref.
func (s *Store) with(id int64, f func(j *job, v view) error) error {
	j, err := s.acquire(id, false)
	if err != nil {
		return err
	}
	defer s.release(j)
	v, err := s.view(j)
	if err != nil {
		return err
	}
	return f(j, v)
}
