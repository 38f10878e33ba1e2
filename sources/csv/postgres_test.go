package csv_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sources/csv"
)

// The value rules hold against PostgreSQL's own text input: what the source accepts,
// PostgreSQL reads as the same value, and what PostgreSQL refuses, the source refuses.
// Where the source is stricter on purpose, the case says so, and the test shows that
// PostgreSQL takes it (so the rule is known, not assumed).
func TestValueRulesAgreeWithPostgreSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	conn, err := db.Pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	_, err = conn.Exec(ctx, "SET TIME ZONE 'UTC'")
	require.NoError(t, err)

	pgType := map[etl.Type]string{
		etl.TypeInt64: "int8", etl.TypeFloat64: "float8", etl.TypeNumeric: "numeric", etl.TypeBool: "boolean",
		etl.TypeTimestamp: "timestamptz", etl.TypeDate: "date", etl.TypeBytes: "bytea", etl.TypeJSON: "json",
	}
	for _, tc := range []struct {
		typ etl.Type
		in  string
		// stricter marks input PostgreSQL reads that the source refuses by design.
		stricter bool
	}{
		{typ: etl.TypeInt64, in: "42"}, {typ: etl.TypeInt64, in: "+42"}, {typ: etl.TypeInt64, in: "-9223372036854775808"},
		{typ: etl.TypeInt64, in: "9223372036854775808"}, {typ: etl.TypeInt64, in: "1_000"}, {typ: etl.TypeInt64, in: "0x10"},
		{typ: etl.TypeInt64, in: " 1", stricter: true}, {typ: etl.TypeInt64, in: "1.0"},

		{typ: etl.TypeFloat64, in: "1.5"}, {typ: etl.TypeFloat64, in: ".5"}, {typ: etl.TypeFloat64, in: "5."},
		{typ: etl.TypeFloat64, in: "-1E-2"}, {typ: etl.TypeFloat64, in: "1e-310"}, {typ: etl.TypeFloat64, in: "1e308"},
		{typ: etl.TypeFloat64, in: "NaN"}, {typ: etl.TypeFloat64, in: "nan"}, {typ: etl.TypeFloat64, in: "Infinity"},
		{typ: etl.TypeFloat64, in: "-infinity"}, {typ: etl.TypeFloat64, in: "inf"}, {typ: etl.TypeFloat64, in: "-Inf"},
		{typ: etl.TypeFloat64, in: "0.1"}, {typ: etl.TypeFloat64, in: "2.2250738585072011e-308"},
		{typ: etl.TypeFloat64, in: "1e400"}, {typ: etl.TypeFloat64, in: "1e-400"}, {typ: etl.TypeFloat64, in: "-2e-324"},
		{typ: etl.TypeFloat64, in: "1_000.5"}, {typ: etl.TypeFloat64, in: "1e"}, {typ: etl.TypeFloat64, in: "infinit"},
		// glibc's strtod reads hexadecimal floats, so PostgreSQL on Linux takes them, though
		// its documentation does not; elsewhere it refuses them. The source refuses them.
		{typ: etl.TypeFloat64, in: "0x1p-2", stricter: true},
		{typ: etl.TypeFloat64, in: " 1.5", stricter: true}, {typ: etl.TypeFloat64, in: "+nan", stricter: true},

		{typ: etl.TypeNumeric, in: "12.50"}, {typ: etl.TypeNumeric, in: "-.5"}, {typ: etl.TypeNumeric, in: "5."},
		{typ: etl.TypeNumeric, in: "+3"}, {typ: etl.TypeNumeric, in: "1_000"}, {typ: etl.TypeNumeric, in: "1.2.3"},
		{typ: etl.TypeNumeric, in: "1e5", stricter: true}, {typ: etl.TypeNumeric, in: "NaN", stricter: true},

		{typ: etl.TypeBool, in: "t"}, {typ: etl.TypeBool, in: "FALSE"}, {typ: etl.TypeBool, in: "Yes"},
		{typ: etl.TypeBool, in: "0"}, {typ: etl.TypeBool, in: "2"}, {typ: etl.TypeBool, in: "on", stricter: true},

		{typ: etl.TypeTimestamp, in: "2024-06-01 12:30:00"}, {typ: etl.TypeTimestamp, in: "2024-06-01T12:30:00.123456Z"},
		{typ: etl.TypeTimestamp, in: "2026-02-28 12:00:00+09"}, {typ: etl.TypeTimestamp, in: "2024-06-01 12:30:00-05:30"},
		{typ: etl.TypeTimestamp, in: "2024-02-29 00:00:00"}, {typ: etl.TypeTimestamp, in: "2023-02-29 00:00:00"},
		{typ: etl.TypeTimestamp, in: "0001-01-01 00:00:00"}, {typ: etl.TypeTimestamp, in: "0000-01-01 00:00:00"},
		{typ: etl.TypeTimestamp, in: "2024-06-01 24:00:00", stricter: true},

		{typ: etl.TypeDate, in: "2024-02-29"}, {typ: etl.TypeDate, in: "0001-01-01"}, {typ: etl.TypeDate, in: "9999-12-31"},
		{typ: etl.TypeDate, in: "0000-01-01"}, {typ: etl.TypeDate, in: "2024-06-31"},

		{typ: etl.TypeBytes, in: `\xdeadBEEF`}, {typ: etl.TypeBytes, in: "raw"}, {typ: etl.TypeBytes, in: `a\\b\001`},
		{typ: etl.TypeBytes, in: `a\b`}, {typ: etl.TypeBytes, in: `\xabc`}, {typ: etl.TypeBytes, in: `\400`},

		{typ: etl.TypeJSON, in: `{"a":[1,2.5e3,null]}`}, {typ: etl.TypeJSON, in: `{`}, {typ: etl.TypeJSON, in: `'a'`},
	} {
		v, perr := csv.ParseValue(tc.typ, tc.in)
		q := "SELECT $1::text::" + pgType[tc.typ]
		var pgErr error
		switch tc.typ {
		case etl.TypeInt64:
			var n int64
			if pgErr = conn.QueryRow(ctx, q, tc.in).Scan(&n); perr == nil && pgErr == nil {
				require.Equal(t, n, v, tc.in)
			}
		case etl.TypeFloat64:
			var f float64
			if pgErr = conn.QueryRow(ctx, q, tc.in).Scan(&f); perr == nil && pgErr == nil {
				got := v.(float64)
				require.True(t, math.Float64bits(f) == math.Float64bits(got) || (math.IsNaN(f) && math.IsNaN(got)), "%s: %v, PostgreSQL %v", tc.in, got, f)
			}
		case etl.TypeNumeric:
			var same bool
			want := tc.in
			if perr == nil {
				want = string(v.(etl.Decimal))
			}
			if pgErr = conn.QueryRow(ctx, "SELECT $1::text::numeric = $2::text::numeric", tc.in, want).Scan(&same); perr == nil && pgErr == nil {
				require.True(t, same, tc.in)
			}
		case etl.TypeBool:
			var b bool
			if pgErr = conn.QueryRow(ctx, q, tc.in).Scan(&b); perr == nil && pgErr == nil {
				require.Equal(t, b, v, tc.in)
			}
		case etl.TypeTimestamp, etl.TypeDate:
			var ts time.Time
			if pgErr = conn.QueryRow(ctx, q, tc.in).Scan(&ts); perr == nil && pgErr == nil {
				require.True(t, ts.Equal(v.(time.Time)), "%s: %v, PostgreSQL %v", tc.in, v, ts)
			}
		case etl.TypeBytes:
			var b []byte
			if pgErr = conn.QueryRow(ctx, q, tc.in).Scan(&b); perr == nil && pgErr == nil {
				require.Equal(t, b, v, tc.in)
			}
		case etl.TypeJSON:
			var s string
			pgErr = conn.QueryRow(ctx, "SELECT $1::text::json::text", tc.in).Scan(&s)
		}
		switch {
		case perr == nil:
			require.NoError(t, pgErr, "%s %q: the source reads it, PostgreSQL refuses it", tc.typ, tc.in)
		case tc.stricter:
			require.NoError(t, pgErr, "%s %q is marked stricter, but PostgreSQL refuses it too", tc.typ, tc.in)
		default:
			require.Error(t, pgErr, "%s %q: the source refuses it (%v), PostgreSQL reads it", tc.typ, tc.in, perr)
		}
	}
}
