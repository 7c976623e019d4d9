// Package lavadeb brings Debian's packages of LAVA to the tests that hold
// Basalt to LAVA's own files: its device-type templates, its sample jobs.
// Those files are LAVA's, never copied into this repository: a test
// downloads the packages (apt-get download, Debian's ordinary client) and
// unpacks them (dpkg-deb -x) when it runs, into a cache that later runs
// reuse. Without apt-get, the archive or the package, the test fails and
// says what to do; it never skips.
package lavadeb

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Version is the Debian version of LAVA the tests compare with: bookworm's
// 2023.01.
const Version = "2023.01-2"

// Extract returns a directory holding the files of Debian's packages pkgs
// (lava-server, lava-common, lava-server-doc, …) at Version, as installed
// under /: <dir>/usr/share/lava-server/… The packages are downloaded and
// unpacked once into the user's cache directory (basalt-test/debs) and
// reused; test binaries running side by side may share it.
func Extract(t testing.TB, pkgs ...string) string {
	t.Helper()
	if len(pkgs) == 0 {
		t.Fatal("lavadeb.Extract: no package named")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "basalt-test", "debs")
	names := slices.Clone(pkgs)
	slices.Sort(names)
	tree := filepath.Join(dir, "lava-"+Version+"-"+strings.Join(names, "+"))
	if _, err := os.Stat(filepath.Join(tree, ".complete")); err == nil {
		return tree
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("lavadeb: %v", err)
	}
	tmp, err := os.MkdirTemp(dir, "extract-")
	if err != nil {
		t.Fatalf("lavadeb: %v", err)
	}
	defer os.RemoveAll(tmp)
	for _, pkg := range names {
		deb := download(t, dir, pkg)
		if out, err := exec.Command("dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
			t.Fatalf("cannot extract the Debian package %s (dpkg-deb -x %s): %v\n%s", pkg, deb, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, ".complete"), nil, 0o644); err != nil {
		t.Fatalf("lavadeb: %v", err)
	}
	// Another test binary may have finished the same tree first: either
	// copy is whole, so keep the one in place.
	if err := os.Rename(tmp, tree); err != nil {
		if _, serr := os.Stat(filepath.Join(tree, ".complete")); serr != nil {
			t.Fatalf("lavadeb: %v", errors.Join(err, serr))
		}
	}
	return tree
}

// download returns the path of pkg's .deb at Version in dir, downloading
// it into a private directory first so that a reader never sees half a
// file.
func download(t testing.TB, dir, pkg string) string {
	t.Helper()
	deb := filepath.Join(dir, pkg+"_"+Version+"_all.deb")
	if _, err := os.Stat(deb); err == nil {
		return deb
	}
	tmp, err := os.MkdirTemp(dir, "download-")
	if err != nil {
		t.Fatalf("lavadeb: %v", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("apt-get", "download", pkg+"="+Version)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot download the Debian package %s=%s, LAVA's files the test compares with (apt-get download; run apt-get update first): %v\n%s", pkg, Version, err, out)
	}
	got := filepath.Join(tmp, filepath.Base(deb))
	if _, err := os.Stat(got); err != nil {
		t.Fatalf("apt-get download %s=%s did not leave %s: %v", pkg, Version, filepath.Base(deb), err)
	}
	if err := os.Rename(got, deb); err != nil {
		t.Fatalf("lavadeb: %v", err)
	}
	return deb
}
