package dispatcher

import (
	"context"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/basalt-lab/basalt/internal/compression"
	"github.com/basalt-lab/basalt/internal/dispatcher/download"
	"github.com/basalt-lab/basalt/internal/jobdef"
)

// tftpDeploy is deploy to: tftp (LAVA's tftp-deploy): it fetches the
// kernel, ramdisk, dtb and the rest, prepares the ramdisk (U-Boot header
// removed, the modules and the LAVA overlay added, compressed again with
// its compression, a header put back when the device asks for one:
// tftpramdisk.go) and publishes them in the job's published directory
// (Settings.BootFilesDir) as NAME/FILE, for the board's bootloader to
// fetch over TFTP or HTTP. Its files are removed when the job ends (the
// worker then withdraws the directory).
type tftpDeploy struct {
	deploy *jobdef.Deploy
	// addHeader and mkimageArch are the device's deploy parameters
	// add_header and mkimage_arch.
	addHeader, mkimageArch string
}

// newTFTPDeploy is the tftp deploy of dep on a device with cfg.
func newTFTPDeploy(dep *jobdef.Deploy, cfg *deviceConfig) *tftpDeploy {
	d := &tftpDeploy{deploy: dep}
	if rc := cfg.Rendered; rc != nil {
		d.addHeader, _ = rc.DeployParameters["add_header"].(string)
		d.mkimageArch, _ = rc.DeployParameters["mkimage_arch"].(string)
	}
	return d
}

func (d *tftpDeploy) Name() string { return "tftp-deploy" }

func (d *tftpDeploy) Run(ctx context.Context, env *Env) error {
	jobDir := env.run.bootFilesDir
	if jobDir == "" {
		return InfrastructureError("this worker serves no boot files (it has no TFTP server): start the worker with --boot-files to run tftp deploys")
	}
	if env.Session.BootFiles == nil {
		env.Session.BootFiles = map[string]string{}
		env.Session.AddCleanup("tftp-deploy", func(ctx context.Context, env *Env) error {
			for _, name := range sortedKeys(env.Session.BootFiles) {
				if err := os.RemoveAll(filepath.Join(jobDir, name)); err != nil {
					return InfrastructureError("tftp: remove the job's boot files: %w", err)
				}
			}
			env.Debug("tftp: removed the job's boot files from %s", jobDir)
			return nil
		})
	}
	images := sortedImages(d.deploy)
	fetched := map[string]string{} // image name → its file in the cache
	for _, im := range images {
		comp := im.Image.Compression
		if im.Name == "ramdisk" && compression.IsStream(comp) {
			// As LAVA: the ramdisk is prepared and served compressed.
			env.Debug("ramdisk: kept %s-compressed by the download: it is prepared and published compressed", comp)
			comp = ""
		}
		src, err := fetchImageAs(ctx, env, im, comp)
		if err != nil {
			return err
		}
		fetched[im.Name] = src
	}
	for _, im := range images {
		src := fetched[im.Name]
		var err error
		dir := filepath.Join(jobDir, im.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return InfrastructureError("tftp: %w", err)
		}
		dst := filepath.Join(dir, imageBaseName(im))
		if im.Name == "ramdisk" {
			if dst, err = d.ramdisk(ctx, env, im, src, fetched["modules"], dir); err != nil {
				return err
			}
		} else if err := linkOrCopy(src, dst); err != nil {
			return InfrastructureError("tftp: publish %s: %w", im.Name, err)
		}
		rel := path.Join(env.run.bootFilesPrefix, im.Name, filepath.Base(dst))
		env.Session.BootFiles[im.Name] = rel
		if im.Name == "kernel" {
			env.Session.KernelType = im.Image.Type
		}
		im.Path = dst
		env.Session.setDeployed(im)
		env.Info("tftp: %s published as %s", im.Name, rel)
	}
	return nil
}

// overlayWanted says whether a tftp ramdisk gets the LAVA overlay: the
// job has test definitions and the ramdisk does not say install_overlay:
// false (or, as LAVA has it, an image's overlays: lava: true asks for it
// too).
func overlayWanted(job *jobdef.Job, img *jobdef.Image) bool {
	if img.InstallOverlay != nil && !*img.InstallOverlay {
		return false
	}
	if img.Overlays != nil && img.Overlays.Lava {
		return true
	}
	for i := range job.Actions {
		if a := &job.Actions[i]; a.Kind == jobdef.KindTest && len(a.Test.Definitions) > 0 {
			return true
		}
	}
	return false
}

// fetchImage downloads one image into the worker's cache (or takes it
// from there), decompressed, and logs where it came from.
func fetchImage(ctx context.Context, env *Env, im DeployedImage) (string, error) {
	return fetchImageAs(ctx, env, im, im.Image.Compression)
}

// fetchImageAs is fetchImage with comp the compression the download
// removes: the image's, or "" for the file as it came.
func fetchImageAs(ctx context.Context, env *Env, im DeployedImage, comp string) (string, error) {
	it := download.Item{URL: im.Image.URL, Compression: comp,
		MD5: im.Image.MD5Sum, SHA256: im.Image.SHA256Sum, SHA512: im.Image.SHA512Sum}
	env.Info("downloading %s: %s", im.Name, im.Image.URL)
	path, info, err := env.run.cache.fetch(ctx, it)
	if err != nil {
		return "", downloadError(im.Name, err)
	}
	how := "downloaded"
	if info.FromCache {
		how = "from the cache"
	}
	env.Info("%s: %s, %d bytes, sha256 %s (%s, %s)", im.Name, path, info.Size, info.SHA256, how, seconds(info.Duration)+"s")
	return path, nil
}

// imageBaseName is the file name an image is published under: the last
// element of its URL without the compression suffix the download removed,
// or the image's name when the URL has none usable.
func imageBaseName(im DeployedImage) string {
	return publishedName(im, urlBase(im.Image.URL), "."+im.Image.Compression)
}

// urlBase is the last element of a URL's path.
func urlBase(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	return path.Base(u)
}

// publishedName is base without each of suffixes it ends with, in turn,
// or the image's name when what is left is no usable file name.
func publishedName(im DeployedImage, base string, suffixes ...string) string {
	for _, s := range suffixes {
		if s != "." {
			base = strings.TrimSuffix(base, s)
		}
	}
	if base == "" || base == "." || base == "/" || base == ".." || strings.ContainsAny(base, "\\\x00") {
		return im.Name
	}
	return base
}

// linkOrCopy makes dst the same content as src: a hard link when both are
// on one file system, a copy otherwise.
func linkOrCopy(src, dst string) error {
	_ = os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.CreateTemp(filepath.Dir(dst), ".publish-*")
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(out.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(out.Name(), dst)
	}
	if err != nil {
		_ = os.Remove(out.Name())
		return err
	}
	return nil
}
