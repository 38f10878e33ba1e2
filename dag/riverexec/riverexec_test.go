package riverexec_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/dag/riverexec"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// env is a test schema with the queue migrated, and executors on it.
type env struct {
	t     *testing.T
	db    *pgtest.DB
	store *pgstore.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db := pgtest.New(t)
	e := &env{t: t, db: db, store: pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema})}
	var out bytes.Buffer
	require.NoError(t, e.executor("migrate").Migrate(context.Background(), &out))
	require.Contains(t, out.String(), "applied river migration 001")
	return e
}

func (e *env) executor(worker string) *riverexec.Executor {
	e.t.Helper()
	cfg := execConfig()
	cfg.WorkerID = worker
	x, err := riverexec.New(e.store, cfg)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = x.Close() })
	return x
}

// work runs a worker for d until the test ends, or until the returned stop is called.
func (e *env) work(x *riverexec.Executor, d *dag.DAG, opts dag.WorkOptions) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Work(ctx, d, opts) }()
	var err error
	stopped := false
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	e.t.Cleanup(func() { _ = stop() })
	return stop
}

func TestNotMigrated(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	x, err := riverexec.New(pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema}), riverexec.Config{})
	require.NoError(t, err)
	d := dag.New("plain", dag.Config{Executor: x})
	d.Task("a", func(context.Context, *dag.Run) error { return nil })
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Contains(t, rep.Task("a").Error, "run the migrate command first")
	var buf bytes.Buffer
	require.ErrorIs(t, x.Work(context.Background(), d, dag.WorkOptions{}), riverexec.ErrNotMigrated)
	require.NoError(t, x.Migrate(context.Background(), &buf))
	require.NoError(t, x.Migrate(context.Background(), &buf), "migrating again changes nothing")
	require.Equal(t, 1, strings.Count(buf.String(), "applied river migration 001"))
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	require.NoError(t, x.Work(ctx, d, dag.WorkOptions{}), "a worker starts, then stops with its context")
}

// TestPanicFailsTheAttempt: a task that panics on a worker fails that attempt with the
// panic's message, and the worker goes on to run the next attempts.
func TestPanicFailsTheAttempt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x := e.executor("panic-w0")
	d := dag.New("panics", dag.Config{Executor: x, Store: e.store})
	d.Task("boom", func(context.Context, *dag.Run) error { panic("kaboom") })
	d.Task("after", func(context.Context, *dag.Run) error { return nil }).After("boom").Trigger(dag.AllDone)
	d.Task("fine", func(_ context.Context, r *dag.Run) error { r.AddRows(2); return nil })
	e.work(x, d, dag.WorkOptions{})

	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	boom := rep.Task("boom")
	require.Equal(t, dag.StatusFailed, boom.Status)
	require.Contains(t, boom.Error, `task "boom" panicked: kaboom`)
	require.Contains(t, boom.Error, "goroutine", "the stack comes with it")
	require.Equal(t, dag.StatusSuccess, rep.Task("after").Status, "the worker lived to run the next task")
	require.Equal(t, dag.StatusSuccess, rep.Task("fine").Status)
	require.EqualValues(t, 2, rep.Task("fine").Rows)

	// And it still takes work afterwards.
	rep, err = d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Equal(t, dag.StatusSuccess, rep.Task("fine").Status)
	var status string
	require.NoError(t, e.db.Pool.QueryRow(context.Background(),
		`SELECT status FROM dag_attempts WHERE run_id = $1 AND task = 'boom'`, rep.RunID).Scan(&status))
	require.Equal(t, "failed", status)
}

