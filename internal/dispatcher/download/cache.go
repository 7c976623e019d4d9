package download

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Item is one deploy URL item of a LAVA job definition.
type Item struct {
	// URL is the image's address: http, https or file.
	URL string
	// Compression is how the downloaded bytes are compressed: "" or
	// "none", "gz", "bz2", "xz", "zip" (one file) or "zstd".
	Compression string
	// MD5, SHA256 and SHA512 are the expected hex checksums of the
	// downloaded (compressed) bytes; empty ones are not checked.
	MD5    string
	SHA256 string
	SHA512 string
}

// Info describes a fetched file.
type Info struct {
	// Size is the size of the final (decompressed) file in bytes.
	Size int64
	// SHA256 is the hex sha256 of the final (decompressed) file.
	SHA256 string
	// FromCache reports that the file was already in the cache, for this
	// call or for the concurrent call it joined.
	FromCache bool
	// Duration is how long this Fetch call took.
	Duration time.Duration
}

// Option configures a Cache.
type Option func(*config) error

type config struct {
	client *http.Client
	proxy  *url.URL
}

// WithProxy sends every HTTP and HTTPS download through the proxy at
// proxyURL (LAVA's LAVA_PROXY). An empty proxyURL means no proxy.
func WithProxy(proxyURL string) Option {
	return func(c *config) error {
		if proxyURL == "" {
			c.proxy = nil
			return nil
		}
		u, err := url.Parse(proxyURL)
		if err != nil {
			return fmt.Errorf("proxy %q: %w", proxyURL, err)
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return fmt.Errorf("proxy %q: unsupported scheme %q", proxyURL, u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("proxy %q: no host", proxyURL)
		}
		c.proxy = u
		return nil
	}
}

// WithHTTPClient downloads with client instead of a default client. With
// WithProxy too, the client's transport must be nil or an *http.Transport,
// which is cloned with the proxy set.
func WithHTTPClient(client *http.Client) Option {
	return func(c *config) error {
		if client == nil {
			return errors.New("nil HTTP client")
		}
		c.client = client
		return nil
	}
}

// Cache is a size-bounded, content-addressed cache of downloaded files in
// one directory, safe for concurrent use and shareable between processes.
type Cache struct {
	objects, locks, tmp string
	max                 int64
	client              *http.Client

	mu       sync.Mutex
	inflight map[string]*call  // key → download in progress here
	held     map[string]*entry // key → entry in use here
	byPath   map[string]string // final path → key, for held entries

	evictMu sync.Mutex
}

// entry is an entry in use in this process: it holds a shared lock on the
// key's lock file until its last reference is released.
type entry struct {
	refs int
	lock *os.File
	info Info
}

// call is one in-process fetch of a key that other callers may join.
type call struct {
	done     chan struct{}
	finished bool // set under Cache.mu before done is closed
	waiters  int  // joined callers, each given a reference on success
	info     Info
	err      error
}

// New opens (creating as needed) the cache in dir, bounded to maxBytes of
// final files.
func New(dir string, maxBytes int64, opts ...Option) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("download cache %s: size bound must be positive, got %d", dir, maxBytes)
	}
	var cfg config
	for _, o := range opts {
		if err := o(&cfg); err != nil {
			return nil, fmt.Errorf("download cache %s: %w", dir, err)
		}
	}
	client := cfg.client
	if client == nil {
		client = &http.Client{}
	}
	if cfg.proxy != nil {
		var tr *http.Transport
		switch t := client.Transport.(type) {
		case nil:
			tr = http.DefaultTransport.(*http.Transport).Clone()
		case *http.Transport:
			tr = t.Clone()
		default:
			return nil, fmt.Errorf("download cache %s: proxy needs an *http.Transport, the client has %T", dir, t)
		}
		tr.Proxy = http.ProxyURL(cfg.proxy)
		cl := *client
		cl.Transport = tr
		client = &cl
	}
	c := &Cache{
		objects:  filepath.Join(dir, "objects"),
		locks:    filepath.Join(dir, "locks"),
		tmp:      filepath.Join(dir, "tmp"),
		max:      maxBytes,
		client:   client,
		inflight: make(map[string]*call),
		held:     make(map[string]*entry),
		byPath:   make(map[string]string),
	}
	for _, d := range []string{c.objects, c.locks, c.tmp} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("download cache: %w", err)
		}
	}
	return c, nil
}

