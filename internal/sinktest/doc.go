// Package sinktest is the conformance suite every SQL sink must pass, in the manner of
// riverdrivertest.Exercise: re-runs leave the same table, a failed check leaves the old
// rows and a record saying why, an empty extract never empties a table, merges apply
// updates and deletes exactly, a failed check rolls the watermark back with the rows, and
// a window replace touches only its window. With [Harness.Vocabulary] set, it also checks
// the contract package sinks states for every sink: Create and etl.ErrNoTable, a merge
// that takes its cursor and soft-delete column from the stream's declaration and refuses
// a dropped one, and State.Runs.
//
// A sink's own test calls [Exercise] with a function that gives each subtest a fresh,
// isolated [Harness] (its own PostgreSQL schema, SQLite file or Redshift stand-in).
package sinktest
