// Package load is sluice's load protocol, written once for every SQL sink:
//
//	lock (no two runs of one pipeline overlap) -> begin ->
//	read the stored watermark -> stage rows (bulk) -> apply (replace all | merge | window) ->
//	checks (fail -> rollback) -> save state and run record -> commit
//
// A failed run is rolled back, so the target keeps exactly its old rows, and then leaves a
// run record of its own, written in a separate transaction, that names the failed step, the
// error and the rows read.
//
// Every run that takes the lock leaves a record: "running" from the moment it holds the
// lock (committed on its own, so that a killed run leaves a trace), then "success" in the
// load's transaction or "failed" after the rollback. The next run that takes the lock
// marks the records still running as "abandoned", since holding the lock proves their
// runs are gone. A run that finds the lock held leaves no record: it never ran.
//
// # Cancellation
//
// A cancelled load returns an error that matches the context's error. Everything that
// must still happen afterwards (rollback, failure record, releasing the lock, closing the
// session) runs under one context from etl.Run.CleanupContext, so it ends within the
// run's CleanupTimeout even when the database has stopped answering; an error whose
// failed-run record could not be written matches etl.ErrNotRecorded.
//
// # Seams
//
// A sink supplies a [Dialect]: how to open a [Session] (one connection held for the whole
// load, which also takes the pipeline lock), how to quote and type SQL, and which errors
// mean "run the transaction again". For each load it supplies a [Mode]: how to stage the
// stream's rows and how to apply them to the target. Modes may implement the optional
// [Preparer], [Prestager], [Publisher], [Replayer] and [Cleaner] interfaces, and dialects
// the optional [UniqueIndexer], [UniqueViolator] and [TxLocker]; the protocol detects them
// by type assertion.
//
// # State and run history
//
// The protocol owns two tables, created on first use in the configured schema:
// sluice_state (one watermark per pipeline) and sluice_runs (one record per run). Both are
// written in the load's own transaction, so the watermark can never drift from the rows.
//
// Package load is internal: users reach it through sinks/postgres, sinks/redshift,
// sinks/sqlite and sinks/mysql.
package load
