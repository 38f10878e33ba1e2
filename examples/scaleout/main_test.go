package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// runMainEnv makes the test binary run the example's main instead of its tests, so the
// tests start workers and commands as processes without another build.
const runMainEnv = "SCALEOUT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
		return
	}
	pgtest.Main(m) // says, once, when database tests skipped and how to run them
}

func command(t *testing.T, db *pgtest.DB, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = slices.Concat(os.Environ(), []string{runMainEnv + "=1", "GORACE=" + gorace,
		"SLUICE_DAG_STORE=" + db.URL, "SLUICE_DAG_SCHEMA=" + db.Schema, "SLUICE_DAG_EXECUTOR="})
	return cmd
}

func run(t *testing.T, db *pgtest.DB, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := command(t, db, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// worker starts a worker process and returns once it takes attempts; it is killed when
// the test ends.
func worker(t *testing.T, db *pgtest.DB) {
	t.Helper()
	cmd := command(t, db, "worker")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "worker taking attempts") {
			go func() {
				for sc.Scan() { // keep the pipe drained
				}
			}()
			return
		}
	}
	t.Fatalf("worker never started: %v", sc.Err())
}

func dump(t *testing.T, db *pgtest.DB, table string) []string {
	t.Helper()
	rows, err := db.Pool.Query(context.Background(), fmt.Sprintf(`SELECT t::text FROM %s t ORDER BY 1`, table))
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestRiverWithTwoWorkers runs the example with -executor river on two worker processes,
// in the foreground and with --detach, and checks that its tables are what the same
// program leaves when it runs every task in process.
func TestRiverWithTwoWorkers(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	code, out, errs := run(t, db, "migrate")
	require.Equal(t, 0, code, errs)
	require.Contains(t, out, "the queue's tables are ready in schema "+db.Schema)
	worker(t, db)
	worker(t, db)

	code, out, errs = run(t, db, "-executor", "river", "run", "--logical-date", "2026-01-05")
	require.Equal(t, 0, code, "%s\n%s", out, errs)
	for _, task := range []string{"extract", "large_orders", "region_totals", "daily_report"} {
		require.Regexp(t, task+`\s+success\s+1\s`, out)
	}
	code, out, errs = run(t, db, "-executor", "river", "run", "--logical-date", "2026-01-06", "--detach")
	require.Equal(t, 0, code, errs)
	require.Regexp(t, `^queued run --logical-date=2026-01-06T00:00:00Z as job \d+\n$`, out)
	require.Eventually(t, func() bool {
		var n int
		err := db.Pool.QueryRow(context.Background(), `SELECT count(*) FROM dag_runs WHERE status = 'success'`).Scan(&n)
		return err == nil && n == 2
	}, time.Minute, 50*time.Millisecond, "the detached run never finished")

	code, out, errs = run(t, db, "history")
	require.Equal(t, 0, code, errs)
	require.Equal(t, 2, strings.Count(out, " success "), out)
	var workers int
	require.NoError(t, db.Pool.QueryRow(context.Background(), `SELECT count(DISTINCT worker) FROM dag_attempts`).Scan(&workers))
	require.GreaterOrEqual(t, workers, 1)

	// The same days in process, in another schema.
	local := pgtest.New(t)
	for _, day := range []string{"2026-01-05", "2026-01-06"} {
		code, out, errs = run(t, local, "run", "--logical-date", day)
		require.Equal(t, 0, code, "%s\n%s", out, errs)
	}
	for _, table := range []string{"orders", "large_orders", "region_totals", "daily_report"} {
		want := dump(t, local, table)
		require.NotEmpty(t, want, table)
		require.Equal(t, want, dump(t, db, table), table)
	}
	require.Len(t, dump(t, db, "daily_report"), 2)
}

// TestAnySchemaName runs the DAG in process in a schema whose name needs quoting: the
// queries the example writes by hand quote it as SQL does, not as Go does.
func TestAnySchemaName(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	schema := db.Schema + `_a"b\c`
	quoted := pgx.Identifier{schema}.Sanitize()
	_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+quoted)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+quoted+" CASCADE") })
	d := build(db.Pool, schema)
	day := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	rep, err := d.Run(ctx, etl.Window{Start: day, End: day.AddDate(0, 0, 1)})
	require.NoError(t, err)
	require.Equal(t, 4, rep.Count(dag.StatusSuccess))
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FROM "+quoted+".daily_report").Scan(&n))
	require.Equal(t, 1, n)
}
