// Package redshiftcopy is the S3 staging and the COPY statement of the Redshift sink,
// kept out of the sink's public surface.
//
// # Staging
//
// A [Stager] writes a stream under a unique run prefix,
// "<prefix>/<pipeline>/<run ID>/part-00000.csv.gz", in rounds of one part per slice
// ([Config].Slices): rows are dealt round-robin to the parts of a round and compressed as
// they come, and when the round holds Slices*PartSize bytes of CSV its parts are uploaded
// by at most Concurrency goroutines while the next round fills. The part count is
// therefore always a multiple of the slice count, every slice gets an equal share, and
// memory stays flat whatever the row count. The returned [Staged] holds the manifest URL,
// the parts and the row count to compare with pg_last_copy_count(); [Staged.Delete]
// removes the run prefix and [Staged.MarkFailed] keeps it from the sink's Sweep for a
// while.
//
// # CSV
//
// The CSV is written so that Redshift reads every value back exactly with the options
// [Copy.SQL] sets (see [WriteCSV]): NULL is the unquoted field \N, text is always quoted
// so an empty string stays an empty string, timestamps are UTC with microseconds, dates
// are their own year, month and day, booleans are t and f. Values that COPY cannot load
// exactly are refused with a [*ValueError].
//
// # SQL
//
// [Copy] builds the COPY statement; every identifier goes through [QuoteIdentifier] and
// every string through [QuoteLiteral], which uses Redshift's literal rules.
package redshiftcopy
