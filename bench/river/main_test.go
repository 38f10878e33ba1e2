package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

// TestMain lets the test binary serve as the benchmark's worker processes.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		main()
		return
	}
	pgtest.Main(m) // says, once, when database tests skipped and how to run them
}

// TestSmoke runs the benchmark once on a few tasks: every case completes and the report
// has its rows. It asserts no timing.
func TestSmoke(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	var out bytes.Buffer
	err := run(context.Background(), options{dsn: pgtest.URL(t), schema: db.Schema + "_bench", tasks: 20, runs: 1,
		workers: []int{1, 2}, workerConcurrency: 2, sleep: time.Millisecond}, &out)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+db.Schema+`_bench CASCADE`) })
	for _, want := range []string{"| chain, in process |", "| chain, river, 1 worker |", "Added latency per task:", "| 1 worker(s) |", "| 2 worker(s) |"} {
		require.Contains(t, out.String(), want)
	}
}

// TestUsageHidesThePassword: the -dsn flag's default comes from SLUICE_TEST_DATABASE_URL,
// and the usage text that a mistyped flag prints shows it without its password.
func TestUsageHidesThePassword(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-bogus")
	cmd.Env = append(os.Environ(), childEnv+"=1", "SLUICE_TEST_DATABASE_URL=postgres://etl:Hunter2Secret@db.internal/wh")
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "a mistyped flag fails")
	require.Contains(t, string(out), "-dsn")
	require.Contains(t, string(out), "postgres://etl:xxxxx@db.internal/wh")
	require.NotContains(t, string(out), "Hunter2Secret")
}
