package main

import (
	"bytes"
	"context"
	"os"
	"strings"
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
	require.Regexp(t, `\| sluice-readme \|[^\n]*wrote 300, deleted 30; target = source verified`, report)
	require.Regexp(t, `\| sluice-incremental-nokey \|[^\n]*read 330, wrote 300, deleted 30; target = source verified`, report)
	require.Contains(t, report, "| psql-incremental-nokey | ")
	require.Contains(t, report, "PASS  peak RSS of sluice-incremental")
}

// TestReadmeSnippetIsCurrent keeps the sluice-readme case's program equal to the README's
// incremental snippet.
func TestReadmeSnippetIsCurrent(t *testing.T) {
	t.Parallel()
	region := func(path string) string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		s := string(b)
		start := strings.Index(s, "// README: incremental\n")
		require.GreaterOrEqual(t, start, 0, path)
		end := strings.Index(s[start:], "// README end\n")
		require.Greater(t, end, 0, path)
		return s[start : start+end]
	}
	require.Equal(t, region("../../examples/readme/incremental.go"), region("sluice.go"))
}
