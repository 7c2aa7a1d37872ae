//go:build !unix

package memdb

import (
	"os"
	"path/filepath"
)

// lockDir only creates the lock file where flock is not available: the
// caller must not open one directory from two processes.
func lockDir(dir string) (*os.File, error) {
	return os.OpenFile(filepath.Join(dir, "LOCK"), os.O_RDWR|os.O_CREATE, 0o600)
}