// TestInProcessMeaning: retries with their step and checks, trigger rules and timeouts
// behave on workers as they do in process, and reading an Output fails clearly.
func TestInProcessMeaning(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x := e.executor("meaning-w0")
	handle := dag.NewOutput[int]("handle")
	d := dag.New("meaning", dag.Config{Executor: x, Store: e.store, Retries: 1, RetryDelay: time.Millisecond})
	d.Task("flaky", func(_ context.Context, r *dag.Run) error {
		r.AddChecks(etl.CheckResult{Name: "row_count", Passed: r.Attempt > 1, Expected: "> 0", Found: "0"})
		if r.Attempt == 1 {
			return etl.WithStep("load", errors.New("connection reset"))
		}
		r.AddRows(10)
		handle.Set(r, 42)
		return nil
	})
	d.Task("reader", func(_ context.Context, r *dag.Run) error {
		_, err := handle.Must(r)
		return err
	}).After("flaky").Retries(0)
	d.Task("alert", func(context.Context, *dag.Run) error { return nil }).After("reader").Trigger(dag.OneFailed)
	d.Task("downstream", func(context.Context, *dag.Run) error { return nil }).After("reader")
	d.Task("slow", func(ctx context.Context, _ *dag.Run) error {
		<-ctx.Done()
		return ctx.Err()
	}).Timeout(300 * time.Millisecond).Retries(0)
	e.work(x, d, dag.WorkOptions{})

	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	flaky := rep.Task("flaky")
	require.Equal(t, dag.StatusSuccess, flaky.Status)
	require.Equal(t, 2, flaky.Attempts)
	require.EqualValues(t, 10, flaky.Rows)
	require.Equal(t, []dag.AttemptFailure{{Attempt: 1, Worker: "meaning-w0", Error: "load: connection reset"}}, flaky.Retried)
	require.Len(t, flaky.Checks, 1)
	require.True(t, flaky.Checks[0].Passed)

	reader := rep.Task("reader")
	require.Equal(t, dag.StatusFailed, reader.Status)
	require.Contains(t, reader.Error, `output "handle" is not available`)
	require.Contains(t, reader.Error, dag.ErrOutputNotShared.Error())
	require.Equal(t, dag.StatusSuccess, rep.Task("alert").Status, "one_failed ran")
	require.Equal(t, dag.StatusUpstreamFailed, rep.Task("downstream").Status)

	slow := rep.Task("slow")
	require.Equal(t, dag.StatusFailed, slow.Status)
	require.Contains(t, slow.Error, `task "slow": task timed out after 300ms`)
}

