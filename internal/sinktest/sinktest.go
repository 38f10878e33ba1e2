package sinktest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks"
)

// Spec configures one loader built by a [Harness].
type Spec struct {
	// Table is the target table's unquoted name, in the harness's own namespace.
	Table string
	// Key is the target's key.
	Key []string
	// Cursor is the merge's ordering column: the latest row per key wins.
	Cursor string
	// Deleted is the merge's soft-delete flag column (a bool).
	Deleted string
	// TimeColumn is the window replace's time column.
	TimeColumn string
	// Checks run inside the load.
	Checks []checks.Check
	// Create is the Target's Create: make a missing table from the stream's schema.
	Create bool
}

// Harness is what a sink gives the suite: an isolated namespace and loaders bound to it.
type Harness struct {
	// CreateTable creates table with the given columns and key, mapping etl types to the
	// sink's SQL types.
	CreateTable func(ctx context.Context, table string, schema etl.Schema, key []string) error
	// Query runs a read-only SQL statement in the namespace and returns all rows.
	Query func(ctx context.Context, sql string) ([][]any, error)
	// QuoteIdent quotes an identifier for Query.
	QuoteIdent func(string) string
	// Watermark reads a pipeline's stored watermark (nil when none).
	Watermark func(ctx context.Context, pipeline string) (any, error)
	// FullRefresh, Merge and WindowReplace build loaders. A nil one skips its subtests.
	FullRefresh   func(Spec) etl.Loader
	Merge         func(Spec) etl.Loader
	WindowReplace func(Spec) etl.Loader

	// Vocabulary turns on the subtests of the contract package sinks states for every
	// sink: Target.Create defaulting to false and a missing table wrapping
	// etl.ErrNoTable, Merge.Cursor and Merge.Deleted defaulting to the stream's
	// declaration, and State.Runs. Leave it false while a sink is being brought to it.
	Vocabulary bool
	// Runs reads a pipeline's run records, newest first, with the sink's State.Runs.
	// Required with Vocabulary.
	Runs func(ctx context.Context, pipeline string, n int) ([]sinks.RunRecord, error)
}

var schema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
	{Name: "qty", Type: etl.TypeInt64},
	{Name: "modified", Type: etl.TypeTimestamp},
	{Name: "deleted", Type: etl.TypeBool},
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func row(id int64, name string, qty int64, modified time.Time, deleted bool) etl.Row {
	return etl.Row{id, name, qty, modified, deleted}
}

// source streams rows and advances the watermark to the latest modified it yielded, as an
// incremental source does.
func source(rows []etl.Row) etl.Extractor { return changeSource(rows, "", "") }

// changeSource is source, declaring cursor and deleted on its stream as a source of
// changed rows does.
func changeSource(rows []etl.Row, cursor, deleted string) etl.Extractor {
	return etl.ExtractFunc(func(ctx context.Context, run *etl.Run) (etl.Stream, error) {
		return etl.Stream{Schema: schema, Cursor: cursor, Deleted: deleted, Rows: func(yield func(etl.Row, error) bool) {
			var max time.Time
			for _, r := range rows {
				if m := r[3].(time.Time); m.After(max) {
					max = m
				}
				if !yield(r.Clone(), nil) {
					return
				}
			}
			if !max.IsZero() {
				run.Advance(max)
			}
		}}, nil
	})
}

func run(ctx context.Context, name string, l etl.Loader, rows []etl.Row, allowEmpty bool) (etl.Result, error) {
	p := &etl.Pipeline{Name: name, Source: source(rows), Sink: l, AllowEmpty: allowEmpty}
	return p.Run(ctx, etl.Window{})
}

// contents returns "id|name|qty" lines ordered by id.
func contents(t *testing.T, h *Harness, table string) []string {
	t.Helper()
	q := h.QuoteIdent
	rows, err := h.Query(context.Background(), fmt.Sprintf("SELECT %s, %s, %s FROM %s ORDER BY %s",
		q("id"), q("name"), q("qty"), q(table), q("id")))
	require.NoError(t, err)
	out := make([]string, len(rows))
	for i, r := range rows {
		parts := make([]string, len(r))
		for j, v := range r {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			parts[j] = fmt.Sprint(v)
		}
		out[i] = strings.Join(parts, "|")
	}
	return out
}

