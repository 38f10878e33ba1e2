package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/internal/load"
)

// DefaultRetentionBatchRows is how many rows one batch of a [Retention] deletes when its
// BatchRows is unset.
const DefaultRetentionBatchRows = 10000

// Retention deletes the rows of a table whose time column is older than a given age: the
// cleanup half of a table's life. Run it from a program, or as a DAG task with dag.Job,
// which counts the rows it deleted as the task's rows.
//
// A row goes when its TimeColumn is strictly before the cutoff, Now() - OlderThan. A row
// stamped exactly at the cutoff stays, and so does a row whose TimeColumn is NULL: a row
// of unknown age is never old enough. The cutoff is computed once, when the run starts,
// so a long run does not chase rows that age while it works.
//
// Rows are deleted in batches of BatchRows, each batch one statement in its own short
// transaction:
//
//	DELETE FROM t WHERE ctid = ANY (ARRAY(SELECT ctid FROM t WHERE col < $1 LIMIT $2)) AND col < $1
//
// so the run never holds row locks on more than one batch, never blocks readers, and lets
// autovacuum reclaim space while it goes on. Batches repeat until one deletes fewer than
// BatchRows. An index on TimeColumn keeps every batch cheap; without one, each batch
// scans the table until it has found its rows.
//
// A cancelled ctx stops the run between batches. The batches already committed stay
// deleted: every one of them removed only rows past the cutoff, so a stopped run leaves
// the table consistent, and the next run finishes the job.
//
// TimeColumn may be timestamptz, timestamp or date; the comparison is with the cutoff as a
// timestamptz, so a timestamp without time zone or a date is read in the session's
// TimeZone, as PostgreSQL always does, and a date counts as its midnight: the day the
// cutoff falls in goes once the cutoff is past its start. Any other column type fails
// the run. For a table partitioned by time, dropping whole partitions is cheaper than
// any DELETE.
type Retention struct {
	// Pool connects to the database. Required.
	Pool *pgxpool.Pool
	// Schema holds Table. Defaults to the connection's search_path.
	Schema string
	// Table is the table to clean up, unquoted; any string is allowed. Required.
	Table string
	// TimeColumn is the column whose age decides, unquoted. Required.
	TimeColumn string
	// OlderThan is the age past which a row is deleted. Required: zero or less fails the
	// run, since it would empty the table.
	OlderThan time.Duration
	// BatchRows caps the rows one batch deletes. Defaults to [DefaultRetentionBatchRows].
	BatchRows int
	// DryRun only counts the rows that would be deleted, with one SELECT count(*), and
	// changes nothing. Defaults to false.
	DryRun bool
	// Now returns the current time; tests set it. Defaults to time.Now.
	Now func() time.Time
	// Logger receives one Debug line per batch and an Info line per run. Defaults to
	// discarding them.
	Logger *slog.Logger
}

// RetentionResult says what a [Retention] run did.
type RetentionResult struct {
	// Table is the cleaned table, quoted and qualified as in the SQL.
	Table string
	// Cutoff is the time the rows were compared with: Now() - OlderThan, truncated to
	// the microsecond that PostgreSQL stores.
	Cutoff time.Time
	// Rows counts the rows deleted, or in a dry run the rows that would be.
	Rows int64
	// Batches counts the DELETE statements that ran, the last (short) one included; zero
	// in a dry run.
	Batches int
	// DryRun is true when nothing was deleted because the run only counted.
	DryRun bool
}

// RowsAffected returns the rows deleted: Rows, or 0 in a dry run. It lets dag.Job count
// them as the task's rows.
func (r RetentionResult) RowsAffected() int64 {
	if r.DryRun {
		return 0
	}
	return r.Rows
}

