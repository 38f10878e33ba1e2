package dagtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

// ExerciseStore runs the conformance suite against the stores open returns. open is
// called once per subtest and must return an empty store of its own.
func ExerciseStore(t *testing.T, open func(t *testing.T) dag.Store) {
	t.Helper()
	day := func(d int) etl.Window {
		s := time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC)
		return etl.Window{Start: s, End: s.AddDate(0, 0, 1)}
	}

	t.Run("SaveAndLoad", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		started := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
		rep := &dag.Report{
			RunID: "r1", DAG: "d", Window: day(2), Status: dag.StatusFailed,
			Started: started, Finished: started.Add(time.Minute), Duration: time.Minute,
			Error: "task b failed",
			Tasks: []dag.TaskReport{
				{Name: "a", Status: dag.StatusSuccess, Attempts: 1, Rows: 42, Duration: time.Second,
					Checks: []etl.CheckResult{{Name: "row_count", Table: "t", Severity: etl.SeverityError, Passed: true, Expected: "42", Found: "42"}}},
				{Name: "b", Upstream: []string{"a"}, Status: dag.StatusFailed, Attempts: 3, Step: "apply", Error: "boom\nline two"},
			},
		}
		require.NoError(t, s.SaveRun(ctx, rep))
		got, err := s.LoadRun(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, rep.RunID, got.RunID)
		require.Equal(t, rep.DAG, got.DAG)
		require.Equal(t, rep.Status, got.Status)
		require.True(t, rep.Window.Start.Equal(got.Window.Start) && rep.Window.End.Equal(got.Window.End), "window %v", got.Window)
		require.True(t, rep.Started.Equal(got.Started), "started %v", got.Started)
		require.True(t, rep.Finished.Equal(got.Finished), "finished %v", got.Finished)
		require.Equal(t, rep.Duration, got.Duration)
		require.Equal(t, rep.Error, got.Error)
		require.Equal(t, rep.Tasks, got.Tasks)

		// Saving again replaces the record.
		rep.Status = dag.StatusSuccess
		require.NoError(t, s.SaveRun(ctx, rep))
		got, err = s.LoadRun(ctx, "r1")
		require.NoError(t, err)
		require.Equal(t, dag.StatusSuccess, got.Status)
		runs, err := s.Runs(ctx, dag.Query{})
		require.NoError(t, err)
		require.Len(t, runs, 1)

		_, err = s.LoadRun(ctx, "nope")
		require.ErrorIs(t, err, dag.ErrRunNotFound)
	})

	t.Run("ZeroWindow", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		require.NoError(t, s.SaveRun(ctx, &dag.Report{RunID: "z", DAG: "d", Status: dag.StatusSuccess, Started: time.Now()}))
		got, err := s.LoadRun(ctx, "z")
		require.NoError(t, err)
		require.True(t, got.Window.IsZero())
		// A run over all data has no window start, so a bound on the start leaves it out.
		far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
		for _, q := range []dag.Query{{DAG: "d", To: far}, {DAG: "d", From: time.Unix(0, 0)}} {
			runs, err := s.Runs(ctx, q)
			require.NoError(t, err)
			require.Empty(t, runs, "%+v", q)
		}
	})

	t.Run("Query", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		base := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
		for i := 1; i <= 6; i++ {
			st, bst := dag.StatusSuccess, dag.StatusSuccess
			if i%2 == 0 {
				st, bst = dag.StatusFailed, dag.StatusFailed
			}
			name := "d"
			if i == 6 {
				name = "other"
			}
			tasks := []dag.TaskReport{{Name: "a", Status: dag.StatusSuccess}, {Name: "b", Status: bst}}
			if i == 4 {
				tasks[0].Status, tasks[1].Status = dag.StatusFailed, dag.StatusUpstreamFailed
			}
			require.NoError(t, s.SaveRun(ctx, &dag.Report{
				RunID: fmt.Sprint("r", i), DAG: name, Window: day(i), Status: st,
				Started: base.Add(time.Duration(i) * time.Hour), Tasks: tasks,
			}))
		}
		ids := func(q dag.Query) []string {
			runs, err := s.Runs(ctx, q)
			require.NoError(t, err)
			var out []string
			for _, r := range runs {
				out = append(out, r.RunID)
			}
			return out
		}
		require.Equal(t, []string{"r6", "r5", "r4", "r3", "r2", "r1"}, ids(dag.Query{}), "newest first")
		require.Equal(t, []string{"r5", "r4", "r3", "r2", "r1"}, ids(dag.Query{DAG: "d"}))
		require.Equal(t, []string{"r4", "r2"}, ids(dag.Query{DAG: "d", Failed: true}))
		require.Equal(t, []string{"r2"}, ids(dag.Query{DAG: "d", Failed: true, Task: "b"}))
		require.Equal(t, []string{"r4"}, ids(dag.Query{DAG: "d", Failed: true, Task: "a"}))
		require.Equal(t, []string{"r5", "r4", "r3", "r2", "r1"}, ids(dag.Query{DAG: "d", Task: "a"}))
		require.Empty(t, ids(dag.Query{DAG: "d", Task: "zzz"}))
		require.Equal(t, []string{"r4", "r3", "r2"}, ids(dag.Query{DAG: "d", From: day(2).Start, To: day(5).Start}))
		require.Equal(t, []string{"r5", "r4"}, ids(dag.Query{DAG: "d", Limit: 2}))
	})

	t.Run("Prune", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		p, ok := s.(dag.Pruner)
		if !ok {
			t.Skip("the store does not implement dag.Pruner")
		}
		ctx := context.Background()
		base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		for i, st := range []dag.Status{dag.StatusSuccess, dag.StatusRunning, dag.StatusFailed, dag.StatusSuccess} {
			require.NoError(t, s.SaveRun(ctx, &dag.Report{RunID: fmt.Sprint("p", i), DAG: "d", Status: st,
				Started: base.AddDate(0, 0, i)}))
		}
		require.NoError(t, s.SaveRun(ctx, &dag.Report{RunID: "x", DAG: "other", Status: dag.StatusSuccess, Started: base}))
		// Old runs over windows: the success with the latest window end sets the
		// watermark, and stays.
		for i, r := range []dag.Report{
			{RunID: "w0", Window: day(1), Status: dag.StatusSuccess},
			{RunID: "w1", Window: day(4), Status: dag.StatusSuccess},
			{RunID: "w2", Window: day(5), Status: dag.StatusFailed},
			{RunID: "w3", Window: day(2), Status: dag.StatusSuccess}, // started later, over an earlier day
		} {
			r.DAG, r.Started = "d", base.Add(time.Duration(i-10)*time.Hour)
			require.NoError(t, s.SaveRun(ctx, &r))
		}
		n, err := p.Prune(ctx, "d", base.AddDate(0, 0, 3))
		require.NoError(t, err)
		require.EqualValues(t, 5, n)
		runs, err := s.Runs(ctx, dag.Query{})
		require.NoError(t, err)
		var ids []string
		for _, r := range runs {
			ids = append(ids, r.RunID)
		}
		require.Equal(t, []string{"p3", "p1", "x", "w1"}, ids, "unfinished runs, other DAGs and the watermark are kept")
		// Pruning again keeps the watermark's run, and a DAG with no success loses all.
		n, err = p.Prune(ctx, "d", base.AddDate(1, 0, 0))
		require.NoError(t, err)
		require.EqualValues(t, 1, n, "p3 goes; w1 and the running p1 stay")
		n, err = p.Prune(ctx, "other", base.AddDate(1, 0, 0))
		require.NoError(t, err)
		require.EqualValues(t, 1, n)
	})

	t.Run("Watermark", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		wm, ok := s.(dag.Watermarker)
		if !ok {
			t.Skip("the store does not implement dag.Watermarker")
		}
		ctx := context.Background()
		end, err := wm.Watermark(ctx, "d")
		require.NoError(t, err)
		require.True(t, end.IsZero(), "no history: %v", end)
		started := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
		for i, r := range []dag.Report{
			{DAG: "d", Window: day(3), Status: dag.StatusSuccess},
			{DAG: "d", Window: day(2), Status: dag.StatusSuccess}, // ran later, over an earlier day
			{DAG: "d", Window: day(5), Status: dag.StatusFailed},
			{DAG: "d", Window: day(6), Status: dag.StatusRunning},
			{DAG: "d", Status: dag.StatusSuccess}, // all data: no window end
			{DAG: "other", Window: day(9), Status: dag.StatusSuccess},
		} {
			r.RunID, r.Started = fmt.Sprint("w", i), started.Add(time.Duration(i)*time.Hour)
			require.NoError(t, s.SaveRun(ctx, &r))
		}
		end, err = wm.Watermark(ctx, "d")
		require.NoError(t, err)
		require.True(t, day(3).End.Equal(end), "watermark %v, want %v", end, day(3).End)
	})

	t.Run("Lock", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := context.Background()
		unlock, err := s.Lock(ctx, "d")
		require.NoError(t, err)
		_, err = s.Lock(ctx, "d")
		require.ErrorIs(t, err, etl.ErrLocked)
		other, err := s.Lock(ctx, "other")
		require.NoError(t, err, "each DAG has its own lock")
		other()
		unlock()
		unlock, err = s.Lock(ctx, "d")
		require.NoError(t, err, "the lock is free again")
		unlock()
	})

	t.Run("BackfillResumes", func(t *testing.T) {
		t.Parallel()
		BackfillResumes(t, open(t))
	})

	t.Run("Abandoned", func(t *testing.T) {
		t.Parallel()
		Abandoned(t, open(t))
	})
}

