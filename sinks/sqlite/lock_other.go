//go:build !unix && !windows

package sqlite

import "os"

// tryLockFile has no file lock to take on this platform: the lock is in-process only.
func tryLockFile(*os.File) (bool, error) { return true, nil }

func unlockFile(*os.File) error { return nil }

// crossProcess reports whether the pipeline lock holds across processes here.
const crossProcess = false
