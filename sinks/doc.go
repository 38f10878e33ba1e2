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
//
// # Timestamps
//
// One rule holds in every sink. A timestamp value is an instant. Loaded into a column
// with a time zone (PostgreSQL's and Redshift's timestamptz) it is stored as that
// instant. Loaded into a column without one (timestamp, MySQL's DATETIME, SQLite's text
// form) it is stored as its UTC wall-clock time: 2026-02-28 12:00:00+09 is stored as
// 2026-02-28 03:00:00. A value written without an offset, which sources read as UTC
// unless told otherwise, is so stored as written. A date is stored from its own year,
// month and day, never after a zone conversion.
//
// # Values
//
// A sink stores what the target's own input would store from the same text, or fails
// the load with an error naming the row, the column and the value, and, when the stream
// says where its rows came from (etl.Stream.Position), the input and line. It never
// changes a value silently.
//
// [FullRefresh]: https://pkg.go.dev/github.com/sluice-etl/sluice/sinks/postgres#FullRefresh
// [Merge]: https://pkg.go.dev/github.com/sluice-etl/sluice/sinks/postgres#Merge
// [WindowReplace]: https://pkg.go.dev/github.com/sluice-etl/sluice/sinks/postgres#WindowReplace
package sinks
