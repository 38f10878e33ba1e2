package dag_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

func TestBackfillParallelBound(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var running, peak atomic.Int64
		d := dag.New("bound", dag.Config{})
		d.Task("t", func(ctx context.Context, r *dag.Run) error {
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(time.Hour)
			running.Add(-1)
			return nil
		})
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		br, err := d.Backfill(context.Background(), from, from.AddDate(0, 0, 10), 0, dag.BackfillOptions{Parallel: 3})
		require.NoError(t, err)
		require.Equal(t, 10, br.Count(dag.StatusSuccess))
		require.EqualValues(t, 3, peak.Load())
	})
}

func TestBackfillStopOnFailure(t *testing.T) {
	t.Parallel()
	d := dag.New("stop", dag.Config{})
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var runs atomic.Int64
	d.Task("t", func(ctx context.Context, r *dag.Run) error {
		runs.Add(1)
		if r.Window.Start.Day() == 3 {
			return errors.New("bad day")
		}
		return nil
	})
	br, err := d.Backfill(context.Background(), from, from.AddDate(0, 0, 10), 24*time.Hour, dag.BackfillOptions{StopOnFailure: true})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.EqualValues(t, 3, runs.Load(), "one window at a time, stopping at the failure")
	require.Equal(t, 2, br.Count(dag.StatusSuccess))
	require.Equal(t, 1, br.Count(dag.StatusFailed))
	require.Contains(t, br.Windows[5].Reason, "not started")

	// Without StopOnFailure the other windows run.
	d2 := dag.New("go-on", dag.Config{})
	d2.Task("t", func(ctx context.Context, r *dag.Run) error {
		if r.Window.Start.Day() == 3 {
			return errors.New("bad day")
		}
		return nil
	})
	br, err = d2.Backfill(context.Background(), from, from.AddDate(0, 0, 10), 24*time.Hour, dag.BackfillOptions{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Equal(t, 9, br.Count(dag.StatusSuccess))
}

func TestBackfillRejects(t *testing.T) {
	t.Parallel()
	d := dag.New("bad", dag.Config{})
	d.Task("t", noop)
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	_, err := d.Backfill(context.Background(), from, from, time.Hour, dag.BackfillOptions{})
	require.ErrorContains(t, err, "has no windows")
	_, err = d.Backfill(context.Background(), from, from.Add(time.Hour), time.Hour, dag.BackfillOptions{Reprocess: "some"})
	require.ErrorContains(t, err, `unknown reprocess policy "some"`)
	// A slip of the window length is refused before anything is allocated.
	_, err = d.Backfill(context.Background(), from, from.AddDate(30, 0, 0), time.Second, dag.BackfillOptions{DryRun: true})
	require.ErrorContains(t, err, "more than 100000 windows")
	br, err := d.Backfill(context.Background(), from, from.Add(dag.MaxWindows*time.Second), time.Second, dag.BackfillOptions{DryRun: true})
	require.NoError(t, err, "exactly MaxWindows is allowed")
	require.Len(t, br.Windows, dag.MaxWindows)
	_, err = d.Backfill(context.Background(), from, from.Add(dag.MaxWindows*time.Second+1), time.Second, dag.BackfillOptions{DryRun: true})
	require.ErrorContains(t, err, "more than 100000 windows")
}

// plainStore hides the optional interfaces of the store it wraps.
type plainStore struct{ dag.Store }

func TestDueWindows(t *testing.T) {
	t.Parallel()
	for name, wrap := range map[string]func(dag.Store) dag.Store{
		"watermarker": func(s dag.Store) dag.Store { return s },
		"runs only":   func(s dag.Store) dag.Store { return plainStore{s} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testDueWindows(t, wrap(dag.NewMemoryStore()))
		})
	}
}

func testDueWindows(t *testing.T, store dag.Store) {
	now := time.Date(2026, 1, 10, 5, 30, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	ctx := context.Background()

	// Unwindowed: one run over all data.
	d := dag.New("all", dag.Config{Now: clock, Store: store})
	ws, err := d.DueWindows(ctx)
	require.NoError(t, err)
	require.Equal(t, []etl.Window{{}}, ws)

	// No history, no start: the latest complete day.
	d = dag.New("daily", dag.Config{Every: 24 * time.Hour, Now: clock, Store: store})
	d.Task("t", noop)
	ws, err = d.DueWindows(ctx)
	require.NoError(t, err)
	require.Equal(t, []etl.Window{{Start: day(9), End: day(10)}}, ws)

	// No history, a start: every day since.
	d = dag.New("daily", dag.Config{Every: 24 * time.Hour, Now: clock, Start: day(7), Store: store})
	d.Task("t", noop)
	ws, err = d.DueWindows(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 3)
	require.Equal(t, day(7), ws[0].Start)

	// After a success on the 5th (and a failure on the 6th, and a success over all data
	// later), catch up from the 6th.
	_, err = d.Run(ctx, etl.Window{Start: day(5), End: day(6)})
	require.NoError(t, err)
	bad := dag.New("daily", dag.Config{Store: store})
	bad.Task("t", fail("no"))
	_, err = bad.Run(ctx, etl.Window{Start: day(6), End: day(7)})
	require.Error(t, err)
	_, err = d.Run(ctx, etl.Window{})
	require.NoError(t, err)
	ws, err = d.DueWindows(ctx)
	require.NoError(t, err)
	require.Len(t, ws, 4)
	require.Equal(t, day(6), ws[0].Start)
	require.Equal(t, day(10), ws[3].End)

	// A run over hand-picked bounds that end off the grid: the windows due stay on it,
	// starting with the day that run ended in.
	_, err = d.Run(ctx, etl.Window{Start: day(6), End: day(8).Add(3 * time.Hour)})
	require.NoError(t, err)
	ws, err = d.DueWindows(ctx)
	require.NoError(t, err)
	require.Equal(t, []etl.Window{{Start: day(8), End: day(9)}, {Start: day(9), End: day(10)}}, ws)

	// Up to date: nothing is due.
	_, err = d.Run(ctx, etl.Window{Start: day(9), End: day(10)})
	require.NoError(t, err)
	ws, err = d.DueWindows(ctx)
	require.NoError(t, err)
	require.Empty(t, ws)
}

func TestBackfillRerunsUnfinishedWindow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := dag.NewMemoryStore()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// A process died in the middle of the first window: its record says running.
	require.NoError(t, store.SaveRun(ctx, &dag.Report{RunID: "dead", DAG: "d", Status: dag.StatusRunning,
		Window: etl.Window{Start: from, End: from.AddDate(0, 0, 1)}, Started: from}))
	d := dag.New("d", dag.Config{Store: store})
	d.Task("t", noop)
	br, err := d.Backfill(ctx, from, from.AddDate(0, 0, 2), 0, dag.BackfillOptions{DryRun: true, Reprocess: dag.ReprocessFailed})
	require.NoError(t, err)
	require.True(t, br.Windows[0].Run)
	require.Equal(t, "run dead never finished", br.Windows[0].Reason)
	require.False(t, br.Windows[1].Run)
}
