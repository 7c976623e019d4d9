package download

import (
	"archive/zip"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"

	"github.com/basalt-lab/basalt/internal/compression"
)

// metaSuffix names an entry's metadata file next to it.
const metaSuffix = ".meta"

// meta is the content of an entry's metadata file.
type meta struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// download fetches the item into the key's final file. The caller holds
// the key's exclusive lock.
func (c *Cache) download(ctx context.Context, key string, it Item) error {
	src, err := c.open(ctx, it.URL)
	if err != nil {
		return err
	}
	defer src.Close()

	raw, err := os.CreateTemp(c.tmp, key+".*.download")
	if err != nil {
		return fmt.Errorf("download %s: %w", it.URL, err)
	}
	rawName := raw.Name()
	defer os.Remove(rawName) // renamed away when it already is the final file
	defer raw.Close()

	sums := []struct {
		algo, want string
		h          hash.Hash
	}{{"md5", it.MD5, md5.New()}, {"sha256", it.SHA256, sha256.New()}, {"sha512", it.SHA512, sha512.New()}}
	ws := []io.Writer{raw}
	for _, s := range sums {
		if s.want != "" || (s.algo == "sha256" && it.Compression == "") {
			ws = append(ws, s.h)
		}
	}
	n, err := io.Copy(io.MultiWriter(ws...), ctxReader{ctx, src})
	if err != nil {
		return fmt.Errorf("download %s: after %d bytes: %w", it.URL, n, err)
	}
	for _, s := range sums {
		if s.want == "" {
			continue
		}
		if got := hex.EncodeToString(s.h.Sum(nil)); got != s.want {
			return &ChecksumError{URL: it.URL, Algo: s.algo, Expected: s.want, Actual: got}
		}
	}

	final := filepath.Join(c.objects, key)
	if it.Compression == "" {
		if err := raw.Sync(); err != nil {
			return fmt.Errorf("download %s: %w", it.URL, err)
		}
		if err := raw.Close(); err != nil {
			return fmt.Errorf("download %s: %w", it.URL, err)
		}
		return c.commit(rawName, final, meta{Size: n, SHA256: hex.EncodeToString(sums[1].h.Sum(nil))})
	}
	if err := raw.Close(); err != nil {
		return fmt.Errorf("download %s: %w", it.URL, err)
	}

	out, err := os.CreateTemp(c.tmp, key+".*.decompress")
	if err != nil {
		return fmt.Errorf("download %s: %w", it.URL, err)
	}
	outName := out.Name()
	defer os.Remove(outName)
	defer out.Close()
	h := sha256.New()
	size, err := decompress(ctx, rawName, it.Compression, io.MultiWriter(out, h))
	if err != nil {
		return fmt.Errorf("download %s: %s decompression: %w", it.URL, it.Compression, err)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("download %s: %w", it.URL, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("download %s: %w", it.URL, err)
	}
	return c.commit(outName, final, meta{Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
}

// commit makes a complete temporary file the final file: the metadata
// first, then the file itself, each by an atomic rename.
func (c *Cache) commit(tmpName, final string, m meta) error {
	if err := c.writeMeta(final, m); err != nil {
		return err
	}
	if err := os.Rename(tmpName, final); err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	if d, err := os.Open(c.objects); err == nil {
		_ = d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return nil
}

// writeMeta atomically writes the metadata file of the final file.
func (c *Cache) writeMeta(final string, m meta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	f, err := os.CreateTemp(c.tmp, filepath.Base(final)+".*"+metaSuffix)
	if err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("download cache: write %s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("download cache: write %s: %w", f.Name(), err)
	}
	if err := os.Rename(f.Name(), final+metaSuffix); err != nil {
		return fmt.Errorf("download cache: %w", err)
	}
	return nil
}

// readEntry returns the size and sha256 of the key's final file, failing
// with fs.ErrNotExist when there is none. Missing or unreadable metadata
// is rebuilt from the file.
func (c *Cache) readEntry(key string) (Info, error) {
	final := filepath.Join(c.objects, key)
	fi, err := os.Stat(final)
	if err != nil {
		return Info{}, err
	}
	var m meta
	if b, err := os.ReadFile(final + metaSuffix); err == nil && json.Unmarshal(b, &m) == nil && m.Size == fi.Size() && len(m.SHA256) == 64 {
		return Info{Size: m.Size, SHA256: m.SHA256}, nil
	}
	f, err := os.Open(final)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return Info{}, fmt.Errorf("download cache: hash %s: %w", final, err)
	}
	m = meta{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}
	if err := c.writeMeta(final, m); err != nil {
		return Info{}, err
	}
	return Info{Size: m.Size, SHA256: m.SHA256}, nil
}

// open starts reading the bytes at rawURL (already validated).
func (c *Cache) open(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("download %q: %w", rawURL, err)
	}
	if u.Scheme == "file" {
		f, err := os.Open(u.Path)
		if err != nil {
			return nil, fmt.Errorf("download %s: %w", rawURL, err)
		}
		return f, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("download %s: %w", rawURL, err)
		}
		return nil, &UnreachableError{URL: rawURL, Err: err}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		resp.Body.Close()
		return nil, &StatusError{URL: rawURL, StatusCode: resp.StatusCode, Status: resp.Status}
	}
	return resp.Body, nil
}

// decompress writes the decompressed content of the file at name to w and
// returns its size.
func decompress(ctx context.Context, name, comp string, w io.Writer) (int64, error) {
	if comp == "zip" {
		return unzipSingle(ctx, name, w)
	}
	f, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := compression.NewReader(f, comp)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	return io.Copy(w, ctxReader{ctx, r})
}

// unzipSingle writes the one file of a zip archive to w and refuses
// archives with any other number of files.
func unzipSingle(ctx context.Context, name string, w io.Writer) (int64, error) {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	var files []*zip.File
	for _, f := range zr.File {
		if !f.FileInfo().IsDir() {
			files = append(files, f)
		}
	}
	if len(files) != 1 {
		return 0, fmt.Errorf("zip archive holds %d files; only single-file archives are supported", len(files))
	}
	rc, err := files[0].Open()
	if err != nil {
		return 0, fmt.Errorf("zip entry %s: %w", files[0].Name, err)
	}
	defer rc.Close()
	n, err := io.Copy(w, ctxReader{ctx, rc})
	if err != nil {
		return n, fmt.Errorf("zip entry %s: %w", files[0].Name, err)
	}
	return n, nil
}

// ctxReader stops reading once its context is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (r ctxReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	return r.r.Read(p)
}
