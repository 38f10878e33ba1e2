package redshift

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/sinks"
)

// State reads and changes the incremental state of pipelines (the watermark each keeps
// in sluice_state, committed with its rows) and reads their run history (sluice_runs).
type State struct {
	// DSN is the cluster's connection string. Required unless Connect is set.
	DSN string
	// Connect opens a connection. Defaults to [Connect] with DSN.
	Connect func(ctx context.Context) (DB, error)
	// Schema is the loaders' Target.Schema. State has no table of its own: Schema only
	// gives MetaSchema its default, as it does for a Target, so that copying a Target's
	// Schema and MetaSchema finds the state its loads keep. Defaults to the connection's
	// search_path.
	Schema string
	// MetaSchema holds sluice_state and sluice_runs: the loaders' MetaSchema. Defaults to
	// Schema.
	MetaSchema string
	// LockWait bounds the wait of Set and Reset for the meta schema's lock table
	// ([LockTable]), which a load holds from its first statement to its commit; past it
	// they fail with an error
	// wrapping etl.ErrLocked. Redshift has no LOCK NOWAIT, so the bound is a
	// statement_timeout around the LOCK. Defaults to 0: wait without bound.
	LockWait time.Duration
}

func (s *State) meta() string {
	return (&Target{Schema: s.Schema, MetaSchema: s.MetaSchema}).metaSchema()
}

func (s *State) dialect() (dialect, error) {
	if s.DSN == "" && s.Connect == nil {
		return dialect{}, errors.New("redshift: State has no DSN")
	}
	return (&Target{DSN: s.DSN, Connect: s.Connect}).dialect(), nil
}

func (s *State) session(ctx context.Context) (dialect, *session, error) {
	d, err := s.dialect()
	if err != nil {
		return d, nil, err
	}
	sess, err := d.Session(ctx)
	if err != nil {
		return d, nil, err
	}
	return d, sess.(*session), nil
}

// Watermark returns the pipeline's stored watermark (int64, time.Time, string or
// etl.Decimal), or nil when it has none.
func (s *State) Watermark(ctx context.Context, pipeline string) (any, error) {
	d, sess, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	defer load.CloseSession(ctx, sess)
	return load.State(ctx, d, sess, s.meta(), pipeline)
}

// Set stores v as the pipeline's watermark, for an operator who re-syncs from a chosen
// point. It waits for a running load to commit first (see LockWait).
func (s *State) Set(ctx context.Context, pipeline string, v any) error {
	return s.locked(ctx, func(tx *tx) error {
		return load.WriteWatermark(ctx, dialect{}, tx, s.meta(), pipeline, v, "manual")
	})
}

// Reset deletes the pipeline's stored watermark, so its next run syncs from the start. It
// waits for a running load to commit first (see LockWait).
func (s *State) Reset(ctx context.Context, pipeline string) error {
	return s.locked(ctx, func(tx *tx) error {
		_, err := tx.Exec(ctx, "DELETE FROM "+redshiftcopy.Table{Schema: s.meta(), Name: load.StateTable}.String()+" WHERE pipeline = $1", pipeline)
		return err
	})
}

// locked runs fn in a transaction that holds the meta schema's lock table as a load does.
func (s *State) locked(ctx context.Context, fn func(*tx) error) error {
	d, sess, err := s.session(ctx)
	if err != nil {
		return err
	}
	defer load.CloseSession(ctx, sess)
	meta := s.meta()
	if err := load.EnsureMeta(ctx, d, sess, meta); err != nil {
		return err
	}
	if err := ensureLockTable(ctx, sess.db, meta); err != nil {
		return err
	}
	t, err := sess.Begin(ctx)
	if err != nil {
		return err
	}
	rt := t.(*tx)
	defer load.Rollback(ctx, rt)
	if s.LockWait > 0 {
		if _, err := rt.Exec(ctx, fmt.Sprintf("SET statement_timeout TO %d", max(s.LockWait.Milliseconds(), 1))); err != nil {
			return err
		}
	}
	state := redshiftcopy.Table{Schema: meta, Name: load.StateTable}
	if _, err := rt.Exec(ctx, "LOCK "+redshiftcopy.Table{Schema: meta, Name: LockTable}.String()); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("redshift: lock %s: %w (%v)", state, cerr, err)
		}
		if s.LockWait > 0 && isStatementTimeout(err) {
			return fmt.Errorf("redshift: lock %s: a load holds it past %s (raise LockWait to wait longer): %w", state, s.LockWait, etl.ErrLocked)
		}
		return fmt.Errorf("redshift: lock %s: %w", state, err)
	}
	if s.LockWait > 0 {
		if _, err := rt.Exec(ctx, "RESET statement_timeout"); err != nil {
			return err
		}
	}
	if err := fn(rt); err != nil {
		return err
	}
	return rt.Commit(ctx)
}

// Runs returns the last n run records of pipeline, newest first; an empty pipeline means
// every pipeline and n <= 0 means all records. A meta schema no run has touched has none.
func (s *State) Runs(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error) {
	d, sess, err := s.session(ctx)
	if err != nil {
		return nil, err
	}
	defer load.CloseSession(ctx, sess)
	return load.ReadRuns(ctx, d, sess, s.meta(), pipeline, n)
}
