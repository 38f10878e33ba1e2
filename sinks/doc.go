// Package sinks holds sluice's loaders, one package per database. Each offers the same
// three loaders, [FullRefresh], [Merge] and [WindowReplace] in its own package, and each
// runs them through one load protocol (internal/load), so they behave alike:
//
//	lock -> begin -> read the watermark -> stage rows in bulk -> apply -> checks ->
//	watermark and run record -> commit
//
// A failed load or check rolls back, so the target keeps its old rows, and leaves a
// failed-run record. The watermark (sluice_state) and the run history (sluice_runs) live
// in the target database and commit with the rows.
//
// # Packages
//
//   - sinks/postgres: binary COPY FROM STDIN, encoded by the client; full refresh by
//     truncate, delete or table swap; merge with deletes and key reconciliation; window
//     replace; an advisory lock per pipeline.
//   - sinks/redshift: gzip CSV parts staged in S3 and loaded with COPY; DELETE-based full
//     refresh (TRUNCATE would commit); LOCK on the target instead of advisory locks;
//     retries of serializable isolation failures.
//   - sinks/sqlite: the embedded default, for examples and local runs.
//   - sinks/mysql: MySQL 8 and MariaDB 10.6+, for publishing results to a service's
//     database: LOAD DATA LOCAL INFILE streamed from the rows, refused on any warning;
//     full refresh by delete or RENAME TABLE swap; merge by INSERT ... ON DUPLICATE KEY
//     UPDATE from a temporary stage; window replace; a GET_LOCK lock per pipeline.
//
// [FullRefresh]: https://pkg.go.dev/github.com/sluice-etl/sluice/sinks/postgres#FullRefresh
// [Merge]: https://pkg.go.dev/github.com/sluice-etl/sluice/sinks/postgres#Merge
// [WindowReplace]: https://pkg.go.dev/github.com/sluice-etl/sluice/sinks/postgres#WindowReplace
package sinks
