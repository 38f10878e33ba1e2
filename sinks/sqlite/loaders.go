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

// target is what every loader shares.
type target struct {
	db        *DB
	table     string
	key       []string
	checks    []checks.Check
	lockWait  time.Duration
	batchRows int
}

func (t target) spec(in etl.Schema, full bool) load.Spec {
	return load.Spec{
		Table:       t.table,
		Columns:     in.Names(),
		Key:         t.key,
		FullRefresh: full,
		Checks:      t.checks,
		LockWait:    t.lockWait,
	}
}

func (t target) valid() error {
	if t.db == nil {
		return errNilDB
	}
	if t.table == "" {
		return fmt.Errorf("sqlite %s: loader has no table", t.db.path)
	}
	return nil
}

func (t target) stream(in etl.Schema) stream {
	return stream{table: t.table, key: t.key, batchRows: t.batchRows, schema: in}
}

func (t target) load(ctx context.Context, run *etl.Run, in etl.Stream, mode load.Mode, full bool) (etl.LoadResult, error) {
	if err := t.valid(); err != nil {
		return etl.LoadResult{}, etl.WithStep("connect", err)
	}
	if err := in.Schema.Validate(); err != nil {
		err = etl.WithStep("stage", fmt.Errorf("table %s: %w", t.table, err))
		_ = t.recordFailure(ctx, run, run.Stats(), err, mode.Kind())
		return etl.LoadResult{}, err
	}
	return load.Run(ctx, dialect{t.db}, t.spec(in.Schema, full), mode, run, in)
}

func (t target) recordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error, kind string) error {
	if verr := t.valid(); verr != nil {
		return verr
	}
	return load.RecordFailure(ctx, dialect{t.db}, t.spec(nil, false), kind, run, stats, err)
}

func (t target) datasets() []etl.Dataset {
	if t.db == nil {
		return nil
	}
	// OpenLineage names local files with the namespace "file" and their path; a table is
	// named below its file.
	ns, path := lineage.File(t.db.Path())
	return []etl.Dataset{{Namespace: ns, Name: path + "/" + t.table}}
}

// FullRefresh replaces a table's contents with the stream, atomically: the old rows are
// deleted and the new ones inserted in one transaction, so readers see the old table
// until commit and a failure leaves it untouched. An empty stream fails with etl.ErrEmpty
// unless the run allows it.
type FullRefresh struct {
	// DB is the target database. Required.
	DB *DB
	// Table is the target table. When it does not exist, the load creates it from the
	// stream's schema. Required.
	Table string
	// Key is the table's key: its PRIMARY KEY when the load creates the table, and the
	// key checks.UniqueKey() checks. Defaults to none.
	Key []string
	// Checks run inside the transaction; a failed one rolls the load back. Defaults to
	// none.
	Checks []checks.Check
	// LockWait bounds the wait for another run of the same pipeline. Defaults to 0: fail
	// at once with etl.ErrLocked.
	LockWait time.Duration
	// BatchRows is the rows per prepared INSERT. Defaults to [DefaultBatchRows].
	BatchRows int
}

func (l FullRefresh) target() target {
	return target{db: l.DB, table: l.Table, key: l.Key, checks: l.Checks, lockWait: l.LockWait, batchRows: l.BatchRows}
}

// Load replaces the table's rows with in.
func (l FullRefresh) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	t := l.target()
	return t.load(ctx, run, in, &fullRefresh{stream: t.stream(in.Schema)}, true)
}

// RecordFailure writes a failed-run record for a run that failed before its load.
func (l FullRefresh) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return l.target().recordFailure(ctx, run, stats, err, (*fullRefresh)(nil).Kind())
}

// Datasets returns the table, in the namespace file:// plus the database's path.
func (l FullRefresh) Datasets() []etl.Dataset { return l.target().datasets() }