// Abandoned leaves a run recorded as running, as a process killed mid-run does, and checks
// that the next run that takes the DAG's lock marks it abandoned, that `history --failed`
// (a Failed query) lists it, that a backfill runs its window again, and that runs of other
// DAGs are left alone. Stores without [dag.Abandoner] go through the runner's fallback.
func Abandoned(t *testing.T, store dag.Store) {
	t.Helper()
	ctx := context.Background()
	w := etl.Window{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	started := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)
	for _, r := range []*dag.Report{
		{RunID: "killed", DAG: "zombie", Window: w, Status: dag.StatusRunning, Started: started,
			Tasks: []dag.TaskReport{{Name: "t", Status: dag.StatusPending}}},
		{RunID: "other-dag", DAG: "elsewhere", Window: w, Status: dag.StatusRunning, Started: started},
	} {
		require.NoError(t, store.SaveRun(ctx, r))
	}
	found := started.Add(time.Hour)
	d := dag.New("zombie", dag.Config{Store: store, Every: 24 * time.Hour, Now: func() time.Time { return found }})
	d.Task("t", func(context.Context, *dag.Run) error { return nil })

	// A dry run takes no lock, so it proves nothing and marks nothing.
	br, err := d.Backfill(ctx, w.Start, w.End, 0, dag.BackfillOptions{DryRun: true})
	require.NoError(t, err)
	require.Equal(t, "run killed never finished", br.Windows[0].Reason)

	_, err = d.Run(ctx, etl.Window{Start: w.End, End: w.End.AddDate(0, 0, 1)})
	require.NoError(t, err)
	got, err := store.LoadRun(ctx, "killed")
	require.NoError(t, err)
	require.Equal(t, dag.StatusAbandoned, got.Status)
	require.True(t, found.Equal(got.Finished), "finished %v", got.Finished)
	require.Equal(t, time.Hour, got.Duration)
	require.Contains(t, got.Error, "ended before it recorded how the run ended")
	require.Equal(t, dag.StatusPending, got.Tasks[0].Status, "the tasks keep what was last saved")

	failed, err := store.Runs(ctx, dag.Query{DAG: "zombie", Failed: true})
	require.NoError(t, err)
	require.Len(t, failed, 1)
	require.Equal(t, "killed", failed[0].RunID)
	other, err := store.LoadRun(ctx, "other-dag")
	require.NoError(t, err)
	require.Equal(t, dag.StatusRunning, other.Status, "another DAG's lock was not taken")

	br, err = d.Backfill(ctx, w.Start, w.End, 0, dag.BackfillOptions{DryRun: true})
	require.NoError(t, err)
	require.True(t, br.Windows[0].Run)
	require.Equal(t, "last run killed abandoned", br.Windows[0].Reason)
}

