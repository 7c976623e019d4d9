//go:build !unix

package logstore

import "os"

// lockDir does not lock on platforms without flock; one store per
// directory is then the operator's responsibility.
func lockDir(string) (*os.File, error) { return nil, nil }

// unlockDir matches lockDir.
func unlockDir(*os.File) error { return nil }
