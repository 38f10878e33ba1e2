package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/stretchr/testify/require"
)

// copyRows streams rows into an existing table through the binary COPY path.
func copyRows(ctx context.Context, pool *pgxpool.Pool, t tableRef, s etl.Stream) (int64, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	oid, err := tableOID(ctx, conn, t)
	if err != nil {
		return 0, err
	}
	if oid == 0 {
		return 0, fmt.Errorf("%s: %w", t, etl.ErrNoTable)
	}
	cols, err := tableColumns(ctx, conn, oid)
	if err != nil {
		return 0, err
	}
	plan, err := planCopy(t, s.Schema, cols)
	if err != nil {
		return 0, err
	}
	return plan.copyIn(ctx, conn.Conn().PgConn(), t, false, s)
}

func TestCopyRoundTripsEveryType(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	table := tableRef{Name: `Weird "T"; drop table x; Upper`}
	_, err := db.Pool.Exec(ctx, `CREATE DOMAIN posint AS bigint CHECK (VALUE > 0);
		CREATE TYPE mood AS ENUM ('sad', 'ok');
		CREATE TABLE `+table.sql()+` (
		"ID" posint, i4 integer, i2 smallint, f8 float8, f4 real, n numeric, n2 numeric(12,2),
		b boolean, ts timestamptz, tsn timestamp, d date, "by tes" bytea, t text, vc varchar(10),
		bp char(3), j json, jb jsonb, u uuid, m mood, "a;b""c" text)`)
	require.NoError(t, err)

	schema := etl.Schema{
		{Name: "ID", Type: etl.TypeInt64}, {Name: "i4", Type: etl.TypeInt64}, {Name: "i2", Type: etl.TypeInt64},
		{Name: "f8", Type: etl.TypeFloat64}, {Name: "f4", Type: etl.TypeFloat64},
		{Name: "n", Type: etl.TypeNumeric}, {Name: "n2", Type: etl.TypeNumeric},
		{Name: "b", Type: etl.TypeBool}, {Name: "ts", Type: etl.TypeTimestamp}, {Name: "tsn", Type: etl.TypeTimestamp},
		{Name: "d", Type: etl.TypeDate}, {Name: "by tes", Type: etl.TypeBytes}, {Name: "t"}, {Name: "vc"},
		{Name: "bp"}, {Name: "j", Type: etl.TypeJSON}, {Name: "jb", Type: etl.TypeJSON}, {Name: "u"}, {Name: "m"},
		{Name: `a;b"c`},
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456000, berlin)
	rows := []etl.Row{
		{int64(1), int64(-2147483648), int64(32767), 3.141592653589793, 1.5, etl.Decimal("-0.00"), etl.Decimal("12.5"),
			true, ts, time.Date(1999, 12, 31, 23, 0, 0, 1000, time.UTC), time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
			[]byte{0, 1, 0xff}, "héllo, wörld 🚀 \"q\" 'x' \\ \t\n", "short", "ab", `{"b": 1,  "a": [1,2]}`,
			`{"b": 1, "a": [1, 2]}`, "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11", "ok", ""},
		{int64(9223372036854775807), "42", "-7", "1e300", float64(-0.25), "123456789012345678901234567890.000000000000000000001",
			"7", false, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2262, 4, 11, 23, 47, 16, 854775000, time.UTC),
			time.Date(2038, 1, 19, 22, 0, 0, 0, berlin), "bytes from a string", int64(12), "0123456789", "x",
			"null", "[]", "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12}", "sad", "x"},
		{int64(3), nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil, nil},
	}
	n, err := copyRows(ctx, db.Pool, table, etl.SliceStream(schema, rows))
	require.NoError(t, err)
	require.EqualValues(t, 3, n)

	_, err = db.Pool.Exec(ctx, "SET TIME ZONE 'UTC'")
	require.NoError(t, err)
	got, err := db.Pool.Query(ctx, `SELECT concat_ws('|', "ID", i4, i2, f8, f4, n, n2, b, ts AT TIME ZONE 'UTC', tsn, d,
		encode("by tes", 'hex'), t, vc, bp || '.', j, jb, u, m, "a;b""c") FROM `+table.sql()+` ORDER BY "ID"`)
	require.NoError(t, err)
	var lines []string
	for got.Next() {
		var s string
		require.NoError(t, got.Scan(&s))
		lines = append(lines, s)
	}
	require.NoError(t, got.Err())
	require.Equal(t, []string{
		`1|-2147483648|32767|3.141592653589793|1.5|0.00|12.50|t|2024-02-29 22:59:58.123456|1999-12-31 23:00:00.000001|1900-01-01|0001ff|` +
			"héllo, wörld 🚀 \"q\" 'x' \\ \t\n" + `|short|ab.|{"b": 1,  "a": [1,2]}|{"a": [1, 2], "b": 1}|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11|ok|`,
		`3`,
		`9223372036854775807|42|-7|1e+300|-0.25|123456789012345678901234567890.000000000000000000001|7.00|f|0001-01-01 00:00:00|` +
			`2262-04-11 23:47:16.854775|2038-01-19|62797465732066726f6d206120737472696e67|12|0123456789|x.|null|[]|a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12|sad|x`,
	}, lines)
}

