package redshifttest_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/redshifttest"
)

func exec(t *testing.T, h *redshifttest.Harness, sql string, args ...any) {
	t.Helper()
	_, err := h.Exec(context.Background(), sql, args...)
	require.NoError(t, err, sql)
}

func put(t *testing.T, h *redshifttest.Harness, key, body string) string {
	t.Helper()
	_, err := h.S3.Client.PutObject(context.Background(), putInput(h.Bucket, key, body))
	require.NoError(t, err)
	return "s3://" + h.Bucket + "/" + key
}

func pgErr(t *testing.T, err error) *pgconn.PgError {
	t.Helper()
	var pe *pgconn.PgError
	require.True(t, errors.As(err, &pe), "%v", err)
	return pe
}

// A default cluster folds quoted identifiers to lower case; a session that sets
// enable_case_sensitive_identifier keeps their case.
func TestQuotedIdentifiersFoldToLowerCase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	exec(t, h, `CREATE TABLE "Users" ("ID" bigint, "Name" varchar(8))`)
	var cols []string
	rows, err := h.Pool.Query(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name = 'users' AND table_schema = $1 ORDER BY ordinal_position`, h.Schema)
	require.NoError(t, err)
	cols, err = pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Equal(t, []string{"id", "name"}, cols, "the table and its columns are stored lower case")

	exec(t, h, `INSERT INTO "USERS" ("Id", "NAME") VALUES (1, 'Say "HI"')`)
	var name string
	require.NoError(t, h.QueryRow(ctx, `SELECT "NAME" FROM users WHERE "iD" = 1`).Scan(&name))
	require.Equal(t, `Say "HI"`, name, "a double quote inside a literal is not an identifier")

	_, err = h.Exec(ctx, `CREATE TABLE "pair" ("a" int, "A" int)`)
	require.ErrorContains(t, err, `column "a" specified more than once`, "names that differ only in case collide")
	exec(t, h, "ROLLBACK")

	exec(t, h, "SET enable_case_sensitive_identifier TO true")
	exec(t, h, `CREATE TABLE "Mixed" ("A" int, "a" int)`)
	var n int
	require.NoError(t, h.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname = 'Mixed'`).Scan(&n))
	require.Equal(t, 1, n)
	exec(t, h, "RESET enable_case_sensitive_identifier")
	_, err = h.Exec(ctx, `SELECT * FROM "Mixed"`)
	require.Error(t, err, "back to folding, \"Mixed\" is mixed")
}

// loadErrors reads the load error tables for the session's last COPY.
func loadErrors(t *testing.T, h *redshifttest.Harness) (stl, sys []string) {
	t.Helper()
	ctx := context.Background()
	var id int64
	require.NoError(t, h.QueryRow(ctx, "SELECT pg_last_copy_id()").Scan(&id))
	require.Greater(t, id, int64(0))
	rows, err := h.Pool.Query(ctx, `SELECT trim(filename) || '|' || line_number || '|' || trim(colname) || '|' ||
		trim(type) || '|' || trim(col_length) || '|' || trim(raw_field_value) || '|' || err_code || '|' || trim(err_reason)
		FROM stl_load_errors WHERE query = $1`, id)
	if err == nil {
		stl, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
	}
	rows, err = h.Pool.Query(ctx, `SELECT trim(file_name) || '|' || line_number || '|' || trim(column_name) || '|' ||
		trim(column_type) || '|' || trim(column_length) || '|' || error_code || '|' || trim(error_message)
		FROM sys_load_error_detail WHERE query_id = $1`, id)
	if err == nil {
		sys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
	}
	return stl, sys
}

