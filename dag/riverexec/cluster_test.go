package riverexec_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

var runLine = regexp.MustCompile(`dag \S+ run (\S+) window`)

// TestThreeWorkersFanOut runs a 50-task DAG with a fan-out and a fan-in on three worker
// processes: every task succeeds, the attempts spread over the workers, and every
// table ends exactly as a single in-process run leaves it.
func TestThreeWorkersFanOut(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "fan")
	for i := range 3 {
		c.startWorker(fmt.Sprintf("fan-w%d", i))
	}
	r := c.run(nil, "run", "--logical-date", "2026-01-02")
	require.Equal(t, 0, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	require.Contains(t, r.stdout, "window 2026-01-02T00:00:00Z/2026-01-03T00:00:00Z: success")
	m := runLine.FindStringSubmatch(r.stdout)
	require.NotNil(t, m, r.stdout)
	runID := m[1]

	ctx := context.Background()
	var tasks, attempts, workers int
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT count(DISTINCT task), count(*), count(DISTINCT worker)
		FROM dag_attempts WHERE run_id = $1 AND status = 'success'`, runID).Scan(&tasks, &attempts, &workers))
	require.Equal(t, 50, tasks)
	require.Equal(t, 50, attempts, "one attempt per task")
	require.Equal(t, 3, workers, "the attempts spread over the three workers")

	// Any process reads the same run from the store.
	h := c.run(nil, "history", "--run", runID)
	require.Equal(t, 0, h.code, h.stderr)
	require.Contains(t, h.stdout, "status:   success")
	require.Equal(t, 50, strings.Count(h.stdout, ": success\n"), h.stdout)

	// The reference: the same DAG run once in process, in a schema of its own.
	ref := pgtest.New(t)
	d, closeRef := declare("fan", ref.URL, ref.Schema)
	defer closeRef()
	w := etl.Window{Start: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)}
	rep, err := d.Run(ctx, w)
	require.NoError(t, err)
	require.Equal(t, 50, rep.Count(dag.StatusSuccess))
	tables := []string{"raw", "total"}
	for g := range groups {
		tables = append(tables, fmt.Sprintf("part_%02d", g), fmt.Sprintf("sum_%02d", g))
	}
	for _, table := range tables {
		want := tableDump(t, ref.Pool, table)
		require.NotEmpty(t, want, table)
		require.Equal(t, want, tableDump(t, c.db.Pool, table), "table %s", table)
	}
}

// TestKillWorkerDuringLoad kills a worker with SIGKILL while it loads, 20 times: each
// time the attempt is retried on another worker, the table ends exactly as after a
// clean run, and the report shows the lost attempt and the retry.
func TestKillWorkerDuringLoad(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "kill")
	slow := slowEnv + "=25ms" // 20 pauses: each load takes at least half a second
	next := 0
	start := func() {
		c.startWorker(fmt.Sprintf("kill-w%d", next), slow)
		next++
	}
	for range 3 {
		start()
	}
	ctx := context.Background()
	clean := c.run(nil, "run", "--logical-date", "2026-01-02")
	require.Equal(t, 0, clean.code, clean.stderr)
	wantRaw, wantCheck := tableDump(t, c.db.Pool, "raw"), tableDump(t, c.db.Pool, "raw_check")
	require.Len(t, wantRaw, 20000)
	// Each trial starts from a table that differs from the clean run's, so a trial that
	// did not load cannot pass by accident.
	for trial := range 20 {
		_, err := c.db.Pool.Exec(ctx, `DELETE FROM raw WHERE id % 3 = 0; DELETE FROM raw_check`)
		require.NoError(t, err)

		cmd := exec.Command(mustExecutable(t), "run", "--logical-date", "2026-01-02", "--json")
		cmd.Env = c.env(nil)
		var out, errb lockedBuffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		require.NoError(t, cmd.Start())

		// Wait until a worker runs the load, then kill it in the middle of it.
		var runID, victim string
		require.Eventually(t, func() bool {
			err := c.db.Pool.QueryRow(ctx, `SELECT run_id, worker FROM dag_attempts
				WHERE task = 'extract' AND attempt = 1 AND status = 'running' ORDER BY started DESC LIMIT 1`).Scan(&runID, &victim)
			return err == nil
		}, 30*time.Second, 5*time.Millisecond, "trial %d: the load never started", trial)
		time.Sleep(time.Duration(50+rand.IntN(250)) * time.Millisecond)
		c.mu.Lock()
		p := c.workers[victim]
		delete(c.workers, victim)
		c.mu.Unlock()
		require.NotNil(t, p, "trial %d: no worker %q", trial, victim)
		require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
		<-p.done

		err = cmd.Wait()
		require.NoError(t, err, "trial %d: run failed:\n%s\n%s", trial, out.String(), errb.String())
		var rep dag.Report
		require.NoError(t, json.Unmarshal([]byte(out.String()), &rep), out.String())
		require.Equal(t, runID, rep.RunID)
		require.Equal(t, dag.StatusSuccess, rep.Status, out.String())
		ex := rep.Task("extract")
		require.Equal(t, dag.StatusSuccess, ex.Status)
		require.Equal(t, 2, ex.Attempts, "trial %d: the lost attempt and its retry", trial)
		require.Len(t, ex.Retried, 1)
		require.Equal(t, victim, ex.Retried[0].Worker)
		require.Contains(t, ex.Retried[0].Error, "worker "+victim+" stopped while running attempt 1 of task \"extract\"")
		var retriedOn, lostStatus string
		require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT
				(SELECT worker FROM dag_attempts WHERE run_id = $1 AND task = 'extract' AND attempt = 2 AND status = 'success'),
				(SELECT status FROM dag_attempts WHERE run_id = $1 AND task = 'extract' AND attempt = 1)`, runID).Scan(&retriedOn, &lostStatus))
		require.NotEqual(t, victim, retriedOn)
		require.Equal(t, "lost", lostStatus)
		require.Equal(t, wantRaw, tableDump(t, c.db.Pool, "raw"), "trial %d", trial)
		require.Equal(t, wantCheck, tableDump(t, c.db.Pool, "raw_check"), "trial %d", trial)
		start() // back to three workers
	}
}

