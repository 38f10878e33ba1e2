package mysql_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

func TestStateAndRunHistory(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	meta := mysqltest.New(t) // the state lives in a database of its own
	ctx := context.Background()
	execSQL(t, db.DB, fmt.Sprintf(itemTable, "items"))
	state := &mysql.State{DB: db.DB, MetaSchema: meta.Name}

	runs, err := state.Runs(ctx, "", 0)
	require.NoError(t, err)
	require.Empty(t, runs, "no run has touched the database")
	wm, err := state.Watermark(ctx, "sync")
	require.NoError(t, err)
	require.Nil(t, wm)

	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "items", MetaSchema: meta.Name,
		Checks: []checks.Check{checks.RowCount{}}}, Cursor: "modified", Deleted: "deleted"}
	p := &etl.Pipeline{Name: "sync", Meta: etl.Meta{Owner: "team"}, Sink: sink,
		Source: rowsSource(itemSchema, item(1, "a", 1, t0.Add(time.Minute), false))}
	_, err = p.Run(ctx, etl.Window{})
	require.NoError(t, err)
	wm, err = state.Watermark(ctx, "sync")
	require.NoError(t, err)
	require.True(t, t0.Add(time.Minute).Equal(wm.(time.Time)), "%v", wm)

	// An operator re-syncs from a chosen point, then from the start.
	require.NoError(t, state.Set(ctx, "sync", t0))
	wm, err = state.Watermark(ctx, "sync")
	require.NoError(t, err)
	require.True(t, t0.Equal(wm.(time.Time)))
	require.NoError(t, state.Set(ctx, "other", int64(42)))
	require.NoError(t, state.Reset(ctx, "sync"))
	wm, err = state.Watermark(ctx, "sync")
	require.NoError(t, err)
	require.Nil(t, wm)
	wm, err = state.Watermark(ctx, "other")
	require.NoError(t, err)
	require.Equal(t, int64(42), wm)

	// A failed run leaves its own record.
	_, err = runLoad(ctx, "sync", &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "missing", MetaSchema: meta.Name}}, itemSchema,
		item(2, "b", 2, t0, false))
	require.ErrorIs(t, err, etl.ErrNoTable)

	runs, err = state.Runs(ctx, "sync", 0)
	require.NoError(t, err)
	require.Len(t, runs, 2)
	failed, ok := runs[0], runs[1]
	require.Equal(t, "failed", failed.Status)
	require.Equal(t, "stage", failed.Step)
	require.Contains(t, failed.Error, "missing")
	require.Equal(t, "success", ok.Status)
	require.Equal(t, "merge", ok.Mode)
	require.Equal(t, "items", ok.Target)
	require.Equal(t, "team", ok.Owner)
	require.Equal(t, int64(1), ok.Stats.RowsRead)
	require.Equal(t, int64(1), ok.Stats.RowsWritten)
	require.Equal(t, int64(1), ok.Loaded)
	require.Equal(t, 1, ok.Attempts)
	require.Equal(t, "2026-01-01T00:01:00Z", ok.Watermark)
	require.Len(t, ok.Checks, 1)
	require.True(t, ok.Checks[0].Passed)
	require.False(t, ok.Started.IsZero())
	require.GreaterOrEqual(t, ok.Stats.Duration, time.Duration(0))
	runs, err = state.Runs(ctx, "", 1)
	require.NoError(t, err)
	require.Len(t, runs, 1)

	// Nothing of the state landed in the target's database.
	require.Equal(t, []string{"items"}, tables(t, db.DB))
}

// TestStateFindsATargetsStateBySchema: a State given a Target's Schema, and no
// MetaSchema, finds the state that the Target's loads keep there, as the Target's own
// MetaSchema defaults to its Schema.
func TestStateFindsATargetsStateBySchema(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	other := mysqltest.New(t) // the table, and so the state, live in another database
	ctx := context.Background()
	execSQL(t, other.DB, fmt.Sprintf(itemTable, "items"))
	target := mysql.Target{DB: db.DB, Schema: other.Name, Table: "items"}
	p := &etl.Pipeline{Name: "by_schema", Sink: &mysql.Merge{Target: target, Cursor: "modified"},
		Source: rowsSource(itemSchema, item(1, "a", 1, t0.Add(time.Minute), false))}
	_, err := p.Run(ctx, etl.Window{})
	require.NoError(t, err)

	state := &mysql.State{DB: db.DB, Schema: target.Schema}
	wm, err := state.Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.NotNil(t, wm, "the State looks where the Target keeps its state")
	require.True(t, t0.Add(time.Minute).Equal(wm.(time.Time)), "%v", wm)
	wm, err = (&mysql.State{DB: db.DB}).Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.Nil(t, wm, "without Schema, the State looks in the connection's database")
	require.NoError(t, state.Reset(ctx, "by_schema"))
	wm, err = state.Watermark(ctx, "by_schema")
	require.NoError(t, err)
	require.Nil(t, wm)
}