// VARCHAR(n) holds n bytes: two three-byte characters do not fit in VARCHAR(5), though
// PostgreSQL would take them. The failed COPY is logged where Redshift logs it, and the
// log outlives the rollback.
func TestVarcharCountsBytesAndFailuresAreLogged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	exec(t, h, `CREATE TABLE t (id int, s varchar(5))`)
	url := put(t, h, "in/t.csv", "1,\"abcde\"\n2,\"日本\"\n")
	exec(t, h, "BEGIN")
	_, err := h.Exec(ctx, `COPY t FROM '`+url+`' IAM_ROLE default CSV`)
	pe := pgErr(t, err)
	require.Equal(t, "Load into table 't' failed.  Check 'stl_load_errors' system table for details.", pe.Message)
	exec(t, h, "ROLLBACK")
	var copied int64
	require.NoError(t, h.QueryRow(ctx, "SELECT pg_last_copy_count()").Scan(&copied))
	require.Zero(t, copied, "a COPY that failed during loading counts 0")

	stl, sys := loadErrors(t, h)
	// Multibyte characters are logged as periods.
	require.Equal(t, []string{url + "|2|s|varchar|5|..|1204|String length exceeds DDL length"}, stl)
	require.Equal(t, []string{url + "|2|s|varchar|5|1204|String length exceeds DDL length"}, sys)

	exec(t, h, `CREATE TABLE c (s char(4))`)
	url = put(t, h, "in/c.csv", "\"né\"\n")
	_, err = h.Exec(ctx, `COPY c FROM '`+url+`' IAM_ROLE default CSV`)
	require.Error(t, err)
	stl, _ = loadErrors(t, h)
	require.Len(t, stl, 1)
	require.Contains(t, stl[0], "|char|4|n.|1220|Multibyte character not supported for CHAR")

	url = put(t, h, "in/bad.csv", "3,\"a\xffb\"\n")
	_, err = h.Exec(ctx, `COPY t FROM '`+url+`' IAM_ROLE default CSV`)
	require.Error(t, err)
	stl, _ = loadErrors(t, h)
	require.Len(t, stl, 1)
	require.Contains(t, stl[0], "|1220|String contains invalid or unsupported UTF8")

	// A failure PostgreSQL finds is logged against its file and line too.
	exec(t, h, `CREATE TABLE d (id int, day date)`)
	url = put(t, h, "in/d.csv", "1,2024-01-01\n2,2024-02-30\n")
	_, err = h.Exec(ctx, `COPY d FROM '`+url+`' IAM_ROLE default CSV`)
	require.Error(t, err)
	stl, _ = loadErrors(t, h)
	require.Len(t, stl, 1)
	require.True(t, strings.HasPrefix(stl[0], url+"|2|day|date||2024-02-30|1205|"), stl[0])
}

// COPY truncates digits beyond the column's scale; ROUNDEC rounds them, as INSERT does.
func TestCopyTruncatesScaleUnlessRoundec(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	exec(t, h, `CREATE TABLE n (v numeric(8,2), w numeric(8,0))`)
	url := put(t, h, "in/n.csv", "20.259,7.5\n-20.259,-7.5\n20.25,7\n")
	read := func() []string {
		rows, err := h.Pool.Query(ctx, `SELECT v::text || ' ' || w::text FROM n ORDER BY v`)
		require.NoError(t, err)
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err)
		exec(t, h, "DELETE FROM n")
		return got
	}
	exec(t, h, `COPY n FROM '`+url+`' IAM_ROLE default CSV`)
	require.Equal(t, []string{"-20.25 -7", "20.25 7", "20.25 7"}, read())
	exec(t, h, `COPY n FROM '`+url+`' IAM_ROLE default CSV ROUNDEC`)
	require.Equal(t, []string{"-20.26 -8", "20.25 7", "20.26 8"}, read())
}

// A COPY from a bucket in another region than the cluster's must name it with REGION.
func TestCopyFromAnotherRegionNeedsRegion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.NewWith(t, redshifttest.Options{Region: "eu-west-1"})
	exec(t, h, `CREATE TABLE t (id int)`)
	url := put(t, h, "in/t.csv", "1\n")
	_, err := h.Exec(ctx, `COPY t FROM '`+url+`' IAM_ROLE default CSV`)
	require.ErrorContains(t, err, "must be addressed using the specified endpoint")
	_, err = h.Exec(ctx, `COPY t FROM '`+url+`' IAM_ROLE default REGION 'ap-south-1' CSV`)
	require.ErrorContains(t, err, "must be addressed using the specified endpoint")
	exec(t, h, `COPY t FROM '`+url+`' IAM_ROLE default REGION '`+redshifttest.Region+`' CSV`)
}

// A bucket whose policy requires server-side encryption refuses plain uploads.
func TestBucketRequiringSSERefusesPlainUploads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := redshifttest.StartS3With("enc", redshifttest.S3Options{RequireSSE: "aws:kms", RequireKMSKey: "key-1"})
	require.NoError(t, err)
	defer srv.Close()
	in := func() *s3.PutObjectInput { return putInput("enc", "k", "x") }
	_, err = srv.Client.PutObject(ctx, in())
	require.ErrorContains(t, err, "AccessDenied")
	other := in()
	other.ServerSideEncryption, other.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String("key-2")
	_, err = srv.Client.PutObject(ctx, other)
	require.ErrorContains(t, err, "AccessDenied")
	ok := in()
	ok.ServerSideEncryption, ok.SSEKMSKeyId = types.ServerSideEncryptionAwsKms, aws.String("key-1")
	_, err = srv.Client.PutObject(ctx, ok)
	require.NoError(t, err)
}

