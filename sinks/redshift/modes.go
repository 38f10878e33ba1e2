package redshift

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
)

// FullRefresh replaces a table's rows with the stream's in one transaction: LOCK, COPY
// into a stage, DELETE every row, INSERT the stage. Never TRUNCATE: on Redshift it commits
// the open transaction, so a failed check could no longer roll the old rows back. A run
// that read no rows fails with etl.ErrEmpty unless the pipeline allows an empty load.
type FullRefresh struct {
	Target
}

// Merge applies a stream of changed rows to a table by key, with deletes, in one
// transaction, the way AWS documents for Redshift (no MERGE): COPY into a stage, keep the
// latest row per key (by Cursor, then arrival), delete the target rows whose key is
// staged, insert the staged rows that are not deleted. The Redshift sink has neither
// KeepDeleted nor Reconcile.
type Merge struct {
	Target
	// Cursor names the column that orders versions of one key: the highest wins, NULL
	// lowest. Defaults to the cursor the stream declares (etl.Stream.Cursor), else none:
	// the last to arrive wins.
	Cursor string
	// Deleted names the soft-delete column: a boolean that is true, or any other type that
	// is not NULL, marks a row deleted at the source. Defaults to the column the stream
	// declares (etl.Stream.Deleted), else none: every row is an upsert. A declared column
	// the stream no longer has fails the load.
	Deleted string
}

// WindowReplace replaces one time window of a table, the backfill mode: for the run's
// etl.Window [Start, End) it deletes the target rows whose TimeColumn falls in the window
// and inserts the stream's rows, in one transaction. A staged row outside the window fails
// the load.
type WindowReplace struct {
	Target
	// TimeColumn names the column that places a row in a window. Required.
	TimeColumn string
}

var (
	_ etl.Loader          = (*FullRefresh)(nil)
	_ etl.Loader          = (*Merge)(nil)
	_ etl.Loader          = (*WindowReplace)(nil)
	_ etl.FailureRecorder = (*FullRefresh)(nil)
	_ etl.FailureRecorder = (*Merge)(nil)
	_ etl.FailureRecorder = (*WindowReplace)(nil)
	_ etl.Lineage         = (*FullRefresh)(nil)
)

// ErrNoKey is wrapped by the error of a merge without a Key.
var ErrNoKey = errors.New("merge needs a key")

// ErrNoWindow is returned by a window replace run without a window.
var ErrNoWindow = errors.New("window replace needs a run window (a zero window would replace the whole table)")

// Load replaces the table's rows with in's.
func (f *FullRefresh) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	return f.load(ctx, "full_refresh", true, run, in, func(ctx context.Context, m *mode, tx load.Tx, run *etl.Run) (load.Applied, error) {
		if _, err := tx.Exec(ctx, "DELETE FROM "+m.t.table().String()); err != nil {
			return load.Applied{}, fmt.Errorf("delete old rows of %s: %w", m.t.table(), err)
		}
		n, err := m.insertFromStage(ctx, tx, "")
		return load.Applied{Written: n}, err
	}, nil)
}

// RecordFailure writes the run record of a run that failed before its load began.
func (f *FullRefresh) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return f.recordFailure(ctx, "full_refresh", run, stats, err)
}

// Load merges in into the table.
func (mg *Merge) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	var cursor, deleted string
	check := func(s etl.Schema) error {
		if len(mg.Key) == 0 {
			return ErrNoKey
		}
		for _, c := range mg.Key {
			if column(s, c) < 0 {
				return fmt.Errorf("the stream has no key column %q", c)
			}
		}
		// The names the merge gives match the stream's columns as the cluster matches
		// them, whatever their case; the shared resolver then applies the stream's
		// declarations.
		named := func(c string) string {
			if i := column(s, c); c != "" && i >= 0 {
				return s[i].Name
			}
			return c
		}
		var err error
		cursor, deleted, err = load.MergeColumns(mg.table().String(), etl.Stream{Schema: s, Cursor: in.Cursor, Deleted: in.Deleted},
			named(mg.Cursor), named(mg.Deleted))
		return err
	}
	apply := func(ctx context.Context, m *mode, tx load.Tx, run *etl.Run) (load.Applied, error) {
		return mg.apply(ctx, m, tx, cursor, deleted)
	}
	return mg.load(ctx, "merge", false, run, in, apply, check)
}

// RecordFailure writes the run record of a run that failed before its load began.
func (mg *Merge) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return mg.recordFailure(ctx, "merge", run, stats, err)
}

// tombstone returns the SQL that is true for a deleted row of table, or "FALSE".
func tombstone(table string, schema etl.Schema, deleted string) string {
	if deleted == "" {
		return "FALSE"
	}
	col := table + "." + redshiftcopy.QuoteIdentifier(fold(deleted))
	if i := column(schema, deleted); i >= 0 && schema[i].Type == etl.TypeBool {
		return "(" + col + " IS TRUE)"
	}
	return "(" + col + " IS NOT NULL)"
}

