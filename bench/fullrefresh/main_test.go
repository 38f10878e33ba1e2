package main

import (
	"bytes"
	"context"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// TestMain lets the test binary stand in for the benchmark binary when the driver
// re-executes itself as a sluice child.
func TestMain(m *testing.M) { harness.RunTestsOrChild(m, main) }

// TestSmoke runs every case once on a small file and checks that each load left the
// CSV's exact contents, with the checks on. It asserts no timing.
func TestSmoke(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	schema := harness.TestSchema(t, dsn)
	ctx := context.Background()
	var out bytes.Buffer
	err := run(ctx, config{
		rows: 3000, runs: 1, dsn: dsn, schema: schema, cases: allCases, method: methodBoth,
		observer: true, rssRows: 500, verify: true, tmpdir: t.TempDir(),
	}, &out)
	require.NoError(t, err)
	report := out.String()
	require.NotContains(t, report, "FAILED", report)
	require.NotContains(t, report, "n/a ", report)
	for _, name := range []string{"psql-truncate", "psql-noindex", "psql-tuned", "psql-delete", "floor-binary", "sluice-truncate", "sluice-delete", "sluice-swap"} {
		// Once per method (and again in the observer's table, for its strategy).
		require.GreaterOrEqual(t, len(regexp.MustCompile(`\| `+name+` \|[^\n]*contents verified`).FindAllString(report, -1)), 2, name)
	}
	require.Contains(t, report, "## Method checkpoint")
	require.Contains(t, report, "## Method none")
	// Every case says where its time went; the tuned script and sluice rebuild the key.
	// A row in each method's table of cases and in its table of steps.
	require.Len(t, regexp.MustCompile(`(?m)^\| psql-tuned \|`).FindAllString(report, -1), 4)
	require.Contains(t, report, "| build indexes |")
	require.Contains(t, report, "| server backend CPU |", "the test server is local and the test user a superuser")
	require.Contains(t, report, "fastest sluice strategy")
	require.Contains(t, report, "vs psql-tuned [none]")
	require.Contains(t, report, "client CPU of sluice-truncate per 2M rows [checkpoint]")
	// The observer comparison runs on whichever strategy was fastest.
	require.Regexp(t, `\| sluice-\w+\+observer \|[^\n]*contents verified`, report)
	require.Contains(t, report, "unique_key(id) passed")
	require.Contains(t, report, "row_count passed")
}
