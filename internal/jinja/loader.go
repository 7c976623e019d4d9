package jinja

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Loader finds template sources by name. Implementations return an error
// wrapping ErrNotFound when the template does not exist.
type Loader interface {
	Load(name string) (src string, err error)
}

// cleanName checks a template name the way Jinja2's split_template_path
// does and refuses names that would leave the loader's root.
func cleanName(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, 0) || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") {
		return "", fmt.Errorf("%s: %w (invalid template name)", name, ErrNotFound)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%s: %w (name leaves the template directory)", name, ErrNotFound)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("%s: %w", name, ErrNotFound)
	}
	return path.Join(parts...), nil
}

// maxLoadBytes bounds what a loader reads (Env limits apply afterwards).
const maxLoadBytes = 8 << 20

type dirLoader struct{ dirs []string }

// DirLoader loads templates from the first of dirs that holds the name,
// like Jinja2's FileSystemLoader with a search path. Each lookup is
// confined to its directory (os.Root): names with "..", absolute names and
// symlinks leading out are refused.
func DirLoader(dirs ...string) Loader { return &dirLoader{dirs: dirs} }

func (l *dirLoader) Load(name string) (string, error) {
	clean, err := cleanName(name)
	if err != nil {
		return "", err
	}
	for _, d := range l.dirs {
		root, err := os.OpenRoot(d)
		if err != nil {
			continue
		}
		f, err := root.Open(clean)
		if err != nil {
			root.Close()
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return "", fmt.Errorf("load %s: %w", name, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxLoadBytes+1))
		f.Close()
		root.Close()
		if err != nil {
			return "", fmt.Errorf("load %s: %w", name, err)
		}
		if len(b) > maxLoadBytes {
			return "", fmt.Errorf("load %s: larger than %d bytes", name, maxLoadBytes)
		}
		return string(b), nil
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}

// MapLoader loads templates from a map of name to source.
type MapLoader map[string]string

// Load returns m[name].
func (m MapLoader) Load(name string) (string, error) {
	if s, ok := m[name]; ok {
		return s, nil
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}

type fsLoader struct{ fsys fs.FS }

// FSLoader loads templates from fsys (for example an embed.FS).
func FSLoader(fsys fs.FS) Loader { return &fsLoader{fsys} }

func (l *fsLoader) Load(name string) (string, error) {
	clean, err := cleanName(name)
	if err != nil {
		return "", err
	}
	b, err := fs.ReadFile(l.fsys, clean)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: %w", name, ErrNotFound)
		}
		return "", fmt.Errorf("load %s: %w", name, err)
	}
	return string(b), nil
}

// ChainLoader tries each loader in turn and returns the first hit.
func ChainLoader(loaders ...Loader) Loader { return chainLoader(loaders) }

type chainLoader []Loader

func (c chainLoader) Load(name string) (string, error) {
	for _, l := range c {
		s, err := l.Load(name)
		if err == nil {
			return s, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: %w", name, ErrNotFound)
}
