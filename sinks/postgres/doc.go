// Package postgres loads sluice streams into PostgreSQL: atomic full refreshes, incremental
// merges with deletes, and window replaces for backfills, all through sluice's one load
// protocol, with the watermark and the run record committed in the same transaction as
// the rows.
//
//	sink := &postgres.FullRefresh{
//		Target: postgres.Target{Pool: pool, Table: "name_gender", Create: true,
//			Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey()}},
//	}
//
// # Loaders
//
// [FullRefresh], [Merge] and [WindowReplace] each embed a [Target] (the pool, the table,
// its key, the checks and the lock policy) and implement etl.Loader, etl.FailureRecorder
// and etl.Lineage. Every load runs the same steps:
//
//	lock -> begin -> read watermark -> stage (binary COPY) -> apply -> checks ->
//	watermark + run record -> commit
//
// On any error or failed check the transaction rolls back, so the table keeps exactly its
// old rows, and a failed-run record naming the step, the error and the rows read is
// written in a transaction of its own. sluice_runs and sluice_state are created on first
// use in [Target.MetaSchema]. [State] reads, sets and resets a pipeline's watermark for a
// re-sync, and reads its run history. A missing table fails the load with an error
// wrapping etl.ErrNoTable unless [Target.Create] is set. The names and shapes are those
// every sink shares (see package sinks).
//
// # The bulk path
//
// Rows reach the server through COPY FROM STDIN in binary format, encoded by this package
// straight from etl.Row values into each column's wire format: integers, floats, numeric,
// boolean, timestamptz, timestamp, date, bytea, text (and varchar, char, enums, citext),
// json, jsonb and uuid, including domains over them. A decimal's text is regrouped into
// numeric's base-10000 digits directly, without math/big, whose encoding we measured as
// the largest client-side cost of the stock typed path; the parsing moves to the client's
// core, which is why a binary COPY beats a server-parsed text COPY on a small machine.
// Rows are read, encoded and sent on one goroutine, a 128 KiB chunk at a time, so memory
// stays flat whatever the row count; the socket's buffer keeps the server fed while the
// next chunk is encoded. A column type outside that list
// (arrays, ranges, intervals, network types) fails with [ErrUnsupportedType].
//
// # Values: what PostgreSQL would store, or an error that says where
//
// The encoder stores what PostgreSQL's own input (COPY, INSERT) would store, and
// refuses what it would refuse: a value beyond real's range (overflow, or a non-zero
// value that would round to zero) is an error, not Infinity or 0; integers past their
// type, text longer than a varchar(n) or char(n), a numeric that overflows its
// numeric(p,s) once rounded, invalid JSON and text holding a NUL byte are refused before
// they are sent. A timestamp without time zone stores the UTC wall-clock time of the
// value's instant (see package sinks). Each such failure is a *[ValueError] naming the
// row, the column and the value, and, when the stream says where its rows came from
// (etl.Stream.Position, which the CSV source sets), the input and line. An error
// PostgreSQL itself raises about a row of the COPY (an enum value, a CHECK constraint)
// is a *[ValueError] too: the row number in the server's COPY context is mapped back to
// the source line. The same text is the run record's error. An error from the stream
// (a bad CSV line) aborts the COPY and is returned as it was.
//
// # Full refresh strategies
//
// Every [Strategy] replaces the rows in one transaction; they differ in what readers see
// and what the table keeps:
//
//   - [Truncate] (the default) truncates the table, drops its indexes, COPYs and rebuilds
//     the indexes. Loading without indexes and building them after is the main speed-up
//     we measured (about 1.1 s of index upkeep against 0.4 s of index build at 2M
//     rows), and the table keeps its identity: views, foreign keys into it, grants,
//     triggers and policies are untouched. Readers block until commit. Indexes that
//     something depends on (a primary key that foreign keys reference), the replica
//     identity and the clustered index stay in place. TRUNCATE fails on a table that
//     other tables' foreign keys reference; use Delete there.
//   - [Delete] deletes all rows and COPYs into the indexed table. Readers keep seeing the
//     old rows until commit and nothing about the table changes, but it is the slowest
//     (about twice Truncate's time and WAL) and leaves the old rows as dead tuples for
//     vacuum.
//   - [Swap] COPYs into a new table created LIKE the target without indexes, builds the
//     indexes and the table's own foreign keys, re-applies grants, owner, comment and
//     storage options, runs ANALYZE, and then drops the old table and renames the new one
//     into place. Readers see the old rows until the swap, whose exclusive lock is held
//     only from DROP to commit. The table gets a new identity, so Swap refuses, with
//     [ErrSwapUnsafe] naming them, tables that views, foreign keys from other tables,
//     triggers, policies, rules, owned sequences, publications, column privileges,
//     partitioning or inheritance depend on. Checks run after the swap, so the exclusive
//     lock is held while they run: prefer checks a unique index answers, and row counts.
//
// Truncate and Swap write the rows with COPY ... FREEZE (the table was truncated or
// created in the load's transaction), so no later reader rewrites every page to set hint
// bits and vacuum skips the pages. Before they build the indexes, they raise
// maintenance_work_mem for the rest of the transaction to about 100 bytes a loaded row
// plus 16MB, at most 1GB and never below the server's setting, so that the key's sort
// fits in memory and the server can plan its parallel workers: about a quarter off a 2M-row
// key build. It is a ceiling, not an allocation: the sort takes what the keys need, on the
// order of the finished index's size.
//
// TRUNCATE and the swap's DROP wait for running queries under [Target.LockTimeout] inside
// a savepoint and retry, so a long report query neither stalls the load forever nor
// queues every new reader behind it.
//
// # Merge
//
// [Merge] stages the changed rows in a temporary table with their arrival order,
// deduplicates them (latest by [Merge.Cursor], then by arrival), deletes the target rows
// whose key is staged, and inserts the staged rows that are not soft-deleted. Its cursor
// and soft-delete column default to those the stream declares, so a source configured
// with its soft-delete column has its deletes applied without naming it again. Re-running
// a batch is harmless, so sources can re-read with a look-back. [Reconcile] removes rows
// hard-deleted at the source by streaming its keys, optionally scoped by a predicate.
//
// # Window replace
//
// [WindowReplace] deletes the rows whose time column falls in the run's window and
// inserts the window's rows, in one transaction; a staged row outside the window fails
// the load.
//
// # Concurrency and crashes
//
// A load takes a session-level advisory lock keyed by the meta schema and the pipeline's
// name ([LockKey]); a second run of the pipeline fails at once with etl.ErrLocked, or
// waits up to [Target.LockWait]. Stages are temporary tables dropped at commit, or (the
// swap's new table) carry a per-run name and are created inside the load's transaction,
// so a killed process leaves no table and no lock behind: both end with its session.
//
// The session ends when the server notices that its client is gone, and a server notices
// only when it next talks to the client: after a SIGKILL in the middle of a statement (an
// index build, a large DELETE, a check) the backend would finish the statement, holding
// the lock, before it found out, and a supervisor's immediate restart would find the
// pipeline locked for as long. So the load's session sets client_connection_check_interval
// to one second (PostgreSQL 14 and later; it is restored when the connection goes back to
// the pool): the server then checks the socket while the statement runs and ends the
// session, and with it the lock, within about a second of the kill. On older servers the
// lock outlives the kill by the rest of the statement; give the restarted run a
// [Target.LockWait] to ride that out. A run that was killed leaves its record "running" in
// sluice_runs, and the next run that takes the lock marks it "abandoned".
//
// A cancelled load (SIGINT or SIGTERM through the context) closes its connection in the
// middle of its statement, as pgx does; the load then ends that connection's backend
// (pg_terminate_backend, which needs no privilege for one's own role) and waits for it to
// go, so the lock is free when the load returns and an immediate re-run gets it.
//
// # Checks
//
// Checks run in the load's transaction and see the new rows. The dialect tells
// checks.UniqueKey when a valid unique index covers exactly the key, so the check costs
// nothing and its result says so.
package postgres
