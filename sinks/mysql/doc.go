// Package mysql loads sluice streams into MySQL 8 and MariaDB 10.6 or later: atomic full
// refreshes, incremental merges with deletes, and window replaces for backfills, all
// through sluice's one load protocol, with the watermark and the run record committed in
// the same transaction as the rows. It serves production-data jobs: publishing what the
// warehouse computed to the database a service reads from.
//
//	dsn := "app:secret@tcp(db:3306)/product"
//	db, err := sql.Open("mysql", dsn)
//	...
//	sink := &mysql.FullRefresh{Target: mysql.Target{DB: db, DSN: dsn, Table: "course_summary",
//		Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("courseid")}}}
//
// Importing the package registers the github.com/go-sql-driver/mysql driver as "mysql".
//
// # Loaders
//
// [FullRefresh], [Merge] and [WindowReplace] each embed a [Target] (the *sql.DB, the
// database and table, the key, the checks and the lock policy) and implement etl.Loader,
// etl.FailureRecorder and etl.Lineage. Every load runs the same steps:
//
//	GET_LOCK -> begin -> read watermark -> stage (LOAD DATA LOCAL INFILE) -> apply ->
//	checks -> watermark + run record -> commit
//
// On any error or failed check the transaction rolls back, so the table keeps exactly its
// old rows, and a failed-run record naming the step, the error and the rows read is
// written in a transaction of its own. sluice_runs and sluice_state are created on first
// use in [Target.MetaSchema], a database. [State] reads, sets and resets a pipeline's
// watermark and reads its run history as sinks.RunRecord values. The names and shapes are
// those package sinks sets for every sink: Create defaults to false and a missing table
// fails with an error wrapping etl.ErrNoTable, and Merge.Cursor and Merge.Deleted default
// to what the stream declares.
//
// A load holds one connection of the pool for its whole length, sets its session (strict
// sql_mode, utf8mb4, time_zone '+00:00', notes counted as warnings), and closes it at the
// end instead of returning it, so those settings never reach the pool's other users. The
// DSN needs nothing special: loc and parseTime do not change what is stored.
//
// # The bulk path
//
// Rows reach the server through LOAD DATA LOCAL INFILE, streamed from the row stream
// through the driver's reader handler (registered under a name unique to the load and
// deregistered after it), never as row-by-row INSERTs. A goroutine encodes the rows, in
// 64 KiB chunks, into the text format FIELDS TERMINATED BY '\t' ESCAPED BY '\\' LINES
// TERMINATED BY '\n' CHARACTER SET utf8mb4: backslash, tab, newline, carriage return and
// NUL are escaped, NULL is \N, and binary columns travel as hexadecimal decoded by UNHEX,
// so every value reads back byte for byte. The server must allow it: MySQL 8 ships with
// local_infile=OFF (SET GLOBAL local_infile = 1); a refusal says so.
//
// LOAD DATA LOCAL cannot stop the client mid-file, so the server turns what would be
// errors into warnings and goes on: a value it cannot store is truncated, rounded or
// zeroed, and a row with a duplicate key is skipped. So any warning or note fails the load
// with a *[WarningsError] quoting the server (row and column included, and the row's
// input and line when the stream knows them), as does a stored row count that differs
// from the rows sent; the transaction then rolls everything back. The server's warnings
// do not quote the value, so the load refuses the commonest misfits itself, before they
// are sent, with a *[ValueError] naming the row (and its input's line, when the stream
// knows it), column and value: a text longer than its CHAR, VARCHAR or TEXT column holds
// (characters for CHAR and VARCHAR, bytes for TEXT), bytes longer than a BINARY,
// VARBINARY or BLOB column holds, an integer outside its column's range, and a
// JSON-typed value that is not a JSON document. A row that fails a CHECK constraint is
// named by a merge, which finds it in its stage; a full refresh or window replace can
// name only the constraint, since the server skips such a row with a warning that names
// neither row nor column.
//
// Values are what a plain INSERT of the same text would store, with these exceptions,
// all refusals of a silent change, reported as a *[ValueError]:
//
//   - a number with more digits after the point than its column keeps: a DECIMAL's scale,
//     which INSERT rounds to with a note, none for an integer column, and a FLOAT(M,D) or
//     DOUBLE(M,D)'s scale, which INSERT rounds to without a word ('1.5' into an INT
//     stores 2); a time, or a time's text, with more sub-second digits than a DATETIME,
//     TIMESTAMP or TIME keeps, which MariaDB cuts and MySQL rounds without a word; and a
//     nonzero number too small for a FLOAT or DOUBLE, which INSERT stores as 0;
//   - a timestamp with a time of day loaded into a DATE, and NaN or infinity;
//   - a NULL for a NOT NULL column, which INSERT turns into the current time in a
//     TIMESTAMP and into a new number in an AUTO_INCREMENT column.
//
// What the column type itself does to a value that fits it, the load does too: a FLOAT
// column keeps a single-precision float, MariaDB stores -0 as 0, a CHAR drops trailing
// spaces, a BINARY pads with zero bytes, an integer into a DOUBLE beyond 2^53 is rounded,
// and an ENUM takes the text "2" as its second member.
//
// Timestamps follow the rule of package sinks: the session's time zone is UTC, so a
// TIMESTAMP column stores the instant and a DATETIME its UTC wall-clock time
// ("2026-02-28 12:00:00+09" stores "2026-02-28 03:00:00"); a date value (etl.TypeDate)
// stores its own year, month and day. Spatial columns fail with [ErrUnsupportedType].
//
// # Full refresh strategies
//
// MySQL commits TRUNCATE, and every other DDL statement, implicitly, so there is no
// truncate strategy. The two that are keep the old rows on any failure:
//
//   - [Delete] (the default) deletes every row and loads the new ones in one transaction.
//     The table keeps its identity: grants, triggers, foreign keys, AUTO_INCREMENT and
//     everything else stay as they are. Readers keep seeing the old rows until commit
//     (InnoDB's consistent reads) and are never blocked; writers to the table wait for the
//     commit. The old rows' undo makes it the slower strategy. A table that other tables'
//     foreign keys reference with ON DELETE CASCADE, SET NULL or SET DEFAULT is refused
//     ([ErrDeleteUnsafe]): deleting its rows would change theirs.
//   - [Swap] creates a new table LIKE the target (columns, indexes, options, partitions),
//     loads it, runs the checks on it, and only then puts it in place with one atomic
//     RENAME TABLE target TO old, new TO target, and drops the old table. Readers see the
//     old rows until the rename and the new ones after; the rename waits for queries
//     running on the table and queues new ones behind it, bounded by
//     [FullRefresh.LockTimeout]. Grants are kept by the table's name, so the new table has
//     them, and views, which name the table, read it. Triggers and foreign keys belong to
//     the table object and would not follow, so Swap refuses tables that have them, or
//     that others reference ([ErrSwapUnsafe]). The rename commits the load of the new
//     table; the watermark and run record are written in a transaction after it, so a
//     crash in between leaves the new, checked rows in place, and the run's record
//     "running" until the next run marks it "abandoned".
//     A swap holds a lock named after the table ("sluice-swap:...") so that two pipelines
//     never swap one table at once, and drops the new and old tables that a killed swap
//     left behind before it starts.
//
// # Merge
//
// [Merge] stages the changed rows in a TEMPORARY table with the target's column types,
// numbered in arrival order, deduplicates them (latest by [Merge.Cursor], then by
// arrival), then upserts the live ones with INSERT ... SELECT ... ON DUPLICATE KEY UPDATE
// and deletes the target rows of the soft-deleted ones ([Merge.Deleted]). The key must be
// covered by a unique index (its primary key, say), or the merge fails with
// [ErrNoUniqueKey]; a NULL in a staged key fails it too. ON DUPLICATE KEY UPDATE fires on
// a clash with any unique index, so a table with other unique indexes, or a stream without
// all of the table's columns, is merged by deleting the staged keys and inserting the
// live rows instead: a clash on another index then fails the load rather than update the
// wrong row. Keys compare as the key columns' collation says: under a case-insensitive
// collation "Ann" and "ann" are one key, and the row takes the stream's spelling.
// [Reconcile] removes rows hard-deleted at the source by streaming its keys.
//
// # Window replace
//
// [WindowReplace] deletes the rows whose time column falls in the run's window, loads the
// window's rows, and counts the window again: a loaded row outside it fails the load.
//
// # Concurrency and crashes
//
// A load takes a GET_LOCK lock named after the meta database and the pipeline
// ([LockName], within MySQL's 64-character limit); a second run of the pipeline fails at
// once with an error wrapping etl.ErrLocked, or waits up to [Target.LockWait]. The lock,
// the transaction and the temporary tables live with the session, so a killed process
// leaves none of them behind: the server rolls back and releases them when it notices the
// connection is gone. The tests kill loaders with SIGKILL at random instants, mid-load,
// during the checks and around the commit and the swap's rename, and find the old rows or
// the new ones, never a mix.
//
// # Checks
//
// Checks run in the load's transaction and see the new rows (a swap's in the new table,
// before the rename). The dialect tells checks.UniqueKey when a unique index over exactly
// the key, on NOT NULL columns, covers it, so the check costs nothing and says so. A
// duplicate that the table's own unique index refuses is the unique_key check failing.
//
// # What this sink lacks
//
// Against sinks/postgres: no truncate strategy (see above); no retention job, run pruning
// or dag.Execer (run summary SQL through your own *sql.DB); lineage needs [Target.DSN]
// besides the *sql.DB, which does not reveal which server it reaches.
package mysql