// Fetch returns the path of the item's final file in the cache, downloading,
// verifying and decompressing it first unless it is already there. The
// returned file is in use until Release(path) is called once for this
// Fetch; it is not evicted before that.
func (c *Cache) Fetch(ctx context.Context, it Item) (string, Info, error) {
	start := time.Now()
	it, err := normalize(it)
	if err != nil {
		return "", Info{}, err
	}
	key := keyOf(it)
	path := filepath.Join(c.objects, key)
	for {
		c.mu.Lock()
		if e, ok := c.held[key]; ok {
			e.refs++
			info := e.info
			c.mu.Unlock()
			touch(path)
			info.FromCache = true
			info.Duration = time.Since(start)
			return path, info, nil
		}
		if cl, ok := c.inflight[key]; ok {
			cl.waiters++
			c.mu.Unlock()
			select {
			case <-cl.done:
				if cl.err != nil {
					if isContextErr(cl.err) && ctx.Err() == nil {
						continue // the joined caller gave up; try again
					}
					return "", Info{}, cl.err
				}
				info := cl.info
				info.Duration = time.Since(start)
				return path, info, nil
			case <-ctx.Done():
				c.mu.Lock()
				counted := cl.finished && cl.err == nil
				if !cl.finished {
					cl.waiters--
				}
				c.mu.Unlock()
				if counted {
					_ = c.Release(path)
				}
				return "", Info{}, fmt.Errorf("download %s: %w", it.URL, ctx.Err())
			}
		}
		cl := &call{done: make(chan struct{})}
		c.inflight[key] = cl
		c.mu.Unlock()

		info, lock, err := c.acquire(ctx, key, it)

		c.mu.Lock()
		delete(c.inflight, key)
		cl.info, cl.err, cl.finished = info, err, true
		if err == nil {
			c.held[key] = &entry{refs: 1 + cl.waiters, lock: lock, info: Info{Size: info.Size, SHA256: info.SHA256}}
			c.byPath[path] = key
		}
		close(cl.done)
		c.mu.Unlock()
		if err != nil {
			return "", Info{}, err
		}
		if !info.FromCache {
			c.evict()
		}
		info.Duration = time.Since(start)
		return path, info, nil
	}
}

// Release ends one use of a path returned by Fetch. When its last use here
// ends, the entry may be evicted again.
func (c *Cache) Release(path string) error {
	c.mu.Lock()
	key, ok := c.byPath[path]
	if !ok {
		c.mu.Unlock()
		return fmt.Errorf("download cache: release %s: not in use", path)
	}
	e := c.held[key]
	e.refs--
	last := e.refs == 0
	if last {
		delete(c.held, key)
		delete(c.byPath, path)
	}
	c.mu.Unlock()
	if !last {
		return nil
	}
	err := e.lock.Close()
	c.evict() // entries in use may have kept the cache above its bound
	if err != nil {
		return fmt.Errorf("download cache: release %s: %w", path, err)
	}
	return nil
}

// acquire returns the key's entry with a shared lock held on its lock
// file, downloading it under an exclusive lock first if it is missing.
func (c *Cache) acquire(ctx context.Context, key string, it Item) (Info, *os.File, error) {
	lf, err := os.OpenFile(filepath.Join(c.locks, key+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return Info{}, nil, fmt.Errorf("download %s: %w", it.URL, err)
	}
	keep := false
	defer func() {
		if !keep {
			lf.Close()
		}
	}()
	for {
		if err := flockWait(ctx, lf, syscall.LOCK_SH); err != nil {
			return Info{}, nil, fmt.Errorf("download %s: %w", it.URL, err)
		}
		info, err := c.readEntry(key)
		if err == nil {
			touch(filepath.Join(c.objects, key))
			info.FromCache = true
			keep = true
			return info, lf, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Info{}, nil, fmt.Errorf("download %s: %w", it.URL, err)
		}
		// Converting to exclusive drops the shared lock first, so on
		// failure another process may be downloading or may have just
		// finished: look again under a shared lock rather than wait for
		// an exclusive one, which its users' shared locks would block.
		if err := flockTry(lf, syscall.LOCK_EX); err != nil {
			if !errors.Is(err, syscall.EWOULDBLOCK) {
				return Info{}, nil, fmt.Errorf("download %s: lock %s: %w", it.URL, lf.Name(), err)
			}
			if err := pause(ctx); err != nil {
				return Info{}, nil, fmt.Errorf("download %s: %w", it.URL, err)
			}
			continue
		}
		downloaded := false
		if _, err := os.Stat(filepath.Join(c.objects, key)); errors.Is(err, fs.ErrNotExist) {
			if err := c.download(ctx, key, it); err != nil {
				return Info{}, nil, err
			}
			downloaded = true
		}
		if err := flockWait(ctx, lf, syscall.LOCK_SH); err != nil {
			return Info{}, nil, fmt.Errorf("download %s: %w", it.URL, err)
		}
		info, err = c.readEntry(key)
		if err == nil {
			info.FromCache = !downloaded
			keep = true
			return info, lf, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return Info{}, nil, fmt.Errorf("download %s: %w", it.URL, err)
		}
		// Another process evicted it while the lock was being converted.
	}
}

// evict removes least recently used entries not in use until the final
// files fit in the bound. It is best effort: an entry it cannot remove is
// skipped.
func (c *Cache) evict() {
	c.evictMu.Lock()
	defer c.evictMu.Unlock()
	des, err := os.ReadDir(c.objects)
	if err != nil {
		return
	}
	type object struct {
		key   string
		size  int64
		mtime time.Time
	}
	var objs []object
	var total int64
	for _, de := range des {
		if !de.Type().IsRegular() || strings.HasSuffix(de.Name(), metaSuffix) {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		objs = append(objs, object{de.Name(), fi.Size(), fi.ModTime()})
		total += fi.Size()
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].mtime.Before(objs[j].mtime) })
	for _, o := range objs {
		if total <= c.max {
			return
		}
		c.mu.Lock()
		busy := c.held[o.key] != nil || c.inflight[o.key] != nil
		c.mu.Unlock()
		if !busy && c.tryRemove(o.key) {
			total -= o.size
		}
	}
}

