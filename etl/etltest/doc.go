// Package etltest helps users test their own pipelines, in the manner of net/http/httptest:
// in-memory pieces to build a [etl.Pipeline] from, a way to run it inside a test, and
// assertions whose failure messages show a diff.
//
// Every helper that can fail a test takes a testing.TB and calls tb.Helper(), so failures
// point at the caller's line.
//
// # Sources
//
// [NewSource] builds an [etl.Extractor] from a schema and rows, and [SourceOf] builds one
// from structs through the mapping of [etl.SchemaOf]. A [Source] yields its rows through
// one reused Row, like a real source, so a transform or sink that keeps rows without
// [etl.Row.Clone] shows up in tests. Set [Source.Err] or [Source.StreamErr] to make the
// extract fail before or after its rows.
//
// # Sinks
//
// A [Sink] is an in-memory [etl.Loader] with full-refresh semantics: each successful Load
// replaces its contents, a failed one leaves them as they were. Like the SQL sinks it
// refuses an empty full refresh with [etl.ErrEmpty] unless the run allows it, and it runs
// [StreamCheck] values over the rows before it replaces anything; a failed check of
// severity error fails the load with a *checks.Error, as the SQL sinks do. It records every Load call
// ([Sink.Loads]) and every failure the pipeline reports to it ([Sink.Failures]).
//
// # Checks
//
// [StreamCheck] is the in-memory form of a data check: the checks of package checks that
// your SQL sinks run (checks.UniqueKey, checks.RowCount, checks.DuplicateRows,
// checks.NotNull) work on a Sink as they are, so a test checks with the same values the
// production load uses. [CheckFunc] adapts a function of your own.
//
// # Running
//
// [Run] runs a pipeline with the test's context and fails the test on error; [RunErr]
// returns the error for tests that expect one.
//
// # Assertions
//
// [RequireRows] and [RequireRowsAnyOrder] compare rows and print a line diff,
// [RequireStats] compares run counters without the duration, and [RequireCheckFailed]
// finds a failed check in an error chain: any error in the chain that has a
// CheckResults() []etl.CheckResult method or a CheckResult() etl.CheckResult method (as
// package checks' *checks.Error does) counts.
//
// Failure messages are testify's, with the diff in the Error field:
//
//	Error:  rows differ (in order): want 2, got 2
//	        --- want
//	        +++ got
//	          (1, "ann")
//	        - (2, "bob")
//	        + (2, "bobby")
package etltest
