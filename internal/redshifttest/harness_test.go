package redshifttest_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redshiftcopy"
	"github.com/sluice-etl/sluice/internal/redshifttest"
	"github.com/sluice-etl/sluice/sinks/redshift"
)

var allTypes = etl.Schema{
	{Name: "id", Type: etl.TypeInt64, NotNull: true},
	{Name: "name", Type: etl.TypeText},
	{Name: "score", Type: etl.TypeFloat64},
	{Name: "amount", Type: etl.TypeNumeric},
	{Name: "ok", Type: etl.TypeBool},
	{Name: "at", Type: etl.TypeTimestamp},
	{Name: "day", Type: etl.TypeDate},
	{Name: "doc", Type: etl.TypeJSON},
}

const allTypesDDL = `CREATE TABLE t (id bigint NOT NULL, name varchar(256), score double precision,
	amount numeric(12,2), ok boolean, at timestamptz, day date, doc varchar(1024))`

func allTypesRows() []etl.Row {
	at := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
	day := time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)
	texts := []any{
		nil, "", " ", "a,b", `say "hi"`, "line1\nline2", "cr\r\nlf", "ünïcødé ✓ 日本", `\`, `\\N`, `N`,
		"NULL", "'quoted'", "trailing space ", `""`, ",", "\"", "tab\there",
	}
	rows := make([]etl.Row, 0, len(texts)+2)
	for i, s := range texts {
		rows = append(rows, etl.Row{int64(i), s, float64(i) / 3, etl.Decimal(fmt.Sprintf("%d.%02d", i*7, i)), i%2 == 0,
			at.Add(time.Duration(i) * time.Hour), day.AddDate(0, 0, i), `{"k":"v,\"x\""}`})
	}
	rows = append(rows,
		etl.Row{int64(100), nil, nil, nil, nil, nil, nil, nil},
		etl.Row{int64(math.MaxInt64), "max", math.MaxFloat64, etl.Decimal("-9999999999.99"), false,
			time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), `[]`},
	)
	return rows
}

func seq(rows []etl.Row) iter.Seq2[etl.Row, error] { return etl.SliceStream(nil, rows).Rows }

func newStager(t *testing.T, h *redshifttest.Harness, cfg redshiftcopy.Config) *redshiftcopy.Stager {
	t.Helper()
	cfg.Bucket = h.Bucket
	cfg.Client = h.S3.Client
	s, err := redshiftcopy.NewStager(context.Background(), cfg)
	require.NoError(t, err)
	return s
}

func copySQL(st *redshiftcopy.Staged, cols []string) string {
	return redshiftcopy.Copy{Table: redshiftcopy.Table{Name: "t"}, Columns: cols, ManifestURL: st.ManifestURL,
		IAMRole: "arn:aws:iam::123456789012:role/load"}.SQL()
}

func readAll(t *testing.T, h *redshifttest.Harness) []etl.Row {
	t.Helper()
	rows, err := h.Pool.Query(context.Background(), `SELECT id, name, score, amount::text, ok, at, day, doc FROM t ORDER BY id`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (etl.Row, error) {
		var (
			id        int64
			name, doc *string
			score     *float64
			amount    *string
			ok        *bool
			at, day   *time.Time
		)
		if err := r.Scan(&id, &name, &score, &amount, &ok, &at, &day, &doc); err != nil {
			return nil, err
		}
		row := etl.Row{id, nil, nil, nil, nil, nil, nil, nil}
		if name != nil {
			row[1] = *name
		}
		if score != nil {
			row[2] = *score
		}
		if amount != nil {
			row[3] = etl.Decimal(*amount)
		}
		if ok != nil {
			row[4] = *ok
		}
		if at != nil {
			row[5] = at.UTC()
		}
		if day != nil {
			row[6] = day.UTC()
		}
		if doc != nil {
			row[7] = *doc
		}
		return row, nil
	})
	require.NoError(t, err)
	return got
}

func TestRoundTripEveryType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Exec(ctx, allTypesDDL)
	require.NoError(t, err)

	want := allTypesRows()
	s := newStager(t, h, redshiftcopy.Config{PartSize: 256, Slices: 3, Concurrency: 2})
	st, err := s.Stage(ctx, "roundtrip", "run1", allTypes, seq(want))
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), st.Rows)
	require.Zero(t, len(st.Parts)%3, "part count is a multiple of the slice count")
	require.Greater(t, len(st.Parts), 3, "a small part size gives several rounds")

	tag, err := h.Exec(ctx, copySQL(st, allTypes.Names()))
	require.NoError(t, err)
	require.Equal(t, int64(len(want)), tag.RowsAffected())
	var n int64
	require.NoError(t, h.QueryRow(ctx, "SELECT pg_last_copy_count()").Scan(&n))
	require.Equal(t, st.Rows, n)

	require.Equal(t, want, readAll(t, h))

	require.NoError(t, st.Delete(ctx))
	keys, err := h.S3.Keys(ctx, "")
	require.NoError(t, err)
	require.Empty(t, keys)
}

func TestCopyRejectsUnknownOption(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Exec(ctx, allTypesDDL)
	require.NoError(t, err)
	s := newStager(t, h, redshiftcopy.Config{})
	st, err := s.Stage(ctx, "p", "r", allTypes, seq(allTypesRows()))
	require.NoError(t, err)
	base := copySQL(st, allTypes.Names())
	for _, c := range []struct{ sql, want string }{
		{base + " ACCEPTINVCHARS", "unknown option ACCEPTINVCHARS"},
		{base + " BLANKSASNULL", "unknown option BLANKSASNULL"},
		{base + " MAXERROR 10", "unknown option MAXERROR"},
		{base + " DELIMITER '|'", `DELIMITER "|" is not supported`},
		{strings.Replace(base, "TIMEFORMAT 'auto'", "TIMEFORMAT 'epochsecs'", 1), `TIMEFORMAT "epochsecs" is not supported`},
		{base + " TIMEFORMAT 'auto'", "option TIMEFORMAT given twice"},
	} {
		_, err = h.Exec(ctx, c.sql)
		require.ErrorContains(t, err, "redshifttest: COPY: "+c.want, c.sql)
	}
	var n int64
	require.NoError(t, h.Pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Zero(t, n)
}

func TestCopyIgnoreHeaderAndPrefix(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Exec(ctx, `CREATE TABLE name_gender (name varchar(32), gender varchar(8), n int)`)
	require.NoError(t, err)
	for i, body := range []string{"name,gender,n\nAdaleigh,F,1\n\"Amryn\",Unisex,\n", "name,gender,n\r\nApurva,,3"} {
		_, err := h.S3.Client.PutObject(ctx, putInput(h.Bucket, fmt.Sprintf("in/names-%d.csv", i), body))
		require.NoError(t, err)
	}
	_, err = h.Exec(ctx, `COPY name_gender FROM 's3://sluice-staging/in/names-' IAM_ROLE default CSV IGNOREHEADER 1`)
	require.NoError(t, err)
	rows, err := h.Pool.Query(ctx, `SELECT name, coalesce(gender, '<null>'), coalesce(n, -1) FROM name_gender ORDER BY name`)
	require.NoError(t, err)
	got, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var a, b string
		var n int
		err := r.Scan(&a, &b, &n)
		return fmt.Sprintf("%s|%s|%d", a, b, n), err
	})
	require.NoError(t, err)
	// Redshift: an empty field is NULL in a numeric column and an empty string in a
	// varchar column unless EMPTYASNULL.
	require.Equal(t, []string{"Adaleigh|F|1", "Amryn|Unisex|-1", "Apurva||3"}, got)

	_, err = h.Exec(ctx, `DELETE FROM name_gender`)
	require.NoError(t, err)
	_, err = h.Exec(ctx, `COPY name_gender FROM 's3://sluice-staging/in/names-1' IAM_ROLE default CSV IGNOREHEADER AS 1 EMPTYASNULL`)
	require.NoError(t, err)
	var gender *string
	require.NoError(t, h.Pool.QueryRow(ctx, "SELECT gender FROM name_gender").Scan(&gender))
	require.Nil(t, gender, "EMPTYASNULL loads an empty varchar field as NULL")
}

// recorder captures Errorf so a test can check that the harness flags a misuse.
type recorder struct {
	testing.TB
	mu   sync.Mutex
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestTruncateInTransactionIsFlagged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rec := &recorder{TB: t}
	h := redshifttest.New(rec)
	_, err := h.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "INSERT INTO t VALUES (1)")
	require.NoError(t, err)

	_, err = h.Exec(ctx, "TRUNCATE t")
	require.NoError(t, err)
	require.Empty(t, rec.errs, "TRUNCATE outside a transaction is fine")

	_, err = h.Exec(ctx, "INSERT INTO t VALUES (2)")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "truncate table t")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.Len(t, rec.errs, 1)
	require.Contains(t, rec.errs[0], "TRUNCATE inside a transaction")
	var n int
	require.NoError(t, h.Pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Zero(t, n, "as on Redshift, the TRUNCATE committed and the rollback cannot bring the row back")

	_, err = h.Exec(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "ALTER TABLE t APPEND FROM s")
	require.Error(t, err)
	_, err = h.Exec(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.Len(t, rec.errs, 2)
}

func TestInjectedSerializableViolationIsRetryable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err)
	h.Fail("insert into", 2, redshifttest.SerializableViolation("t"))

	_, err = h.Exec(ctx, "BEGIN")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "INSERT INTO t VALUES (1)")
	require.NoError(t, err)
	_, err = h.Exec(ctx, "INSERT INTO t VALUES (2)")
	require.Error(t, err)
	require.True(t, redshift.IsRetryable(err), "%v", err)
	require.True(t, redshift.IsRetryable(fmt.Errorf("merge: %w", err)))
	require.Contains(t, err.Error(), "1023")

	_, err = h.Exec(ctx, "INSERT INTO t VALUES (3)")
	require.Error(t, err, "the transaction is aborted")
	require.False(t, redshift.IsRetryable(err))
	_, err = h.Exec(ctx, "ROLLBACK")
	require.NoError(t, err)
	require.False(t, h.InTx())

	_, err = h.Exec(ctx, "INSERT INTO t VALUES (4)")
	require.NoError(t, err, "a fault fires once")
	require.False(t, redshift.IsRetryable(errors.New("1023")))
	require.False(t, redshift.IsRetryable(redshifttest.LoadError("t")))
}

func TestCopyFailureAndStatements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	h := redshifttest.New(t)
	_, err := h.Exec(ctx, allTypesDDL)
	require.NoError(t, err)
	s := newStager(t, h, redshiftcopy.Config{})
	st, err := s.Stage(ctx, "p", "r", allTypes, seq(allTypesRows()))
	require.NoError(t, err)

	h.Fail("COPY", 1, redshifttest.LoadError("t"))
	_, err = h.Exec(ctx, copySQL(st, allTypes.Names()))
	require.ErrorContains(t, err, "stl_load_errors")

	// A part that is not gzip fails the COPY and loads nothing.
	_, err = h.S3.Client.PutObject(ctx, putInput(h.Bucket, st.Parts[0].Key, "not gzip"))
	require.NoError(t, err)
	_, err = h.Exec(ctx, copySQL(st, allTypes.Names()))
	require.Error(t, err)
	var n int
	require.NoError(t, h.Pool.QueryRow(ctx, "SELECT count(*) FROM t").Scan(&n))
	require.Zero(t, n)

	stmts := h.Statements()
	require.Len(t, stmts, 3)
	require.True(t, strings.HasPrefix(stmts[1], `COPY "t" ("id", "name", `), stmts[1])
}
