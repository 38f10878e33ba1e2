// Package redshift loads streams into Amazon Redshift, provisioned or Serverless, through
// S3 staging: rows are written as gzip CSV parts to S3, listed in a manifest, and loaded
// with COPY.
//
// # Loaders
//
// [FullRefresh], [Merge] and [WindowReplace] embed a [Target] and follow sluice's one
// load protocol (internal/load) with the same checks and the same sluice_runs and
// sluice_state tables as the other sinks. Each load runs:
//
//	make sure the table exists (Target.Create makes it) -> read the watermark ->
//	stage the stream to S3 ->
//	BEGIN -> LOCK target, sluice_lock -> COPY the manifest into a temporary stage ->
//	compare pg_last_copy_count() with the rows staged -> apply -> checks ->
//	watermark and run record -> COMMIT
//
// Full refresh is DELETE plus INSERT from the stage, never TRUNCATE, which commits
// implicitly on Redshift. Merge is AWS's "delete using the stage, then insert the latest
// non-deleted row per key", with no MERGE. Window replace deletes the run's window and
// inserts the stage. An isolation conflict (error 1023 under SERIALIZABLE, "could not
// complete because of conflict with concurrent transaction" under SNAPSHOT) runs the
// whole transaction again, with backoff, from the same staged files.
//
// Every load uploads before its transaction, so Redshift's LOCK, which also blocks
// readers, covers only the COPY and the apply. A watermark that moves between the read
// and the commit fails the run rather than storing rows that may be stale. The LOCK also
// takes sluice_lock, an empty table in the meta schema, so that loads sharing the meta
// schema write sluice_state and sluice_runs one transaction at a time: on a SERIALIZABLE
// cluster they would otherwise abort one another. Their uploads still run in parallel;
// give groups of pipelines their own MetaSchema to let their transactions overlap.
// [Target.LockWait] bounds the wait for the LOCK with a statement_timeout, after which the
// load fails with etl.ErrLocked; a cancelled context is reported as such. Redshift does
// not enforce keys, so add checks.UniqueKey to catch duplicates.
//
// # Values
//
// Values are staged so that COPY stores what INSERT would: NULL is \N, text is always
// quoted, timestamps are written in UTC (stored as that instant in TIMESTAMPTZ and as the
// UTC wall clock in TIMESTAMP), dates from their own year, month and day, and COPY runs
// with ROUNDEC, so a decimal with more digits than its column's scale is rounded as
// INSERT rounds it rather than truncated. What COPY cannot load exactly is refused before
// anything is staged with a [*ValueError]: the text \N, NUL bytes, invalid UTF-8, NaN and
// infinities, bytes, years outside 1-9999. Every name (table, schema, columns, key) is
// folded to lower case, as a default cluster folds even quoted names, and a stream whose
// columns differ only in case is refused.
//
// # When COPY fails
//
// A COPY Redshift refuses (a string longer than its VARCHAR's byte length, say) fails
// with a [*LoadError] read from SYS_LOAD_ERROR_DETAIL, or STL_LOAD_ERRORS where the SYS
// view is missing: the staged file and line, the column and its type, the value (from
// STL_LOAD_ERRORS, which Serverless lacks) and Redshift's reason. The same text goes into
// sluice_runs. The staged files are kept for [StageConfig.KeepFailed] behind a
// failed.json marker, and [Sweep] deletes them afterwards.
//
// # Staging
//
// [StageConfig] says where parts go, how big they are, how many upload at once, with
// which server-side encryption (SSE-S3 or SSE-KMS), and which role COPY assumes. COPY
// always names the bucket's region as the S3 client resolved it.
//
// # State and history
//
// [State] reads a pipeline's watermark, sets or resets it (waiting for a running load,
// up to LockWait), and lists its run records.
//
// # What has not been checked on a cluster
//
// The package is tested against internal/redshifttest, a PostgreSQL-backed stand-in that
// models the behaviour above from the AWS Redshift Database Developer Guide, and by an
// env-gated smoke suite against a real cluster (SLUICE_TEST_REDSHIFT_URL) that has not
// been run here. Assumptions that only a cluster can confirm: that
// SYS_LOAD_ERROR_DETAIL.query_id and STL_LOAD_ERRORS.query equal pg_last_copy_id(); the
// SQLSTATE of the snapshot conflict (matched by message) and of a statement_timeout
// (57014, matched by message too); that TIMEFORMAT 'auto' reads "...+00" into a TIMESTAMP
// column as the UTC wall clock; the line numbers Redshift logs for records spanning
// lines; that locking sluice_lock first keeps SERIALIZABLE conflicts among loads away.
package redshift
