package dag_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
)

// fakeQueue is a dag.Queue that runs attempts in process and records what Main asked.
type fakeQueue struct {
	mu        sync.Mutex
	submitted [][]string
	executed  []string
	work      dag.WorkOptions
	migrated  bool
	closed    bool
}

func (q *fakeQueue) Execute(ctx context.Context, a *dag.Attempt) error {
	q.mu.Lock()
	q.executed = append(q.executed, a.Run.Task)
	q.mu.Unlock()
	return a.Call(ctx)
}

func (q *fakeQueue) Work(ctx context.Context, d *dag.DAG, opts dag.WorkOptions) error {
	q.mu.Lock()
	q.work = opts
	q.mu.Unlock()
	// Run what was queued, as a worker would, then stop.
	out := opts.Stdout
	if out == nil {
		out = io.Discard
	}
	for _, args := range q.submitted {
		if err := opts.Command(ctx, args, out); err != nil {
			return err
		}
	}
	return nil
}

func (q *fakeQueue) Submit(ctx context.Context, d *dag.DAG, args []string) (string, error) {
	q.submitted = append(q.submitted, args)
	return fmt.Sprintf("job %d", len(q.submitted)), nil
}

func (q *fakeQueue) Migrate(ctx context.Context, w io.Writer) error {
	q.migrated = true
	_, err := io.WriteString(w, "migrated\n")
	return err
}

func (q *fakeQueue) Handler(ctx context.Context, d *dag.DAG) (http.Handler, error) {
	return http.NotFoundHandler(), nil
}

func (q *fakeQueue) Close() error { q.closed = true; return nil }

func queueDAG(q *fakeQueue, names ...string) *dag.DAG {
	queues := map[string]dag.OpenQueue{}
	for _, n := range names {
		queues[n] = func(ctx context.Context, store dag.Store, log *slog.Logger) (dag.Queue, error) { return q, nil }
	}
	d := dag.New("queued", dag.Config{Every: 24 * time.Hour, Store: dag.NewMemoryStore(), Queues: queues})
	d.Task("extract", func(_ context.Context, r *dag.Run) error { r.AddRows(1); return nil })
	d.Task("load", noop).After("extract")
	return d
}

func TestMainQueueCommands(t *testing.T) {
	t.Setenv(dag.ExecutorEnv, "")
	q := &fakeQueue{}
	c := cli{t: t, d: queueDAG(q, "river")}

	code, out, _ := c.run("--executor", "river", "run", "--logical-date", "2026-01-05")
	require.Equal(t, dag.ExitOK, code)
	require.Contains(t, out, ": success")
	require.Equal(t, []string{"extract", "load"}, q.executed, "run used the queue")
	require.True(t, q.closed)

	q.executed = nil
	code, _, _ = c.run("run", "--logical-date", "2026-01-05")
	require.Equal(t, dag.ExitOK, code)
	require.Empty(t, q.executed, "the local executor stays the default")

	// --detach queues the command's own flags: no store, no log settings.
	code, out, _ = c.run("--store", "memory", "run", "--detach", "--logical-date", "2026-01-06", "--log-level", "debug", "--json")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "queued run --json=true --logical-date=2026-01-06T00:00:00Z as job 1\n", out)
	code, _, errDetach := c.run("run", "--detach", "--logical-date", "2999-01-01")
	require.Equal(t, dag.ExitUsage, code, "a window that has not ended is refused before it is queued")
	require.Contains(t, errDetach, "has not ended yet")
	code, out, _ = c.run("--executor", "river", "backfill", "--from", "2026-01-01", "--to", "2026-01-03", "--detach")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "queued backfill --from=2026-01-01T00:00:00Z --to=2026-01-03T00:00:00Z as job 2\n", out)

	// The worker runs what was queued.
	q.executed = nil
	code, out, errs := c.run("worker", "--concurrency", "3", "--grace", "5s")
	require.Equal(t, dag.ExitOK, code, errs)
	// The queued commands print to the worker's stdout: the run's JSON report, the
	// backfill's windows.
	require.Contains(t, out, `"status": "success"`)
	require.Contains(t, out, "2 succeeded, 0 failed, 0 skipped")
	require.Equal(t, 3, q.work.Concurrency)
	require.Equal(t, 5*time.Second, q.work.Grace)
	require.Equal(t, []string{"extract", "load", "extract", "load", "extract", "load"}, q.executed, "one run and a two-window backfill")

	code, out, _ = c.run("migrate")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, "migrated\n", out)
	require.True(t, q.migrated)
}

