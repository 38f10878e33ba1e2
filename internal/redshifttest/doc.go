// Package redshifttest stands in for Amazon Redshift in tests, since there is no cluster
// and no AWS here: statements run on a real PostgreSQL schema (see internal/pgtest) and
// staged objects live on an in-process S3 server (gofakes3, path-style).
//
// # The harness
//
// [New] returns a [*Harness] that implements the Redshift sink's DB seam (Exec, Query,
// QueryRow). It records every statement ([Harness.Statements]) for golden tests and
// tracks BEGIN, COMMIT, END, ROLLBACK and ABORT. What PostgreSQL would accept but Redshift
// would not do the same way is intercepted:
//
//   - COPY ... FROM 's3://...' is parsed by [ParseCopy], which rejects any option it does
//     not understand. The manifest (or, without MANIFEST, every key under the prefix) is
//     read from the S3 server, gunzipped with GZIP, IGNOREHEADER lines are skipped, and
//     the CSV is streamed into PostgreSQL with COPY FROM STDIN after Redshift's NULL rules
//     are applied: a field equal to NULL AS is NULL whether quoted or not (the
//     conservative reading), an empty field is NULL in a non-text column, and in a text
//     column only with EMPTYASNULL.
//   - SELECT pg_last_copy_count() answers with the row count of the last COPY, as an
//     INTEGER like Redshift's; [Harness.Miscount] makes it disagree with the COPY.
//   - TRUNCATE or ALTER TABLE APPEND inside a transaction fails the test, because both
//     commit implicitly on Redshift. TRUNCATE then does what Redshift does: it commits the
//     open transaction.
//
// # Faults
//
// [Harness.Fail] makes the nth matching statement fail with a given error, such as
// [SerializableViolation] (Redshift's error 1023) or [LoadError] (a failed COPY). Inside
// a transaction the transaction is then aborted, so later statements fail until ROLLBACK.
//
// # Differences from Redshift
//
// String literals in a COPY are read with Redshift's rules (backslash escapes). Quoted
// identifiers keep their case, as on PostgreSQL; Redshift folds them to lower case by
// default, so names that differ only in case collide there and not here. Statements
// other than those above run on PostgreSQL 15 as they are, so SQL that only Redshift
// accepts (DISTKEY, SORTKEY, ...) fails here, and Redshift's serializable isolation is
// not modelled beyond injected faults.
package redshifttest