// TestTwoRunsOfOneWindow starts two `run` commands for the same DAG and window at
// once, in two processes: the window runs once, and the other exits 75. The load that
// runs waits on a lock the test holds until the other command has ended, so that a
// process that starts late under load cannot find the window's run already over.
func TestTwoRunsOfOneWindow(t *testing.T) {
	t.Parallel()
	c := newCluster(t, "kill")
	ctx := context.Background()
	key := fmt.Sprint(time.Now().UnixNano()) // advisory locks are the database's, not the schema's
	c.startWorker("twice-w0", slowEnv+"=20ms", holdEnv+"="+key)
	c.startWorker("twice-w1", slowEnv+"=20ms", holdEnv+"="+key)
	gate, err := c.db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer gate.Release()
	for round := range 3 {
		_, err := gate.Exec(ctx, `SELECT pg_advisory_lock($1::bigint)`, key)
		require.NoError(t, err)
		codes := make(chan result, 2)
		for range 2 {
			go func() { codes <- c.run(nil, "run", "--logical-date", "2026-01-02") }()
		}
		first := <-codes
		require.Equal(t, dag.ExitLocked, first.code, "round %d: the run that lost the lock\n%s", round, first.stderr)
		_, err = gate.Exec(ctx, `SELECT pg_advisory_unlock($1::bigint)`, key)
		require.NoError(t, err)
		second := <-codes
		require.Equal(t, 0, second.code, "round %d: the run that held the lock\n%s", round, second.stderr)
	}
	var runs, attempts int
	require.NoError(t, c.db.Pool.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM dag_runs WHERE window_start = '2026-01-02T00:00:00Z'),
		(SELECT count(*) FROM dag_attempts WHERE task = 'extract')`).Scan(&runs, &attempts))
	require.Equal(t, 3, runs, "one run per round")
	require.Equal(t, 3, attempts, "one load per round")
}

// TestCronOnThreeMachines runs the same cron line (`run`, with no window) on three
// "machines" at once, twice, in and out of --detach: every due window runs exactly once.
func TestCronOnThreeMachines(t *testing.T) {
	t.Parallel()
	for _, detach := range []bool{false, true} {
		t.Run(fmt.Sprintf("detach=%v", detach), func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, "kill")
			c.startWorker(fmt.Sprintf("cron-%v-w0", detach), slowEnv+"=5ms")
			c.startWorker(fmt.Sprintf("cron-%v-w1", detach), slowEnv+"=5ms")
			args := []string{"run"}
			if detach {
				args = append(args, "--detach")
			}
			for round := range 2 {
				codes := make(chan result, 3)
				for range 3 {
					go func() { codes <- c.run(nil, args...) }()
				}
				for range 3 {
					r := <-codes
					require.Contains(t, []int{0, dag.ExitLocked}, r.code, "round %d: %s", round, r.stderr)
				}
			}
			ctx := context.Background()
			if detach {
				// The queued commands run on the workers: wait for the queue to drain.
				require.Eventually(t, func() bool {
					var open int
					err := c.db.Pool.QueryRow(ctx, `SELECT count(*) FROM river_job
						WHERE kind = 'sluice_dag_command' AND finalized_at IS NULL`).Scan(&open)
					return err == nil && open == 0
				}, 2*time.Minute, 50*time.Millisecond)
			}
			rows, err := c.db.Pool.Query(ctx, `SELECT window_start::date::text, count(*), count(*) FILTER (WHERE status = 'success')
				FROM dag_runs GROUP BY 1 ORDER BY 1`)
			require.NoError(t, err)
			var got []string
			for rows.Next() {
				var day string
				var n, ok int
				require.NoError(t, rows.Scan(&day, &n, &ok))
				got = append(got, fmt.Sprintf("%s runs=%d ok=%d", day, n, ok))
			}
			require.NoError(t, rows.Err())
			require.Equal(t, []string{"2026-01-01 runs=1 ok=1", "2026-01-02 runs=1 ok=1", "2026-01-03 runs=1 ok=1"}, got)
		})
	}
}

func mustExecutable(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	return self
}