// Run deletes the rows older than the cutoff, batch by batch, or in a dry run counts them.
// On an error or a cancelled ctx, the result counts what the committed batches deleted.
func (r Retention) Run(ctx context.Context) (RetentionResult, error) {
	switch {
	case r.Pool == nil:
		return RetentionResult{}, errors.New("postgres: Retention has no Pool")
	case r.Table == "":
		return RetentionResult{}, errors.New("postgres: Retention has no Table")
	case r.TimeColumn == "":
		return RetentionResult{}, fmt.Errorf("postgres: Retention of %s has no TimeColumn", retentionTable(r.Schema, r.Table))
	case r.OlderThan <= 0:
		return RetentionResult{}, fmt.Errorf("postgres: Retention of %s needs OlderThan > 0 (got %v)", retentionTable(r.Schema, r.Table), r.OlderThan)
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	batch := r.BatchRows
	if batch <= 0 {
		batch = DefaultRetentionBatchRows
	}
	log := r.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	table := retentionTable(r.Schema, r.Table)
	col := pgx.Identifier{r.TimeColumn}.Sanitize()
	res := RetentionResult{Table: table, Cutoff: now().Add(-r.OlderThan).Truncate(time.Microsecond), DryRun: r.DryRun}
	fail := func(err error) (RetentionResult, error) {
		return res, fmt.Errorf("postgres: retention of %s by %s: %w", table, col, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	older := col + " < $1::timestamptz"

	if r.DryRun {
		if err := r.Pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE "+older, res.Cutoff).Scan(&res.Rows); err != nil {
			return fail(err)
		}
		log.LogAttrs(ctx, slog.LevelInfo, "retention dry run", slog.String("table", table),
			slog.Time("cutoff", res.Cutoff), slog.Int64("rows", res.Rows))
		return res, nil
	}

	// The outer predicate repeats the inner one: in a partitioned table a ctid names a row
	// only within its partition, and a row of another partition at the same ctid must not go.
	del := "DELETE FROM " + table + " WHERE ctid = ANY (ARRAY(SELECT ctid FROM " + table + " WHERE " + older +
		" LIMIT $2)) AND " + older
	for {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("stopped after %d batches (%d rows deleted): %w", res.Batches, res.Rows, err))
		}
		tag, err := r.Pool.Exec(ctx, del, res.Cutoff, int64(batch))
		if err != nil {
			return fail(fmt.Errorf("batch %d: %w", res.Batches+1, err))
		}
		n := tag.RowsAffected()
		res.Batches++
		res.Rows += n
		log.LogAttrs(ctx, slog.LevelDebug, "retention batch", slog.String("table", table),
			slog.Int("batch", res.Batches), slog.Int64("rows", n))
		if n < int64(batch) {
			break
		}
	}
	log.LogAttrs(ctx, slog.LevelInfo, "retention done", slog.String("table", table),
		slog.Time("cutoff", res.Cutoff), slog.Int64("rows", res.Rows), slog.Int("batches", res.Batches))
	return res, nil
}

// PruneRuns deletes the records in schema's sluice_runs table whose run finished more than
// olderThan ago, in batches as [Retention] does, and returns how many it deleted. schema
// is the loaders' MetaSchema; empty means the search_path. A schema without sluice_runs
// has nothing to prune. Records of runs that never finished (a NULL finished_at) stay.
//
// The records are the post-mortem history of the loads; the watermarks in sluice_state
// are never touched.
func PruneRuns(ctx context.Context, pool *pgxpool.Pool, schema string, olderThan time.Duration) (int64, error) {
	if pool == nil {
		return 0, errors.New("postgres: PruneRuns has no pool")
	}
	table := retentionTable(schema, load.RunsTable)
	var exists bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		return 0, fmt.Errorf("postgres: prune %s: %w", table, err)
	}
	if !exists {
		return 0, nil
	}
	res, err := Retention{Pool: pool, Schema: schema, Table: load.RunsTable, TimeColumn: "finished_at", OlderThan: olderThan}.Run(ctx)
	return res.Rows, err
}

func retentionTable(schema, table string) string {
	if schema == "" {
		return pgx.Identifier{table}.Sanitize()
	}
	return pgx.Identifier{schema, table}.Sanitize()
}
