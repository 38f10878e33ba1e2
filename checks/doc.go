// Package checks holds the data checks a load runs inside its transaction, before commit:
// row counts, key uniqueness, duplicate rows, not-null columns, a shrink guard and your own
// SQL assertions.
//
// # How checks run
//
// A sink runs every [Check] against a [Target]: the loaded table, seen through the load's
// open transaction, and the run's [etl.Stats]. A check whose severity is
// [etl.SeverityError] (the default) and that fails rolls the whole load back, so the old
// rows stay. A [etl.SeverityWarn] check only records its result. Every result, passed or
// not, goes into the run record.
//
// A failed error-severity check surfaces as a *[Error], or an errors.Join of several, that
// names the check, the table, what was expected, what was found and up to five offending
// keys.
//
// # Dialects
//
// Checks are expressed once and rendered through a [Dialect], which quotes identifiers and
// numbers placeholders. The SQL they emit (GROUP BY ... HAVING, COUNT, IS NULL) is common to
// PostgreSQL, Redshift and SQLite.
//
// # In-stream checks
//
// Loaders that have no SQL engine, such as the in-memory sink in etl/etltest, run the
// checks that also implement [RowsChecker] over the rows they hold.
package checks
