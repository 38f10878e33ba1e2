package dag_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

func noop(context.Context, *dag.Run) error { return nil }

func fail(msg string) dag.TaskFunc {
	return func(context.Context, *dag.Run) error { return errors.New(msg) }
}

func TestBuildErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		declare func(d *dag.DAG)
		want    error
		text    string
	}{
		{"no tasks", func(d *dag.DAG) {}, dag.ErrNoTasks, "no tasks"},
		{"duplicate", func(d *dag.DAG) {
			d.Task("a", noop)
			d.Task("a", noop)
		}, dag.ErrDuplicateTask, `task "a"`},
		{"missing after", func(d *dag.DAG) {
			d.Task("a", noop).After("ghost")
		}, dag.ErrMissingDependency, `task "a" runs after "ghost"`},
		{"missing before", func(d *dag.DAG) {
			d.Task("a", noop).Before("ghost")
		}, dag.ErrMissingDependency, `task "a" runs before "ghost"`},
		{"self cycle", func(d *dag.DAG) {
			d.Task("a", noop).After("a")
		}, dag.ErrCycle, "a -> a"},
		{"cycle", func(d *dag.DAG) {
			d.Task("start", noop)
			d.Task("a", noop).After("start", "c")
			d.Task("b", noop).After("a")
			d.Task("c", noop).After("b")
			d.Task("end", noop).After("c")
		}, dag.ErrCycle, "dependency cycle: "},
		{"cycle via before", func(d *dag.DAG) {
			d.Task("x", noop).Before("y")
			d.Task("y", noop).Before("x")
		}, dag.ErrCycle, "dependency cycle"},
		{"bad trigger", func(d *dag.DAG) {
			d.Task("x", noop).Trigger("sometimes")
		}, nil, `unknown trigger rule "sometimes"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := dag.New("g", dag.Config{})
			tc.declare(d)
			err := d.Validate()
			require.Error(t, err)
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
			require.Contains(t, err.Error(), tc.text)
			_, err = d.Run(context.Background(), etl.Window{})
			require.Error(t, err)
		})
	}
}

func TestCyclePath(t *testing.T) {
	t.Parallel()
	d := dag.New("g", dag.Config{})
	d.Task("start", noop)
	d.Task("a", noop).After("start", "c")
	d.Task("b", noop).After("a")
	d.Task("c", noop).After("b")
	var ce *dag.CycleError
	require.ErrorAs(t, d.Validate(), &ce)
	require.Len(t, ce.Path, 4)
	require.Equal(t, ce.Path[0], ce.Path[3])
	// The path follows the edges: each task runs after the one before it.
	next := map[string]string{"a": "b", "b": "c", "c": "a"}
	for i := 0; i < 3; i++ {
		require.Equal(t, next[ce.Path[i]], ce.Path[i+1], "path %v", ce.Path)
	}
}

// recorder notes when each task starts and ends, in one global sequence.
type recorder struct {
	mu     sync.Mutex
	seq    int
	starts map[string]int
	ends   map[string]int
}

func newRecorder() *recorder {
	return &recorder{starts: map[string]int{}, ends: map[string]int{}}
}

func (rec *recorder) task(fn dag.TaskFunc) dag.TaskFunc {
	return func(ctx context.Context, r *dag.Run) error {
		rec.mu.Lock()
		rec.seq++
		rec.starts[r.Task] = rec.seq
		rec.mu.Unlock()
		err := fn(ctx, r)
		rec.mu.Lock()
		rec.seq++
		rec.ends[r.Task] = rec.seq
		rec.mu.Unlock()
		return err
	}
}

func TestTopologicalOrder(t *testing.T) {
	t.Parallel()
	rec := newRecorder()
	d := dag.New("shapes", dag.Config{Concurrency: 8})
	// t1 -> t2 -> t3 and t1 -> (t4, t5) -> t6, declared out of order on purpose.
	d.Task("t6", rec.task(noop)).After("t4", "t5")
	d.Task("t3", rec.task(noop))
	d.Task("t2", rec.task(noop)).After("t1").Before("t3")
	d.Task("t1", rec.task(noop)).Before("t4", "t5")
	d.Task("t4", rec.task(noop))
	d.Task("t5", rec.task(noop))
	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, dag.StatusSuccess, rep.Status)
	edges := [][2]string{{"t1", "t2"}, {"t2", "t3"}, {"t1", "t4"}, {"t1", "t5"}, {"t4", "t6"}, {"t5", "t6"}}
	for _, e := range edges {
		require.Less(t, rec.ends[e[0]], rec.starts[e[1]], "%s must end before %s starts", e[0], e[1])
	}
	require.Equal(t, "t1", rep.Tasks[0].Name, "report lists tasks in topological order")
	require.ElementsMatch(t, []string{"t4", "t5"}, rep.Task("t6").Upstream)
	for _, tr := range rep.Tasks {
		require.Equal(t, dag.StatusSuccess, tr.Status, tr.Name)
		require.Equal(t, 1, tr.Attempts)
	}
}

// TestIndependentTasksOverlap shows parallelism without timing: each of four independent
// tasks waits until all four are running at once, which only a parallel runner allows. In
// a synctest bubble a runner that runs them one by one deadlocks, and the test fails at
// once rather than at a timeout.
func TestIndependentTasksOverlap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const n = 4
		var arrived sync.WaitGroup
		arrived.Add(n)
		all := make(chan struct{})
		go func() { arrived.Wait(); close(all) }()
		d := dag.New("overlap", dag.Config{Concurrency: n})
		for i := range n {
			d.Task(fmt.Sprint("t", i), func(ctx context.Context, r *dag.Run) error {
				arrived.Done()
				<-all
				return nil
			})
		}
		rep, err := d.Run(context.Background(), etl.Window{})
		require.NoError(t, err)
		require.Equal(t, n, rep.Count(dag.StatusSuccess))
	})
}

// TestConcurrencyLimit counts running tasks inside a synctest bubble: every task that
// can start does so before fake time moves, so the peak equals the limit exactly.
func TestConcurrencyLimit(t *testing.T) {
	t.Parallel()
	for _, limit := range []int{1, 3, 7} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var running, peak, total atomic.Int64
				task := func(ctx context.Context, r *dag.Run) error {
					now := running.Add(1)
					for {
						p := peak.Load()
						if now <= p || peak.CompareAndSwap(p, now) {
							break
						}
					}
					time.Sleep(time.Second)
					running.Add(-1)
					total.Add(1)
					return nil
				}
				d := dag.New("limit", dag.Config{Concurrency: limit})
				// 30 roots, and 30 more tasks each after two roots.
				for i := range 30 {
					d.Task(fmt.Sprint("root", i), task)
				}
				for i := range 30 {
					d.Task(fmt.Sprint("leaf", i), task).After(fmt.Sprint("root", i), fmt.Sprint("root", (i+7)%30))
				}
				_, err := d.Run(context.Background(), etl.Window{})
				require.NoError(t, err)
				require.EqualValues(t, 60, total.Load())
				require.EqualValues(t, limit, peak.Load())
			})
		})
	}
}

func TestRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var times []time.Time
		flaky := func(ctx context.Context, r *dag.Run) error {
			times = append(times, time.Now())
			if r.Attempt != len(times) {
				return fmt.Errorf("attempt %d, want %d", r.Attempt, len(times))
			}
			r.AddRows(10)
			if r.Attempt < 3 {
				return fmt.Errorf("flaky attempt %d", r.Attempt)
			}
			return nil
		}
		d := dag.New("retry", dag.Config{RetryDelay: time.Minute, MaxRetryDelay: time.Hour})
		d.Task("flaky", flaky).Retries(5)
		d.Task("hopeless", fail("always")).Retries(2)
		d.Task("default", fail("once")) // Config.Retries is 0
		rep, err := d.Run(context.Background(), etl.Window{})
		require.ErrorIs(t, err, dag.ErrRunFailed)

		f := rep.Task("flaky")
		require.Equal(t, dag.StatusSuccess, f.Status)
		require.Equal(t, 3, f.Attempts)
		require.EqualValues(t, 10, f.Rows, "rows come from the last attempt only")
		require.Empty(t, f.Error)
		// Backoff doubles, with jitter between half and all of it.
		first, second := times[1].Sub(times[0]), times[2].Sub(times[1])
		require.GreaterOrEqual(t, first, 30*time.Second)
		require.LessOrEqual(t, first, time.Minute)
		require.GreaterOrEqual(t, second, time.Minute)
		require.LessOrEqual(t, second, 2*time.Minute)

		h := rep.Task("hopeless")
		require.Equal(t, dag.StatusFailed, h.Status)
		require.Equal(t, 3, h.Attempts)
		require.Equal(t, "always", h.Error)
		require.Equal(t, 1, rep.Task("default").Attempts)
	})
}

func TestRetryDelayIsCapped(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var last time.Time
		var gaps []time.Duration
		d := dag.New("cap", dag.Config{Retries: 6, RetryDelay: time.Second, MaxRetryDelay: 4 * time.Second})
		d.Task("t", func(ctx context.Context, r *dag.Run) error {
			if !last.IsZero() {
				gaps = append(gaps, time.Since(last))
			}
			last = time.Now()
			return errors.New("no")
		})
		rep, _ := d.Run(context.Background(), etl.Window{})
		require.Equal(t, 7, rep.Tasks[0].Attempts)
		for _, g := range gaps {
			require.LessOrEqual(t, g, 4*time.Second)
		}
		require.GreaterOrEqual(t, gaps[5], 2*time.Second)
	})
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		hang := func(ctx context.Context, r *dag.Run) error {
			<-ctx.Done()
			return ctx.Err()
		}
		d := dag.New("timeout", dag.Config{Timeout: time.Hour, RetryDelay: time.Second})
		d.Task("hang", hang).Timeout(time.Minute).Retries(1)
		d.Task("after", noop).After("hang")
		d.Task("quick", noop) // the DAG-wide timeout does not touch a quick task
		start := time.Now()
		rep, err := d.Run(context.Background(), etl.Window{})
		require.ErrorIs(t, err, dag.ErrRunFailed)
		h := rep.Task("hang")
		require.Equal(t, dag.StatusFailed, h.Status)
		require.Equal(t, 2, h.Attempts)
		require.Contains(t, h.Error, "task timed out after 1m0s")
		require.Equal(t, dag.StatusUpstreamFailed, rep.Task("after").Status)
		require.Equal(t, dag.StatusSuccess, rep.Task("quick").Status)
		require.Less(t, time.Since(start), 3*time.Minute)
	})
}

func TestTimeoutErrorIs(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var got error
		d := dag.New("timeout", dag.Config{Executor: dag.ExecutorFunc(func(ctx context.Context, a *dag.Attempt) error {
			got = a.Call(ctx)
			return got
		})})
		d.Task("hang", func(ctx context.Context, r *dag.Run) error {
			<-ctx.Done()
			return fmt.Errorf("waiting: %w", ctx.Err())
		}).Timeout(time.Second)
		rep, err := d.Run(context.Background(), etl.Window{})
		require.ErrorIs(t, err, dag.ErrRunFailed)
		// The task sees an ordinary deadline; the report says which timeout it was and
		// keeps the task's own words.
		require.ErrorIs(t, got, context.DeadlineExceeded)
		require.Equal(t, `task "hang": task timed out after 1s: waiting: context deadline exceeded`, rep.Task("hang").Error)
	})
}

func TestTriggerRules(t *testing.T) {
	t.Parallel()
	d := dag.New("rules", dag.Config{})
	d.Task("bad", fail("boom"))
	d.Task("good", noop)
	d.Task("all_success", noop).After("bad", "good")
	d.Task("all_done", noop).After("bad", "good").Trigger(dag.AllDone)
	d.Task("one_failed", noop).After("bad", "good").Trigger(dag.OneFailed)
	d.Task("one_failed_none", noop).After("good").Trigger(dag.OneFailed)
	d.Task("after_skip", noop).After("one_failed_none")
	d.Task("after_skip_done", noop).After("one_failed_none").Trigger(dag.AllDone)
	d.Task("deep", noop).After("all_success")
	d.Task("alert_deep", noop).After("all_success").Trigger(dag.OneFailed)
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Contains(t, err.Error(), "task bad failed: boom")
	want := map[string]dag.Status{
		"bad":             dag.StatusFailed,
		"good":            dag.StatusSuccess,
		"all_success":     dag.StatusUpstreamFailed,
		"all_done":        dag.StatusSuccess,
		"one_failed":      dag.StatusSuccess,
		"one_failed_none": dag.StatusSkipped,
		"after_skip":      dag.StatusSkipped,
		"after_skip_done": dag.StatusSuccess,
		"deep":            dag.StatusUpstreamFailed,
		"alert_deep":      dag.StatusSuccess,
	}
	for name, st := range want {
		require.Equal(t, st, rep.Task(name).Status, name)
	}
	require.Equal(t, 0, rep.Task("deep").Attempts)
	require.Contains(t, rep.Task("all_success").Error, "upstream task bad did not succeed")
	require.Equal(t, dag.StatusFailed, rep.Status)
}

func TestFailureSkipsDownstreamOnly(t *testing.T) {
	t.Parallel()
	var ran sync.Map
	mark := func(ctx context.Context, r *dag.Run) error { ran.Store(r.Task, true); return nil }
	d := dag.New("skip", dag.Config{Concurrency: 1})
	d.Task("extract", mark)
	d.Task("a1", fail("a1 broke")).After("extract")
	d.Task("a2", mark).After("a1")
	d.Task("a3", mark).After("a2")
	d.Task("b1", mark).After("extract")
	d.Task("b2", mark).After("b1")
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	for _, name := range []string{"extract", "b1", "b2"} {
		_, ok := ran.Load(name)
		require.True(t, ok, name)
		require.Equal(t, dag.StatusSuccess, rep.Task(name).Status)
	}
	for _, name := range []string{"a2", "a3"} {
		_, ok := ran.Load(name)
		require.False(t, ok, name)
		require.Equal(t, dag.StatusUpstreamFailed, rep.Task(name).Status)
	}
	require.Equal(t, 3, rep.Count(dag.StatusSuccess))
	require.Equal(t, "a1", rep.FirstFailure().Name)
}

func TestCancelOnFailure(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	d := dag.New("cancel", dag.Config{Concurrency: 2, CancelOnFailure: true})
	d.Task("long", func(ctx context.Context, r *dag.Run) error {
		close(started)
		<-ctx.Done()
		return ctx.Err()
	})
	d.Task("bad", func(ctx context.Context, r *dag.Run) error {
		<-started
		return errors.New("boom")
	})
	d.Task("queued", noop) // no slot until one of the first two ends
	d.Task("after_long", noop).After("long")
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Equal(t, dag.StatusFailed, rep.Task("bad").Status)
	require.Equal(t, dag.StatusFailed, rep.Task("long").Status)
	require.Equal(t, "context canceled", rep.Task("long").Error)
	require.Equal(t, dag.StatusSkipped, rep.Task("queued").Status)
	require.Contains(t, rep.Task("queued").Error, "CancelOnFailure")
	require.Equal(t, dag.StatusUpstreamFailed, rep.Task("after_long").Status)
}

func TestContextCancellation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	var afterRan atomic.Bool
	d := dag.New("ctx", dag.Config{Concurrency: 1, Retries: 3, RetryDelay: time.Hour})
	d.Task("first", func(ctx context.Context, r *dag.Run) error {
		cancel()
		<-ctx.Done()
		return ctx.Err()
	})
	d.Task("second", func(ctx context.Context, r *dag.Run) error { afterRan.Store(true); return nil })
	d.Task("third", noop).After("first")
	rep, err := d.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, context.Canceled)
	require.False(t, afterRan.Load())
	require.Equal(t, 1, rep.Task("first").Attempts, "no retry after cancellation")
	require.Equal(t, dag.StatusSkipped, rep.Task("second").Status)
	require.Equal(t, dag.StatusUpstreamFailed, rep.Task("third").Status)
	require.Equal(t, dag.StatusFailed, rep.Status)
	// The run is recorded even though it was cancelled.
	saved, err := d.Store().LoadRun(context.Background(), rep.RunID)
	require.NoError(t, err)
	require.Equal(t, dag.StatusFailed, saved.Status)
}

func TestPanicBecomesError(t *testing.T) {
	t.Parallel()
	d := dag.New("panic", dag.Config{})
	d.Task("p", func(context.Context, *dag.Run) error { panic("oops") })
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Contains(t, rep.Tasks[0].Error, `task "p" panicked: oops`)
}

// TestReportHidesPasswords: a task whose error quotes a connection string leaves its
// password out of the report, which the store keeps and every history and UI shows.
func TestReportHidesPasswords(t *testing.T) {
	t.Parallel()
	d := dag.New("secret", dag.Config{Retries: 1, RetryDelay: time.Millisecond})
	d.Task("open", fail("open postgres://etl:Hunter2Secret@db/wh: refused"))
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	saved, err := d.Store().LoadRun(context.Background(), rep.RunID)
	require.NoError(t, err)
	for _, r := range []*dag.Report{rep, saved} {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		require.NotContains(t, string(b), "Hunter2Secret")
		require.Contains(t, r.Task("open").Error, "postgres://etl:xxxxx@db/wh", "the rest of the error stays")
		require.Len(t, r.Task("open").Retried, 1)
		var detail strings.Builder
		require.NoError(t, r.WriteDetail(&detail))
		require.NotContains(t, detail.String(), "Hunter2Secret")
	}
}

func TestOutputsPassDownstream(t *testing.T) {
	t.Parallel()
	nums := dag.NewOutput[[]int]("nums")
	sum := dag.NewOutput[int]("sum")
	other := dag.NewOutput[int]("sum") // same name, different key
	d := dag.New("outputs", dag.Config{})
	d.Task("produce", func(ctx context.Context, r *dag.Run) error {
		// Each window produces its own values; runs do not share them.
		nums.Set(r, []int{1, 2, r.Window.Start.Day()})
		return nil
	})
	d.Task("add", func(ctx context.Context, r *dag.Run) error {
		ns, err := nums.Must(r)
		if err != nil {
			return err
		}
		s := 0
		for _, n := range ns {
			s += n
		}
		sum.Set(r, s)
		r.AddRows(int64(len(ns)))
		return nil
	}).After("produce")
	var got sync.Map
	d.Task("check", func(ctx context.Context, r *dag.Run) error {
		if _, ok := other.Get(r); ok {
			return errors.New("keys with the same name must not alias")
		}
		s, err := sum.Must(r)
		got.Store(r.Window.Start.Day(), s)
		return err
	}).After("add")
	d.Task("orphan", func(ctx context.Context, r *dag.Run) error {
		_, err := other.Must(r)
		return err
	}).After("check")
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	br, err := d.Backfill(context.Background(), from, from.AddDate(0, 0, 5), 24*time.Hour, dag.BackfillOptions{Parallel: 5})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	for day := 1; day <= 5; day++ {
		v, ok := got.Load(day)
		require.True(t, ok)
		require.Equal(t, 3+day, v)
	}
	rep := br.Windows[0].Report
	require.Contains(t, rep.Task("orphan").Error, `output "sum" was not set by any upstream task`)
	require.EqualValues(t, 3, rep.Task("add").Rows)
}

func TestRunHoldsTheLock(t *testing.T) {
	t.Parallel()
	store := dag.NewMemoryStore()
	d := dag.New("locked", dag.Config{Store: store})
	d.Task("t", noop)
	unlock, err := store.Lock(context.Background(), "locked")
	require.NoError(t, err)
	_, err = d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, etl.ErrLocked)
	unlock()
	_, err = d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	// Another DAG in the same store has its own lock.
	unlock, err = store.Lock(context.Background(), "locked")
	require.NoError(t, err)
	defer unlock()
	other := dag.New("other", dag.Config{Store: store})
	other.Task("t", noop)
	_, err = other.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
}

func TestExecutorSeam(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	exec := dag.ExecutorFunc(func(ctx context.Context, a *dag.Attempt) error {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s/%s#%d %s", a.Run.DAG, a.Run.Task, a.Run.Attempt, a.Run.Window))
		mu.Unlock()
		return a.Call(ctx)
	})
	d := dag.New("seam", dag.Config{Executor: exec, Retries: 1, RetryDelay: time.Nanosecond})
	d.Task("a", noop)
	d.Task("b", func(ctx context.Context, r *dag.Run) error {
		if r.Attempt == 1 {
			return errors.New("first try fails")
		}
		return nil
	}).After("a")
	w := etl.Window{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	_, err := d.Run(context.Background(), w)
	require.NoError(t, err)
	require.Equal(t, []string{
		"seam/a#1 2026-03-01T00:00:00Z/2026-03-02T00:00:00Z",
		"seam/b#1 2026-03-01T00:00:00Z/2026-03-02T00:00:00Z",
		"seam/b#2 2026-03-01T00:00:00Z/2026-03-02T00:00:00Z",
	}, seen)
}

// TestOutputOnHandMadeRun shows a task tested on its own, with a Run built by hand.
func TestOutputOnHandMadeRun(t *testing.T) {
	t.Parallel()
	total := dag.NewOutput[int]("total")
	r := &dag.Run{Task: "sum"}
	_, ok := total.Get(r)
	require.False(t, ok)
	total.Set(r, 42)
	v, err := total.Must(r)
	require.NoError(t, err)
	require.Equal(t, 42, v)
}

// TestCancelDuringRetryWait cancels the run while a task waits to retry: the wait ends
// at once, with no further attempt.
func TestCancelDuringRetryWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		d := dag.New("wait", dag.Config{Retries: 5, RetryDelay: time.Hour, MaxRetryDelay: time.Hour})
		d.Task("flaky", func(ctx context.Context, r *dag.Run) error {
			time.AfterFunc(10*time.Minute, cancel) // well inside the first wait
			return errors.New("flaky")
		})
		start := time.Now()
		rep, err := d.Run(ctx, etl.Window{})
		require.ErrorIs(t, err, context.Canceled)
		require.Equal(t, 10*time.Minute, time.Since(start), "the wait ends with the cancellation")
		require.Equal(t, 1, rep.Task("flaky").Attempts)
		require.Equal(t, dag.StatusFailed, rep.Task("flaky").Status)
		require.Equal(t, "flaky", rep.Task("flaky").Error)
	})
}

// TestRemoteExecutor sends each attempt "elsewhere" as JSON: the receiving side declares
// the same DAG and rebuilds the attempt by task name.
func TestRemoteExecutor(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var ran []string
	declare := func(exec dag.Executor) *dag.DAG {
		d := dag.New("remote", dag.Config{Executor: exec})
		d.Task("extract", func(ctx context.Context, r *dag.Run) error {
			mu.Lock()
			ran = append(ran, fmt.Sprintf("%s %s #%d %s", r.DAG, r.Task, r.Attempt, r.Window))
			mu.Unlock()
			r.Log().Info("extracting") // a decoded Run must still log
			r.AddRows(7)
			return nil
		})
		d.Task("load", noop).After("extract")
		return d
	}
	worker := declare(nil)
	send := dag.ExecutorFunc(func(ctx context.Context, a *dag.Attempt) error {
		body, err := json.Marshal(a.Run)
		if err != nil {
			return err
		}
		var r dag.Run
		if err := json.Unmarshal(body, &r); err != nil {
			return err
		}
		received, err := worker.NewAttempt(&r)
		if err != nil {
			return err
		}
		err = received.Call(ctx)
		a.Run.AddRows(received.Run.Rows()) // as a reply would carry them back
		return err
	})
	w := etl.Window{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}
	rep, err := declare(send).Run(context.Background(), w)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Count(dag.StatusSuccess))
	require.EqualValues(t, 7, rep.Task("extract").Rows)
	require.Equal(t, []string{"remote extract #1 2026-03-01T00:00:00Z/2026-03-02T00:00:00Z"}, ran)

	_, err = worker.NewAttempt(&dag.Run{Task: "ghost"})
	require.ErrorContains(t, err, `no task "ghost"`)
}
