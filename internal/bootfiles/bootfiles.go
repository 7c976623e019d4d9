package bootfiles

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/basalt-lab/basalt/internal/bootfiles/tftp"
)

// jobsDir is the directory under the root holding the published jobs.
const jobsDir = "jobs"

// maxIDLen bounds the part of a directory name taken from a job ID.
const maxIDLen = 64

var (
	errNotRegular  = errors.New("not a regular file")
	errUnpublished = errors.New("job unpublished")
)

// Server serves the files of published jobs over TFTP and HTTP. It is an
// http.Handler and an fs.FS (holding the published files only). Its
// methods are safe for concurrent use.
type Server struct {
	// TFTP is the TFTP server, reading through the Server. Set its limits
	// and Log before ServeTFTP; leave its Root, Dir and Open alone.
	TFTP *tftp.Server

	dir  string
	root *os.Root

	mu    sync.RWMutex
	byJob map[string]*job
	bySub map[string]*job
}

// job is one published job directory.
type job struct {
	sub  string   // directory name under jobs/
	root *os.Root // the job's directory: symlinks cannot leave it
	live atomic.Bool
}

// New serves the directory dir (created if missing; made absolute) and
// clears the jobs directory a previous run may have left there.
func New(dir string) (*Server, error) {
	return open(dir, true)
}

// Reopen serves dir like New but keeps the job directories a previous run
// left: a restarted worker Adopts those of the jobs still running, then
// Sweeps the others.
func Reopen(dir string) (*Server, error) {
	return open(dir, false)
}

func open(dir string, clear bool) (*Server, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("bootfiles: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("bootfiles: %w", err)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("bootfiles: %w", err)
	}
	if clear {
		if err := root.RemoveAll(jobsDir); err != nil {
			root.Close()
			return nil, fmt.Errorf("bootfiles: clear stale jobs: %w", err)
		}
	}
	s := &Server{dir: abs, root: root, byJob: map[string]*job{}, bySub: map[string]*job{}}
	s.TFTP = &tftp.Server{Open: s.Open}
	return s, nil
}

// Dir is the absolute path of the served directory.
func (s *Server) Dir() string { return s.dir }

