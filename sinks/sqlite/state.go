package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/sinks"
)

// State reads and changes the incremental state of pipelines, outside a load: the
// watermark each one keeps in sluice_state, committed with its rows, and the run history
// in sluice_runs. Reset a pipeline's watermark to re-sync it from the start.
//
// SQLite has no schemas, so State has no MetaSchema: both tables live in the file's main
// database.
type State struct {
	// DB is the database. Required.
	DB *DB
	// LockWait bounds the wait of Set and Reset for a running load of the pipeline to
	// finish. Defaults to 0: fail at once with an error wrapping etl.ErrLocked.
	LockWait time.Duration
}

// Watermark returns the pipeline's stored watermark (int64, time.Time, string or
// etl.Decimal), or nil when it has none.
func (s *State) Watermark(ctx context.Context, pipeline string) (any, error) {
	var v any
	err := s.session(ctx, func(d dialect, sess load.Session) (err error) {
		v, err = load.State(ctx, d, sess, "", pipeline)
		return err
	})
	return v, err
}

// Set stores v (int64, time.Time, string or etl.Decimal) as the pipeline's watermark, to
// re-sync from a chosen point. It takes the pipeline's lock, so it never races a load.
func (s *State) Set(ctx context.Context, pipeline string, v any) error {
	return s.locked(ctx, pipeline, func(d dialect, sess load.Session) error {
		return load.SetState(ctx, d, sess, "", pipeline, v)
	})
}

// Reset deletes the pipeline's watermark, so its next run syncs everything. It takes the
// pipeline's lock, so it never races a load.
func (s *State) Reset(ctx context.Context, pipeline string) error {
	return s.locked(ctx, pipeline, func(d dialect, sess load.Session) error {
		return load.ResetState(ctx, d, sess, "", pipeline)
	})
}

// Runs returns the last n run records of pipeline, newest first; an empty pipeline means
// every pipeline and n <= 0 means every record. A file no load has used has none.
func (s *State) Runs(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
	var recs []sinks.RunRecord
	err := s.session(ctx, func(d dialect, sess load.Session) (err error) {
		recs, err = load.ReadRuns(ctx, d, sess, "", pipeline, n)
		return err
	})
	return recs, err
}

func (s *State) locked(ctx context.Context, pipeline string, f func(dialect, load.Session) error) error {
	return s.session(ctx, func(d dialect, sess load.Session) error {
		release, err := sess.Lock(ctx, pipeline, s.LockWait)
		if err != nil {
			return load.LockHint(err, s.LockWait)
		}
		defer load.Release(ctx, release)
		return f(d, sess)
	})
}

func (s *State) session(ctx context.Context, f func(dialect, load.Session) error) error {
	if s.DB == nil {
		return errNilDB
	}
	d := dialect{s.DB}
	sess, err := d.Session(ctx)
	if err != nil {
		return err
	}
	defer sess.Close(ctx)
	if err := f(d, sess); err != nil {
		return fmt.Errorf("sqlite %s: %w", s.DB.path, err)
	}
	return nil
}
