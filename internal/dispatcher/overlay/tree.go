package overlay

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/basalt-lab/basalt/internal/cpio"
)

// Entry is one file, directory or symlink of a Tree.
//
// Path is relative to the tree's root, slash-separated and clean (never
// "", "." or starting with "/" or ".."). Mode is the type (0, fs.ModeDir
// or fs.ModeSymlink) and permission bits. A regular file's contents are
// Data, or, when Source is set, the host file Source (read when the tree
// is written; repository checkouts are not loaded into memory). Link is a
// symlink's target, written as is.
type Entry struct {
	Path   string
	Mode   fs.FileMode
	Data   []byte
	Source string
	Link   string
}

// Tree is an overlay ready to be written: Root is its absolute path on the
// device, Entries its contents in order, every directory before what it
// contains and each path once; no entry lies below a file or symlink
// entry. Build makes trees; the zero Tree is empty.
type Tree struct {
	Root    string
	Entries []Entry
}

// SourceCommand is the shell command that sources the environment file,
// typed before each stage: ". <Root>/environment".
func (t *Tree) SourceCommand() string {
	return ". " + shellQuote(t.Root+"/environment")
}

// RunnerCommand is the shell command that runs a stage:
// "<Root>/bin/lava-test-runner <Root>/<stage>".
func (t *Tree) RunnerCommand(stage int) string {
	return shellQuote(t.Root+"/bin/lava-test-runner") + " " + shellQuote(t.Root+"/"+strconv.Itoa(stage))
}

// Lookup returns the entry at path (relative to Root).
func (t *Tree) Lookup(p string) (Entry, bool) {
	for _, e := range t.Entries {
		if e.Path == p {
			return e, true
		}
	}
	return Entry{}, false
}

// worldWritable are directories that must keep their usual mode when an
// archive names them as parents of the root (the kernel applies the
// archive's mode to a directory that already exists).
var worldWritable = map[string]bool{"tmp": true, "var/tmp": true}

// WriteCPIO writes the tree as a newc archive (without compression):
// directory entries for Root and each of its parents first (mode 0755;
// tmp and var/tmp 1777), then every entry under Root, all owned by root
// with mtime 0.
func (t *Tree) WriteCPIO(w io.Writer) error {
	root := strings.TrimPrefix(path.Clean("/"+t.Root), "/")
	if root == "" {
		return errors.New("overlay: the tree has no root directory")
	}
	cw := cpio.NewWriter(w)
	parts := strings.Split(root, "/")
	for i := range parts {
		dir := strings.Join(parts[:i+1], "/")
		perm := fs.FileMode(0o755)
		if worldWritable[dir] {
			perm = 0o777 | fs.ModeSticky
		}
		if err := cw.AddDir(dir, perm); err != nil {
			return err
		}
	}
	for _, e := range t.Entries {
		if err := writeCPIOEntry(cw, root+"/"+e.Path, e); err != nil {
			return err
		}
	}
	return cw.Close()
}

func writeCPIOEntry(cw *cpio.Writer, name string, e Entry) error {
	switch {
	case e.Mode.IsDir():
		return cw.AddDir(name, e.Mode)
	case e.Mode&fs.ModeSymlink != 0:
		return cw.AddSymlink(name, e.Link)
	case e.Mode.Type() != 0:
		return fmt.Errorf("overlay: %s: unsupported file type %v", e.Path, e.Mode.Type())
	case e.Source == "":
		return cw.AddFile(name, e.Mode, e.Data)
	}
	f, err := os.Open(e.Source)
	if err != nil {
		return fmt.Errorf("overlay: %s: %w", e.Path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("overlay: %s: %w", e.Path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("overlay: %s: %s is not a regular file", e.Path, e.Source)
	}
	if err := cw.WriteHeader(cpio.Header{Name: name, Mode: e.Mode.Perm(), Size: st.Size()}); err != nil {
		return err
	}
	n, err := io.Copy(cw, io.LimitReader(f, st.Size()))
	if err != nil {
		return fmt.Errorf("overlay: %s: %w", e.Path, err)
	}
	if n != st.Size() {
		return fmt.Errorf("overlay: %s: %s shrank while it was read", e.Path, e.Source)
	}
	return nil
}

// WriteDir materialises the tree under the host directory dir (created if
// missing), which stands for Root: an entry p is written to dir/p with
// its mode (whatever the umask). Existing files are replaced. Writes never
// leave dir, whatever symlinks the tree or dir already holds.
func (t *Tree) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("overlay: %w", err)
	}
	defer r.Close()
	for _, e := range t.Entries {
		if err := writeDirEntry(r, e); err != nil {
			return fmt.Errorf("overlay: write %s under %s: %w", e.Path, dir, err)
		}
	}
	return nil
}

func writeDirEntry(r *os.Root, e Entry) error {
	name := e.Path
	if st, err := r.Lstat(name); err == nil {
		// Replace what is there unless it is the directory we want.
		if !(st.IsDir() && e.Mode.IsDir()) {
			if err := r.RemoveAll(name); err != nil {
				return err
			}
		}
	}
	switch {
	case e.Mode.IsDir():
		if err := r.Mkdir(name, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		return r.Chmod(name, e.Mode.Perm())
	case e.Mode&fs.ModeSymlink != 0:
		return r.Symlink(e.Link, name)
	case e.Mode.Type() != 0:
		return fmt.Errorf("unsupported file type %v", e.Mode.Type())
	}
	f, err := r.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if e.Source != "" {
		err = copyFrom(f, e.Source)
	} else {
		_, err = f.Write(e.Data)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return r.Chmod(name, e.Mode.Perm())
}

func copyFrom(w io.Writer, src string) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
