package postgres_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/stretchr/testify/require"
)

var (
	retNow    = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	retAge    = 30 * 24 * time.Hour
	retCutoff = retNow.Add(-retAge)
)

// An awkward table and column name, so that quoting is exercised on every statement.
const (
	retTable  = `old "events"; x`
	retColumn = "when at"
)

// retSeed creates retTable with old rows 1..old (the first at a microsecond before the
// cutoff) and the rows that must stay: 1001 at the cutoff, 1002 just after it, 1003 and
// 1004 NULL, 1005 now. It returns the ids that must stay.
func retSeed(t *testing.T, pool *pgxpool.Pool, old int) []int64 {
	t.Helper()
	ctx := context.Background()
	tbl, col := pgx.Identifier{retTable}.Sanitize(), pgx.Identifier{retColumn}.Sanitize()
	_, err := pool.Exec(ctx, "CREATE TABLE "+tbl+" (id bigint PRIMARY KEY, "+col+" timestamptz, note text)")
	require.NoError(t, err)
	ids := []int64{1001, 1002, 1003, 1004, 1005}
	ats := []*time.Time{retPtr(retCutoff), retPtr(retCutoff.Add(time.Microsecond)), nil, nil, retPtr(retNow)}
	for i := 1; i <= old; i++ {
		ids = append(ids, int64(i))
		ats = append(ats, retPtr(retCutoff.Add(-time.Duration(i-1)*time.Hour-time.Microsecond)))
	}
	_, err = pool.Exec(ctx, "INSERT INTO "+tbl+" (id, "+col+") SELECT * FROM unnest($1::bigint[], $2::timestamptz[])", ids, ats)
	require.NoError(t, err)
	return []int64{1001, 1002, 1003, 1004, 1005}
}

func retPtr[T any](v T) *T { return &v }

func retIDs(t *testing.T, pool *pgxpool.Pool) []int64 {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT id FROM "+pgx.Identifier{retTable}.Sanitize()+" ORDER BY id")
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	require.NoError(t, err)
	return ids
}

func retConfig(pool *pgxpool.Pool) postgres.Retention {
	return postgres.Retention{
		Pool: pool, Table: retTable, TimeColumn: retColumn, OlderThan: retAge, BatchRows: 10,
		Now: func() time.Time { return retNow },
	}
}

func TestRetentionDeletesOlderRowsInBatches(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for _, tc := range []struct {
		old, batches int
	}{
		{old: 0, batches: 1},
		{old: 9, batches: 1},
		{old: 10, batches: 2}, // a full batch, then an empty one that ends the run
		{old: 25, batches: 3},
		{old: 40, batches: 5},
	} {
		t.Run(fmt.Sprint(tc.old), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// Each case gets its own table in a schema of its own.
			schema := fmt.Sprintf("%s_%d", db.Schema, tc.old)
			_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize())
			require.NoError(t, err)
			pool := retPoolIn(t, db, schema)
			keep := retSeed(t, pool, tc.old)

			r := retConfig(pool)
			res, err := r.Run(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(tc.old), res.Rows)
			require.Equal(t, tc.batches, res.Batches)
			require.True(t, res.Cutoff.Equal(retCutoff), "cutoff %v", res.Cutoff)
			require.False(t, res.DryRun)
			require.Equal(t, pgx.Identifier{retTable}.Sanitize(), res.Table)
			require.Equal(t, keep, retIDs(t, pool))

			// Nothing is older than the cutoff any more: a second run deletes nothing.
			res, err = r.Run(ctx)
			require.NoError(t, err)
			require.Equal(t, retZero(res), res)
			require.Equal(t, keep, retIDs(t, pool))
		})
	}
}

// retZero is what a run that found nothing to delete returns.
func retZero(res postgres.RetentionResult) postgres.RetentionResult {
	return postgres.RetentionResult{Table: res.Table, Cutoff: retCutoff, Batches: 1}
}

// retPoolIn opens a pool on db's server whose search_path is schema, dropped at the end.
func retPoolIn(t *testing.T, db *pgtest.DB, schema string) *pgxpool.Pool {
	t.Helper()
	u, err := pgtest.WithSearchPath(db.URL, schema)
	require.NoError(t, err)
	pool, err := pgxpool.New(context.Background(), u)
	require.NoError(t, err)
	t.Cleanup(func() {
		pool.Close()
		_, _ = db.Pool.Exec(context.Background(), "DROP SCHEMA "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	})
	return pool
}

func TestRetentionQualifiedSchema(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	keep := retSeed(t, db.Pool, 3)
	// A pool whose search_path does not reach the table: Schema must.
	other := db.Schema + "_other"
	_, err := db.Pool.Exec(ctx, "CREATE SCHEMA "+pgx.Identifier{other}.Sanitize())
	require.NoError(t, err)
	pool := retPoolIn(t, db, other)
	r := retConfig(pool)
	_, err = r.Run(ctx)
	require.ErrorContains(t, err, "does not exist")
	r.Schema = db.Schema
	res, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), res.Rows)
	require.Equal(t, pgx.Identifier{db.Schema, retTable}.Sanitize(), res.Table)
	require.Equal(t, keep, retIDs(t, db.Pool))
}