func TestCopyNumericMatchesServerParse(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE nums (id bigint, src text, n numeric, n2 numeric(12,2))`)
	require.NoError(t, err)
	cases := []string{
		"0", "-0", "-0.00", "+0.000", "0.0000000000", "1", "-1", "12.50", "12.5", "1e-20", "-1E-20", "1.5e3",
		"1.50e-3", "0.0001", "0.00010", "10000", "100000000", "99999999.99999999", "12345678901234567890.12345678901234567890",
		"1000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
		"0.000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
		"1.000000000000000000000000000000000", "  42  ", ".5", "5.", "-.5", "1e0", "1e+4", "123.456e-2", "NaN",
		"Infinity", "-Infinity", "inf", "-inf", "9999.9999", "10000.0001", "0.1e1", "3e16383", "1e-16383",
		"12345.678e100", "-98765.4321e-50",
	}
	rows := make([]etl.Row, 0, len(cases))
	for i, c := range cases {
		rows = append(rows, etl.Row{int64(i), c, etl.Decimal(c), nil})
	}
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "src"}, {Name: "n", Type: etl.TypeNumeric}, {Name: "n2", Type: etl.TypeNumeric}}
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "nums"}, etl.SliceStream(schema, rows))
	require.NoError(t, err)
	bad, err := db.Pool.Query(ctx, `SELECT src || ' -> ' || n::text || ', want ' || src::numeric::text FROM nums
		WHERE n::text IS DISTINCT FROM src::numeric::text`)
	require.NoError(t, err)
	var mismatches []string
	for bad.Next() {
		var s string
		require.NoError(t, bad.Scan(&s))
		mismatches = append(mismatches, s)
	}
	require.NoError(t, bad.Err())
	require.Empty(t, mismatches)

	// A typmod column rounds binary input as it rounds text input.
	_, err = db.Pool.Exec(ctx, `TRUNCATE nums`)
	require.NoError(t, err)
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "nums"}, etl.SliceStream(schema, []etl.Row{
		{int64(1), "1.005", nil, etl.Decimal("1.005")}, {int64(2), "-2.994999", nil, etl.Decimal("-2.994999")},
	}))
	require.NoError(t, err)
	var agree bool
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT bool_and(n2 = src::numeric(12,2) AND n2::text = src::numeric(12,2)::text) FROM nums`).Scan(&agree))
	require.True(t, agree)
}

