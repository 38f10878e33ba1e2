// Package sqlite is sluice's embedded default sink: transactional loads into a local SQLite
// file through modernc.org/sqlite (pure Go, no cgo), following the same load protocol,
// checks, state and run history as the PostgreSQL and Redshift sinks.
//
// [Open] a file, then load it with a [FullRefresh], a [Merge] or a [WindowReplace]; each
// embeds a [Target] and is an etl.Loader, an etl.FailureRecorder and an etl.Lineage, with
// the names and shapes every sink shares (see package sinks).
//
//	db, err := sqlite.Open("name_gender.db")
//	...
//	p := &etl.Pipeline{Name: "name_gender", Source: src, Sink: &sqlite.FullRefresh{Target: sqlite.Target{
//		DB: db, Table: "name_gender", Key: []string{"name"}, Create: true,
//		Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey(), checks.DuplicateRows{}},
//	}}}
//
// # Load modes
//
//   - [FullRefresh] deletes the table's rows and inserts the stream, in one transaction.
//     An empty stream fails with etl.ErrEmpty unless the run allows it.
//   - [Merge] stages the stream in a TEMP table with each row's arrival order, keeps the
//     latest row per key (by its cursor column, then arrival), deletes the table's rows
//     with those keys, and inserts the staged rows that are not deletes. Deletes are hard
//     by default, or kept as soft-deleted rows. A [Reconcile] step also removes rows
//     hard-deleted at the source, by comparing the table with the source's keys.
//   - [WindowReplace] deletes the rows whose time column falls in the run's window and
//     inserts the stream, for backfills.
//
// With [Target.Create] set, a missing table is created from the stream's schema, with the
// loader's key as its PRIMARY KEY; without it, a missing table fails the load with an
// error wrapping etl.ErrNoTable. Rows go in through prepared multi-row INSERT statements ([DefaultBatchRows]
// rows each). Every check runs inside the transaction, and a failed one rolls back the
// rows and the watermark together. A unique-key check on a key that a unique index
// already enforces passes without a scan; a duplicate that the PRIMARY KEY rejects fails
// the load with a [*DuplicateKeyError] naming the row and its key, reported as the failure
// of the load's unique_key check (step "check") when it has one.
//
// # Transactions and locks
//
// SQLite allows one writer at a time. Every load transaction starts with BEGIN IMMEDIATE,
// so it takes the write lock before it reads anything and never fails halfway on a lock
// upgrade; a second writer waits up to [Config.BusyTimeout] (5s by default) and a BEGIN
// that ran out of it is retried while the stream is still unread. The file is in WAL
// mode, so readers see the old rows until commit and never block the load.
//
// No two runs of one pipeline overlap. The pipeline lock is an operating-system file lock
// (flock on Unix, LockFileEx on Windows) on a file beside the database, named after it:
// DB.sluice-lock-PIPELINE-HASH. It works across processes, and the kernel drops it when a
// process dies, so a killed run never leaves it held. A run that cannot take it within the
// loader's LockWait fails with an error wrapping etl.ErrLocked. SQLite's write lock could
// not serve: a load is several transactions that the lock must span, and loads of other
// pipelines into the same file must queue, not fail.
//
// # Values
//
// Each etl type has one storage form, written by the load and read back exactly by
// [Decode]:
//
//	text, json   TEXT
//	int64        INTEGER
//	float64      REAL (NaN is refused: SQLite stores it as NULL; -0 reads back as 0)
//	numeric      TEXT, the decimal's text unchanged (a NUMERIC or REAL column would round it)
//	bool         INTEGER 0 or 1
//	timestamp    TEXT in UTC with nine fractional digits ([TimestampLayout]), so text order is time order
//	date         TEXT, YYYY-MM-DD, the date's own day and year
//	bytes        BLOB
//
// Text and bytes are stored byte for byte, NUL bytes included; an empty text or BLOB
// stays empty, never NULL. Into a column declared otherwise than the table above, the
// value is bound the same way and SQLite's type affinity applies, as it does to any
// INSERT: a column declared INTEGER, REAL or NUMERIC (or DECIMAL, BOOLEAN, ...) turns a
// text that reads as a number into that number, a double unless it is a whole number
// within 64 bits, so '007' becomes 7, '1.50' 1.5 and a longer decimal the nearest
// double; a column declared TEXT keeps a number as its text.
//
// # State and run history
//
// The watermark of each pipeline lives in the sluice_state table and every run leaves a
// row in sluice_runs, both in the same file and written in the load's transaction. Read
// and change the watermark with [State.Watermark], [State.Set] and [State.Reset] (the last
// two take the pipeline lock, so they never race a load); read the history with
// [State.Runs].
//
// A row value that does not fit its column fails the load with a [*ValueError] naming the
// table, the row and the column.
//
// Table names are plain SQLite names in the main database. SQLite has no schemas, so
// [Target] and [State] have no Schema and no MetaSchema: the table, sluice_runs and
// sluice_state all live in the file. [FullRefresh] has one way to replace the rows, so it
// has no Strategy.
package sqlite
