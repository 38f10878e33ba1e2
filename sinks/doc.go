// Package sinks holds sluice's loaders, one package per database, and the contract they
// share, the way database/sql drivers share one: a concept has one name and one shape in
// every sink, so a pipeline moves from SQLite to PostgreSQL or Redshift by changing its
// sink's package, not its vocabulary. Each sink runs its loads through one load protocol
// (internal/load), so they behave alike:
//
//	lock -> begin -> read the watermark -> stage rows in bulk -> apply -> checks ->
//	watermark and run record -> commit
//
// A failed load or check rolls back, so the target keeps its old rows, and leaves a
// failed-run record. The watermark (sluice_state) and the run history (sluice_runs) live
// in the target database and commit with the rows.
//
// # Loaders
//
// Every sink offers *FullRefresh, *Merge and *WindowReplace (pointer receivers), each an
// etl.Loader, etl.FailureRecorder and etl.Lineage, and each embedding the sink's Target.
// Options of one mode are fields of its loader: FullRefresh.Strategy, Merge.Cursor,
// Merge.Deleted, Merge.KeepDeleted, Merge.Reconcile, WindowReplace.TimeColumn. A sink
// that lacks an option says so in its documentation.
//
// # Target
//
// Target holds, under the same names and with the same meanings wherever they apply:
//
//   - the connection: Pool (PostgreSQL), DB (SQLite, MySQL), DSN and Connect (Redshift);
//   - Schema, the namespace holding the table (a PostgreSQL or Redshift schema, a MySQL
//     database), defaulting to the connection's current one; SQLite has none;
//   - Table (required), Key, Checks, LockWait;
//   - MetaSchema, which holds sluice_runs and sluice_state, defaulting to Schema;
//   - Create: make a missing table from the stream's schema, with Key as its primary key.
//     It defaults to false on every sink, and a missing table then fails the load with an
//     error that wraps etl.ErrNoTable, names the table and says to set Create.
//
// A lock held by another run of the pipeline fails the load with an error wrapping
// etl.ErrLocked, unless LockWait allows a wait; an empty full refresh fails with
// etl.ErrEmpty unless the pipeline allows it; a duplicate that the table's own key
// refuses is the unique_key check failing (a *checks.Error, step "check").
//
// # Soft deletes
//
// The soft-delete column is called Deleted everywhere: a source's Config.Deleted and the
// sink's Merge.Deleted. A bool column marks a delete when it is true; a column of any
// other type (a deleted_at timestamp) marks one when it is not NULL. A source that knows
// its soft-delete column and its cursor declares them on the stream it returns
// (etl.Stream.Deleted, etl.Stream.Cursor), and Merge.Deleted and Merge.Cursor default to
// the declaration, so deletes set up at the source are applied by the sink without being
// named twice. Every sink resolves the defaults with the same function, and a declared
// column missing from the stream that reaches the merge (a transform dropped it) fails
// the load instead of upserting the tombstones as rows.
//
// # State
//
// Each sink has a State struct, with the connection fields, Schema and MetaSchema (as on
// Target: the state lives in MetaSchema, which defaults to Schema, so a State given a
// Target's two fields finds that Target's state; SQLite has neither), LockWait, and the
// methods Watermark, Set and Reset (the last two under the pipeline's lock, so they
// never race a load) and Runs, which returns the run history as [RunRecord] values,
// newest first.
//
// # Timestamps
//
// A timestamp value is an instant. Loaded into a column with a zone (timestamptz) it is
// stored as that instant. Loaded into a column without one (PostgreSQL's and Redshift's
// timestamp, MySQL's DATETIME, SQLite's text form) it is stored as its UTC wall-clock
// time: 2026-02-28 12:00:00+09 stores 2026-02-28 03:00:00. A value written without an
// offset (read as UTC) is stored as written. A date value is formatted from its own year,
// month and day, never after a conversion between zones.
//
// # Jobs
//
// Sinks never import package dag. Their maintenance jobs (Retention, a Redshift Sweep)
// are plain values whose Run(ctx) returns a result, which dag.Job adapts into a task;
// an Execer for dag.SQL is a type with the right method. What a user does not need
// (quoting, redaction, CSV writing, COPY statement builders) lives under internal/.
//
// # Packages
//
//   - sinks/postgres: binary COPY FROM STDIN, encoded by the client; full refresh by
//     truncate, delete or table swap; merge with deletes and key reconciliation; window
//     replace; an advisory lock per pipeline.
//   - sinks/redshift: gzip CSV parts staged in S3 and loaded with COPY; DELETE-based full
//     refresh (TRUNCATE would commit); LOCK on the target instead of advisory locks;
//     retries of serializable and snapshot isolation conflicts.
//   - sinks/sqlite: the embedded default, for examples and local runs.
//   - sinks/mysql: MySQL 8 and MariaDB 10.6+, for publishing results to a service's
//     database: LOAD DATA LOCAL INFILE streamed from the rows, refused on any warning;
//     full refresh by delete or RENAME TABLE swap; merge by INSERT ... ON DUPLICATE KEY
//     UPDATE from a temporary stage; window replace; a GET_LOCK lock per pipeline.
//
// # Values
//
// A sink stores what the target's own input would store from the same text, or fails
// the load with an error naming the row, the column and the value, and, when the stream
// says where its rows came from (etl.Stream.Position), the input and line. It never
// changes a value silently.
package sinks
