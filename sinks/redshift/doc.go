// Package redshift loads streams into Amazon Redshift through S3 staging: rows are
// written as gzip CSV parts to S3, listed in a manifest, and loaded with COPY.
//
// # Staging
//
// A [Stager] writes a stream under a unique run prefix,
// "<prefix>/<pipeline>/<run ID>/part-00000.csv.gz", in rounds of one part per slice
// ([StageConfig.Slices]): rows are dealt round-robin to the parts of a round and
// compressed as they come, and when the round holds Slices*PartSize bytes of CSV its parts
// are uploaded by at most Concurrency goroutines while the next round fills. The part count is therefore always a
// multiple of the slice count, every slice gets an equal share, and memory stays flat
// whatever the row count. The returned [Staged] holds the manifest URL, the parts and the
// row count to compare with pg_last_copy_count(); [Staged.Delete] removes the run prefix.
//
// The CSV is written so that Redshift reads every value back exactly (see [Copy.SQL] for
// the matching options): NULL is the unquoted field \N, text is always quoted so an empty
// string stays an empty string, timestamps are UTC with microseconds, booleans are t and
// f. Values that COPY cannot load exactly are refused with a [*ValueError]: the text \N,
// NUL bytes, invalid UTF-8, NaN and infinities, bytes, and years outside 1-9999.
//
// # SQL
//
// [Copy] builds the COPY statement; every identifier goes through [QuoteIdentifier] and
// every string through [QuoteLiteral], which uses Redshift's literal rules.
//
// # The database seam
//
// The sink sends every statement through [DB], which a *pgx.Conn satisfies;
// internal/redshifttest provides a stand-in that runs on PostgreSQL and the in-process S3
// server. [Connect] opens a connection with the settings Redshift needs (the exec query
// mode, no statement cache, no type loading) and never shows the password in its errors.
// [IsRetryable] recognises Redshift's serializable isolation error 1023, which a caller
// retries by re-running the whole transaction.
package redshift
