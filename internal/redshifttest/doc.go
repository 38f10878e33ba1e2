// Package redshifttest stands in for Amazon Redshift in tests, since there is no cluster
// and no AWS here: statements run on a real PostgreSQL schema (see internal/pgtest) and
// staged objects live on an in-process S3 server (gofakes3, path-style).
//
// # The harness
//
// [New] returns a [*Harness], one session on a cluster with a new provisioned cluster's
// defaults; [NewWith] configures the cluster ([Options]: isolation level, Serverless,
// region, bucket policy) and [Harness.Session] opens more sessions on it. A Harness
// implements the Redshift sink's DB seam (Exec, Query, QueryRow). It records every
// statement ([Harness.Statements]) for golden tests and tracks BEGIN, COMMIT, END,
// ROLLBACK and ABORT. Where PostgreSQL would behave differently from a default Redshift
// cluster in a way the sink depends on, the harness behaves like Redshift, each rule
// taken from the AWS Redshift Database Developer Guide (the page is named where the rule
// is coded):
//
//   - Identifiers: quoted names are folded to lower case unless the session ran SET
//     enable_case_sensitive_identifier TO true (enable_case_sensitive_identifier).
//   - COPY ... FROM 's3://...' is parsed by [ParseCopy], which rejects any option it
//     does not understand. The manifest (or, without MANIFEST, every key under the
//     prefix) is read from the S3 server, gunzipped with GZIP, IGNOREHEADER lines are
//     skipped, and the CSV is streamed into PostgreSQL with COPY FROM STDIN after
//     Redshift's data conversion rules: NULL AS and EMPTYASNULL; VARCHAR and CHAR lengths
//     in bytes, TEXT as VARCHAR(256), single-byte CHAR; invalid UTF-8 refused; decimals
//     truncated to the column's scale unless ROUNDEC. A bucket in another region than the
//     cluster's must be named with REGION.
//   - A COPY that fails on bad data logs the field in STL_LOAD_ERRORS and
//     SYS_LOAD_ERROR_DETAIL (in the test's schema, as CHAR columns, outside the
//     transaction) and fails with Redshift's "Load into table ... failed. Check
//     'stl_load_errors' ..." ([LoadError]). SELECT pg_last_copy_id() and SELECT
//     pg_last_copy_count() answer for the session's last COPY, failed or not; [Harness.Miscount]
//     makes the count disagree with the COPY.
//   - Isolation: sessions run at PostgreSQL's REPEATABLE READ for SNAPSHOT (the default)
//     or SERIALIZABLE, so conflicts between sessions are real, and PostgreSQL's
//     serialization failures come back worded as Redshift's ([SnapshotConflict],
//     [SerializableViolation]).
//   - A statement stopped by statement_timeout or by a cancel request fails with "Query
//     (<id>) canceled on user's request", as on Redshift, whatever the cause.
//   - TRUNCATE or ALTER TABLE APPEND inside a transaction fails the test, because both
//     commit implicitly on Redshift. TRUNCATE then does what Redshift does: it commits the
//     open transaction.
//   - Serverless ([Options.Serverless]) has no STL tables; [Options.NoSysViews] models a
//     cluster without the SYS views.
//
// # Faults
//
// [Harness.Fail] makes the nth matching statement fail with a given error, such as
// [SerializableViolation] (Redshift's error 1023), [SnapshotConflict] or [LoadError]. Inside
// a transaction the transaction is then aborted, so later statements fail until ROLLBACK.
//
// # Differences from Redshift
//
// String literals in a COPY are read with Redshift's rules (backslash escapes). Statements
// other than those above run on PostgreSQL 15 as they are, so SQL that only Redshift
// accepts (DISTKEY, SORTKEY, ...) fails here. Byte lengths are enforced only on COPY: an
// INSERT of a multibyte string counts characters, as PostgreSQL does. Timestamps are
// parsed by PostgreSQL in UTC; Redshift's TIMEFORMAT 'auto' is assumed to read the ISO
// form with an offset the same way. Redshift's lock and conflict detection is coarser than
// PostgreSQL's in places (it reports conflicts per table); a conflict the harness reports
// is one Redshift reports too, not necessarily the other way round. Error codes,
// SQLSTATEs and the line numbers of records that span lines are the harness's best
// reading of the guide, noted where they are assumptions.
package redshifttest