// In a partitioned table a ctid is only unique within a partition: the new rows of one
// partition sit at the same ctids as the old rows of another, and must stay.
func TestRetentionPartitionedTable(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	for _, q := range []string{
		"CREATE TABLE ev (region text, at timestamptz, n int) PARTITION BY LIST (region)",
		"CREATE TABLE ev_a PARTITION OF ev FOR VALUES IN ('a')",
		"CREATE TABLE ev_b PARTITION OF ev FOR VALUES IN ('b')",
	} {
		_, err := db.Pool.Exec(ctx, q)
		require.NoError(t, err)
	}
	_, err := db.Pool.Exec(ctx, `INSERT INTO ev SELECT 'a', $1::timestamptz - n * interval '1 hour', n FROM generate_series(1, 15) n`, retCutoff)
	require.NoError(t, err)
	_, err = db.Pool.Exec(ctx, `INSERT INTO ev SELECT 'b', $1::timestamptz, n FROM generate_series(1, 15) n`, retNow)
	require.NoError(t, err)

	r := retConfig(db.Pool)
	r.Table, r.TimeColumn = "ev", "at"
	res, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(15), res.Rows)
	var a, b int
	require.NoError(t, db.Pool.QueryRow(ctx, "SELECT count(*) FILTER (WHERE region = 'a'), count(*) FILTER (WHERE region = 'b') FROM ev").Scan(&a, &b))
	require.Equal(t, 0, a)
	require.Equal(t, 15, b)
}

// A date or a timestamp without time zone is compared as the instant it names in the
// session's TimeZone: a date as its midnight.
func TestRetentionDateAndNaiveTimestamp(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(db.URL)
	require.NoError(t, err)
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)

	// The cutoff is 2026-01-30 12:00:00.123456 UTC.
	_, err = pool.Exec(ctx, `CREATE TABLE d (id int, day date, at timestamp)`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `INSERT INTO d VALUES
		(1, '2026-01-29', '2026-01-30 12:00:00.123455'),
		(2, '2026-01-30', '2026-01-30 12:00:00.123456'),
		(3, '2026-01-31', '2026-01-31 00:00:00')`)
	require.NoError(t, err)
	for _, tc := range []struct {
		column string
		want   []int
	}{
		{"at", []int{2, 3}},
		{"day", []int{3}},
	} {
		r := retConfig(pool)
		r.Table, r.TimeColumn = "d", tc.column
		_, err := r.Run(ctx)
		require.NoError(t, err)
		rows, err := pool.Query(ctx, "SELECT id FROM d ORDER BY id")
		require.NoError(t, err)
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		require.NoError(t, err)
		require.Len(t, ids, len(tc.want), tc.column)
		for i, id := range tc.want {
			require.Equal(t, int32(id), ids[i], tc.column)
		}
	}
}

func TestRetentionDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	retSeed(t, db.Pool, 25)
	before := retIDs(t, db.Pool)

	r := retConfig(db.Pool)
	r.DryRun = true
	res, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, postgres.RetentionResult{Table: res.Table, Cutoff: retCutoff, Rows: 25, DryRun: true}, res)
	require.Equal(t, before, retIDs(t, db.Pool))

	// The same config without DryRun deletes exactly what the dry run counted.
	r.DryRun = false
	res, err = r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(25), res.Rows)
}

// cancelOnBatch is a slog handler that cancels a context when a retention batch is logged,
// so a test can stop a run between two batches without any timing.
type cancelOnBatch struct {
	cancel context.CancelFunc
	after  int
	seen   int
}

func (h *cancelOnBatch) Enabled(context.Context, slog.Level) bool { return true }
func (h *cancelOnBatch) Handle(_ context.Context, rec slog.Record) error {
	if rec.Message == "retention batch" {
		h.seen++
		if h.seen == h.after {
			h.cancel()
		}
	}
	return nil
}
func (h *cancelOnBatch) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *cancelOnBatch) WithGroup(string) slog.Handler      { return h }

func TestRetentionCancelStopsBetweenBatches(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	retSeed(t, db.Pool, 25)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := retConfig(db.Pool)
	r.Logger = slog.New(&cancelOnBatch{cancel: cancel, after: 2})
	res, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, pgx.Identifier{retTable}.Sanitize())
	// The two committed batches stay deleted; the third never ran.
	require.Equal(t, 2, res.Batches)
	require.Equal(t, int64(20), res.Rows)
	require.Len(t, retIDs(t, db.Pool), 5+5)

	// The next run finishes the job.
	r.Logger = nil
	res, err = r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Rows)
	require.Equal(t, 1, res.Batches)
	require.Len(t, retIDs(t, db.Pool), 5)
}

