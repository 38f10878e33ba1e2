package sqlite_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

var (
	retNow    = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)
	retAge    = 30 * 24 * time.Hour
	retCutoff = retNow.Add(-retAge)
)

// An awkward table and column name, so that quoting is exercised on every statement.
const (
	retTable  = `old "events"; x`
	retColumn = "when at"
	retCreate = `CREATE TABLE "old ""events""; x" (id INTEGER PRIMARY KEY, "when at" TEXT, note TEXT)`
)

func retOpen(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "retention.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func retTS(t time.Time) string { return t.UTC().Format(sqlite.TimestampLayout) }

// retSeed fills a table made by create with old rows 1..old (the first a nanosecond
// before the cutoff) and the rows that must stay: 1001 at the cutoff, 1002 a nanosecond
// after it, 1003 and 1004 NULL, 1005 now. It returns the ids that must stay.
func retSeed(t *testing.T, db *sqlite.DB, create string, old int) []int64 {
	t.Helper()
	ctx := context.Background()
	_, err := db.SQL().ExecContext(ctx, create)
	require.NoError(t, err)
	ins := `INSERT INTO "old ""events""; x" (id, "when at") VALUES (?, ?)`
	for id, at := range map[int64]any{1001: retTS(retCutoff), 1002: retTS(retCutoff.Add(1)), 1003: nil, 1004: nil, 1005: retTS(retNow)} {
		_, err := db.SQL().ExecContext(ctx, ins, id, at)
		require.NoError(t, err)
	}
	for i := 1; i <= old; i++ {
		_, err := db.SQL().ExecContext(ctx, ins, int64(i), retTS(retCutoff.Add(-time.Duration(i-1)*time.Hour-1)))
		require.NoError(t, err)
	}
	return []int64{1001, 1002, 1003, 1004, 1005}
}

func retIDs(t *testing.T, db *sqlite.DB) []int64 {
	t.Helper()
	rows, err := db.SQL().QueryContext(context.Background(), `SELECT id FROM "old ""events""; x" ORDER BY id`)
	require.NoError(t, err)
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	return ids
}

func retConfig(db *sqlite.DB) sqlite.Retention {
	return sqlite.Retention{
		DB: db, Table: retTable, TimeColumn: retColumn, OlderThan: retAge, BatchRows: 10,
		Now: func() time.Time { return retNow },
	}
}

func TestRetentionDeletesOlderRowsInBatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		old, batches int
	}{
		{old: 0, batches: 1},
		{old: 9, batches: 1},
		{old: 10, batches: 2}, // a full batch, then an empty one that ends the run
		{old: 25, batches: 3},
		{old: 40, batches: 5},
	} {
		for _, table := range []struct{ name, create string }{
			{"rowid", retCreate},
			// The rowid's first two names are columns: batches go by the third.
			{"shadowed rowid", `CREATE TABLE "old ""events""; x" (id INTEGER, "when at" TEXT, rowid TEXT, _ROWID_ INT)`},
			{"without rowid", `CREATE TABLE "old ""events""; x" (id INTEGER, "when at" TEXT, k TEXT DEFAULT 'k',
				PRIMARY KEY (k, id)) WITHOUT ROWID`},
		} {
			t.Run(fmt.Sprintf("%s/%d", table.name, tc.old), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db := retOpen(t)
				keep := retSeed(t, db, table.create, tc.old)

				r := retConfig(db)
				res, err := r.Run(ctx)
				require.NoError(t, err)
				require.Equal(t, int64(tc.old), res.Rows)
				require.Equal(t, tc.batches, res.Batches)
				require.True(t, res.Cutoff.Equal(retCutoff), "cutoff %v", res.Cutoff)
				require.False(t, res.DryRun)
				require.Equal(t, `"main"."old ""events""; x"`, res.Table)
				require.Equal(t, keep, retIDs(t, db))

				// Nothing is older than the cutoff any more: a second run deletes nothing.
				res, err = r.Run(ctx)
				require.NoError(t, err)
				require.Equal(t, sqlite.RetentionResult{Table: res.Table, Cutoff: retCutoff, Batches: 1}, res)
				require.Equal(t, keep, retIDs(t, db))
			})
		}
	}
}

func TestRetentionDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := retOpen(t)
	retSeed(t, db, retCreate, 25)
	before := retIDs(t, db)

	r := retConfig(db)
	r.DryRun = true
	r.Schema = "main"
	res, err := r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, sqlite.RetentionResult{Table: res.Table, Cutoff: retCutoff, Rows: 25, DryRun: true}, res)
	require.Equal(t, before, retIDs(t, db))

	// The same config without DryRun deletes exactly what the dry run counted.
	r.DryRun = false
	res, err = r.Run(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(25), res.Rows)
	require.Len(t, retIDs(t, db), 5)
}

