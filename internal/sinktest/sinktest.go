package sinktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
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
	// LockWait bounds the wait for another run's lock.
	LockWait time.Duration
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
	// Exec runs a statement in the namespace, for subtests that set up what a killed run
	// leaves behind. Nil skips them.
	Exec func(ctx context.Context, sql string) error
	// OneSession says the harness serves one load at a time (the Redshift stand-in shares
	// one connection), which skips the subtests that run two loads at once.
	OneSession bool
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
	exerciseRunRecords(t, newHarness)

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
			require.Len(t, res.Checks, 2, "run %d: both checks report", i+1)
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

// paused is a source that yields rows, stops after the first half until resume is
// closed (or its context ends), then yields the rest. Reaching the pause is signalled on
// reached.
type paused struct {
	rows            []etl.Row
	reached, resume chan struct{}
	once            sync.Once
}

// newPaused returns a paused source that resumes at the latest when t ends, so that a
// failed test does not leave a load holding its locks.
func newPaused(t *testing.T, rows []etl.Row) *paused {
	p := &paused{rows: rows, reached: make(chan struct{}), resume: make(chan struct{})}
	t.Cleanup(p.release)
	return p
}

// release lets the stream go on.
func (p *paused) release() { p.once.Do(func() { close(p.resume) }) }

func (p *paused) Extract(ctx context.Context, _ *etl.Run) (etl.Stream, error) {
	return etl.Stream{Schema: schema, Rows: func(yield func(etl.Row, error) bool) {
		for i, r := range p.rows {
			if i == len(p.rows)/2 {
				close(p.reached)
				select {
				case <-p.resume:
				case <-ctx.Done():
					yield(nil, ctx.Err())
					return
				}
			}
			if !yield(r.Clone(), nil) {
				return
			}
		}
	}}, nil
}

// wait blocks until the source reaches its pause, failing the test when the run ended
// first.
func (p *paused) wait(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case <-p.reached:
	case err := <-done:
		t.Fatalf("the run ended before its stream paused: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the stream never reached its pause")
	}
}

// record is one run's row of sluice_runs.
type record struct{ status, errText string }

func runRecord(t *testing.T, h *Harness, runID string) (record, bool) {
	t.Helper()
	rows, err := h.Query(context.Background(), "SELECT status, error FROM sluice_runs WHERE run_id = '"+
		strings.ReplaceAll(runID, "'", "''")+"'")
	require.NoError(t, err)
	require.LessOrEqual(t, len(rows), 1, "one record per run")
	if len(rows) == 0 {
		return record{}, false
	}
	r := record{status: str(rows[0][0])}
	if rows[0][1] != nil {
		r.errText = str(rows[0][1])
	}
	return r, true
}

