package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/internal/load"
)

// State reads and resets the incremental state of pipelines: the watermark each one keeps
// in the sluice_state table, committed with its rows. Reset it to re-sync a pipeline from
// the start.
type State struct {
	// Pool connects to the database. Required.
	Pool *pgxpool.Pool
	// Schema holds sluice_state: the loaders' MetaSchema. Defaults to the search_path.
	Schema string
	// LockWait bounds the wait for a running load of the pipeline to finish before a
	// change. Defaults to 0: fail at once with an error wrapping etl.ErrLocked.
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
	return load.State(ctx, d, sess, s.Schema, pipeline)
}

// Reset deletes the pipeline's watermark, so its next run syncs everything. It takes the
// pipeline's lock, so it never races a running load.
func (s *State) Reset(ctx context.Context, pipeline string) error {
	return s.locked(ctx, pipeline, func(d dialect, sess load.Session) error {
		return load.ResetState(ctx, d, sess, s.Schema, pipeline)
	})
}

// Set stores v (int64, time.Time, string or etl.Decimal) as the pipeline's watermark, to
// re-sync from a chosen point. It takes the pipeline's lock.
func (s *State) Set(ctx context.Context, pipeline string, v any) error {
	return s.locked(ctx, pipeline, func(d dialect, sess load.Session) error {
		return load.SetState(ctx, d, sess, s.Schema, pipeline, v)
	})
}

func (s *State) open(ctx context.Context) (dialect, load.Session, error) {
	if s.Pool == nil {
		return dialect{}, nil, errors.New("postgres: State has no Pool")
	}
	d := dialect{pool: s.Pool, meta: s.Schema}
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
		return err
	}
	defer release(context.WithoutCancel(ctx))
	return fn(d, sess)
}

// Execer adapts a pool to dag.Execer, so that dag.SQL tasks run summary and report SQL in
// the database.
func Execer(pool *pgxpool.Pool) dag.Execer {
	return dag.ExecFunc(func(ctx context.Context, sql string, args ...any) (int64, error) {
		tag, err := pool.Exec(ctx, sql, args...)
		return tag.RowsAffected(), err
	})
}