// Merge applies a stream of changed rows to a table by key, with deletes: the latest row
// per key wins (by Cursor, then by arrival), the table's rows with the stream's keys are
// deleted, and the stream's rows that are not deletes are inserted, in one transaction.
// Re-running a batch leaves the same table. The run's watermark is stored with the rows.
type Merge struct {
	// DB is the target database. Required.
	DB *DB
	// Table is the target table, created from the stream's schema when missing.
	// Required.
	Table string
	// Key is the merge key, and the PRIMARY KEY of a table the load creates. Required.
	Key []string
	// Cursor orders several rows of one key in a batch: the highest wins, and arrival
	// order breaks ties. A numeric cursor is compared as a number, and a NULL cursor
	// loses to any value. Defaults to arrival order alone.
	Cursor string
	// Deleted marks a row as a delete: a bool column that is true, or any other column
	// (a deleted_at timestamp) that is not NULL. Defaults to none: no row is a delete.
	Deleted string
	// KeepDeleted keeps deleted rows in the table, with their Deleted column set, instead
	// of removing them. Defaults to false: deletes remove the row.
	KeepDeleted bool
	// Reconcile, when set, also deletes the table's rows whose key the source no longer
	// has. Defaults to nil: off.
	Reconcile *Reconcile
	// Checks run inside the transaction; a failed one rolls back the rows and the
	// watermark. Defaults to none.
	Checks []checks.Check
	// LockWait bounds the wait for another run of the same pipeline. Defaults to 0: fail
	// at once with etl.ErrLocked.
	LockWait time.Duration
	// BatchRows is the rows per prepared INSERT into the stage. Defaults to
	// [DefaultBatchRows].
	BatchRows int
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

func (l Merge) target() target {
	return target{db: l.DB, table: l.Table, key: l.Key, checks: l.Checks, lockWait: l.LockWait, batchRows: l.BatchRows}
}

// Load merges in into the table.
func (l Merge) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	t := l.target()
	if l.Reconcile != nil && l.Reconcile.Keys == nil {
		return etl.LoadResult{}, etl.WithStep("connect", fmt.Errorf("sqlite: table %s: Reconcile has no Keys", l.Table))
	}
	return t.load(ctx, run, in, &merge{stream: t.stream(in.Schema), cursor: l.Cursor, deleted: l.Deleted,
		keepDeleted: l.KeepDeleted, reconcile: l.Reconcile}, false)
}

// RecordFailure writes a failed-run record for a run that failed before its load.
func (l Merge) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return l.target().recordFailure(ctx, run, stats, err, (*merge)(nil).Kind())
}

// Datasets returns the table, in the namespace file:// plus the database's path.
func (l Merge) Datasets() []etl.Dataset { return l.target().datasets() }

// WindowReplace replaces the rows of the run's window: it deletes the table's rows whose
// TimeColumn falls in [run.Window.Start, run.Window.End) and inserts the stream, in one
// transaction. Re-running a past window replaces exactly that window. A stream row
// outside the window fails the load, since the next replace of its own window would
// duplicate it. An empty stream empties the window.
type WindowReplace struct {
	// DB is the target database. Required.
	DB *DB
	// Table is the target table, created from the stream's schema when missing.
	// Required.
	Table string
	// TimeColumn is a timestamp or date column of the stream. Required.
	TimeColumn string
	// Key is the PRIMARY KEY of a table the load creates, and the key
	// checks.UniqueKey() checks. Defaults to none.
	Key []string
	// Checks run inside the transaction. Defaults to none.
	Checks []checks.Check
	// LockWait bounds the wait for another run of the same pipeline. Defaults to 0: fail
	// at once with etl.ErrLocked.
	LockWait time.Duration
	// BatchRows is the rows per prepared INSERT. Defaults to [DefaultBatchRows].
	BatchRows int
}

func (l WindowReplace) target() target {
	return target{db: l.DB, table: l.Table, key: l.Key, checks: l.Checks, lockWait: l.LockWait, batchRows: l.BatchRows}
}

// Load replaces the run window's rows with in.
func (l WindowReplace) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	t := l.target()
	return t.load(ctx, run, in, &windowReplace{stream: t.stream(in.Schema), timeColumn: l.TimeColumn}, false)
}

// RecordFailure writes a failed-run record for a run that failed before its load.
func (l WindowReplace) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return l.target().recordFailure(ctx, run, stats, err, (*windowReplace)(nil).Kind())
}

// Datasets returns the table, in the namespace file:// plus the database's path.
func (l WindowReplace) Datasets() []etl.Dataset { return l.target().datasets() }

var (
	_ etl.Loader          = FullRefresh{}
	_ etl.FailureRecorder = FullRefresh{}
	_ etl.Lineage         = FullRefresh{}
	_ etl.Loader          = Merge{}
	_ etl.FailureRecorder = Merge{}
	_ etl.Lineage         = Merge{}
	_ etl.Loader          = WindowReplace{}
	_ etl.FailureRecorder = WindowReplace{}
	_ etl.Lineage         = WindowReplace{}
)
