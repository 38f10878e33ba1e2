package sqlite

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// The pipeline lock.
//
// SQLite has no advisory locks, and its own write lock is the wrong tool: a load runs
// several short transactions (creating the meta tables, the load, a failure record), and
// the lock must cover all of them, while loads of other pipelines into the same file must
// only queue behind the write lock, not fail. A row in a locks table would survive a
// killed process until a lease ran out, and renewing the lease would need the write lock
// the load itself holds.
//
// So the lock is an operating-system lock on a small file beside the database, one per
// pipeline: flock(2) on Unix, LockFileEx on Windows. The kernel drops it when the process
// dies, so a killed run never leaves it held, and it works across processes. Within one
// process a channel per lock file serializes the runs first, so waiting there is a select,
// not polling. The files are left in place after release: removing a lock file races
// with a process that has just opened it.

// lockFileName returns the lock file of pipeline for the database at dbPath: the
// database's name, a readable form of the pipeline's name and a hash that keeps distinct
// names distinct.
func lockFileName(dbPath, pipeline string) string {
	sum := sha256.Sum256([]byte(pipeline))
	var b strings.Builder
	for _, r := range pipeline {
		if b.Len() >= 32 {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return dbPath + ".sluice-lock-" + b.String() + "-" + hex.EncodeToString(sum[:4])
}

var inProcess struct {
	mu   sync.Mutex
	sems map[string]chan struct{}
}

func semaphore(key string) chan struct{} {
	inProcess.mu.Lock()
	defer inProcess.mu.Unlock()
	if inProcess.sems == nil {
		inProcess.sems = map[string]chan struct{}{}
	}
	s, ok := inProcess.sems[key]
	if !ok {
		s = make(chan struct{}, 1)
		inProcess.sems[key] = s
	}
	return s
}

// pipelineLock is a held pipeline lock.
type pipelineLock struct {
	sem  chan struct{}
	file *os.File
	once sync.Once
}

func (l *pipelineLock) release() error {
	var err error
	l.once.Do(func() {
		if l.file != nil {
			err = errors.Join(unlockFile(l.file), l.file.Close())
		}
		<-l.sem
	})
	return err
}

// acquire takes the lock of pipeline on the database at dbPath, waiting at most wait.
func acquire(ctx context.Context, dbPath, pipeline string, wait time.Duration) (*pipelineLock, error) {
	name := lockFileName(dbPath, pipeline)
	deadline := time.Now().Add(wait)
	locked := func() error {
		return fmt.Errorf("sqlite %s: pipeline %q (waited %s): %w", dbPath, pipeline, wait, etl.ErrLocked)
	}
	sem := semaphore(name)
	select {
	case sem <- struct{}{}:
	default:
		if wait <= 0 {
			return nil, locked()
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case sem <- struct{}{}:
		case <-t.C:
			return nil, locked()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	l := &pipelineLock{sem: sem}
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		<-sem
		return nil, fmt.Errorf("sqlite: pipeline %q: open lock file: %w", pipeline, err)
	}
	// Another process holds it: poll, since flock cannot wait with a deadline.
	backoff := 2 * time.Millisecond
	for {
		ok, err := tryLockFile(f)
		if err != nil {
			_ = f.Close()
			<-sem
			return nil, fmt.Errorf("sqlite: pipeline %q: lock %s: %w", pipeline, name, err)
		}
		if ok {
			l.file = f
			return l, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			_ = f.Close()
			<-sem
			return nil, locked()
		}
		t := time.NewTimer(min(backoff, left))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			<-sem
			return nil, ctx.Err()
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}
