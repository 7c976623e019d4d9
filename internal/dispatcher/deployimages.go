package dispatcher

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"sync"

	"github.com/basalt-lab/basalt/internal/dispatcher/download"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// DeployedImage is one image a deploy action made available on the worker.
type DeployedImage struct {
	Name  string        // the key under images: (kernel, ramdisk, …)
	Path  string        // the file on the worker
	Image *jobdef.Image // the job's description of it
}

// setDeployed records img, replacing an earlier image of the same name.
func (s *Session) setDeployed(img DeployedImage) {
	for i := range s.Deployed {
		if s.Deployed[i].Name == img.Name {
			s.Deployed[i] = img
			return
		}
	}
	s.Deployed = append(s.Deployed, img)
}

// jobCache is the job's view of the worker's download cache: opened on
// first use, and every file fetched is released when the job ends.
type jobCache struct {
	settings Settings

	mu      sync.Mutex
	cache   *download.Cache
	fetched []string
}

// fetch returns the cached file of it, downloading it if needed.
func (c *jobCache) fetch(ctx context.Context, it download.Item) (string, download.Info, error) {
	c.mu.Lock()
	if c.cache == nil {
		var opts []download.Option
		if c.settings.HTTPProxy != "" {
			opts = append(opts, download.WithProxy(c.settings.HTTPProxy))
		}
		cache, err := download.New(c.settings.CacheDir, c.settings.CacheBytes, opts...)
		if err != nil {
			c.mu.Unlock()
			return "", download.Info{}, InfrastructureError("open the download cache: %w", err)
		}
		c.cache = cache
	}
	cache := c.cache
	c.mu.Unlock()
	path, info, err := cache.Fetch(ctx, it)
	if err != nil {
		return "", info, err
	}
	c.mu.Lock()
	c.fetched = append(c.fetched, path)
	c.mu.Unlock()
	return path, info, nil
}

// release ends the job's use of everything it fetched.
func (c *jobCache) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		return nil
	}
	var errs []error
	for _, p := range c.fetched {
		if err := c.cache.Release(p); err != nil {
			errs = append(errs, err)
		}
	}
	c.fetched = nil
	return errors.Join(errs...)
}

// imageDeploy downloads a deploy action's images through the worker's
// cache (checksums checked, decompressed) and, for an image with
// overlays: {lava: true}, adds the LAVA test overlay to it: LAVA's tmpfs
// and downloads deploys for devices that boot files from the worker.
type imageDeploy struct {
	name   string
	deploy *jobdef.Deploy
}

func (d *imageDeploy) Name() string { return d.name }

// sortedImages returns a deploy's images in source order (a map has none).
func sortedImages(dep *jobdef.Deploy) []DeployedImage {
	var images []DeployedImage
	for name, img := range dep.Images {
		images = append(images, DeployedImage{Name: name, Image: &img})
	}
	slices.SortFunc(images, func(a, b DeployedImage) int {
		return cmp.Or(cmp.Compare(a.Image.Pos.Line, b.Image.Pos.Line), cmp.Compare(a.Image.Pos.Column, b.Image.Pos.Column), cmp.Compare(a.Name, b.Name))
	})
	return images
}

func (d *imageDeploy) Run(ctx context.Context, env *Env) error {
	for _, im := range sortedImages(d.deploy) {
		path, err := fetchImage(ctx, env, im)
		if err != nil {
			return err
		}
		im.Path = path
		if ov := im.Image.Overlays; ov != nil && ov.Lava {
			if im.Path, err = applyOverlay(ctx, env, im); err != nil {
				return err
			}
		}
		env.Session.setDeployed(im)
	}
	return nil
}

// downloadError classifies a failed download the way LAVA does. LAVA asks
// for every image when it validates the job (a HEAD request), and an image
// whose server does not answer, or answers anything but success, fails the
// job there with a Job error: the job named a URL that cannot be had, and
// the device keeps its health. So here: no answer at all, an error status
// and a bad checksum are Job errors. Failing after the transfer started
// (the network dropping mid-way) or on the worker's own side (its cache,
// its disk) is an Infrastructure error, as in LAVA's download itself.
func downloadError(name string, err error) error {
	var st *download.StatusError
	var sum *download.ChecksumError
	var unreach *download.UnreachableError
	var nerr net.Error
	switch {
	case errors.As(err, &sum):
		return JobError("%s: %w", name, err)
	case errors.As(err, &st), errors.As(err, &unreach):
		return JobError("%s: %w", name, err)
	case errors.Is(err, os.ErrNotExist):
		return JobError("%s: %w", name, err)
	case errors.Is(err, download.ErrInvalidItem):
		return JobError("%s: %w", name, err)
	case errors.As(err, &nerr):
		return InfrastructureError("%s: %w", name, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	}
	return InfrastructureError("%s: %w", name, fmt.Errorf("download: %w", err))
}
