package pgstore_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/dagtest"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestConformance(t *testing.T) {
	t.Parallel()
	dagtest.ExerciseStore(t, func(t *testing.T) dag.Store {
		db := pgtest.New(t)
		return pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema})
	})
}

// TestTwoInvocationsNeverOverlap opens two stores on separate pools, as two cron
// invocations of one program would, and checks that the second cannot run the DAG while
// the first holds it, and that Main reports this with exit code 75.
func TestTwoInvocationsNeverOverlap(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	first, err := pgstore.OpenConfig(ctx, db.URL, pgstore.Config{Schema: db.Schema})
	require.NoError(t, err)
	defer first.Close()
	second, err := pgstore.OpenConfig(ctx, db.URL, pgstore.Config{Schema: db.Schema})
	require.NoError(t, err)
	defer second.Close()

	inside := make(chan struct{})
	release := make(chan struct{})
	d1 := dag.New("nightly", dag.Config{Store: first})
	d1.Task("slow", func(ctx context.Context, r *dag.Run) error {
		close(inside)
		<-release
		return nil
	})
	var eg errgroup.Group
	eg.Go(func() error { _, err := d1.Run(ctx, etl.Window{}); return err })
	<-inside

	var ran bool
	d2 := dag.New("nightly", dag.Config{Store: second})
	d2.Task("slow", func(ctx context.Context, r *dag.Run) error { ran = true; return nil })
	_, err = d2.Run(ctx, etl.Window{})
	require.ErrorIs(t, err, etl.ErrLocked)
	var stderr bytes.Buffer
	code := dag.MainArgs(ctx, d2, []string{"run"}, &bytes.Buffer{}, &stderr)
	require.Equal(t, dag.ExitLocked, code, stderr.String())
	require.Contains(t, stderr.String(), "another run holds the lock")

	// A DAG of another name is not blocked.
	d3 := dag.New("hourly", dag.Config{Store: second})
	d3.Task("t", func(context.Context, *dag.Run) error { return nil })
	_, err = d3.Run(ctx, etl.Window{})
	require.NoError(t, err)

	close(release)
	require.NoError(t, eg.Wait())
	require.False(t, ran)
	_, err = d2.Run(ctx, etl.Window{})
	require.NoError(t, err, "the lock is released when the first run ends")
	require.True(t, ran)

	runs, err := second.Runs(ctx, dag.Query{DAG: "nightly"})
	require.NoError(t, err)
	require.Len(t, runs, 2, "both stores share one history")
}

func TestTablesCreatedConcurrently(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	// The schema does not exist yet: the stores create it. pgtest drops only its own.
	schema := db.Schema + "_history"
	t.Cleanup(func() {
		_, err := db.Pool.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
		require.NoError(t, err)
	})
	var eg errgroup.Group
	for range 4 {
		s := pgstore.New(db.Pool, pgstore.Config{Schema: schema})
		eg.Go(func() error {
			_, err := s.Runs(ctx, dag.Query{})
			return err
		})
	}
	require.NoError(t, eg.Wait())
	var tables int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = $1`, schema).Scan(&tables))
	require.Equal(t, 1, tables)
}

func TestSQLTaskRunsInTheWarehouse(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `
		CREATE TABLE course_review (reviewid int, courseid int, studentid int, rating int, reviewed date);
		CREATE TABLE daily_summary (day date, courseid int, reviews bigint, avg_rating numeric);
		INSERT INTO course_review VALUES
			(1, 10, 100, 5, '2026-01-01'), (2, 10, 101, 3, '2026-01-01'),
			(3, 20, 100, 4, '2026-01-01'), (4, 10, 102, 4, '2026-01-02')`)
	require.NoError(t, err)
	wh := pgstore.Execer(db.Pool)
	d := dag.New("summary", dag.Config{Store: pgstore.New(db.Pool, pgstore.Config{Schema: db.Schema})})
	d.Task("clear", dag.SQL(wh, `DELETE FROM daily_summary WHERE day >= $1 AND day < $2`, dag.WindowStart, dag.WindowEnd))
	d.Task("summarise", dag.SQL(wh, `
		INSERT INTO daily_summary
		SELECT reviewed, courseid, count(DISTINCT reviewid), avg(rating)
		FROM course_review WHERE reviewed >= $1 AND reviewed < $2 GROUP BY 1, 2`,
		dag.WindowStart, dag.WindowEnd)).After("clear")
	w := etl.Window{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)}
	for range 2 { // re-running a window leaves the same table
		rep, err := d.Run(ctx, w)
		require.NoError(t, err)
		require.EqualValues(t, 2, rep.Task("summarise").Rows)
	}
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM daily_summary`).Scan(&n))
	require.Equal(t, 2, n)

	d.Task("broken", dag.SQL(wh, `SELECT * FROM no_such_table`)).After("summarise")
	rep, err := d.Run(ctx, w)
	require.ErrorIs(t, err, dag.ErrRunFailed)
	require.True(t, strings.Contains(rep.Task("broken").Error, "no_such_table"), rep.Task("broken").Error)
}

func TestOpenRedactsPassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := pgstore.Open(ctx, "postgres://bob:hunter2@127.0.0.1:1/db?connect_timeout=1")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2")
}