// exerciseRunRecords covers the run's life in sluice_runs: running while it loads, its end
// in the load's transaction, abandoned when a later run finds it still running, and no
// record for a run that never got the lock.
func exerciseRunRecords(t *testing.T, newHarness func(t *testing.T) *Harness) {
	rows := []etl.Row{row(1, "a", 1, t0, false), row(2, "b", 2, t0, false), row(3, "c", 3, t0, false), row(4, "d", 4, t0, false)}
	start := func(ctx context.Context, p *etl.Pipeline, id string) <-chan error {
		done := make(chan error, 1)
		go func() {
			_, err := p.RunWith(ctx, &etl.Run{ID: id})
			done <- err
		}()
		return done
	}

	t.Run("RunIsRecordedWhileItLoads", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		src := newPaused(t, rows)
		id := etl.NewRunID()
		done := start(ctx, &etl.Pipeline{Name: "recorded", Source: src, Sink: h.FullRefresh(Spec{Table: "items", Key: []string{"id"}})}, id)
		src.wait(t, done)
		rec, ok := runRecord(t, h, id)
		require.True(t, ok, "a run that holds the lock has a record, committed before its load")
		require.Equal(t, "running", rec.status)
		src.release()
		require.NoError(t, <-done)
		rec, ok = runRecord(t, h, id)
		require.True(t, ok)
		require.Equal(t, "success", rec.status, "the load's transaction replaces the running record")
		require.Len(t, contents(t, h, "items"), 4)
	})

	t.Run("CancelledLoadFreesItsLockAtOnce", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil {
			t.Skip("sink has no full refresh")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.FullRefresh(Spec{Table: "items", Key: []string{"id"}})
		_, err := run(ctx, "cancelled", l, rows[:1], false)
		require.NoError(t, err)

		var logs syncBuffer
		src := newPaused(t, rows)
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		id := etl.NewRunID()
		done := start(cctx, &etl.Pipeline{Name: "cancelled", Source: src, Sink: l,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}, id)
		src.wait(t, done)
		cancel()
		err = <-done
		require.ErrorIs(t, err, context.Canceled)
		require.NotContains(t, logs.String(), "rollback failed", "a rollback after a cancellation is expected to find the connection gone")
		require.Equal(t, []string{"1|a|1"}, contents(t, h, "items"), "the old rows stay")
		rec, ok := runRecord(t, h, id)
		require.True(t, ok)
		require.Equal(t, "failed", rec.status)
		require.Contains(t, rec.errText, "context canceled")

		// The next run, started at once and without waiting, takes the lock.
		_, err = run(ctx, "cancelled", l, rows, false)
		require.NoError(t, err, "the cancelled run's lock must be gone when it returns")
		require.Len(t, contents(t, h, "items"), 4)
	})

	t.Run("AbandonedRunIsMarkedByTheNextRun", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil || h.Exec == nil {
			t.Skip("sink has no full refresh, or the harness cannot stage a killed run")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		l := h.FullRefresh(Spec{Table: "items", Key: []string{"id"}})
		first := etl.NewRunID()
		_, err := (&etl.Pipeline{Name: "killed", Source: source(rows), Sink: l}).RunWith(ctx, &etl.Run{ID: first})
		require.NoError(t, err)
		// What a run killed mid-load leaves: its running record, and nothing else. One of
		// another pipeline is left alone: the lock taken covers only its own.
		for _, dead := range []struct{ id, pipeline string }{{"killed-run", "'killed'"}, {"other-run", "'other'"}} {
			require.NoError(t, h.Exec(ctx, "INSERT INTO sluice_runs (run_id, pipeline, mode, target, status, started_at) "+
				"SELECT '"+dead.id+"', "+dead.pipeline+", mode, target, 'running', started_at FROM sluice_runs WHERE run_id = '"+first+"'"))
		}

		second := etl.NewRunID()
		_, err = (&etl.Pipeline{Name: "killed", Source: source(rows), Sink: l}).RunWith(ctx, &etl.Run{ID: second})
		require.NoError(t, err)
		rec, ok := runRecord(t, h, "killed-run")
		require.True(t, ok)
		require.Equal(t, "abandoned", rec.status)
		require.Contains(t, rec.errText, "ended without recording how")
		require.Contains(t, rec.errText, second, "the record names the run that found it")
		rec, _ = runRecord(t, h, "other-run")
		require.Equal(t, "running", rec.status)
		rec, _ = runRecord(t, h, second)
		require.Equal(t, "success", rec.status)
		finished, err := h.Query(ctx, "SELECT finished_at FROM sluice_runs WHERE run_id = 'killed-run'")
		require.NoError(t, err)
		require.NotNil(t, finished[0][0], "an abandoned run's finished_at is when it was found, so pruning removes it")
	})

	t.Run("LockedRunWaitsOrLeavesNoRecord", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t)
		if h.FullRefresh == nil || h.OneSession {
			t.Skip("sink has no full refresh, or the harness serves one load at a time")
		}
		ctx := context.Background()
		require.NoError(t, h.CreateTable(ctx, "items", schema, []string{"id"}))
		src := newPaused(t, rows)
		holder := etl.NewRunID()
		done := start(ctx, &etl.Pipeline{Name: "contended", Source: src, Sink: h.FullRefresh(Spec{Table: "items", Key: []string{"id"}})}, holder)
		src.wait(t, done)

		skipped := etl.NewRunID()
		_, err := (&etl.Pipeline{Name: "contended", Source: source(rows), Sink: h.FullRefresh(Spec{Table: "items", Key: []string{"id"}})}).
			RunWith(ctx, &etl.Run{ID: skipped})
		require.ErrorIs(t, err, etl.ErrLocked)
		require.Contains(t, err.Error(), "LockWait", "the error says how to wait for the lock")
		_, ok := runRecord(t, h, skipped)
		require.False(t, ok, "a run that never got the lock never ran, and leaves no record")

		// With a LockWait, the run waits its turn.
		waiter := etl.NewRunID()
		waited := start(ctx, &etl.Pipeline{Name: "contended", Source: source(rows[:2]),
			Sink: h.FullRefresh(Spec{Table: "items", Key: []string{"id"}, LockWait: time.Minute})}, waiter)
		time.Sleep(50 * time.Millisecond)
		src.release()
		require.NoError(t, <-done)
		require.NoError(t, <-waited)
		require.Equal(t, []string{"1|a|1", "2|b|2"}, contents(t, h, "items"), "the waiting run loaded after the holder")
		rec, _ := runRecord(t, h, holder)
		require.Equal(t, "success", rec.status)
		rec, _ = runRecord(t, h, waiter)
		require.Equal(t, "success", rec.status)
	})
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func str(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}
