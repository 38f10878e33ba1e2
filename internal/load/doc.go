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
// # Seams
//
// A sink supplies a [Dialect]: how to open a [Session] (one connection held for the whole
// load, which also takes the pipeline lock), how to quote and type SQL, and which errors
// mean "run the transaction again". For each load it supplies a [Mode]: how to stage the
// stream's rows and how to apply them to the target. Modes may implement the optional
// [Preparer], [Prestager], [Publisher], [Replayer] and [Cleaner] interfaces; the protocol
// detects them by type assertion.
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
