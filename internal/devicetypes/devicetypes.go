package devicetypes

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed templates/*.jinja2
var embedded embed.FS

// Suffix is the file-name suffix of a device-type template.
const Suffix = ".jinja2"

// FS returns the shipped templates as a file system whose root holds the
// template files (base.jinja2, base-uboot.jinja2, …), ready for a
// template loader.
func FS() fs.FS {
	sub, err := fs.Sub(embedded, "templates")
	if err != nil {
		// fs.Sub fails only for an invalid directory name; "templates" is valid.
		panic("devicetypes: " + err.Error())
	}
	return sub
}

// Names returns the file names of the shipped templates, sorted
// ("base-barebox.jinja2", "base-grub.jinja2", …).
func Names() []string {
	entries, err := fs.ReadDir(embedded, "templates")
	if err != nil {
		panic("devicetypes: " + err.Error())
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(e.Name(), Suffix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// IsBase reports whether name (a template file name) is a base template,
// meant to be extended rather than named by a device: base.jinja2 and
// base-*.jinja2. A dictionary may still extend base-uboot.jinja2 directly.
func IsBase(name string) bool {
	name = path.Base(name)
	return name == "base"+Suffix || strings.HasPrefix(name, "base-")
}