func TestCopyRejectsBadValues(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint, n numeric, b boolean, ts timestamptz, t text, r int4range)`)
	require.NoError(t, err)
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "n", Type: etl.TypeNumeric}, {Name: "b", Type: etl.TypeBool}, {Name: "ts", Type: etl.TypeTimestamp}, {Name: "t"}}
	tests := []struct {
		name string
		row  etl.Row
		want string
	}{
		{"numeric syntax", etl.Row{int64(1), etl.Decimal("12,5"), nil, nil, nil}, `row 2: column "n": invalid numeric syntax`},
		{"wrong go type", etl.Row{int64(1), nil, nil, "yesterday", nil}, `column "ts": cannot store a string in a timestamptz column`},
		{"bool", etl.Row{int64(1), nil, "maybe", nil, nil}, `column "b": invalid boolean "maybe"`},
		{"int", etl.Row{"x1", nil, nil, nil, nil}, `column "id": invalid bigint "x1"`},
		{"short row", etl.Row{int64(1)}, `row has 1 values`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := []etl.Row{{int64(0), nil, nil, nil, "fine"}, tt.row}
			_, err := copyRows(ctx, db.Pool, tableRef{Name: "t"}, etl.SliceStream(schema, rows))
			require.ErrorContains(t, err, tt.want)
			var ve *ValueError
			require.ErrorAs(t, err, &ve)
			require.Equal(t, "t", ve.Table)
		})
	}
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n))
	require.Zero(t, n)

	// The server's own checks still apply: a NUL byte in text.
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "t"}, etl.SliceStream(schema, []etl.Row{{int64(1), nil, nil, nil, "a\x00b"}}))
	require.Error(t, err)

	_, err = copyRows(ctx, db.Pool, tableRef{Name: "t"}, etl.SliceStream(etl.Schema{{Name: "r"}}, []etl.Row{{"[1,2)"}}))
	require.ErrorIs(t, err, ErrUnsupportedType)
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "t"}, etl.SliceStream(etl.Schema{{Name: "nope"}}, []etl.Row{{"x"}}))
	require.ErrorContains(t, err, `table t has no column "nope"`)
}

func TestCopyStreamErrorAbortsWithTheOriginalError(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint, s text)`)
	require.NoError(t, err)
	bad := errors.New("data.csv:70001: column \"s\": unterminated quote")
	closed := false
	s := etl.Stream{Schema: etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "s"}}, Rows: func(yield func(etl.Row, error) bool) {
		defer func() { closed = true }()
		row := etl.Row{nil, strings.Repeat("x", 100)}
		for i := range 70000 { // several chunks reach the server first
			row[0] = int64(i)
			if !yield(row, nil) {
				return
			}
		}
		yield(nil, bad)
	}}
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "t"}, s)
	require.ErrorIs(t, err, bad)
	require.True(t, closed)
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n))
	require.Zero(t, n)
}

func TestCopyServerErrorStopsTheStream(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint PRIMARY KEY)`)
	require.NoError(t, err)
	yielded, closed := 0, false
	s := etl.Stream{Schema: etl.Schema{{Name: "id", Type: etl.TypeInt64}}, Rows: func(yield func(etl.Row, error) bool) {
		defer func() { closed = true }() // what the source opened is closed
		for i := range 10_000_000 {
			yielded++
			if !yield(etl.Row{int64(i % 5)}, nil) {
				return
			}
		}
	}}
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "t"}, s)
	require.ErrorContains(t, err, "duplicate key")
	require.Less(t, yielded, 10_000_000)
	require.True(t, closed, "the stream's iteration ended when the COPY failed")
}

func TestCopyStreamPanicIsRaisedOnTheLoadersGoroutine(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE t (id bigint, s text)`)
	require.NoError(t, err)
	s := etl.Stream{Schema: etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "s"}}, Rows: func(yield func(etl.Row, error) bool) {
		row := etl.Row{nil, strings.Repeat("x", 100)}
		for i := range 70000 { // several chunks reach the server first
			row[0] = int64(i)
			if !yield(row, nil) {
				return
			}
		}
		panic("transform bug")
	}}
	// Without the hand-over, the panic would end the test binary from pgconn's goroutine.
	require.PanicsWithValue(t, "transform bug", func() { _, _ = copyRows(ctx, db.Pool, tableRef{Name: "t"}, s) })
	var n int
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n), "the connection is usable again")
	require.Zero(t, n, "the COPY was abandoned")
}
