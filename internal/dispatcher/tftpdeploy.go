package dispatcher

import (
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/basalt-lab/basalt/internal/dispatcher/download"
	"github.com/basalt-lab/basalt/internal/dispatcher/overlay"
	"github.com/basalt-lab/basalt/internal/jobdef"
	"github.com/basalt-lab/basalt/internal/uimage"
)

// tftpDeploy is deploy to: tftp (LAVA's tftp-deploy): it fetches the
// kernel, ramdisk, dtb and the rest, prepares the ramdisk (U-Boot header
// removed, the LAVA overlay added, a header put back when the device asks
// for one) and publishes them in the job's published directory (Settings.BootFilesDir) as NAME/FILE, for
// the board's bootloader to fetch over
// TFTP or HTTP. Its files are removed when the job ends (the worker then
// withdraws the directory).
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
		src, err := fetchImage(ctx, env, im)
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
		base := imageBaseName(im)
		dst := filepath.Join(dir, base)
		if im.Name == "ramdisk" {
			if dst, err = d.ramdisk(ctx, env, im, src, fetched["modules"], dir, base); err != nil {
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

// ramdisk prepares the ramdisk in dir: without the U-Boot header the job
// says it carries, with the deploy's modules tarball (install_modules,
// true unless set false, when there is one), with the overlay
// (install_overlay, true unless set false, when the job has test
// definitions), and with a U-Boot header when the device's add_header
// asks for one.
func (d *tftpDeploy) ramdisk(ctx context.Context, env *Env, im DeployedImage, src, modules, dir, base string) (string, error) {
	cur := src
	if im.Image.Header == "u-boot" {
		b, err := os.ReadFile(cur)
		if err != nil {
			return "", InfrastructureError("tftp: ramdisk: %w", err)
		}
		body, h, err := uimage.Strip(b)
		if err != nil {
			return "", JobError("ramdisk: header: u-boot: %w", err)
		}
		cur = filepath.Join(dir, "ramdisk-no-header")
		if err := os.WriteFile(cur, body, 0o644); err != nil {
			return "", InfrastructureError("tftp: ramdisk: %w", err)
		}
		env.Info("ramdisk: U-Boot header %q removed (%d bytes of data)", h.Name, h.Size)
	}
	if modules != "" && (im.Image.InstallModules == nil || *im.Image.InstallModules) {
		out := filepath.Join(dir, "ramdisk-with-modules")
		if err := overlay.AppendTarToRamdisk(cur, out, modules); err != nil {
			if errors.Is(err, overlay.ErrNotCpio) {
				return "", JobError("ramdisk: install_modules: %w", err)
			}
			return "", JobError("ramdisk: install_modules: the modules are not a tarball the ramdisk can take: %w", err)
		}
		cur = out
		env.Info("ramdisk: modules added (install_modules)")
	}
	if overlayWanted(env.Job, im.Image) {
		im.Path = cur
		out, err := applyOverlay(ctx, env, im)
		if err != nil {
			return "", err
		}
		cur = out
	}
	dst := filepath.Join(dir, base)
	switch d.addHeader {
	case "", "raw":
		if err := linkOrCopy(cur, dst); err != nil {
			return "", InfrastructureError("tftp: publish the ramdisk: %w", err)
		}
	case "u-boot":
		if d.mkimageArch == "" {
			return "", ConfigurationError("the device adds U-Boot headers to ramdisks (add_header: u-boot) but names no mkimage_arch in its deploy parameters")
		}
		b, err := os.ReadFile(cur)
		if err != nil {
			return "", InfrastructureError("tftp: ramdisk: %w", err)
		}
		w, err := uimage.Wrap(b, uimage.Options{Arch: d.mkimageArch, Type: uimage.TypeRamdisk})
		if err != nil {
			return "", ConfigurationError("ramdisk U-Boot header: %w", err)
		}
		dst += ".uboot"
		if err := os.WriteFile(dst, w, 0o644); err != nil {
			return "", InfrastructureError("tftp: ramdisk: %w", err)
		}
		env.Info("ramdisk: U-Boot header added (mkimage -A %s -T ramdisk -C none)", d.mkimageArch)
	default:
		return "", ConfigurationError("the device's add_header %q is unknown (u-boot or raw)", d.addHeader)
	}
	return dst, nil
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
// from there) and logs where it came from.
func fetchImage(ctx context.Context, env *Env, im DeployedImage) (string, error) {
	it := download.Item{URL: im.Image.URL, Compression: im.Image.Compression,
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
	u := im.Image.URL
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		u = u[:i]
	}
	base := path.Base(u)
	if c := im.Image.Compression; c != "" {
		base = strings.TrimSuffix(base, "."+c)
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