// safeName keeps the characters of id allowed in a directory name
// ([A-Za-z0-9._-]), replaces the others with "_" and cuts it to maxIDLen.
func safeName(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= maxIDLen {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Publish makes a fresh directory for the job and starts serving it. It
// returns the directory's absolute path, for the job's files, and the
// prefix bootloaders use to name them ("jobs/<id>-<random>"). A job is
// published once until Unpublish.
func (s *Server) Publish(jobID string) (dir string, prefix string, err error) {
	name := safeName(jobID)
	if name == "" {
		return "", "", errors.New("bootfiles: publish: empty job ID")
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	sub := name + "-" + hex.EncodeToString(rnd[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byJob[jobID]; ok {
		return "", "", fmt.Errorf("bootfiles: publish job %q: already published", jobID)
	}
	if err := s.root.MkdirAll(jobsDir, 0o755); err != nil {
		return "", "", fmt.Errorf("bootfiles: publish job %q: %w", jobID, err)
	}
	if err := s.root.Mkdir(jobsDir+"/"+sub, 0o755); err != nil {
		return "", "", fmt.Errorf("bootfiles: publish job %q: %w", jobID, err)
	}
	jroot, err := s.root.OpenRoot(jobsDir + "/" + sub)
	if err != nil {
		return "", "", fmt.Errorf("bootfiles: publish job %q: %w", jobID, err)
	}
	j := &job{sub: sub, root: jroot}
	j.live.Store(true)
	s.byJob[jobID] = j
	s.bySub[sub] = j
	return filepath.Join(s.dir, jobsDir, sub), jobsDir + "/" + sub, nil
}

// Adopt serves again the directory a previous run published for the job
// (prefix is what Publish returned then), for a job that outlived the
// restart of the process serving it.
func (s *Server) Adopt(jobID, prefix string) error {
	sub, ok := strings.CutPrefix(prefix, jobsDir+"/")
	if !ok || sub == "" || strings.Contains(sub, "/") || sub == "." || sub == ".." || !strings.HasPrefix(sub, safeName(jobID)+"-") {
		return fmt.Errorf("bootfiles: adopt job %q: %q is not a directory published for it", jobID, prefix)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byJob[jobID]; ok {
		return fmt.Errorf("bootfiles: adopt job %q: already published", jobID)
	}
	jroot, err := s.root.OpenRoot(jobsDir + "/" + sub)
	if err != nil {
		return fmt.Errorf("bootfiles: adopt job %q: %w", jobID, err)
	}
	j := &job{sub: sub, root: jroot}
	j.live.Store(true)
	s.byJob[jobID] = j
	s.bySub[sub] = j
	return nil
}

// Sweep removes the job directories that are not published (left by a
// previous run for jobs that are over).
func (s *Server) Sweep() error {
	ents, err := fs.ReadDir(s.root.FS(), jobsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bootfiles: sweep: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for _, e := range ents {
		if _, ok := s.bySub[e.Name()]; ok {
			continue
		}
		if err := s.root.RemoveAll(jobsDir + "/" + e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bootfiles: sweep: %w", err)
	}
	return nil
}

// Unpublish stops serving the job's directory and removes it. Transfers of
// its files in flight fail at their next read. Unpublishing a job that is
// not published does nothing.
func (s *Server) Unpublish(jobID string) error {
	s.mu.Lock()
	j, ok := s.byJob[jobID]
	if ok {
		j.live.Store(false)
		delete(s.byJob, jobID)
		delete(s.bySub, j.sub)
	}
	s.mu.Unlock()
	if !ok {
		return nil
	}
	j.root.Close()
	if err := s.root.RemoveAll(jobsDir + "/" + j.sub); err != nil {
		return fmt.Errorf("bootfiles: unpublish job %q: %w", jobID, err)
	}
	return nil
}

// Open opens a file of a published job for reading; name is relative to
// the root, in io/fs form ("jobs/<id>-<random>/kernel/vmlinuz"). Anything
// else is fs.ErrNotExist; directories and other non-regular files are
// refused, and so are symlinks leading out of the job's directory (each
// job's directory is an os.Root of its own).
func (s *Server) Open(name string) (fs.File, error) {
	pathErr := func(err error) error { return &fs.PathError{Op: "open", Path: name, Err: err} }
	if !fs.ValidPath(name) {
		return nil, pathErr(fs.ErrInvalid)
	}
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 3 || parts[0] != jobsDir {
		return nil, pathErr(fs.ErrNotExist)
	}
	s.mu.RLock()
	j := s.bySub[parts[1]]
	s.mu.RUnlock()
	if j == nil || !j.live.Load() {
		return nil, pathErr(fs.ErrNotExist)
	}
	// Stat first so that a FIFO is refused rather than opened (an open of
	// a FIFO waits for a writer).
	fi, err := j.root.Stat(parts[2])
	if err != nil {
		return nil, pathErr(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, pathErr(errNotRegular)
	}
	f, err := j.root.Open(parts[2])
	if err != nil {
		return nil, pathErr(err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, pathErr(errNotRegular)
	}
	return &jobFile{f: f, job: j}, nil
}

// jobFile is an open file of a job; its reads fail once the job is
// unpublished. It does not embed *os.File on purpose: io.Copy would then
// find os.File's WriteTo (sendfile) and bypass the check.
type jobFile struct {
	f   *os.File
	job *job
}

// Stat implements fs.File.
func (f *jobFile) Stat() (fs.FileInfo, error) { return f.f.Stat() }

// Close implements fs.File.
func (f *jobFile) Close() error { return f.f.Close() }

func (f *jobFile) check() error {
	if !f.job.live.Load() {
		return &fs.PathError{Op: "read", Path: f.f.Name(), Err: errUnpublished}
	}
	return nil
}

// Read implements io.Reader.
func (f *jobFile) Read(p []byte) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.f.Read(p)
}

// ReadAt implements io.ReaderAt.
func (f *jobFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.f.ReadAt(p, off)
}

// Seek implements io.Seeker.
func (f *jobFile) Seek(off int64, whence int) (int64, error) {
	if err := f.check(); err != nil {
		return 0, err
	}
	return f.f.Seek(off, whence)
}

// ServeHTTP serves the published files read-only: GET and HEAD, with
// ranges and conditional requests (http.ServeContent). The URL path is
// relative to the root; mount the handler with http.StripPrefix to serve
// it under a prefix. No directory listings.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var parts []string
	for _, p := range strings.Split(r.URL.Path, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		parts = append(parts, p)
	}
	name := strings.Join(parts, "/")
	if name == "" {
		http.NotFound(w, r)
		return
	}
	f, err := s.Open(name)
	if err != nil {
		if errors.Is(err, fs.ErrInvalid) {
			http.Error(w, "bad path", http.StatusBadRequest)
			return
		}
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, path.Base(name), fi.ModTime(), f.(io.ReadSeeker))
}

// ServeTFTP serves TFTP on pc until Close (see tftp.Server.Serve).
func (s *Server) ServeTFTP(pc net.PacketConn) error { return s.TFTP.Serve(pc) }

// ListenAndServeTFTP serves TFTP on the UDP address addr until Close.
func (s *Server) ListenAndServeTFTP(addr string) error { return s.TFTP.ListenAndServe(addr) }

// Close stops the TFTP server (aborting its transfers) and closes the
// roots. Published directories are left on disk; New clears them.
func (s *Server) Close() error {
	err := s.TFTP.Close()
	s.mu.Lock()
	for _, j := range s.byJob {
		j.root.Close()
	}
	s.mu.Unlock()
	if cerr := s.root.Close(); err == nil {
		err = cerr
	}
	return err
}
