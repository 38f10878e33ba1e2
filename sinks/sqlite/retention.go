package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/internal/load"
)

// DefaultRetentionBatchRows is how many rows one batch of a [Retention] deletes when its
// BatchRows is unset.
const DefaultRetentionBatchRows = 10000

// timestampGlob matches exactly the text of a timestamp in [TimestampLayout]. Among such
// texts, text order is time order, which is what lets a retention compare them with <.
const timestampGlob = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]" +
	".[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]Z"

// Retention deletes the rows of a table whose time column is older than a given age: the
// cleanup half of a table's life. Run it from a program, or as a DAG task with dag.Job,
// which counts the rows it deleted as the task's rows.
//
// A row goes when its TimeColumn is strictly before the cutoff, Now() - OlderThan. A row
// stamped exactly at the cutoff stays, and so does a row whose TimeColumn is NULL: a row
// of unknown age is never old enough. The cutoff is computed once, when the run starts.
//
// TimeColumn must hold timestamps as this package stores them: TEXT in [TimestampLayout]
// (UTC, nine fractional digits), whose text order is time order, so the cutoff is
// compared as text in that layout and an index on the column serves. Before it deletes
// anything, a run checks every non-NULL value of the column, and a value in any other
// form (SQLite's own "2006-01-02 15:04:05", an offset, a Unix time as an INTEGER, a date)
// fails the run with an error wrapping [ErrValue] that names it: compared as text, such a
// value would be deleted or kept by accident. The check reads the whole column once.
//
// Rows are deleted in batches of BatchRows, each batch one statement, and so one short
// write transaction:
//
//	DELETE FROM t WHERE rowid IN (SELECT rowid FROM t WHERE col < ? AND col GLOB ? LIMIT ?)
//
// so other writers of the file wait at most one batch for the write lock, and readers
// never wait (the file is in WAL mode). A WITHOUT ROWID table is batched by its primary
// key instead. Batches repeat until one deletes fewer than BatchRows. A batch waits up to
// the DB's BusyTimeout for a load that holds the write lock, then fails the run with
// SQLite's busy error; a retried task picks up where it stopped.
//
// A cancelled ctx stops the run between batches. The batches already committed stay
// deleted: every one of them removed only rows past the cutoff, so a stopped run leaves
// the table consistent, and the next run finishes the job.
type Retention struct {
	// DB is the database file. Required.
	DB *DB
	// Schema names the attached database that holds Table. Defaults to "main".
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
	// Cutoff is the time the rows were compared with: Now() - OlderThan.
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
	schema := r.Schema
	if schema == "" {
		schema = "main"
	}
	table := quoteIdent(schema) + "." + quoteIdent(r.Table)
	switch {
	case r.DB == nil:
		return RetentionResult{}, errors.New("sqlite: Retention has no DB")
	case r.Table == "":
		return RetentionResult{}, fmt.Errorf("sqlite %s: Retention has no Table", r.DB.path)
	case r.TimeColumn == "":
		return RetentionResult{}, fmt.Errorf("sqlite %s: Retention of %s has no TimeColumn", r.DB.path, table)
	case r.OlderThan <= 0:
		return RetentionResult{}, fmt.Errorf("sqlite %s: Retention of %s needs OlderThan > 0 (got %v)", r.DB.path, table, r.OlderThan)
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
	col := quoteIdent(r.TimeColumn)
	res := RetentionResult{Table: table, Cutoff: now().Add(-r.OlderThan), DryRun: r.DryRun}
	fail := func(err error) (RetentionResult, error) {
		return res, fmt.Errorf("sqlite %s: retention of %s by %s: %w", r.DB.path, table, col, err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}
	key, err := retentionKey(ctx, r.DB, schema, r.Table, r.TimeColumn)
	if err != nil {
		return fail(err)
	}
	// quote() shows the value as stored: the driver would parse the text of a column
	// declared DATETIME into a time and hide its form.
	bad, err := queryRows(ctx, r.DB.db, "SELECT quote("+col+"), typeof("+col+") FROM "+table+" WHERE "+col+
		" IS NOT NULL AND NOT (typeof("+col+") = 'text' AND "+col+" GLOB ?) LIMIT 1", timestampGlob)
	if err != nil {
		return fail(err)
	}
	if len(bad) > 0 {
		return fail(fmt.Errorf("value %v (%v) is not a timestamp in the layout %s: %w", bad[0][0], bad[0][1], TimestampLayout, ErrValue))
	}

	cutoff := res.Cutoff.UTC().Format(TimestampLayout)
	older := col + " < ? AND " + col + " GLOB ?"
	if r.DryRun {
		rows, err := queryRows(ctx, r.DB.db, "SELECT count(*) FROM "+table+" WHERE "+older, cutoff, timestampGlob)
		if err != nil {
			return fail(err)
		}
		res.Rows, _ = rows[0][0].(int64)
		log.LogAttrs(ctx, slog.LevelInfo, "retention dry run", slog.String("table", table),
			slog.Time("cutoff", res.Cutoff), slog.Int64("rows", res.Rows))
		return res, nil
	}

	// The GLOB repeats the check above for rows written since: a value in another form is
	// never deleted.
	del := "DELETE FROM " + table + " WHERE (" + key + ") IN (SELECT " + key + " FROM " + table + " WHERE " + older + " LIMIT ?)"
	for {
		if err := ctx.Err(); err != nil {
			return fail(fmt.Errorf("stopped after %d batches (%d rows deleted): %w", res.Batches, res.Rows, err))
		}
		out, err := r.DB.db.ExecContext(ctx, del, cutoff, timestampGlob, int64(batch))
		if err != nil {
			return fail(fmt.Errorf("batch %d: %w", res.Batches+1, err))
		}
		n, err := out.RowsAffected()
		if err != nil {
			return fail(fmt.Errorf("batch %d: %w", res.Batches+1, err))
		}
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

// retentionKey returns the columns that name one row of the table in a batch: the rowid
// under a name no column shadows, or for a WITHOUT ROWID table its primary key. It fails
// when the table or the time column does not exist.
func retentionKey(ctx context.Context, db *DB, schema, table, timeColumn string) (string, error) {
	kind, err := queryRows(ctx, db.db, "SELECT type, wr FROM pragma_table_list(?) WHERE schema = ?", table, schema)
	if err != nil {
		return "", err
	}
	if len(kind) == 0 {
		return "", errors.New("no such table")
	}
	if typ, _ := kind[0][0].(string); typ != "table" {
		return "", fmt.Errorf("a %s, not a table", typ)
	}
	withoutRowid, _ := kind[0][1].(int64)
	cols, err := queryRows(ctx, db.db, "SELECT name, pk FROM pragma_table_info(?, ?) ORDER BY pk", table, schema)
	if err != nil {
		return "", err
	}
	names := map[string]bool{}
	var pk []string
	for _, c := range cols {
		name, _ := c[0].(string)
		names[strings.ToLower(name)] = true
		if n, _ := c[1].(int64); n > 0 {
			pk = append(pk, name)
		}
	}
	if !names[strings.ToLower(timeColumn)] {
		return "", errors.New("no such column")
	}
	if withoutRowid == 0 {
		for _, alias := range []string{"rowid", "_rowid_", "oid"} {
			if !names[alias] {
				return alias, nil
			}
		}
	}
	if len(pk) == 0 {
		return "", errors.New("every name of the rowid is a column and there is no primary key")
	}
	return quoteList(pk), nil
}

// PruneRuns deletes the records in the sluice_runs table whose run finished more than
// olderThan ago, in batches as [Retention] does, and returns how many it deleted. A file
// no load has touched has nothing to prune. Records of runs that never finished (a NULL
// finished_at) stay.
//
// The records are the post-mortem history of the loads that [Runs] reads; the watermarks
// in sluice_state are never touched.
func PruneRuns(ctx context.Context, db *DB, olderThan time.Duration) (int64, error) {
	if db == nil {
		return 0, errors.New("sqlite: PruneRuns has no DB")
	}
	exists, err := queryRows(ctx, db.db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", load.RunsTable)
	if err != nil {
		return 0, fmt.Errorf("sqlite %s: prune %s: %w", db.path, load.RunsTable, err)
	}
	if len(exists) == 0 {
		return 0, nil
	}
	res, err := Retention{DB: db, Table: load.RunsTable, TimeColumn: "finished_at", OlderThan: olderThan}.Run(ctx)
	return res.Rows, err
}
