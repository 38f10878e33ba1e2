package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// runMainEnv makes the test binary run the example's main instead of its tests: the
// tests start the program as a subprocess without building it again, so they cost no
// extra compile in CI, and under -race the program's races are caught too.
const runMainEnv = "FANOUT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // dag.Main exits with the command's code
		return
	}
	pgtest.Main(m) // says, once, when database tests skipped and how to run them
}

// command returns the example program as a command, with SLUICE_DAG_STORE cleared and
// then env applied.
func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, args...)
	// Under -race a process sleeps 1 s at exit (atexit_sleep_ms) unless told not to.
	gorace := strings.TrimSpace(os.Getenv("GORACE") + " atexit_sleep_ms=0")
	cmd.Env = slices.Concat(os.Environ(), []string{runMainEnv + "=1", "SLUICE_DAG_STORE=", "GORACE=" + gorace}, env)
	return cmd
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := command(t, env, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("run %v: %v", args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
}

func TestGraphAndDescribe(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "graph")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "flowchart LR\n  t0[\"extract\"]\n  t1[\"transform_a\"]\n  t2[\"transform_b\"]\n  t0 --> t1\n  t0 --> t2\n", r.stdout)

	r = run(t, nil, "graph", "--format", "dot")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, `"extract" -> "transform_b";`)

	r = run(t, nil, "graph", "--format", "svg")
	require.Equal(t, 2, r.code)

	r = run(t, nil, "describe")
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{
		"# fanout\n",
		"- **Owner:** sales-ops@example.com\n",
		"### extract\n\nReads the window's orders from the shop's order feed.\n\n- **Owner:** data-eng@example.com\n- **Schedule:** daily\n",
		"- **Inputs:** `https://shop.example.com/api/orders`",
		"### transform_a\n\nOrders of 5.00 or more, for the fraud review.\n\n- **Owner:** finance@example.com\n",
		"- **Outputs:** `file:///large_orders_<day>.csv`",
		"- **Checks:**\n  - one row per region\n  - totals add up to the day's total\n",
		"```mermaid\nflowchart LR\n",
	} {
		require.Contains(t, r.stdout, want)
	}

	r = run(t, nil, "--help")
	require.Equal(t, 0, r.code)
	require.Contains(t, r.stderr, "Commands:")
	r = run(t, nil, "launch")
	require.Equal(t, 2, r.code)
}

func TestRunWithoutDatabase(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	env := []string{"FANOUT_OUT=" + out}
	r := run(t, env, "run", "--logical-date", "2026-01-05", "--log-format", "json")
	require.Equal(t, 0, r.code, r.stderr)
	require.Regexp(t, `extract\s+success\s+1\s+\S+\s+24`, r.stdout)
	require.Regexp(t, `transform_a\s+success\s+1\s+\S+\s+13`, r.stdout)
	require.Regexp(t, `transform_b\s+success\s+1\s+\S+\s+3`, r.stdout)
	require.Contains(t, r.stderr, `"msg":"dag run finished"`)

	f, err := os.Open(filepath.Join(out, "region_totals_2026-01-05.csv"))
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Equal(t, []string{"region", "orders", "total_cents"}, recs[0])
	require.Len(t, recs, 4)
	large, err := os.ReadFile(filepath.Join(out, "large_orders_2026-01-05.csv"))
	require.NoError(t, err)
	require.Equal(t, 14, strings.Count(string(large), "\n"))

	r = run(t, append(env, "FANOUT_FAIL_ON=2026-01-06"), "run", "--window-start", "2026-01-06", "--window-end", "2026-01-07")
	require.Equal(t, 1, r.code)
	require.Regexp(t, `extract\s+failed\s+2\s+.*HTTP 502`, r.stdout) // retried once
	require.Regexp(t, `transform_a\s+upstream_failed\s+0`, r.stdout)

	r = run(t, nil, "backfill", "--from", "2026-01-01", "--to", "2026-01-08", "--parallel", "3")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "7 succeeded, 0 failed, 0 skipped")

	r = run(t, nil, "history", "--failed")
	require.Equal(t, 0, r.code)
	require.Equal(t, "no runs\n", r.stdout, "the in-memory store ends with the process")
}

