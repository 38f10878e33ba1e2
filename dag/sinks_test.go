package dag_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// dailyDAG loads each window's events into an SQLite file through a window replace, as
// the README's backfill example does, with a SQL-free task beside it.
func dailyDAG(t *testing.T) (*dag.DAG, *sqlite.DB) {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "events.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "at", Type: etl.TypeTimestamp}}
	events := &etl.Pipeline{
		Name: "events",
		Source: etl.ExtractFunc(func(_ context.Context, run *etl.Run) (etl.Stream, error) {
			var rows []etl.Row
			for h := range 24 {
				at := run.Window.Start.Add(time.Duration(h) * time.Hour)
				rows = append(rows, etl.Row{at.Unix(), at})
			}
			// Slow enough that the windows' loads overlap.
			time.Sleep(20 * time.Millisecond)
			return etl.SliceStream(schema, rows), nil
		}),
		Sink: &sqlite.WindowReplace{TimeColumn: "at", Target: sqlite.Target{DB: db, Table: "events", Key: []string{"id"}, Create: true,
			Checks: []checks.Check{checks.RowCount{Min: 24}, checks.UniqueKey(), checks.Warn(checks.NotNull("at"))}}},
	}
	d := dag.New("daily", dag.Config{Every: 24 * time.Hour,
		Now: func() time.Time { return time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC) }})
	d.Pipeline(events)
	d.Task("report", func(context.Context, *dag.Run) error { return nil }).After("events")
	return d, db
}

// The README's `backfill --parallel 4` loads every window: the windows' loads of one
// pipeline take its lock in turn instead of failing on it.
func TestBackfillInParallelLoadsEveryWindowOfAPipeline(t *testing.T) {
	t.Parallel()
	d, db := dailyDAG(t)
	code, out, stderr := cli{t: t, d: d}.run("backfill", "--from", "2026-10-01", "--to", "2026-10-09", "--every", "24h", "--parallel", "4")
	require.Equal(t, dag.ExitOK, code, "%s\n%s", out, stderr)
	require.Contains(t, out, "8 succeeded, 0 failed, 0 skipped")
	var n int64
	require.NoError(t, db.SQL().QueryRow("SELECT count(*) FROM events").Scan(&n))
	require.Equal(t, int64(8*24), n)
}

// describe lists the checks a pipeline task's sink runs.
func TestDescribeShowsTheChecksOfPipelineTasks(t *testing.T) {
	t.Parallel()
	d, _ := dailyDAG(t)
	code, out, _ := cli{t: t, d: d}.run("describe")
	require.Equal(t, dag.ExitOK, code)
	section := out[strings.Index(out, "### events"):]
	section = section[:strings.Index(section, "### report")]
	require.Contains(t, section, "- **Checks:**\n  - row_count\n  - unique_key(id)\n  - not_null(at) (warn)\n")
}
