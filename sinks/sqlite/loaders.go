package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/lineage"
	"github.com/sluice-etl/sluice/internal/load"
)

// Target is the table a loader writes and the policies every SQLite loader shares. Embed
// it in [FullRefresh], [Merge] or [WindowReplace].
//
// SQLite has no schemas, so Target has neither Schema nor MetaSchema: the table,
// sluice_runs and sluice_state all live in the main database of the file.
type Target struct {
	// DB is the target database. Required.
	DB *DB
	// Table is the target table's name, unquoted; any string is allowed. Required.
	Table string
	// Key is the table's key: what a merge matches on, what checks.UniqueKey with no
	// columns checks, and the PRIMARY KEY of a table the load creates. Required for
	// Merge; defaults to none.
	Key []string
	// Create creates the table from the stream's schema when it is missing, with Key as
	// its PRIMARY KEY, inside the load's transaction. Defaults to false: a missing table
	// fails the load with an error wrapping etl.ErrNoTable.
	Create bool
	// Checks run inside the load's transaction; a failed one rolls the load back.
	// Defaults to none.
	Checks []checks.Check
	// LockWait bounds the wait for another run of the same pipeline to finish. Defaults
	// to 0: a second run fails at once with an error wrapping etl.ErrLocked.
	LockWait time.Duration
	// BatchRows is the rows per prepared INSERT. Defaults to [DefaultBatchRows].
	BatchRows int
}

func (t *Target) spec(in etl.Schema, full bool) load.Spec {
	return load.Spec{
		Table:       t.Table,
		Columns:     in.Names(),
		Key:         t.Key,
		FullRefresh: full,
		Checks:      t.Checks,
		LockWait:    t.LockWait,
	}
}

func (t *Target) valid() error {
	if t.DB == nil {
		return errNilDB
	}
	if t.Table == "" {
		return fmt.Errorf("sqlite %s: loader has no Table", t.DB.path)
	}
	return nil
}

func (t *Target) stream(in etl.Schema) stream {
	return stream{table: t.Table, key: t.Key, create: t.Create, batchRows: t.BatchRows, schema: in}
}

func (t *Target) load(ctx context.Context, run *etl.Run, in etl.Stream, mode load.Mode, full bool) (etl.LoadResult, error) {
	if err := t.valid(); err != nil {
		return etl.LoadResult{}, etl.WithStep("connect", err)
	}
	if err := in.Schema.Validate(); err != nil {
		err = etl.WithStep("stage", fmt.Errorf("table %s: %w", t.Table, err))
		_ = t.recordFailure(ctx, run, run.Stats(), err, mode.Kind())
		return etl.LoadResult{}, err
	}
	return load.Run(ctx, dialect{t.DB}, t.spec(in.Schema, full), mode, run, in)
}

func (t *Target) recordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error, kind string) error {
	if verr := t.valid(); verr != nil {
		return verr
	}
	return load.RecordFailure(ctx, dialect{t.DB}, t.spec(nil, false), kind, run, stats, err)
}

// Datasets returns the table for lineage: namespace "file" and the database file's
// absolute path followed by "/" and the table.
func (t *Target) Datasets() []etl.Dataset {
	if t.DB == nil {
		return nil
	}
	// OpenLineage names local files with the namespace "file" and their path; a table is
	// named below its file.
	ns, path := lineage.File(t.DB.Path())
	return []etl.Dataset{{Namespace: ns, Name: path + "/" + t.Table}}
}

// FullRefresh replaces a table's contents with the stream, atomically: the old rows are
// deleted and the new ones inserted in one transaction, so readers see the old table
// until commit and a failure leaves it untouched. An empty stream fails with etl.ErrEmpty
// unless the run allows it.
//
// SQLite has one way to replace the rows, so FullRefresh has no Strategy.
type FullRefresh struct {
	Target
}

// Load replaces the table's rows with in.
func (l *FullRefresh) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	return l.load(ctx, run, in, &fullRefresh{stream: l.stream(in.Schema)}, true)
}

// RecordFailure writes a failed-run record for a run that failed before its load.
func (l *FullRefresh) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return l.recordFailure(ctx, run, stats, err, (*fullRefresh)(nil).Kind())
}