// TestWithPostgres runs the cron story with the PostgreSQL store: a 30-day backfill with
// one bad day, the post-mortem through history, the resumed backfill after the fix, and
// a second invocation refused while the first holds the lock.
func TestWithPostgres(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	env := []string{"SLUICE_DAG_STORE=" + db.URL, "SLUICE_DAG_SCHEMA=" + db.Schema}
	bad := slices.Concat(env, []string{"FANOUT_FAIL_ON=2026-01-17"})

	r := run(t, bad, "backfill", "--from", "2026-01-01", "--to", "2026-01-31", "--parallel", "4")
	require.Equal(t, 1, r.code, r.stderr)
	require.Contains(t, r.stdout, "29 succeeded, 1 failed, 0 skipped")

	r = run(t, env, "history", "--failed")
	require.Equal(t, 0, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	require.Regexp(t, `^RUN\s+STARTED\s+STATUS\s+WINDOW\s+ROWS\s+DURATION\s+FAILED$`, lines[0])
	require.Contains(t, lines[1], "failed  2026-01-17T00:00:00Z/2026-01-18T00:00:00Z")
	require.Contains(t, lines[1], "extract (extract): extract: order feed returned HTTP 502 for 2026-01-17")
	runID := strings.Fields(lines[1])[0]

	r = run(t, env, "history", "--run", runID)
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "task extract: failed\n  attempts: 2\n")
	require.Contains(t, r.stdout, "  step:     extract\n")
	require.Contains(t, r.stdout, "task transform_b: upstream_failed")

	r = run(t, env, "history", "--pipeline", "transform_b", "--limit", "100")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 31, strings.Count(r.stdout, "\n"))

	r = run(t, env, "backfill", "--from", "2026-01-01", "--to", "2026-01-31", "--dry-run")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, 1, strings.Count(r.stdout, "would run"), r.stdout)
	require.Regexp(t, `2026-01-17T00:00:00Z/2026-01-18T00:00:00Z\s+would run\s+-\s+-\s+last run \S+ failed`, r.stdout)

	// The source is fixed: only the failed day runs again.
	r = run(t, env, "backfill", "--from", "2026-01-01", "--to", "2026-01-31", "--parallel", "4")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "1 succeeded, 0 failed, 29 skipped")
	require.Regexp(t, `2026-01-17T00:00:00Z/2026-01-18T00:00:00Z\s+run\s+success`, r.stdout)

	r = run(t, env, "backfill", "--from", "2026-01-01", "--to", "2026-01-03", "--force")
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "2 succeeded, 0 failed, 0 skipped")

	// Overlap: the first invocation holds the lock until its stdin closes.
	first := startHolding(t, env, "run", "--logical-date", "2026-02-01")
	r = run(t, env, "run", "--logical-date", "2026-02-02")
	require.Equal(t, 75, r.code, r.stderr)
	require.Contains(t, r.stderr, "another run holds the lock")
	require.NoError(t, first.stdin.Close())
	require.Equal(t, 0, first.wait())

	r = run(t, env, "run", "--logical-date", "2026-02-02")
	require.Equal(t, 0, r.code, r.stderr)

	// The post-mortem view of a run shows the check results its tasks recorded.
	r = run(t, env, "history", "--limit", "1")
	require.Equal(t, 0, r.code, r.stderr)
	lines = strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 2, r.stdout)
	require.Contains(t, lines[1], "2026-02-02T00:00:00Z/2026-02-03T00:00:00Z")
	r = run(t, env, "history", "--run", strings.Fields(lines[1])[0])
	require.Equal(t, 0, r.code, r.stderr)
	require.Contains(t, r.stdout, "task extract: success\n  attempts: 1\n")
	require.Contains(t, r.stdout, "  check row_count(>0) passed (expected > 0, found 24)\n")
	require.Regexp(t, `check totals_add_up passed \(expected \d+, found \d+\)`, r.stdout)
}

// TestSIGTERMStopsTheRun sends SIGTERM to a run whose extract is busy: dag.Main cancels
// the run, the task sees it, nothing runs after it, and the exit code says it failed.
func TestSIGTERMStopsTheRun(t *testing.T) {
	t.Parallel()
	p := startHolding(t, nil, "run", "--logical-date", "2026-01-05")
	defer p.stdin.Close()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	require.Equal(t, 1, p.wait(), p.stdout.String())
	require.Regexp(t, `extract\s+failed\s+1\s+.*context canceled`, p.stdout.String(), "no retry after the cancellation")
	require.Regexp(t, `transform_b\s+upstream_failed\s+0`, p.stdout.String())
}

// holding is an invocation whose extract waits (FANOUT_HOLD) until stdin closes.
type holding struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	stdout  bytes.Buffer
	drained chan struct{}
}

// startHolding starts the example with FANOUT_HOLD set and returns once extract is
// running, and so once the run holds the DAG's lock.
func startHolding(t *testing.T, env []string, args ...string) *holding {
	t.Helper()
	p := &holding{cmd: command(t, slices.Concat(env, []string{"FANOUT_HOLD=1"}), args...), drained: make(chan struct{})}
	p.cmd.Stdout = &p.stdout
	var err error
	p.stdin, err = p.cmd.StdinPipe()
	require.NoError(t, err)
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	sc := bufio.NewScanner(stderr)
	started := false
	for !started && sc.Scan() {
		started = strings.Contains(sc.Text(), "holding until stdin closes")
	}
	require.True(t, started, "extract never started: %v", sc.Err())
	go func() { _, _ = io.Copy(io.Discard, stderr); close(p.drained) }()
	return p
}

// wait waits for the invocation to end and returns its exit code.
func (p *holding) wait() int {
	<-p.drained // Wait closes the pipe: read it to the end first
	_ = p.cmd.Wait()
	return p.cmd.ProcessState.ExitCode()
}