// Under SNAPSHOT isolation two sessions may change different rows of one table, and the
// second to change the same row fails with Redshift's conflict message.
func TestSnapshotIsolationConflicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := redshifttest.New(t)
	b := a.Session(t)
	exec(t, a, `CREATE TABLE s (k int, v int)`)
	exec(t, a, `INSERT INTO s VALUES (1, 0), (2, 0)`)
	exec(t, a, "BEGIN")
	exec(t, b, "BEGIN")
	exec(t, a, "UPDATE s SET v = 1 WHERE k = 1")
	exec(t, b, "UPDATE s SET v = 1 WHERE k = 2")
	exec(t, a, "COMMIT")
	exec(t, b, "COMMIT")

	exec(t, a, "BEGIN")
	exec(t, b, "BEGIN")
	exec(t, b, "SELECT count(*) FROM s")
	exec(t, a, "DELETE FROM s WHERE k = 1")
	exec(t, a, "COMMIT")
	_, err := b.Exec(ctx, "DELETE FROM s WHERE k = 1")
	pe := pgErr(t, err)
	require.Equal(t, "could not complete because of conflict with concurrent transaction", pe.Message)
	require.Equal(t, "XX000", pe.Code, "not PostgreSQL's 40001")
	exec(t, b, "ROLLBACK")
}

// Under SERIALIZABLE isolation, two sessions that each read what the other writes form a
// cycle, and one fails with error 1023.
func TestSerializableIsolationViolation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := redshifttest.NewWith(t, redshifttest.Options{Isolation: redshifttest.Serializable})
	b := a.Session(t)
	exec(t, a, `CREATE TABLE tab1 (v int)`)
	exec(t, a, `CREATE TABLE tab2 (v int)`)
	exec(t, a, "BEGIN")
	exec(t, b, "BEGIN")
	exec(t, a, "SELECT count(*) FROM tab1")
	exec(t, a, "INSERT INTO tab2 VALUES (1)")
	exec(t, b, "SELECT count(*) FROM tab2")
	exec(t, b, "INSERT INTO tab1 VALUES (1)")
	exec(t, a, "COMMIT")
	_, err := b.Exec(ctx, "COMMIT")
	pe := pgErr(t, err)
	require.Equal(t, "1023", pe.Message)
	require.Contains(t, pe.Detail, "Serializable isolation violation on table")
	require.False(t, b.InTx())
}

// A statement stopped by statement_timeout, or by a cancelled context, reports what
// Redshift reports for both: "canceled on user's request".
func TestCancelledStatementsSpeakRedshift(t *testing.T) {
	t.Parallel()
	h := redshifttest.New(t)
	exec(t, h, "SET statement_timeout TO 50")
	_, err := h.Exec(context.Background(), "SELECT pg_sleep(2)")
	pe := pgErr(t, err)
	require.Regexp(t, `^Query \(\d+\) canceled on user's request$`, pe.Message)
	exec(t, h, "RESET statement_timeout")

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = h.Exec(ctx, "SELECT pg_sleep(2)")
	require.Error(t, err)
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) {
		require.Contains(t, pe.Message, "canceled on user's request")
	}
}

// A Serverless workgroup has no STL tables: a failed COPY points at SYS_LOAD_ERROR_DETAIL.
func TestServerlessHasNoSTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.NewWith(t, redshifttest.Options{Serverless: true})
	exec(t, h, `CREATE TABLE t (s varchar(1))`)
	url := put(t, h, "in/t.csv", "\"ab\"\n")
	_, err := h.Exec(ctx, `COPY t FROM '`+url+`' IAM_ROLE default CSV`)
	require.ErrorContains(t, err, "Check 'sys_load_error_detail' system table")
	_, err = h.Exec(ctx, "SELECT * FROM stl_load_errors")
	require.Error(t, err)
	stl, sys := loadErrors(t, h)
	require.Empty(t, stl)
	require.Len(t, sys, 1)
}

// Sessions of one cluster run concurrently.
func TestSessionsRunConcurrently(t *testing.T) {
	t.Parallel()
	h := redshifttest.New(t)
	exec(t, h, `CREATE TABLE t (v int)`)
	var wg sync.WaitGroup
	for i := range 4 {
		s := h.Session(t)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Exec(context.Background(), "INSERT INTO t VALUES ($1)", i)
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	var n int
	require.NoError(t, h.Pool.QueryRow(context.Background(), "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 4, n)
}