func TestMainQueueUsage(t *testing.T) {
	t.Setenv(dag.ExecutorEnv, "")
	none := cli{t: t, d: mainDAGNoQueue()}
	code, _, errs := none.run("worker")
	require.Equal(t, dag.ExitUsage, code)
	require.Contains(t, errs, "worker needs a queue executor, and this program declares none")
	code, _, errs = none.run("run", "--detach")
	require.Equal(t, dag.ExitUsage, code)
	require.Contains(t, errs, "run --detach needs a queue executor")

	two := cli{t: t, d: queueDAG(&fakeQueue{}, "river", "other")}
	code, _, errs = two.run("migrate")
	require.Equal(t, dag.ExitUsage, code)
	require.Contains(t, errs, "give --executor other or river")
	code, _, errs = two.run("--executor", "celery", "run")
	require.Equal(t, dag.ExitUsage, code)
	require.Contains(t, errs, `--executor "celery": want local or other, river`)

	t.Setenv(dag.ExecutorEnv, "river")
	q := &fakeQueue{}
	env := cli{t: t, d: queueDAG(q, "river")}
	code, _, _ = env.run("run", "--logical-date", "2026-01-05")
	require.Equal(t, dag.ExitOK, code)
	require.Equal(t, []string{"extract", "load"}, q.executed, "SLUICE_DAG_EXECUTOR picks the queue")
	code, _, _ = env.run("--help")
	require.Equal(t, dag.ExitOK, code)
}

func mainDAGNoQueue() *dag.DAG {
	d := dag.New("plain", dag.Config{Store: dag.NewMemoryStore()})
	d.Task("a", noop)
	return d
}

// TestNewAttemptOutputs: in an attempt rebuilt elsewhere, reading an Output fails with
// ErrOutputNotShared and says what to do, while a hand-made Run keeps its values.
func TestNewAttemptOutputs(t *testing.T) {
	t.Parallel()
	out := dag.NewOutput[string]("rows")
	d := dag.New("outputs", dag.Config{})
	d.Task("read", func(_ context.Context, r *dag.Run) error {
		_, err := out.Must(r)
		return err
	})
	a, err := d.NewAttempt(&dag.Run{ID: "r1", DAG: "outputs", Task: "read", Attempt: 1})
	require.NoError(t, err)
	err = a.Call(context.Background())
	require.ErrorIs(t, err, dag.ErrOutputNotShared)
	require.ErrorContains(t, err, `task "read": output "rows" is not available: the task runs in a worker process`)
	require.ErrorContains(t, err, "pass the data through a table")

	// The attempt's timeout applies where the attempt runs.
	d.Task("slow", func(ctx context.Context, _ *dag.Run) error { <-ctx.Done(); return ctx.Err() })
	a, err = d.NewAttempt(&dag.Run{Task: "slow"})
	require.NoError(t, err)
	a.Timeout = 20 * time.Millisecond
	err = a.Call(context.Background())
	require.ErrorIs(t, err, dag.ErrTimeout)

	r := &dag.Run{Task: "by hand"}
	out.Set(r, "kept")
	v, err := out.Must(r)
	require.NoError(t, err)
	require.Equal(t, "kept", v)
}

// TestRetriedAttempts: the report lists the attempts that failed before the last one,
// in process too, and the detail view prints them.
func TestRetriedAttempts(t *testing.T) {
	t.Parallel()
	d := dag.New("retried", dag.Config{Retries: 3, RetryDelay: time.Nanosecond})
	d.Task("flaky", func(_ context.Context, r *dag.Run) error {
		if r.Attempt < 3 {
			return fmt.Errorf("try %d failed\nwith detail", r.Attempt)
		}
		return nil
	})
	d.Task("broken", func(context.Context, *dag.Run) error { return fmt.Errorf("always") }).Retries(1)
	rep, err := d.Run(context.Background(), etl.Window{})
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.Equal(t, []dag.AttemptFailure{{Attempt: 1, Error: "try 1 failed\nwith detail"}, {Attempt: 2, Error: "try 2 failed\nwith detail"}},
		rep.Task("flaky").Retried)
	require.Equal(t, []dag.AttemptFailure{{Attempt: 1, Error: "always"}}, rep.Task("broken").Retried, "the last failure is the task's error")
	var b strings.Builder
	require.NoError(t, rep.WriteDetail(&b))
	require.Contains(t, b.String(), "  attempt 1 failed: try 1 failed ...\n  attempt 2 failed: try 2 failed ...\n")
}