// TestTimeoutExcludesQueueWait: an attempt's timeout starts when a worker starts it,
// not when it is queued.
func TestTimeoutExcludesQueueWait(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x := e.executor("late-w0")
	d := dag.New("late", dag.Config{Executor: x, Store: e.store})
	d.Task("quick", func(ctx context.Context, _ *dag.Run) error {
		select {
		case <-time.After(50 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}).Timeout(time.Second)
	go func() {
		time.Sleep(1500 * time.Millisecond) // longer than the timeout: no worker yet
		e.work(x, d, dag.WorkOptions{})
	}()
	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.Equal(t, dag.StatusSuccess, rep.Task("quick").Status)
}

// TestStopHandsBack: a worker told to stop with no grace cancels its running attempt
// and hands it back to the queue, and another worker runs it; the hand-back is not a
// failed attempt.
func TestStopHandsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, second := e.executor("stop-w0"), e.executor("stop-w1")
	started := make(chan string, 4)
	d := dag.New("handback", dag.Config{Executor: first, Store: e.store})
	d.Task("long", func(ctx context.Context, r *dag.Run) error {
		started <- "started"
		select {
		case <-time.After(700 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	stop := e.work(first, d, dag.WorkOptions{})
	type out struct {
		rep *dag.Report
		err error
	}
	res := make(chan out, 1)
	go func() {
		rep, err := d.Run(context.Background(), etl.Window{})
		res <- out{rep, err}
	}()
	<-started
	require.NoError(t, stop())
	e.work(second, d, dag.WorkOptions{})
	o := <-res
	require.NoError(t, o.err)
	long := o.rep.Task("long")
	require.Equal(t, dag.StatusSuccess, long.Status)
	require.Equal(t, 1, long.Attempts)
	require.Empty(t, long.Retried)
	var worker string
	require.NoError(t, e.db.Pool.QueryRow(context.Background(),
		`SELECT worker FROM dag_attempts WHERE run_id = $1 AND task = 'long'`, o.rep.RunID).Scan(&worker))
	require.Equal(t, "stop-w1", worker)
}

// TestCancelStopsRemoteAttempts: cancelling the run cancels the attempts running on
// workers, which see the cancellation as in process.
func TestCancelStopsRemoteAttempts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x := e.executor("cancel-w0")
	started := make(chan struct{}, 1)
	d := dag.New("cancel", dag.Config{Executor: x, Store: e.store})
	d.Task("wait", func(ctx context.Context, _ *dag.Run) error {
		started <- struct{}{}
		<-ctx.Done()
		return errors.New("saw the cancellation")
	})
	d.Task("next", func(context.Context, *dag.Run) error { return nil }).After("wait")
	e.work(x, d, dag.WorkOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	rep, err := d.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, context.Canceled)
	require.Equal(t, "saw the cancellation", rep.Task("wait").Error)
	require.Equal(t, dag.StatusUpstreamFailed, rep.Task("next").Status)
}

// TestAttemptErrorsHidePasswords: a task whose error quotes a connection string leaves
// its password out of everything the queue keeps and shows: the attempts table, river's
// job errors (which river's UI lists), the report and the operator page.
func TestAttemptErrorsHidePasswords(t *testing.T) {
	t.Parallel()
	const secret = "Hunter2Secret"
	e := newEnv(t)
	x := e.executor("secret-w0")
	d := dag.New("secrets", dag.Config{Executor: x, Store: e.store})
	d.Task("open", func(context.Context, *dag.Run) error {
		return errors.New("open postgres://etl:" + secret + "@db/wh: refused")
	})
	e.work(x, d, dag.WorkOptions{})
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Contains(t, rep.Task("open").Error, "postgres://etl:xxxxx@db/wh")

	ctx := context.Background()
	var attemptErr string
	require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT error FROM dag_attempts WHERE run_id = $1`, rep.RunID).Scan(&attemptErr))
	require.Contains(t, attemptErr, "postgres://etl:xxxxx@db/wh: refused")
	// River records the job's end after the worker reported the attempt.
	var jobErrors string
	require.Eventually(t, func() bool {
		require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT coalesce(string_agg(errors::text, ' '), '') FROM river_job
			WHERE state = 'discarded'`).Scan(&jobErrors))
		return jobErrors != ""
	}, time.Minute, 20*time.Millisecond, "river never discarded the failed job")
	require.Contains(t, jobErrors, "refused", "river keeps the attempt's error")
	require.NotContains(t, jobErrors, secret)

	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h, err := x.Handler(hctx, d)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/runs/"+rep.RunID, nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "postgres://etl:xxxxx@db/wh")
	require.NotContains(t, rec.Body.String(), secret)
}

// TestQueuedCommandPrintsToStdout: what a command queued with Submit prints reaches the
// worker's WorkOptions.Stdout, which MainArgs sets to its own (password-hiding) stdout.
func TestQueuedCommandPrintsToStdout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	x := e.executor("stdout-w0")
	d := dag.New("printing", dag.Config{Executor: x, Store: e.store})
	d.Task("a", func(context.Context, *dag.Run) error { return nil })
	var out lockedBuffer
	e.work(x, d, dag.WorkOptions{Stdout: &out, Command: func(_ context.Context, args []string, stdout io.Writer) error {
		_, err := fmt.Fprintf(stdout, "ran %s\n", strings.Join(args, " "))
		return err
	}})
	_, err := x.Submit(context.Background(), d, []string{"run", "--logical-date=2026-01-05"})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return out.String() == "ran run --logical-date=2026-01-05\n" },
		time.Minute, 10*time.Millisecond, "the command's output never reached Stdout: %q", out.String())
}

