package mysql

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/sinks"
)

// State reads and changes the incremental state of pipelines: the watermark each one
// keeps in the sluice_state table, committed with its rows, and the run history in
// sluice_runs. Reset a watermark to re-sync a pipeline from the start.
type State struct {
	// DB connects to the server. Required.
	DB *sql.DB
	// Schema is the loaders' Target.Schema. State has no table of its own: Schema only
	// gives MetaSchema its default, as it does for a Target, so that copying a Target's
	// Schema and MetaSchema finds the state its loads keep. Defaults to the connection's
	// current database.
	Schema string
	// MetaSchema is the database that holds sluice_state and sluice_runs: the loaders'
	// MetaSchema. Defaults to Schema.
	MetaSchema string
	// LockWait bounds the wait for a running load of the pipeline to finish before Set or
	// Reset. Defaults to 0: fail at once with an error wrapping etl.ErrLocked.
	LockWait time.Duration
}

// Watermark returns the pipeline's stored watermark (int64, time.Time, string or
// etl.Decimal), or nil when it has none.
func (s *State) Watermark(ctx context.Context, pipeline string) (any, error) {
	var v any
	err := s.with(ctx, pipeline, false, func(d dialect, sess load.Session) (err error) {
		v, err = load.State(ctx, d, sess, s.meta(), pipeline)
		return err
	})
	return v, err
}

// Reset deletes the pipeline's watermark, so its next run syncs everything. It takes the
// pipeline's lock, so it never races a running load.
func (s *State) Reset(ctx context.Context, pipeline string) error {
	return s.with(ctx, pipeline, true, func(d dialect, sess load.Session) error {
		return load.ResetState(ctx, d, sess, s.meta(), pipeline)
	})
}

// Set stores v (int64, time.Time, string or etl.Decimal) as the pipeline's watermark, to
// re-sync from a chosen point. It takes the pipeline's lock.
func (s *State) Set(ctx context.Context, pipeline string, v any) error {
	return s.with(ctx, pipeline, true, func(d dialect, sess load.Session) error {
		return load.SetState(ctx, d, sess, s.meta(), pipeline, v)
	})
}

func (s *State) meta() string {
	if s.MetaSchema != "" {
		return s.MetaSchema
	}
	return s.Schema
}

func (s *State) with(ctx context.Context, pipeline string, lock bool, fn func(dialect, load.Session) error) error {
	if s.DB == nil {
		return errors.New("mysql: State has no DB")
	}
	d := dialect{db: s.DB, meta: s.meta()}
	sess, err := d.Session(ctx)
	if err != nil {
		return err
	}
	defer sess.Close(ctx)
	if lock {
		release, err := sess.Lock(ctx, pipeline, s.LockWait)
		if err != nil {
			return load.LockHint(err, s.LockWait)
		}
		defer load.Release(ctx, release)
	}
	return fn(d, sess)
}

// Runs returns the last n run records of pipeline, newest first; an empty pipeline means
// every pipeline and n <= 0 means all records. A MetaSchema no load has used has none.
func (s *State) Runs(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
	var recs []sinks.RunRecord
	err := s.with(ctx, pipeline, false, func(d dialect, sess load.Session) (err error) {
		recs, err = load.ReadRuns(ctx, d, sess, s.meta(), pipeline, n)
		return err
	})
	return recs, err
}
