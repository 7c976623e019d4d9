package jobdef

import (
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Deploy is a deploy action. To is one of the supported targets (tmpfs,
// downloads, download, tftp); Images is then non-empty and every image has
// a URL. A tftp deploy writes its images directly under the action
// (kernel:, ramdisk:, dtb:, modules:, preseed:, tee:), not under images:;
// they are read into Images by those names.
type Deploy struct {
	To     string           `json:"to"`
	OS     string           `json:"os,omitempty"`
	Images map[string]Image `json:"images"`
	// Authorize is "ssh" (install the lab's public key) or empty.
	Authorize string `json:"authorize,omitempty"`
	// OverlayBackend is auto, e2fsprogs or guestfs (empty: device default).
	OverlayBackend string `json:"overlay_backend,omitempty"`
}

// Image is a downloadable artefact of a deploy action. URL is an http,
// https or file URL; Compression is bz2, gz, xz, zip or zstd; Archive is
// tar; checksums are lower-case hex of the right length; Format is
// cpio.newc, ext4 or tar. ImageArg is the qemu argument template (e.g.
// "-kernel {kernel}").
type Image struct {
	Pos         Pos               `json:"pos"`
	URL         string            `json:"url"`
	Headers     map[string]string `json:"headers,omitempty"`
	Compression string            `json:"compression,omitempty"`
	Archive     string            `json:"archive,omitempty"`
	MD5Sum      string            `json:"md5sum,omitempty"`
	SHA256Sum   string            `json:"sha256sum,omitempty"`
	SHA512Sum   string            `json:"sha512sum,omitempty"`
	UseCache    *bool             `json:"use_cache,omitempty"`
	Format      string            `json:"format,omitempty"`
	Partition   *int              `json:"partition,omitempty"`
	Sparse      *bool             `json:"sparse,omitempty"`
	ImageArg    string            `json:"image_arg,omitempty"`
	Overlays    *Overlays         `json:"overlays,omitempty"`
	// Type is a tftp kernel's type: image, uimage or zimage (empty: the
	// device's default).
	Type string `json:"type,omitempty"`
	// Header is a tftp ramdisk's header: "u-boot" says the file as
	// downloaded carries U-Boot's legacy image header (removed before the
	// overlay is added; the device's add_header decides whether the
	// ramdisk served gets one).
	Header string `json:"header,omitempty"`
	// InstallOverlay and InstallModules are a tftp ramdisk's switches (nil:
	// LAVA's default, true): add the test overlay, add the modules.
	InstallOverlay *bool `json:"install_overlay,omitempty"`
	InstallModules *bool `json:"install_modules,omitempty"`
}

// Overlays is an image's overlays block: Lava asks for the LAVA test overlay
// to be added to the image; Files are extra overlays by name.
type Overlays struct {
	Lava  bool                   `json:"lava"`
	Files map[string]OverlayFile `json:"files,omitempty"`
}

// OverlayFile is one extra overlay: a URL put at Path inside the image,
// either as a single file or as a tar archive to unpack (Format).
type OverlayFile struct {
	URL         string `json:"url"`
	Compression string `json:"compression,omitempty"`
	Format      string `json:"format"`
	Path        string `json:"path"`
}

// deployTargets are LAVA's 25 deploy targets.
var deployTargets = []string{
	"avh", "docker", "download", "downloads", "fastboot", "flasher", "fvp", "iso-installer",
	"mps", "musca", "nbd", "nfs", "overlay", "qdl", "recovery", "sata", "sd", "usb", "ssh",
	"tftp", "tmpfs", "u-boot-ums", "usbg-ms", "uuu", "vemsd",
}

var supportedDeploy = []string{"download", "downloads", "tftp", "tmpfs"}

// removedDeploy are deploy targets LAVA no longer has.
var removedDeploy = map[string]string{"lxc": "LAVA dropped LXC in 2026.04"}

// deployRefused are keys of LAVA's deploy targets that Basalt does not
// run, by target, with the reason: ignoring them would change the job.
var deployRefused = map[string]map[string]string{
	"tmpfs": {
		"type": "deploy type monitor (type) is not supported",
		"uefi": "UEFI firmware for QEMU (uefi) is not supported yet",
	},
	"downloads": {
		"postprocess": "post-processing downloads in a docker container (postprocess) is not supported",
		"uniquify":    "uniquify is not supported yet",
	},
}

// tftpImages are the images of a tftp deploy Basalt runs, and tftpRefused
// those LAVA has that it does not (yet), with the reason.
var (
	tftpImages  = []string{"kernel", "ramdisk", "dtb", "modules", "preseed", "tee"}
	tftpRefused = map[string]string{
		"nfsrootfs":      "NFS root file systems are not supported yet",
		"persistent_nfs": "NFS root file systems are not supported yet",
		"dtbo":           "device-tree overlays (dtbo) are not supported yet",
		"extra_files":    "extra_files is not supported yet",
	}
)

// overlayRefused are the keys of LAVA's overlay files that Basalt does not
// use (yet); use_cache is accepted and has no effect (downloads of
// overlays are not cached).
var overlayRefused = map[string]string{
	"headers":   "HTTP headers for overlay files are not supported yet",
	"archive":   "archive is not supported for overlay files (use format: tar)",
	"md5sum":    "checksums of overlay files are not supported yet",
	"sha256sum": "checksums of overlay files are not supported yet",
	"sha512sum": "checksums of overlay files are not supported yet",
}

var imageKeys = []string{
	"url", "headers", "compression", "archive", "md5sum", "sha256sum", "sha512sum",
	"use_cache", "format", "partition", "sparse", "image_arg", "overlays",
}

func (d *decoder) deploy(m *mapping) *Deploy {
	dep := &Deploy{}
	v, ok := d.require(m, "to")
	if !ok {
		return dep
	}
	to, ok := d.str(v, m.sub("to"))
	if !ok {
		return dep
	}
	if !contains(supportedDeploy, to) {
		if why, ok := removedDeploy[to]; ok {
			d.errorf(v.pos, m.sub("to"), "deploy target %q is not supported (%s; supported: %s)", to, why, strings.Join(supportedDeploy, ", "))
		} else if contains(deployTargets, to) {
			d.errorf(v.pos, m.sub("to"), "deploy target %q is not supported (supported: %s)", to, strings.Join(supportedDeploy, ", "))
		} else {
			d.errorf(v.pos, m.sub("to"), "unknown deploy target %q (supported: %s)", truncate(to, 60), strings.Join(supportedDeploy, ", "))
		}
		return dep // the keys of other targets are not known here
	}
	dep.To = to
	if v, ok := m.get("os"); ok {
		dep.OS, _ = d.nonEmpty(v, m.sub("os"), 0)
	}
	if v, ok := m.get("authorize"); ok {
		dep.Authorize, _ = d.enum(v, m.sub("authorize"), "authorize method", "ssh")
	}
	if v, ok := m.get("overlay_backend"); ok {
		dep.OverlayBackend, _ = d.enum(v, m.sub("overlay_backend"), "overlay backend", "auto", "e2fsprogs", "guestfs")
	}
	if to == "tftp" {
		d.tftpImages(m, dep)
		return dep
	}
	if v, ok := d.require(m, "images"); ok {
		dep.Images = d.images(v, m.sub("images"))
	}
	d.extraKeys(m, keys("to", "os", "authorize", "overlay_backend", "images"), deployRefused[to])
	return dep
}

// tftpImages reads a tftp deploy's images, written under the action.
func (d *decoder) tftpImages(m *mapping, dep *Deploy) {
	dep.Images = map[string]Image{}
	for _, name := range tftpImages {
		if v, ok := m.get(name); ok {
			dep.Images[name] = d.image(v, m.sub(name), name)
		}
	}
	for _, e := range m.n.entries {
		if why, ok := tftpRefused[e.key]; ok {
			d.errorf(e.keyPos, m.sub(e.key), "%s", why)
		}
	}
	if len(dep.Images) == 0 {
		d.errorf(m.n.pos, m.path, "a tftp deploy needs a kernel (and usually a ramdisk and a dtb)")
	} else if _, ok := dep.Images["kernel"]; !ok {
		d.errorf(m.n.pos, m.path, "a tftp deploy needs a kernel")
	}
	allowed := keys("to", "os", "authorize", "overlay_backend")
	allowed = append(allowed, tftpImages...)
	d.extraKeys(m, allowed, nil, slices.Collect(maps.Keys(tftpRefused))...)
}

func (d *decoder) images(n *node, path string) map[string]Image {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	if len(n.entries) == 0 {
		d.errorf(n.pos, path, "needs at least one image")
		return nil
	}
	out := make(map[string]Image, len(n.entries))
	for _, e := range n.entries {
		p := KeyPath(path, e.key)
		if e.key == "" {
			d.errorf(e.keyPos, p, "image name must not be empty")
			continue
		}
		out[e.key] = d.image(e.val, p, "")
	}
	return out
}

var hexDigits = regexp.MustCompile(`^[0-9a-f]+$`)

// image reads one image; tftp names the image of a tftp deploy (kernel,
// ramdisk, …), whose extra keys it then reads, and is "" otherwise.
func (d *decoder) image(n *node, path, tftp string) Image {
	img := Image{Pos: n.pos}
	m := d.asMap(n, path)
	if m == nil {
		return img
	}
	if v, ok := d.require(m, "url"); ok {
		img.URL, _ = d.url(v, m.sub("url"), "http", "https", "file")
	}
	if v, ok := m.get("headers"); ok {
		img.Headers = d.stringMap(v, m.sub("headers"), false)
	}
	if v, ok := m.get("compression"); ok && v.kind != nullNode { // null: none, as in LAVA
		img.Compression, _ = d.enum(v, m.sub("compression"), "compression", "bz2", "gz", "xz", "zip", "zstd")
	}
	if v, ok := m.get("archive"); ok {
		img.Archive, _ = d.enum(v, m.sub("archive"), "archive format", "tar")
	}
	for _, c := range []struct {
		key  string
		hex  int
		dest *string
	}{{"md5sum", 32, &img.MD5Sum}, {"sha256sum", 64, &img.SHA256Sum}, {"sha512sum", 128, &img.SHA512Sum}} {
		v, ok := m.get(c.key)
		if !ok {
			continue
		}
		s, ok := d.str(v, m.sub(c.key))
		if !ok {
			continue
		}
		if len(s) != c.hex || !hexDigits.MatchString(s) {
			d.errorf(v.pos, m.sub(c.key), "%s must be %d lower-case hex digits", c.key, c.hex)
			continue
		}
		*c.dest = s
	}
	if v, ok := m.get("use_cache"); ok {
		img.UseCache = d.boolPtr(v, m.sub("use_cache"))
	}
	if v, ok := m.get("format"); ok {
		img.Format, _ = d.enum(v, m.sub("format"), "image format", "cpio.newc", "ext4", "tar")
	}
	if v, ok := m.get("partition"); ok {
		if p, ok := d.intRange(v, m.sub("partition"), 0, math.MaxInt32); ok {
			img.Partition = &p
		}
	}
	if v, ok := m.get("sparse"); ok {
		img.Sparse = d.boolPtr(v, m.sub("sparse"))
	}
	if v, ok := m.get("image_arg"); ok {
		img.ImageArg, _ = d.nonEmpty(v, m.sub("image_arg"), 0)
	}
	if v, ok := m.get("overlays"); ok {
		img.Overlays = d.overlays(v, m.sub("overlays"))
	}
	allowed := imageKeys
	switch tftp {
	case "kernel":
		allowed = append(slices.Clone(imageKeys), "type")
		if v, ok := m.get("type"); ok {
			img.Type, _ = d.enum(v, m.sub("type"), "kernel type", "image", "uimage", "zimage")
		}
	case "ramdisk":
		allowed = append(slices.Clone(imageKeys), "header", "install_overlay", "install_modules")
		if v, ok := m.get("header"); ok {
			img.Header, _ = d.enum(v, m.sub("header"), "ramdisk header", "u-boot")
		}
		if v, ok := m.get("install_overlay"); ok {
			img.InstallOverlay = d.boolPtr(v, m.sub("install_overlay"))
		}
		if v, ok := m.get("install_modules"); ok {
			img.InstallModules = d.boolPtr(v, m.sub("install_modules"))
		}
	}
	d.extraKeys(m, allowed, nil)
	return img
}

func (d *decoder) overlays(n *node, path string) *Overlays {
	m := d.asMap(n, path)
	if m == nil {
		return nil
	}
	o := &Overlays{}
	for _, e := range n.entries {
		p := KeyPath(path, e.key)
		if e.key == "lava" {
			o.Lava, _ = d.boolean(e.val, p)
			continue
		}
		fm := d.asMap(e.val, p)
		if fm == nil {
			continue
		}
		var f OverlayFile
		if v, ok := d.require(fm, "url"); ok {
			f.URL, _ = d.url(v, fm.sub("url"), "http", "https", "file")
		}
		if v, ok := d.require(fm, "format"); ok {
			f.Format, _ = d.enum(v, fm.sub("format"), "overlay format", "file", "tar")
		}
		if v, ok := d.require(fm, "path"); ok {
			f.Path, _ = d.nonEmpty(v, fm.sub("path"), 0)
		}
		if v, ok := fm.get("compression"); ok && v.kind != nullNode {
			f.Compression, _ = d.enum(v, fm.sub("compression"), "compression", "bz2", "gz", "xz", "zip", "zstd")
		}
		d.extraKeys(fm, []string{"url", "format", "path", "compression", "use_cache"}, overlayRefused)
		if o.Files == nil {
			o.Files = map[string]OverlayFile{}
		}
		o.Files[e.key] = f
	}
	return o
}

// url reads an absolute URL whose scheme is one of schemes.
func (d *decoder) url(n *node, path string, schemes ...string) (string, bool) {
	s, ok := d.nonEmpty(n, path, 0)
	if !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" {
		d.errorf(n.pos, path, "%q is not a URL (supported schemes: %s)", truncate(s, 60), strings.Join(schemes, ", "))
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if !contains(schemes, scheme) {
		d.errorf(n.pos, path, "URL scheme %q is not supported (supported: %s)", truncate(u.Scheme, 20), strings.Join(schemes, ", "))
		return "", false
	}
	if scheme == "file" {
		if u.Path == "" && u.Opaque == "" {
			d.errorf(n.pos, path, "file URL %q has no path", truncate(s, 60))
			return "", false
		}
	} else if u.Host == "" {
		d.errorf(n.pos, path, "URL %q has no host", truncate(s, 60))
		return "", false
	}
	return s, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
