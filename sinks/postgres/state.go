package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/sinks"
)

// State reads and changes the incremental state of pipelines, outside a load: the
// watermark each one keeps in sluice_state, committed with its rows, and the run history
// in sluice_runs. Reset a pipeline's watermark to re-sync it from the start.
type State struct {
	// Pool connects to the database. Required.
	Pool *pgxpool.Pool
	// Schema is the loaders' Target.Schema. State has no table of its own: Schema only
	// gives MetaSchema its default, as it does for a Target, so that copying a Target's
	// Schema and MetaSchema finds the state its loads keep. Defaults to the connection's
	// search_path.
	Schema string
	// MetaSchema holds sluice_state and sluice_runs: the loaders' MetaSchema. Defaults to
	// Schema.
	MetaSchema string
	// LockWait bounds the wait of Set and Reset for a running load of the pipeline to
	// finish. Defaults to 0: fail at once with an error wrapping etl.ErrLocked.
	LockWait time.Duration
}

// Watermark returns the pipeline's stored watermark (int64, time.Time, string or
// etl.Decimal), or nil when it has none.
func (s *State) Watermark(ctx context.Context, pipeline string) (any, error) {
	d, sess, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close(ctx)
	return load.State(ctx, d, sess, s.meta(), pipeline)
}

// Set stores v (int64, time.Time, string or etl.Decimal) as the pipeline's watermark, to
// re-sync from a chosen point. It takes the pipeline's lock, so it never races a load.
func (s *State) Set(ctx context.Context, pipeline string, v any) error {
	return s.locked(ctx, pipeline, func(d dialect, sess load.Session) error {
		return load.SetState(ctx, d, sess, s.meta(), pipeline, v)
	})
}

// Reset deletes the pipeline's watermark, so its next run syncs everything. It takes the
// pipeline's lock, so it never races a load.
func (s *State) Reset(ctx context.Context, pipeline string) error {
	return s.locked(ctx, pipeline, func(d dialect, sess load.Session) error {
		return load.ResetState(ctx, d, sess, s.meta(), pipeline)
	})
}

// Runs returns the last n run records of pipeline, newest first; an empty pipeline means
// every pipeline and n <= 0 means every record. A MetaSchema no load has used has none.
func (s *State) Runs(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
	d, sess, err := s.open(ctx)
	if err != nil {
		return nil, err
	}
	defer sess.Close(ctx)
	return load.ReadRuns(ctx, d, sess, s.meta(), pipeline, n)
}

func (s *State) meta() string {
	if s.MetaSchema != "" {
		return s.MetaSchema
	}
	return s.Schema
}

func (s *State) open(ctx context.Context) (dialect, load.Session, error) {
	if s.Pool == nil {
		return dialect{}, nil, errors.New("postgres: State has no Pool")
	}
	d := dialect{pool: s.Pool, meta: s.meta()}
	sess, err := d.Session(ctx)
	return d, sess, err
}

func (s *State) locked(ctx context.Context, pipeline string, fn func(dialect, load.Session) error) error {
	d, sess, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer sess.Close(ctx)
	release, err := sess.Lock(ctx, pipeline, s.LockWait)
	if err != nil {
		return load.LockHint(err, s.LockWait)
	}
	defer load.Release(ctx, release)
	return fn(d, sess)
}

// Execer runs SQL statements on a pool and reports the rows they affected. It satisfies
// dag.Execer, so that dag.SQL tasks run summary and report SQL in the database:
//
//	d.Task("rollup", dag.SQL(postgres.Execer{Pool: pool}, rollupSQL))
type Execer struct {
	// Pool connects to the database. Required.
	Pool *pgxpool.Pool
}

// ExecContext runs sql with args bound to its $1, $2, ... placeholders.
func (e Execer) ExecContext(ctx context.Context, sql string, args ...any) (int64, error) {
	if e.Pool == nil {
		return 0, errors.New("postgres: Execer has no Pool")
	}
	tag, err := e.Pool.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}