func TestRetentionTaskCountsRows(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	keep := retSeed(t, db.Pool, 12)

	dry := retConfig(db.Pool)
	dry.DryRun = true
	d := dag.New("cleanup", dag.Config{})
	d.Task("preview", dag.Job(dry))
	d.Task("retention", dag.Job(retConfig(db.Pool))).After("preview")
	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.Len(t, rep.Tasks, 2)
	require.Equal(t, "preview", rep.Tasks[0].Name)
	require.Equal(t, int64(0), rep.Tasks[0].Rows, "a dry run moves no rows")
	require.Equal(t, "retention", rep.Tasks[1].Name)
	require.Equal(t, int64(12), rep.Tasks[1].Rows)
	require.Equal(t, keep, retIDs(t, db.Pool))
}

func TestRetentionErrors(t *testing.T) {
	t.Parallel()
	// A pool connects lazily, so the configuration errors need no server.
	lazy, err := pgxpool.New(context.Background(), "postgres://nobody@127.0.0.1:1/none")
	require.NoError(t, err)
	t.Cleanup(lazy.Close)
	for _, tc := range []struct {
		name string
		r    postgres.Retention
		want string
	}{
		{"no pool", postgres.Retention{Table: "t", TimeColumn: "at", OlderThan: time.Hour}, "no Pool"},
		{"no table", postgres.Retention{Pool: lazy, TimeColumn: "at", OlderThan: time.Hour}, "no Table"},
		{"no column", postgres.Retention{Pool: lazy, Table: "t", OlderThan: time.Hour}, `of "t" has no TimeColumn`},
		{"no age", postgres.Retention{Pool: lazy, Table: "t", TimeColumn: "at"}, `of "t" needs OlderThan > 0`},
		{"negative age", postgres.Retention{Pool: lazy, Schema: "s", Table: "t", TimeColumn: "at", OlderThan: -time.Hour}, `of "s"."t" needs OlderThan > 0`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.r.Run(context.Background())
			require.ErrorContains(t, err, tc.want)
		})
	}

	t.Run("not a time column", func(t *testing.T) {
		t.Parallel()
		db := pgtest.New(t)
		retSeed(t, db.Pool, 3)
		r := retConfig(db.Pool)
		r.TimeColumn = "note"
		_, err := r.Run(context.Background())
		require.ErrorContains(t, err, pgx.Identifier{retTable}.Sanitize()+` by "note"`)
		require.ErrorContains(t, err, "operator does not exist")
		require.Len(t, retIDs(t, db.Pool), 8)
	})
}

func TestPruneRuns(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()

	// A schema no load has used has no sluice_runs, and nothing to prune.
	n, err := postgres.PruneRuns(ctx, db.Pool, "", 24*time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)
	n, err = postgres.PruneRuns(ctx, db.Pool, db.Schema+"_missing", 24*time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)

	// Setting a watermark creates the protocol's tables.
	require.NoError(t, (&postgres.State{Pool: db.Pool}).Set(ctx, "orders", int64(1)))
	now := time.Now()
	finished := map[string]*time.Time{
		"old":      retPtr(now.Add(-48 * time.Hour)),
		"older":    retPtr(now.Add(-25 * time.Hour)),
		"recent":   retPtr(now.Add(-23 * time.Hour)),
		"new":      retPtr(now),
		"unfinish": nil,
	}
	for id, at := range finished {
		_, err := db.Pool.Exec(ctx, `INSERT INTO sluice_runs (run_id, pipeline, status, started_at, finished_at)
			VALUES ($1, 'orders', 'success', $2, $2)`, id, at)
		require.NoError(t, err)
	}

	n, err = postgres.PruneRuns(ctx, db.Pool, db.Schema, 24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	rows, err := db.Pool.Query(ctx, "SELECT run_id FROM sluice_runs ORDER BY run_id")
	require.NoError(t, err)
	left, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"new", "recent", "unfinish"}, left)

	// The watermark is not history: it stays.
	wm, err := (&postgres.State{Pool: db.Pool}).Watermark(ctx, "orders")
	require.NoError(t, err)
	require.Equal(t, int64(1), wm)

	_, err = postgres.PruneRuns(ctx, nil, "", time.Hour)
	require.ErrorContains(t, err, "no pool")
}

// A nightly DAG that deletes events older than 90 days, in batches, then prunes the load
// history older than a year.
func ExampleRetention() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()

	d := dag.New("cleanup", dag.Config{})
	d.Task("events_retention", dag.Job(postgres.Retention{
		Pool: pool, Schema: "analytics", Table: "events", TimeColumn: "created_at",
		OlderThan: 90 * 24 * time.Hour, BatchRows: 5000,
	}))
	d.Task("prune_runs", func(ctx context.Context, r *dag.Run) error {
		n, err := postgres.PruneRuns(ctx, pool, "analytics", 365*24*time.Hour)
		r.AddRows(n)
		return err
	})
	if _, err := d.Run(ctx, etl.Window{}); err != nil {
		fmt.Println(err)
	}

	// Or preview one table from a maintenance program.
	res, err := postgres.Retention{
		Pool: pool, Table: "events", TimeColumn: "created_at", OlderThan: 90 * 24 * time.Hour, DryRun: true,
	}.Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d rows of %s are older than %s\n", res.Rows, res.Table, res.Cutoff.Format(time.DateOnly))
}
