// Package pgstore keeps the run history of sluice DAGs in PostgreSQL, and guards each DAG
// with an advisory lock so that two cron invocations never run it at once.
//
// # Tables
//
// [Store] creates its schema and its table, dag_runs, on first use. Each row is one DAG
// run: its ID, DAG name, window, status and times, and the whole [dag.Report] as jsonb,
// saved when the run starts and again when it ends. A run whose process died stays
// "running". Indexes serve `history` (by DAG and start), backfill plans (by window start)
// and the catch-up point of a scheduled run ([Store.Watermark], successful runs by window
// end).
//
// # Locking
//
// [Store.Lock] takes a session-level advisory lock keyed by the schema and the DAG's name,
// on a connection it holds until unlock. pg_try_advisory_lock does not wait: a second
// invocation fails at once with an error wrapping [etl.ErrLocked], which [dag.MainArgs]
// turns into exit code 75. If the process dies, PostgreSQL drops the lock with the
// connection.
//
// # Use from dag.Main
//
//	d := dag.New("orders", dag.Config{OpenStore: pgstore.Open})
//	dag.Main(d) // --store postgres://... or SLUICE_DAG_STORE
package pgstore