// tryRemove removes the key's entry if no process uses it.
func (c *Cache) tryRemove(key string) bool {
	lf, err := os.OpenFile(filepath.Join(c.locks, key+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return false
	}
	defer lf.Close()
	if flockTry(lf, syscall.LOCK_EX) != nil {
		return false
	}
	obj := filepath.Join(c.objects, key)
	if err := os.Remove(obj); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	_ = os.Remove(obj + metaSuffix)
	return true
}

// normalize validates an item and brings its fields to canonical form.
func normalize(it Item) (Item, error) {
	u, err := url.Parse(it.URL)
	if err != nil {
		return it, fmt.Errorf("%w: download %q: %w", ErrInvalidItem, it.URL, err)
	}
	switch u.Scheme {
	case "http", "https":
		if u.Host == "" {
			return it, fmt.Errorf("%w: download %s: no host", ErrInvalidItem, it.URL)
		}
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return it, fmt.Errorf("%w: download %s: file URL with a remote host", ErrInvalidItem, it.URL)
		}
		if u.Path == "" {
			return it, fmt.Errorf("%w: download %s: file URL without a path", ErrInvalidItem, it.URL)
		}
	default:
		return it, fmt.Errorf("%w: download %s: unsupported scheme %q (want http, https or file)", ErrInvalidItem, it.URL, u.Scheme)
	}
	switch it.Compression {
	case "", "none":
		it.Compression = ""
	case "gz", "bz2", "xz", "zip", "zstd":
	default:
		return it, fmt.Errorf("%w: download %s: unknown compression %q (want gz, bz2, xz, zip or zstd)", ErrInvalidItem, it.URL, it.Compression)
	}
	for _, s := range []struct {
		name string
		v    *string
		n    int
	}{{"md5sum", &it.MD5, 32}, {"sha256sum", &it.SHA256, 64}, {"sha512sum", &it.SHA512, 128}} {
		*s.v = strings.ToLower(strings.TrimSpace(*s.v))
		if *s.v == "" {
			continue
		}
		if _, err := hex.DecodeString(*s.v); err != nil || len(*s.v) != s.n {
			return it, fmt.Errorf("%w: download %s: %s %q is not %d hex digits", ErrInvalidItem, it.URL, s.name, *s.v, s.n)
		}
	}
	return it, nil
}

// keyOf is the cache key of a normalized item: its strongest checksum and
// compression, or a hash of its URL and compression.
func keyOf(it Item) string {
	comp := it.Compression
	if comp == "" {
		comp = "none"
	}
	switch {
	case it.SHA512 != "":
		return "sha512-" + it.SHA512 + "-" + comp
	case it.SHA256 != "":
		return "sha256-" + it.SHA256 + "-" + comp
	case it.MD5 != "":
		return "md5-" + it.MD5 + "-" + comp
	}
	sum := sha256.Sum256([]byte(it.URL + "\n" + it.Compression))
	return "url-" + hex.EncodeToString(sum[:])
}

// touch marks a file as just used, for least-recently-used eviction.
func touch(path string) {
	now := time.Now()
	_ = os.Chtimes(path, now, now)
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