func (mg *Merge) apply(ctx context.Context, m *mode, tx load.Tx, cursor, deleted string) (load.Applied, error) {
	target, stage := m.t.table(), m.stage
	key := make([]string, len(mg.Key))
	for i, k := range mg.Key {
		key[i] = fold(k)
	}
	nulls := make([]string, len(key))
	for i, k := range key {
		nulls[i] = redshiftcopy.QuoteIdentifier(k) + " IS NULL"
	}
	n, err := count(tx.QueryRows(ctx, "SELECT COUNT(*) FROM "+stage+" WHERE "+strings.Join(nulls, " OR ")))
	if err != nil {
		return load.Applied{}, fmt.Errorf("count NULL keys in the stage of %s: %w", target, err)
	}
	if n > 0 {
		return load.Applied{}, fmt.Errorf("table %s: %d staged rows have a NULL in key (%s)", target, n, strings.Join(key, ", "))
	}
	order := ""
	if cursor != "" {
		order = redshiftcopy.QuoteIdentifier(fold(cursor)) + " DESC NULLS LAST, "
	}
	seq := redshiftcopy.QuoteIdentifier(seqColumn)
	dedupe := "DELETE FROM " + stage + " WHERE " + seq + " IN (SELECT " + seq + " FROM (SELECT " + seq +
		", ROW_NUMBER() OVER (PARTITION BY " + quoteList(key) + " ORDER BY " + order + seq + " DESC) AS rn FROM " +
		stage + ") ranked WHERE rn > 1)"
	if _, err := tx.Exec(ctx, dedupe); err != nil {
		return load.Applied{}, fmt.Errorf("deduplicate stage of %s: %w", target, err)
	}

	// Columns of the target are qualified by its bare name: both PostgreSQL and Redshift
	// accept that for a schema-qualified table, and Redshift's DELETE takes no alias.
	bare := redshiftcopy.QuoteIdentifier(target.Name)
	match := make([]string, len(key))
	for i, k := range key {
		match[i] = bare + "." + redshiftcopy.QuoteIdentifier(k) + " = " + stage + "." + redshiftcopy.QuoteIdentifier(k)
	}
	schema := m.schema
	// Redshift's DELETE has no RETURNING, so count the deletions first.
	gone := int64(0)
	if deleted != "" {
		gone, err = count(tx.QueryRows(ctx, "SELECT COUNT(*) FROM "+target.String()+" JOIN "+stage+" ON "+
			strings.Join(match, " AND ")+" WHERE "+tombstone(stage, schema, deleted)))
		if err != nil {
			return load.Applied{}, fmt.Errorf("count deleted rows of %s: %w", target, err)
		}
	}
	if _, err := tx.Exec(ctx, "DELETE FROM "+target.String()+" USING "+stage+" WHERE "+strings.Join(match, " AND ")); err != nil {
		return load.Applied{}, fmt.Errorf("delete changed rows of %s: %w", target, err)
	}
	n, err = m.insertFromStage(ctx, tx, "NOT "+tombstone(stage, schema, deleted))
	return load.Applied{Written: n, Deleted: gone}, err
}

// Load replaces the run's window of the table with in's rows.
func (w *WindowReplace) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if w.TimeColumn == "" {
		return etl.LoadResult{}, errors.New("redshift: WindowReplace has no TimeColumn")
	}
	if run.Window.IsZero() {
		return etl.LoadResult{}, etl.WithStep("stage", fmt.Errorf("table %s: %w", w.table(), ErrNoWindow))
	}
	check := func(s etl.Schema) error {
		if column(s, w.TimeColumn) < 0 {
			return fmt.Errorf("the stream has no time column %q", w.TimeColumn)
		}
		return nil
	}
	return w.load(ctx, "window_replace", false, run, in, w.apply, check)
}

// RecordFailure writes the run record of a run that failed before its load began.
func (w *WindowReplace) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return w.recordFailure(ctx, "window_replace", run, stats, err)
}

func (w *WindowReplace) apply(ctx context.Context, m *mode, tx load.Tx, run *etl.Run) (load.Applied, error) {
	target, col := m.t.table(), redshiftcopy.QuoteIdentifier(fold(w.TimeColumn))
	start, end := run.Window.Start.UTC(), run.Window.End.UTC()
	n, err := count(tx.QueryRows(ctx, "SELECT COUNT(*) FROM "+m.stage+" WHERE NOT ("+col+" >= $1 AND "+col+" < $2) OR "+col+" IS NULL", start, end))
	if err != nil {
		return load.Applied{}, fmt.Errorf("count staged rows outside the window of %s: %w", target, err)
	}
	if n > 0 {
		return load.Applied{}, fmt.Errorf("table %s: %d rows have %s outside the window %s (or NULL)", target, n, w.TimeColumn, run.Window)
	}
	del, err := tx.Exec(ctx, "DELETE FROM "+target.String()+" WHERE "+col+" >= $1 AND "+col+" < $2", start, end)
	if err != nil {
		return load.Applied{}, fmt.Errorf("delete window %s of %s: %w", run.Window, target, err)
	}
	n, err = m.insertFromStage(ctx, tx, "")
	return load.Applied{Written: n, Deleted: del}, err
}

// count reads the one integer of a COUNT(*) or pg_last_copy_count() result. Any other
// shape is an error, not 0: the checks built on it (NULL keys, rows outside the window,
// rows lost by COPY) must not pass because a driver returned an unexpected type.
func count(rows [][]any, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("want one integer, got %d rows", len(rows))
	}
	n, ok := rows[0][0].(int64)
	if !ok {
		return 0, fmt.Errorf("want one integer, got %T", rows[0][0])
	}
	return n, nil
}
