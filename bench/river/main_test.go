package main

import (
	"bytes"
	"context"
	"os"
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
	os.Exit(m.Run())
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