func runRecords(t *testing.T, h *Harness, pipeline string) (statuses, steps, errs []string) {
	t.Helper()
	rows, err := h.Query(context.Background(), "SELECT status, step, error FROM sluice_runs WHERE pipeline = '"+
		strings.ReplaceAll(pipeline, "'", "''")+"' ORDER BY finished_at")
	require.NoError(t, err)
	for _, r := range rows {
		s := make([]string, 3)
		for i, v := range r {
			if v != nil {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				s[i] = fmt.Sprint(v)
			}
		}
		statuses, steps, errs = append(statuses, s[0]), append(steps, s[1]), append(errs, s[2])
	}
	return statuses, steps, errs
}

// Exercise runs the suite. newHarness is called once per subtest and must return a
// harness over a fresh namespace.
func Exercise(t *testing.T, newHarness func(t *testing.T) *Harness) {
	t.Run("FullRefreshIsIdempotent", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		rows := []etl.Row{row(1, "a", 10, t0, false), row(2, "it's", 20, t0, false), row(3, "", 30, t0, false)}
		want := []string{"1|a|10", "2|it's|20", "3||30"}
		l := h.FullRefresh(Spec{Table: "items", Key: []string{"id"},
			Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("id")}})
		for i := range 3 {
			res, err := run(ctx, "refresh", l, rows, false)
			require.NoError(t, err, "run %d", i+1)
			require.Equal(t, int64(3), res.Stats.RowsRead)
			require.Equal(t, want, contents(t, h, "items"), "run %d", i+1)
			for _, c := range res.Checks {
				require.True(t, c.Passed, "check %s", c.Name)
			}
		}
		statuses, _, _ := runRecords(t, h, "refresh")
		require.Equal(t, []string{"success", "success", "success"}, statuses)
	})

	t.Run("FailedCheckKeepsOldRows", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, nil))
		l := h.FullRefresh(Spec{Table: "items", Key: []string{"id"}, Checks: []checks.Check{checks.UniqueKey("id")}})
		_, err := run(ctx, "dups", l, []etl.Row{row(1, "a", 1, t0, false), row(2, "b", 2, t0, false)}, false)
		require.NoError(t, err)

		_, err = run(ctx, "dups", l, []etl.Row{row(7, "x", 1, t0, false), row(7, "y", 2, t0, false), row(8, "z", 3, t0, false)}, false)
		require.Error(t, err)
		var ce *checks.Error
		require.True(t, errors.As(err, &ce), "want a *checks.Error, got %v", err)
		require.Contains(t, ce.Error(), "unique_key(id)")
		require.Contains(t, ce.Error(), "7")
		require.Equal(t, "check", etl.Step(err))
		require.Equal(t, []string{"1|a|1", "2|b|2"}, contents(t, h, "items"), "the old rows must stay")

		statuses, steps, errs := runRecords(t, h, "dups")
		require.Equal(t, []string{"success", "failed"}, statuses)
		require.Equal(t, "check", steps[1])
		require.Contains(t, errs[1], "unique_key(id)")
	})

	t.Run("EmptyExtractNeverEmptiesTheTable", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.FullRefresh(Spec{Table: "items", Key: []string{"id"}})
		_, err := run(ctx, "empty", l, []etl.Row{row(1, "a", 1, t0, false)}, false)
		require.NoError(t, err)
		_, err = run(ctx, "empty", l, nil, false)
		require.ErrorIs(t, err, etl.ErrEmpty)
		require.Equal(t, []string{"1|a|1"}, contents(t, h, "items"))
		_, err = run(ctx, "empty", l, nil, true)
		require.NoError(t, err)
		require.Empty(t, contents(t, h, "items"))
	})

	t.Run("QuotedIdentifiers", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		table := `Odd "Table"; DROP`
		weird := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: `Na"me; x`, Type: etl.TypeText}, {Name: "QTY", Type: etl.TypeInt64}}
		require.NoError(t, h.CreateTable(ctx, table, weird, []string{"id"}))
		l := h.FullRefresh(Spec{Table: table, Key: []string{"id"}, Checks: []checks.Check{checks.UniqueKey("id"), checks.NotNull(`Na"me; x`)}})
		p := &etl.Pipeline{Name: `weird "pipe"`, Sink: l, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(weird, []etl.Row{{int64(1), `a"b`, int64(2)}, {int64(2), "c;d", int64(3)}}), nil
		})}
		_, err := p.Run(ctx, etl.Window{})
		require.NoError(t, err)
		q := h.QuoteIdent
		rows, err := h.Query(ctx, fmt.Sprintf("SELECT %s FROM %s ORDER BY %s", q(`Na"me; x`), q(table), q("id")))
		require.NoError(t, err)
		require.Len(t, rows, 2)
		require.Equal(t, `a"b`, str(rows[0][0]))
		require.Equal(t, "c;d", str(rows[1][0]))
	})

	t.Run("MergeAppliesUpdatesAndDeletes", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.Merge == nil {
			t.Skip("sink has no merge")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.Merge(Spec{Table: "items", Key: []string{"id"}, Cursor: "modified", Deleted: "deleted",
			Checks: []checks.Check{checks.UniqueKey("id")}})
		_, err := run(ctx, "sync", l, []etl.Row{row(1, "a", 1, t0, false), row(2, "b", 2, t0, false), row(3, "c", 3, t0, false)}, false)
		require.NoError(t, err)

		batch := []etl.Row{
			row(2, "b2", 20, t0.Add(2*time.Minute), false), // update
			row(2, "b1", 10, t0.Add(time.Minute), false),   // an older version of the same key arrives later
			row(3, "c", 3, t0.Add(time.Minute), true),      // soft delete
			row(4, "d", 4, t0.Add(time.Minute), false),     // insert
			row(5, "e", 5, t0.Add(time.Minute), false),     // inserted then deleted in the same batch
			row(5, "e", 5, t0.Add(3*time.Minute), true),
		}
		for i := range 2 { // a re-run of the same batch changes nothing
			_, err = run(ctx, "sync", l, batch, false)
			require.NoError(t, err, "run %d", i+1)
			require.Equal(t, []string{"1|a|1", "2|b2|20", "4|d|4"}, contents(t, h, "items"), "run %d", i+1)
		}
		wm, err := h.Watermark(ctx, "sync")
		require.NoError(t, err)
		require.True(t, t0.Add(3*time.Minute).Equal(wm.(time.Time)), "watermark %v", wm)
	})

	t.Run("FailedCheckRollsBackRowsAndWatermark", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.Merge == nil {
			t.Skip("sink has no merge")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.Merge(Spec{Table: "items", Key: []string{"id"}, Cursor: "modified", Deleted: "deleted",
			Checks: []checks.Check{checks.SQL("qty_positive", "SELECT id FROM {{table}} WHERE qty <= 0")}})
		_, err := run(ctx, "guarded", l, []etl.Row{row(1, "a", 1, t0, false)}, false)
		require.NoError(t, err)
		_, err = run(ctx, "guarded", l, []etl.Row{row(1, "a", -5, t0.Add(time.Hour), false), row(2, "b", 2, t0.Add(time.Hour), false)}, false)
		require.Error(t, err)
		require.Equal(t, "check", etl.Step(err))
		require.Equal(t, []string{"1|a|1"}, contents(t, h, "items"))
		wm, err := h.Watermark(ctx, "guarded")
		require.NoError(t, err)
		require.True(t, t0.Equal(wm.(time.Time)), "the watermark must not move past rolled-back rows: %v", wm)
	})

	t.Run("WindowReplaceTouchesOnlyItsWindow", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.WindowReplace == nil {
			t.Skip("sink has no window replace")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "events", schema, []string{"id"}))
		day := func(d int) time.Time { return t0.AddDate(0, 0, d) }
		l := h.WindowReplace(Spec{Table: "events", Key: []string{"id"}, TimeColumn: "modified"})
		for d := range 3 {
			w := etl.Window{Start: day(d), End: day(d + 1)}
			p := &etl.Pipeline{Name: "daily", Sink: l, Source: source([]etl.Row{
				row(int64(d*10+1), "x", 1, day(d).Add(time.Hour), false),
				row(int64(d*10+2), "y", 2, day(d).Add(2*time.Hour), false),
			})}
			_, err := p.Run(ctx, w)
			require.NoError(t, err)
		}
		before := contents(t, h, "events")
		require.Len(t, before, 6)
		for i := range 3 { // re-run day 1 with new contents, three times
			p := &etl.Pipeline{Name: "daily", Sink: l, Source: source([]etl.Row{
				row(11, "x2", 5, day(1).Add(time.Hour), false),
				row(13, "z", 6, day(1).Add(3*time.Hour), false),
			})}
			_, err := p.Run(ctx, etl.Window{Start: day(1), End: day(2)})
			require.NoError(t, err, "run %d", i+1)
			require.Equal(t, []string{"1|x|1", "2|y|2", "11|x2|5", "13|z|6", "21|x|1", "22|y|2"},
				contents(t, h, "events"), "run %d", i+1)
		}
	})
	exerciseVocabulary(t, newHarness)
}

func str(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}
