package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// TestMain lets the test binary stand in for the benchmark binary when the driver
// re-executes itself as a sluice child.
func TestMain(m *testing.M) { harness.RunTestsOrChild(m, main) }

// TestSmoke runs both cases twice on small tables and checks that every sync left the
// target equal to the source's live rows. It asserts no timing.
func TestSmoke(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	c := config{rows: 3000, runs: 2, dsn: dsn, schema: harness.TestSchema(t, dsn, srcSuffix, dstSuffix),
		cases: allCases, verify: true, tmpdir: t.TempDir()}
	ctx := context.Background()
	var out bytes.Buffer
	require.NoError(t, run(ctx, c, &out))
	report := out.String()
	require.NotContains(t, report, "FAILED", report)
	require.Contains(t, report, "| psql-incremental | ")
	require.Regexp(t, `\| sluice-incremental \|[^\n]*read 330, wrote 300, deleted 30; target = source verified`, report)
	require.Contains(t, report, "PASS  peak RSS of sluice-incremental")
}