// A value that is not in TimestampLayout cannot be compared as text: the run fails before
// it deletes anything, and names the value.
func TestRetentionRejectsOtherTimeForms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		value any
		want  string
	}{
		{"sqlite datetime", "2026-01-30 12:00:00", `'2026-01-30 12:00:00' (text)`},
		{"no fraction", "2026-01-30T12:00:00Z", `'2026-01-30T12:00:00Z' (text)`},
		{"offset", "2026-01-30T12:00:00.000000000+01:00", `'2026-01-30T12:00:00.000000000+01:00' (text)`},
		{"date", "2026-01-30", `'2026-01-30' (text)`},
		// The column's TEXT affinity stores numbers as text.
		{"unix seconds", int64(1767225600), `'1767225600' (text)`},
		{"julian day", 2461070.5, `'2461070.5' (text)`},
		{"blob", []byte(retTS(retCutoff)), `(blob)`},
		{"empty", "", `'' (text)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := retOpen(t)
			retSeed(t, db, retCreate, 12)
			_, err := db.SQL().ExecContext(ctx, `INSERT INTO "old ""events""; x" (id, "when at") VALUES (2000, ?)`, tc.value)
			require.NoError(t, err)
			for _, dry := range []bool{true, false} {
				r := retConfig(db)
				r.DryRun = dry
				_, err = r.Run(ctx)
				require.ErrorIs(t, err, sqlite.ErrValue)
				require.ErrorContains(t, err, tc.want)
				require.ErrorContains(t, err, `"main"."old ""events""; x" by "when at"`)
				require.Len(t, retIDs(t, db), 12+5+1)
			}
		})
	}

	// A column without a declared type keeps numbers as numbers.
	for _, tc := range []struct {
		value any
		want  string
	}{{int64(1767225600), "1767225600 (integer)"}, {2461070.5, "2461070.5 (real)"}} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := retOpen(t)
			_, err := db.SQL().ExecContext(ctx, `CREATE TABLE ev (at)`)
			require.NoError(t, err)
			_, err = db.SQL().ExecContext(ctx, `INSERT INTO ev VALUES (?)`, tc.value)
			require.NoError(t, err)
			_, err = sqlite.Retention{DB: db, Table: "ev", TimeColumn: "at", OlderThan: time.Hour}.Run(ctx)
			require.ErrorIs(t, err, sqlite.ErrValue)
			require.ErrorContains(t, err, tc.want)
		})
	}

	// In a column declared DATETIME the driver reads text as a time; the error still shows
	// the stored text.
	t.Run("declared datetime", func(t *testing.T) {
		t.Parallel()
		ctx := context.Background()
		db := retOpen(t)
		_, err := db.SQL().ExecContext(ctx, `CREATE TABLE ev (at DATETIME)`)
		require.NoError(t, err)
		_, err = db.SQL().ExecContext(ctx, `INSERT INTO ev VALUES ('2020-01-01 00:00:00')`)
		require.NoError(t, err)
		_, err = sqlite.Retention{DB: db, Table: "ev", TimeColumn: "at", OlderThan: time.Hour}.Run(ctx)
		require.ErrorIs(t, err, sqlite.ErrValue)
		require.ErrorContains(t, err, `'2020-01-01 00:00:00' (text)`)
	})
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
	db := retOpen(t)
	retSeed(t, db, retCreate, 25)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := retConfig(db)
	r.Logger = slog.New(&cancelOnBatch{cancel: cancel, after: 2})
	res, err := r.Run(ctx)
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorContains(t, err, `"main"."old ""events""; x"`)
	// The two committed batches stay deleted; the third never ran.
	require.Equal(t, 2, res.Batches)
	require.Equal(t, int64(20), res.Rows)
	require.Len(t, retIDs(t, db), 5+5)

	// The next run finishes the job.
	r.Logger = nil
	res, err = r.Run(context.Background())
	require.NoError(t, err)
	require.Equal(t, int64(5), res.Rows)
	require.Equal(t, 1, res.Batches)
	require.Len(t, retIDs(t, db), 5)
}

func TestRetentionTaskCountsRows(t *testing.T) {
	t.Parallel()
	db := retOpen(t)
	keep := retSeed(t, db, retCreate, 12)

	dry := retConfig(db)
	dry.DryRun = true
	d := dag.New("cleanup", dag.Config{})
	d.Task("preview", dag.Job(dry))
	d.Task("retention", dag.Job(retConfig(db))).After("preview")
	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.Len(t, rep.Tasks, 2)
	require.Equal(t, "preview", rep.Tasks[0].Name)
	require.Equal(t, int64(0), rep.Tasks[0].Rows, "a dry run moves no rows")
	require.Equal(t, "retention", rep.Tasks[1].Name)
	require.Equal(t, int64(12), rep.Tasks[1].Rows)
	require.Equal(t, keep, retIDs(t, db))
}

func TestRetentionErrors(t *testing.T) {
	t.Parallel()
	db := retOpen(t)
	ctx := context.Background()
	retSeed(t, db, retCreate, 3)
	_, err := db.SQL().ExecContext(ctx, `CREATE VIEW v AS SELECT * FROM "old ""events""; x"`)
	require.NoError(t, err)
	for _, tc := range []struct {
		name string
		r    sqlite.Retention
		want string
	}{
		{"no db", sqlite.Retention{Table: "t", TimeColumn: "at", OlderThan: time.Hour}, "no DB"},
		{"no table", sqlite.Retention{DB: db, TimeColumn: "at", OlderThan: time.Hour}, "no Table"},
		{"no column", sqlite.Retention{DB: db, Table: "t", OlderThan: time.Hour}, `of "main"."t" has no TimeColumn`},
		{"no age", sqlite.Retention{DB: db, Table: "t", TimeColumn: "at"}, `of "main"."t" needs OlderThan > 0`},
		{"negative age", sqlite.Retention{DB: db, Table: "t", TimeColumn: "at", OlderThan: -time.Hour}, "needs OlderThan > 0"},
		{"missing table", sqlite.Retention{DB: db, Table: "t", TimeColumn: "at", OlderThan: time.Hour}, `"main"."t" by "at": no such table`},
		{"missing schema", sqlite.Retention{DB: db, Schema: "aux", Table: retTable, TimeColumn: retColumn, OlderThan: time.Hour}, "no such table"},
		{"missing column", sqlite.Retention{DB: db, Table: retTable, TimeColumn: "at", OlderThan: time.Hour}, `by "at": no such column`},
		{"view", sqlite.Retention{DB: db, Table: "v", TimeColumn: retColumn, OlderThan: time.Hour}, "a view, not a table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.r.Run(ctx)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.Len(t, retIDs(t, db), 8)
}

func TestPruneRuns(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := retOpen(t)

	// A file no load has touched has no sluice_runs, and nothing to prune.
	n, err := sqlite.PruneRuns(ctx, db, 24*time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)

	// Setting a watermark creates the protocol's tables.
	require.NoError(t, (&sqlite.State{DB: db}).Set(ctx, "orders", int64(1)))
	now := time.Now()
	for id, at := range map[string]any{
		"old":      retTS(now.Add(-48 * time.Hour)),
		"older":    retTS(now.Add(-25 * time.Hour)),
		"recent":   retTS(now.Add(-23 * time.Hour)),
		"new":      retTS(now),
		"unfinish": nil,
	} {
		_, err := db.SQL().ExecContext(ctx, `INSERT INTO sluice_runs (run_id, pipeline, status, started_at, finished_at)
			VALUES (?, 'orders', 'success', ?, ?)`, id, at, at)
		require.NoError(t, err)
	}

	n, err = sqlite.PruneRuns(ctx, db, 24*time.Hour)
	require.NoError(t, err)
	require.Equal(t, int64(2), n)
	runs, err := (&sqlite.State{DB: db}).Runs(ctx, "orders", 0)
	require.NoError(t, err)
	var left []string
	for _, r := range runs {
		left = append(left, r.RunID)
	}
	require.ElementsMatch(t, []string{"new", "recent", "unfinish"}, left)

	// The watermark is not history: it stays.
	wm, err := (&sqlite.State{DB: db}).Watermark(ctx, "orders")
	require.NoError(t, err)
	require.Equal(t, int64(1), wm)

	_, err = sqlite.PruneRuns(ctx, nil, time.Hour)
	require.ErrorContains(t, err, "no DB")
}

// The run records that real loads write are pruned by their finished_at.
func TestPruneRunsAfterLoads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := retOpen(t)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}}
	for range 3 {
		p := &etl.Pipeline{Name: "ids", Source: etl.ExtractFunc(func(ctx context.Context, r *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(schema, []etl.Row{{int64(1)}, {int64(2)}}), nil
		}), Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "ids", Key: []string{"id"}, Create: true}}}
		_, err := p.Run(ctx, etl.Window{})
		require.NoError(t, err)
	}
	runs, err := (&sqlite.State{DB: db}).Runs(ctx, "ids", 0)
	require.NoError(t, err)
	require.Len(t, runs, 3)

	n, err := sqlite.PruneRuns(ctx, db, time.Hour)
	require.NoError(t, err)
	require.Zero(t, n)
	// Push the first record back a day; it alone goes.
	_, err = db.SQL().ExecContext(ctx, "UPDATE sluice_runs SET finished_at = ? WHERE run_id = ?",
		retTS(runs[2].Finished.Add(-24*time.Hour)), runs[2].RunID)
	require.NoError(t, err)
	n, err = sqlite.PruneRuns(ctx, db, time.Hour)
	require.NoError(t, err)
	require.Equal(t, int64(1), n)
	left, err := (&sqlite.State{DB: db}).Runs(ctx, "ids", 0)
	require.NoError(t, err)
	require.Equal(t, []string{runs[0].RunID, runs[1].RunID}, []string{left[0].RunID, left[1].RunID})
	require.Len(t, left, 2)
}

// The retention compares timestamps as text, which is right only if every time in
// TimestampLayout passes the format check and text order is time order. With a row at
// each of two times and the cutoff at the second, the first must go exactly when it is
// before the second.
func FuzzRetentionTimestampOrder(f *testing.F) {
	for _, s := range [][4]int64{
		{0, 0, 0, 0}, {0, 0, 0, 1}, {0, 1, 0, 0}, {-1, 999_999_999, 0, 0}, {1, 0, 0, 999_999_999},
		{retCutoff.Unix(), int64(retCutoff.Nanosecond()), retCutoff.Unix(), int64(retCutoff.Nanosecond()) + 1},
		{-62135596800, 0, 253402300799, 999_999_999}, // the first and last instants of the layout
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	db, err := sqlite.Open(filepath.Join(f.TempDir(), "fuzz.db"))
	require.NoError(f, err)
	f.Cleanup(func() { _ = db.Close() })
	_, err = db.SQL().Exec("CREATE TABLE ev (id INTEGER, at TEXT)")
	require.NoError(f, err)
	// Years 1 to 9999, the range TimestampLayout covers.
	const first, span = -62135596800, 253402300800 + 62135596800
	at := func(sec, ns int64) time.Time {
		return time.Unix(first+(sec%span+span)%span, (ns%1e9+1e9)%1e9).UTC()
	}
	f.Fuzz(func(t *testing.T, secA, nsA, secB, nsB int64) {
		ta, tb := at(secA, nsA), at(secB, nsB)
		_, err := db.SQL().Exec("DELETE FROM ev")
		require.NoError(t, err)
		_, err = db.SQL().Exec("INSERT INTO ev VALUES (1, ?), (2, ?)", retTS(ta), retTS(tb))
		require.NoError(t, err)
		res, err := sqlite.Retention{DB: db, Table: "ev", TimeColumn: "at", OlderThan: time.Nanosecond,
			Now: func() time.Time { return tb.Add(time.Nanosecond) }}.Run(context.Background())
		require.NoError(t, err, "%s, %s", retTS(ta), retTS(tb))
		want := int64(0)
		if ta.Before(tb) {
			want = 1
		}
		require.Equal(t, want, res.Rows, "%s < %s", retTS(ta), retTS(tb))
	})
}

// A cleanup program that keeps 90 days of events in the embedded database: a dry run to
// preview, then the deletion in batches.
func ExampleRetention() {
	dir, err := os.MkdirTemp("", "sluice-retention")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db, err := sqlite.Open(filepath.Join(dir, "events.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = db.Close() }()

	ctx := context.Background()
	now := time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC)
	_, _ = db.SQL().ExecContext(ctx, "CREATE TABLE events (id INTEGER PRIMARY KEY, created_at TEXT)")
	for day := range 120 {
		_, _ = db.SQL().ExecContext(ctx, "INSERT INTO events (created_at) VALUES (?)",
			now.AddDate(0, 0, -day).Format(sqlite.TimestampLayout))
	}

	r := sqlite.Retention{
		DB: db, Table: "events", TimeColumn: "created_at", OlderThan: 90 * 24 * time.Hour,
		BatchRows: 10, DryRun: true, Now: func() time.Time { return now },
	}
	res, err := r.Run(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("dry run: %d rows older than %s\n", res.Rows, res.Cutoff.Format(time.DateOnly))

	r.DryRun = false
	if res, err = r.Run(ctx); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("deleted %d rows in %d batches\n", res.Rows, res.Batches)
	// Output:
	// dry run: 29 rows older than 2026-01-01
	// deleted 29 rows in 3 batches
}
