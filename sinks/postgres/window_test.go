package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/stretchr/testify/require"
)

func TestWindowReplaceRefusesRowsOutsideTheWindow(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(itemTableSQL, "ev"))
	require.NoError(t, err)
	l := &postgres.WindowReplace{Target: postgres.Target{Pool: db.Pool, Table: "ev"}, TimeColumn: "modified"}
	day := etl.Window{Start: t0, End: t0.AddDate(0, 0, 1)}
	run := func(w etl.Window, rows ...etl.Row) error {
		_, err := (&etl.Pipeline{Name: "ev", Sink: l, Source: source(func() etl.Stream { return etl.SliceStream(itemSchema, rows) })}).Run(ctx, w)
		return err
	}
	require.NoError(t, run(day, etl.Row{int64(1), "a", int64(1), t0, false}))
	err = run(day, etl.Row{int64(2), "b", int64(1), t0.Add(time.Hour), false}, etl.Row{int64(3), "late", int64(1), day.End, false})
	require.ErrorContains(t, err, "1 rows have modified outside the window")
	require.Equal(t, []string{"1|a|1|2026-01-01T00:00:00Z"}, itemContents(t, db.Pool, "ev"))
	require.ErrorIs(t, run(etl.Window{}, etl.Row{int64(2), "b", int64(1), t0, false}), postgres.ErrNoWindow)
}

func TestStateSetAndReset(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	st := &postgres.State{Pool: db.Pool}
	wm, err := st.Watermark(ctx, "p")
	require.NoError(t, err)
	require.Nil(t, wm)
	require.NoError(t, st.Set(ctx, "p", int64(42)))
	wm, err = st.Watermark(ctx, "p")
	require.NoError(t, err)
	require.Equal(t, int64(42), wm)

	// A reset refuses to race a running load.
	holder, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer holder.Release()
	_, err = holder.Exec(ctx, "SELECT pg_advisory_lock($1)", postgres.LockKey(db.Schema, "p"))
	require.NoError(t, err)
	err = st.Reset(ctx, "p")
	require.ErrorIs(t, err, etl.ErrLocked)
	require.ErrorContains(t, err, "set LockWait to wait", "the error says how to wait for the lock")
	_, err = holder.Exec(ctx, "SELECT pg_advisory_unlock_all()")
	require.NoError(t, err)
	require.NoError(t, st.Reset(ctx, "p"))
	wm, err = st.Watermark(ctx, "p")
	require.NoError(t, err)
	require.Nil(t, wm)
}

func TestExecerRunsDAGSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	var ex dag.Execer = postgres.Execer{Pool: db.Pool}
	n, err := ex.ExecContext(ctx, "CREATE TABLE s AS SELECT g FROM generate_series(1, $1::int) g", 7)
	require.NoError(t, err)
	require.EqualValues(t, 7, n)
}

// TestStateFindsATargetsStateBySchema: a State given the Target's Schema, and no
// MetaSchema, reads and resets the watermark that the Target's loads keep in that schema,
// as the Target's own MetaSchema defaults to its Schema.
func TestStateFindsATargetsStateBySchema(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	other := db.Schema + "_other"
	_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{other}.Sanitize())
	require.NoError(t, err)
	t.Cleanup(func() {
		_, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{other}.Sanitize()+" CASCADE")
	})
	_, err = db.Pool.Exec(ctx, fmt.Sprintf(itemTableSQL, pgx.Identifier{other, "items"}.Sanitize()))
	require.NoError(t, err)

	target := postgres.Target{Pool: db.Pool, Schema: other, Table: "items"}
	p := &etl.Pipeline{Name: "by_schema", Sink: &postgres.Merge{Target: target, Cursor: "modified"},
		Source: etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
			return etl.Stream{Schema: itemSchema, Rows: func(yield func(etl.Row, error) bool) {
				if yield(etl.Row{int64(1), "a", int64(1), t0, false}, nil) {
					run.Advance(t0) // as an incremental source does at its end
				}
			}}, nil
		})}
	_, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)

	wm, err := (&postgres.State{Pool: db.Pool, Schema: target.Schema}).Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.Equal(t, t0, wm)
	runs, err := (&postgres.State{Pool: db.Pool, Schema: target.Schema}).Runs(ctx, "by_schema", 0)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	// The search_path is the test's own schema: a State without Schema looks there.
	wm, err = (&postgres.State{Pool: db.Pool}).Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.Nil(t, wm)
	// MetaSchema wins over Schema, as on a Target.
	wm, err = (&postgres.State{Pool: db.Pool, Schema: db.Schema, MetaSchema: other}).Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.Equal(t, t0, wm)

	st := &postgres.State{Pool: db.Pool, Schema: target.Schema}
	require.NoError(t, st.Reset(ctx, "by_schema"))
	wm, err = st.Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.Nil(t, wm)
}
