// Package redshift loads streams into Amazon Redshift through S3 staging: rows are
// written as gzip CSV parts to S3, listed in a manifest, and loaded with COPY.
//
// # Loaders
//
// [FullRefresh], [Merge] and [WindowReplace] follow sluice's one load protocol
// (internal/load) with the same checks and the same sluice_runs and sluice_state tables
// as the PostgreSQL sink. Each load runs one transaction:
//
//	full refresh, window replace:
//	  read the watermark -> stage the stream to S3 ->
//	  BEGIN -> LOCK target -> COPY the manifest into a temporary stage ->
//	  compare pg_last_copy_count() with the rows staged -> apply -> checks ->
//	  watermark and run record -> COMMIT
//	merge:
//	  BEGIN -> LOCK target -> read the watermark -> stage the stream to S3 -> COPY -> ...
//
// Full refresh is DELETE plus INSERT from the stage, never TRUNCATE, which commits
// implicitly on Redshift. Merge is AWS's "delete using the stage, then insert the latest
// non-deleted row per key", with no MERGE. Window replace deletes the run's window and
// inserts the stage. A serializable isolation violation (error 1023) runs the whole
// transaction again, with backoff, from the same staged files; the files are deleted
// after the commit or the final failure unless [StageConfig.KeepStaged] is set.
//
// Redshift's LOCK is exclusive: readers of the target wait while it is held. A full
// refresh and a window replace upload to S3 before the transaction, so the lock covers
// only the COPY and the apply. A merge uploads inside it, because its source reads the
// watermark and the watermark must be read under the lock; size
// [StageConfig.Concurrency] for the wait readers can bear. A watermark that moves between
// a prestaged run's read and its commit fails that run rather than storing rows that may
// be stale. A second load of the same table waits
// for the first to commit; [Target.LockWait] bounds that wait with a statement_timeout
// around the LOCK, after which the load fails with etl.ErrLocked. Redshift does not
// enforce keys, so add checks.UniqueKey to catch duplicates.
//
// # Staging
//
// A [Stager] writes a stream under a unique run prefix,
// "<prefix>/<pipeline>/<run ID>/part-00000.csv.gz", in rounds of one part per slice
// ([StageConfig.Slices]): rows are dealt round-robin to the parts of a round and
// compressed as they come, and when the round holds Slices*PartSize bytes of CSV its parts
// are uploaded by at most Concurrency goroutines while the next round fills. The part
// count is therefore always a multiple of the slice count, every slice gets an equal
// share, and memory stays flat whatever the row count. The returned [Staged] holds the manifest URL, the parts and the
// row count to compare with pg_last_copy_count(); [Staged.Delete] removes the run prefix.
//
// The CSV is written so that Redshift reads every value back exactly (see [Copy.SQL] for
// the matching options): NULL is the unquoted field \N, text is always quoted so an empty
// string stays an empty string, timestamps are UTC with microseconds, booleans are t and
// f. Values that COPY cannot load exactly are refused with a [*ValueError]: the text \N,
// NUL bytes, invalid UTF-8, NaN and infinities, bytes, and years outside 1-9999.
//
// # SQL
//
// [Copy] builds the COPY statement; every identifier goes through [QuoteIdentifier] and
// every string through [QuoteLiteral], which uses Redshift's literal rules.
//
// # The database seam
//
// The sink sends every statement through [DB], which a *pgx.Conn satisfies;
// internal/redshifttest provides a stand-in that runs on PostgreSQL and the in-process S3
// server. [Connect] opens a connection with the settings Redshift needs (the exec query
// mode, no statement cache, no type loading) and never shows the password in its errors.
// [IsRetryable] recognises Redshift's serializable isolation error 1023, which a caller
// retries by re-running the whole transaction.
package redshift
