package sinktest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

// exerciseVocabulary runs the subtests of the contract every sink shares (package sinks).
func exerciseVocabulary(t *testing.T, newHarness func(t *testing.T) *Harness) {
	vocabulary := func(t *testing.T) *Harness {
		h := newHarness(t)
		if !h.Vocabulary {
			t.Skip("the sink does not follow the shared vocabulary yet")
		}
		return h
	}
	rows := []etl.Row{row(1, "a", 1, t0, false), row(2, "b", 2, t0, false)}

	t.Run("MissingTableNeedsCreate", func(t *testing.T) {
		t.Parallel()
		h := vocabulary(t)
		ctx := context.Background()
		// A first run has nothing to shrink from: the guard must pass on a table the
		// load creates.
		guards := []checks.Check{checks.RowCount{}, checks.UniqueKey("id"), checks.Shrink{Fraction: 0.5}}
		loaders := map[string]func(Spec) etl.Loader{"full_refresh": h.FullRefresh, "merge": h.Merge, "window_replace": h.WindowReplace}
		for mode, build := range loaders {
			if build == nil {
				continue
			}
			table := "new_" + mode
			spec := Spec{Table: table, Key: []string{"id"}, Cursor: "modified", TimeColumn: "modified", Checks: guards}
			p := &etl.Pipeline{Name: mode, Source: source(rows), Sink: build(spec)}
			w := etl.Window{Start: t0, End: t0.Add(time.Hour)}
			_, err := p.Run(ctx, w)
			require.ErrorIs(t, err, etl.ErrNoTable, mode)
			require.ErrorContains(t, err, table, mode)
			require.ErrorContains(t, err, "set Create", mode)

			spec.Create = true
			p.Sink = build(spec)
			for i := range 2 {
				res, err := p.Run(ctx, w)
				require.NoError(t, err, "%s run %d", mode, i+1)
				require.Len(t, res.Checks, len(guards), "%s run %d: every check reports", mode, i+1)
				for _, c := range res.Checks {
					require.True(t, c.Passed, "%s run %d: check %s: %s", mode, i+1, c.Name, c.Found)
				}
				require.Equal(t, []string{"1|a|1", "2|b|2"}, contents(t, h, table), mode)
			}
		}
	})

	t.Run("MergeTakesTheDeclaredColumns", func(t *testing.T) {
		t.Parallel()
		h := vocabulary(t)
		if h.Merge == nil {
			t.Skip("sink has no merge")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		// The merge names neither its cursor nor its soft-delete column: the source does.
		l := h.Merge(Spec{Table: "items", Key: []string{"id"}})
		sync := func(rows ...etl.Row) error {
			p := &etl.Pipeline{Name: "declared", Source: changeSource(rows, "modified", "deleted"), Sink: l,
				Transforms: []etl.Transformer{etl.Filter(func(etl.Row) bool { return true })}}
			_, err := p.Run(ctx, etl.Window{})
			return err
		}
		require.NoError(t, sync(row(1, "a", 1, t0, false), row(2, "b", 2, t0, false), row(3, "c", 3, t0, false)))
		require.NoError(t, sync(
			row(2, "b2", 20, t0.Add(2*time.Minute), false),
			row(2, "b1", 10, t0.Add(time.Minute), false), // older, arrives later: the cursor decides
			row(3, "c", 3, t0.Add(time.Minute), true),    // soft delete
		))
		require.Equal(t, []string{"1|a|1", "2|b2|20"}, contents(t, h, "items"))
	})

	t.Run("MergeRefusesADroppedDeclaredColumn", func(t *testing.T) {
		t.Parallel()
		h := vocabulary(t)
		if h.Merge == nil {
			t.Skip("sink has no merge")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.Merge(Spec{Table: "items", Key: []string{"id"}})
		_, err := run(ctx, "dropped", l, rows, false)
		require.NoError(t, err)
		// A transform keeps every column but the soft-delete flag: merging what is left
		// would upsert the tombstone as a row.
		dropDeleted := etl.Map(schema[:4], func(r etl.Row) (etl.Row, error) { return r[:4], nil })
		p := &etl.Pipeline{Name: "dropped", Sink: l, Transforms: []etl.Transformer{dropDeleted},
			Source: changeSource([]etl.Row{row(1, "a", 1, t0.Add(time.Minute), true)}, "modified", "deleted")}
		_, err = p.Run(ctx, etl.Window{})
		require.Error(t, err)
		require.ErrorContains(t, err, `"deleted"`)
		require.ErrorContains(t, err, "soft-delete")
		require.Equal(t, []string{"1|a|1", "2|b|2"}, contents(t, h, "items"))
		statuses, _, _ := runRecords(t, h, "dropped")
		require.Equal(t, []string{"success", "failed"}, statuses)
	})

	t.Run("RunsReadsTheHistory", func(t *testing.T) {
		t.Parallel()
		h := vocabulary(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		recs, err := h.Runs(ctx, "history", 0)
		require.NoError(t, err)
		require.Empty(t, recs, "no load has run")

		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.FullRefresh(Spec{Table: "items", Key: []string{"id"}, Checks: []checks.Check{checks.UniqueKey("id")}})
		_, err = run(ctx, "history", l, rows, false)
		require.NoError(t, err)
		time.Sleep(10 * time.Millisecond) // distinct start times order the records
		_, err = run(ctx, "history", l, []etl.Row{row(7, "x", 1, t0, false), row(7, "y", 2, t0, false)}, false)
		var ce *checks.Error
		require.True(t, errors.As(err, &ce), "want a failed check, got %v", err)
		_, err = run(ctx, "other", l, rows, false)
		require.NoError(t, err)

		recs, err = h.Runs(ctx, "history", 0)
		require.NoError(t, err)
		require.Len(t, recs, 2)
		failed, ok := recs[0], recs[1]
		require.Equal(t, "failed", failed.Status)
		require.Equal(t, "check", failed.Step)
		require.Contains(t, failed.Error, "unique_key(id)")
		require.Equal(t, "full_refresh", failed.Mode)
		require.Equal(t, int64(2), failed.Stats.RowsRead)
		require.NotEmpty(t, failed.Checks)
		require.False(t, failed.Checks[0].Passed)

		require.Equal(t, "success", ok.Status)
		require.Equal(t, "history", ok.Pipeline)
		require.Contains(t, ok.Target, "items")
		require.Equal(t, int64(2), ok.Stats.RowsRead)
		require.Equal(t, int64(2), ok.Stats.RowsWritten)
		require.Equal(t, int64(2), ok.Loaded)
		require.Equal(t, 1, ok.Attempts)
		require.False(t, ok.Started.IsZero())
		require.False(t, ok.Finished.Before(ok.Started))
		require.True(t, ok.Checks[0].Passed)

		recs, err = h.Runs(ctx, "history", 1)
		require.NoError(t, err)
		require.Len(t, recs, 1)
		require.Equal(t, "failed", recs[0].Status)
		recs, err = h.Runs(ctx, "", 0)
		require.NoError(t, err)
		require.Len(t, recs, 3, "an empty pipeline reads every pipeline's records")
	})
}