// BackfillResumes backfills 30 daily windows with one failing: 29 succeed. After the fix,
// the same backfill runs only the failed window, and a third runs nothing. It also checks
// the dry run and the reprocess policies against the same history.
func BackfillResumes(t *testing.T, store dag.Store) {
	t.Helper()
	ctx := context.Background()
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := from.AddDate(0, 0, 30)
	bad := time.Date(2026, 1, 17, 0, 0, 0, 0, time.UTC)

	var mu sync.Mutex
	fixed := false
	ran := map[time.Time]int{}
	d := dag.New("backfill", dag.Config{Store: store, Every: 24 * time.Hour})
	d.Task("extract", func(ctx context.Context, r *dag.Run) error {
		mu.Lock()
		defer mu.Unlock()
		ran[r.Window.Start]++
		if r.Window.Start.Equal(bad) && !fixed {
			return errors.New("source had a bad file that day")
		}
		r.AddRows(int64(r.Window.Start.Day()))
		return nil
	})
	d.Task("load", func(ctx context.Context, r *dag.Run) error { return nil }).After("extract")

	br, err := d.Backfill(ctx, from, to, 0, dag.BackfillOptions{Parallel: 4})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Contains(t, err.Error(), "2026-01-17T00:00:00Z")
	require.Len(t, br.Windows, 30)
	require.Equal(t, 29, br.Count(dag.StatusSuccess))
	require.Equal(t, 1, br.Count(dag.StatusFailed))
	require.Len(t, ran, 30)

	// Dry run: only the failed window would run, and it says why.
	br, err = d.Backfill(ctx, from, to, 0, dag.BackfillOptions{DryRun: true})
	require.NoError(t, err)
	for _, wp := range br.Windows {
		require.Equal(t, wp.Window.Start.Equal(bad), wp.Run, wp.Window.String())
		if wp.Run {
			require.Contains(t, wp.Reason, "failed")
		} else {
			require.Contains(t, wp.Reason, "succeeded in run")
		}
		require.Nil(t, wp.Report)
	}
	// A wider dry run also lists windows never run.
	br, err = d.Backfill(ctx, from, to.AddDate(0, 0, 2), 0, dag.BackfillOptions{DryRun: true})
	require.NoError(t, err)
	require.Len(t, br.Windows, 32)
	require.Equal(t, "never run", br.Windows[31].Reason)
	require.True(t, br.Windows[31].Run)
	// ... but "reprocess failed" leaves them alone.
	br, err = d.Backfill(ctx, from, to.AddDate(0, 0, 2), 0, dag.BackfillOptions{DryRun: true, Reprocess: dag.ReprocessFailed})
	require.NoError(t, err)
	require.False(t, br.Windows[31].Run)
	require.Equal(t, "never run (reprocess failed runs only failed windows)", br.Windows[31].Reason)
	require.True(t, br.Windows[16].Run)
	require.False(t, br.Windows[15].Run, "succeeded")
	// "reprocess all" runs everything.
	br, err = d.Backfill(ctx, from, to, 0, dag.BackfillOptions{DryRun: true, Reprocess: dag.ReprocessAll})
	require.NoError(t, err)
	require.Equal(t, 0, br.Count(dag.StatusSkipped))

	mu.Lock()
	fixed = true
	clear(ran)
	mu.Unlock()
	br, err = d.Backfill(ctx, from, to, 0, dag.BackfillOptions{Parallel: 4})
	require.NoError(t, err)
	require.Equal(t, map[time.Time]int{bad: 1}, ran, "only the failed window runs again")
	require.Equal(t, 1, br.Count(dag.StatusSuccess))
	require.Equal(t, 29, br.Count(dag.StatusSkipped))

	clear(ran)
	br, err = d.Backfill(ctx, from, to, 0, dag.BackfillOptions{})
	require.NoError(t, err)
	require.Empty(t, ran)
	require.Equal(t, 30, br.Count(dag.StatusSkipped))

	failed, err := store.Runs(ctx, dag.Query{DAG: "backfill", Failed: true})
	require.NoError(t, err)
	require.Len(t, failed, 1)
	require.Equal(t, "source had a bad file that day", failed[0].Task("extract").Error)
	require.Equal(t, dag.StatusUpstreamFailed, failed[0].Task("load").Status)
}