// TestEveryAttemptWakesAWorker: river's client announces a job only when its last
// announcement for the queue is older than its FetchCooldown, so in a chain of quick
// tasks a job queued just after a worker's fetch waited for the worker's next poll. With
// a long cooldown and a poll of a minute, a chain finishes in seconds only if every
// attempt wakes the worker.
func TestEveryAttemptWakesAWorker(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cfg := execConfig()
	cfg.FetchCooldown = 200 * time.Millisecond
	cfg.FetchPollInterval = time.Minute
	newX := func(id string) *riverexec.Executor {
		cfg.WorkerID = id
		x, err := riverexec.New(e.store, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = x.Close() })
		return x
	}
	declare := func(x *riverexec.Executor) *dag.DAG {
		d := dag.New("quickchain", dag.Config{Store: e.store, Executor: x})
		for i := range 10 {
			tk := d.Task(fmt.Sprintf("t%d", i), func(context.Context, *dag.Run) error { return nil })
			if i > 0 {
				tk.After(fmt.Sprintf("t%d", i-1))
			}
		}
		return d
	}
	w := newX("w1")
	e.work(w, declare(w), dag.WorkOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	rep, err := declare(newX("scheduler")).Run(ctx, etl.Window{})
	require.NoError(t, err)
	require.Equal(t, 10, rep.Count(dag.StatusSuccess))
	// Each attempt may wait out one cooldown; a missed wake-up waits a minute.
	require.Less(t, time.Since(start), 20*time.Second)
}

// TestHandedBackAttemptWhoseJobEndedIsLost: an attempt handed back to the queue whose
// river job then ended without a worker (river's rescuer discarded it, say, after the
// worker was killed before river recorded the hand-back) fails as lost instead of
// leaving its run waiting for ever.
func TestHandedBackAttemptWhoseJobEndedIsLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	d := dag.New("orphan", dag.Config{Executor: e.executor("orphan-sched"), Store: e.store})
	d.Task("t", func(context.Context, *dag.Run) error { return nil })
	type out struct {
		rep *dag.Report
		err error
	}
	res := make(chan out, 1)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel() // on a failure, ends the run so that the test's cleanup can
	go func() {
		rep, err := d.Run(runCtx, etl.Window{})
		res <- out{rep, err}
	}()
	// No worker runs: the job waits. Make it look handed back, then end the job.
	var jobID int64
	var runID string
	require.Eventually(t, func() bool {
		return e.db.Pool.QueryRow(ctx, `SELECT id, args->>'run_id' FROM river_job WHERE kind = 'sluice_task_attempt'`).Scan(&jobID, &runID) == nil
	}, 10*time.Second, 10*time.Millisecond)
	_, err := e.db.Pool.Exec(ctx, `INSERT INTO dag_attempts (run_id, task, attempt, dag, job_id, status) VALUES ($1, 't', 1, 'orphan', $2, 'queued')`, runID, jobID)
	require.NoError(t, err)
	_, err = e.db.Pool.Exec(ctx, `UPDATE river_job SET state = 'discarded', finalized_at = now() WHERE id = $1`, jobID)
	require.NoError(t, err)
	select {
	case o := <-res:
		require.Error(t, o.err)
		task := o.rep.Task("t")
		require.Equal(t, dag.StatusFailed, task.Status)
		require.ErrorContains(t, o.err, "was handed back to the queue, but its river job")
		var status string
		require.NoError(t, e.db.Pool.QueryRow(ctx, `SELECT status FROM dag_attempts WHERE run_id = $1 AND task = 't'`, runID).Scan(&status))
		require.Equal(t, "lost", status)
	case <-time.After(15 * time.Second):
		t.Fatal("the run still waits for an attempt whose job ended")
	}
}