// Merge applies a stream of changed rows to a table by key, with deletes: the latest row
// per key wins (by Cursor, then by arrival), the table's rows with the stream's keys are
// deleted, and the stream's rows that are not deletes are inserted, in one transaction.
// Re-running a batch leaves the same table. The run's watermark is stored with the rows.
type Merge struct {
	Target
	// Cursor orders several rows of one key in a batch: the highest wins, and arrival
	// order breaks ties. A numeric cursor is compared as a number, and a NULL cursor
	// loses to any value. Defaults to the cursor the stream declares
	// (etl.Stream.Cursor), else arrival order alone.
	Cursor string
	// Deleted marks a row as a delete: a bool column that is true, or any other column
	// (a deleted_at timestamp) that is not NULL. Defaults to the column the stream
	// declares (etl.Stream.Deleted), so a source's soft deletes are applied without
	// naming them twice; else none: no row is a delete.
	Deleted string
	// KeepDeleted keeps deleted rows in the table, with their Deleted column set, instead
	// of removing them. Defaults to false: deletes remove the row.
	KeepDeleted bool
	// Reconcile, when set, also deletes the table's rows whose key the source no longer
	// has. Defaults to nil: off.
	Reconcile *Reconcile
}

// Reconcile finds rows hard-deleted at the source, which leave no tombstone to merge.
// After the merge, in the same transaction, it streams every key of the source (in
// Scope) into a TEMP table and deletes the table's rows in Scope whose key is not there.
// An empty key stream fails the load with etl.ErrEmpty unless the run allows an empty
// load, since it would delete every row in scope.
//
// Its cost is a full read of the source's keys in scope on every run, plus a lookup per
// table row in scope: a 10M-key table moves 10M keys each time. Scope it to the rows
// that can still change (one partition, the last 30 days) to keep it cheap.
type Reconcile struct {
	// Keys streams the source's keys: a stream whose columns are the merge's key
	// columns. It must cover exactly the rows that Scope selects in the table. Required.
	Keys etl.Extractor
	// Scope is an SQL predicate over the table's columns that limits which rows may be
	// deleted, such as `created >= ?`. It is SQL written by the pipeline's author, never
	// data; bind values through ScopeArgs. Timestamps compare as stored: bind a
	// time.Time, which is written in the same text form. Defaults to all rows.
	Scope string
	// ScopeArgs are bound to Scope's ? placeholders.
	ScopeArgs []any
}

// Load merges in into the table.
func (l *Merge) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if l.Reconcile != nil && l.Reconcile.Keys == nil {
		return etl.LoadResult{}, etl.WithStep("connect", fmt.Errorf("sqlite: table %s: Reconcile has no Keys", l.Table))
	}
	return l.load(ctx, run, in, &merge{stream: l.stream(in.Schema), in: in, cursor: l.Cursor, deleted: l.Deleted,
		keepDeleted: l.KeepDeleted, reconcile: l.Reconcile}, false)
}

// RecordFailure writes a failed-run record for a run that failed before its load.
func (l *Merge) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return l.recordFailure(ctx, run, stats, err, (*merge)(nil).Kind())
}

// WindowReplace replaces the rows of the run's window: it deletes the table's rows whose
// TimeColumn falls in [run.Window.Start, run.Window.End) and inserts the stream, in one
// transaction. Re-running a past window replaces exactly that window. A stream row
// outside the window fails the load, since the next replace of its own window would
// duplicate it. An empty stream empties the window.
type WindowReplace struct {
	Target
	// TimeColumn is a timestamp or date column of the stream. Required.
	TimeColumn string
}

// Load replaces the run window's rows with in.
func (l *WindowReplace) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	return l.load(ctx, run, in, &windowReplace{stream: l.stream(in.Schema), timeColumn: l.TimeColumn}, false)
}

// RecordFailure writes a failed-run record for a run that failed before its load.
func (l *WindowReplace) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return l.recordFailure(ctx, run, stats, err, (*windowReplace)(nil).Kind())
}

var (
	_ etl.Loader          = (*FullRefresh)(nil)
	_ etl.FailureRecorder = (*FullRefresh)(nil)
	_ etl.Lineage         = (*FullRefresh)(nil)
	_ etl.Loader          = (*Merge)(nil)
	_ etl.FailureRecorder = (*Merge)(nil)
	_ etl.Lineage         = (*Merge)(nil)
	_ etl.Loader          = (*WindowReplace)(nil)
	_ etl.FailureRecorder = (*WindowReplace)(nil)
	_ etl.Lineage         = (*WindowReplace)(nil)
)
