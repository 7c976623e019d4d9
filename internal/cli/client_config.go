package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"github.com/goccy/go-yaml"
)

// Environment variables read by the client commands. Flags win over them.
const (
	envConfig   = "BASALT_CONFIG"   // identity file
	envIdentity = "BASALT_IDENTITY" // identity name
	envURI      = "BASALT_URI"      // server address, bypasses the identity file
	envToken    = "BASALT_TOKEN"    // API token
)

// configFileName is the identity file's name in the user's config directory.
const configFileName = "basalt.yaml"

// identity is one named server account in the identity file, like a
// lavacli identity.
type identity struct {
	URI      string `yaml:"uri" json:"uri"`
	Username string `yaml:"username,omitempty" json:"username,omitempty"`
	Token    string `yaml:"token,omitempty" json:"token,omitempty"`
	CAFile   string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
}

// identityFile is the content of the identity file:
//
//	default: lab
//	identities:
//	  lab: {uri: https://lab.example.com, username: alice, token: bst_…}
type identityFile struct {
	Default    string              `yaml:"default,omitempty"`
	Identities map[string]identity `yaml:"identities"`
}

// defaultConfigPath returns $XDG_CONFIG_HOME/basalt.yaml, else
// ~/.config/basalt.yaml.
func defaultConfigPath() (string, error) {
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, configFileName), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("locate the identity file (set --config or %s): %w", envConfig, err)
	}
	return filepath.Join(home, ".config", configFileName), nil
}

// loadIdentities reads the identity file at path; a missing file is an
// empty one.
func loadIdentities(path string) (*identityFile, error) {
	f := &identityFile{Identities: map[string]identity{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read identity file: %w", err)
	}
	if err := yaml.UnmarshalWithOptions(b, f, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("identity file %s: %s", path, yaml.FormatError(err, false, false))
	}
	if f.Identities == nil {
		f.Identities = map[string]identity{}
	}
	return f, nil
}

// save writes the file with mode 0600 (it holds secrets), atomically: a
// temporary file in the same directory renamed over the old one.
func (f *identityFile) save(path string) error {
	b, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode identities: %w", err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create identity file directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write identity file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write identity file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write identity file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write identity file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write identity file: %w", err)
	}
	return nil
}

// names returns the identity names, sorted.
func (f *identityFile) names() []string {
	out := make([]string, 0, len(f.Identities))
	for n := range f.Identities {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// defaultName is the identity used without --identity: the file's default,
// else one named "default" (lavacli's convention), else the only one.
func (f *identityFile) defaultName() string {
	if f.Default != "" {
		return f.Default
	}
	if _, ok := f.Identities["default"]; ok {
		return "default"
	}
	if len(f.Identities) == 1 {
		return f.names()[0]
	}
	return ""
}

// maskToken shows enough of a secret to recognise it, never enough to use it.
func maskToken(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) < 16:
		return "****"
	}
	return s[:4] + "…" + s[len(s)-4:]
}
