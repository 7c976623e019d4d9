// Package version holds the build's version string, set at link time with
// -ldflags "-X github.com/basalt-lab/basalt/internal/version.Version=…".
package version

// Version is the release or git description of this build; "dev" when unset.
var Version = "dev"
