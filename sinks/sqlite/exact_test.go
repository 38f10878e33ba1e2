package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/sqlite"
)

// storageForm is the documented storage form of v in a column of type typ (see the
// package documentation), computed here on its own, or ok false when the sink must
// refuse v.
func storageForm(typ etl.Type, v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		return nil, true
	case string:
		if typ == etl.TypeTimestamp { // a timestamp's text, stored as the time it reads as
			tm, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, false
			}
			return storageForm(typ, tm)
		}
		return x, true
	case etl.Decimal:
		return string(x), decimalSyntax.MatchString(string(x))
	case int64:
		return x, true
	case float64:
		return x, !math.IsNaN(x)
	case bool:
		if x {
			return int64(1), true
		}
		return int64(0), true
	case time.Time:
		if typ == etl.TypeDate {
			return x.Format("2006-01-02"), x.Year() >= 0 && x.Year() <= 9999
		}
		u := x.UTC()
		return u.Format("2006-01-02T15:04:05.000000000Z"), u.Year() >= 0 && u.Year() <= 9999 && x.Year() >= 0 && x.Year() <= 9999
	case []byte:
		return x, true
	}
	panic(fmt.Sprintf("no storage form for %T", v))
}

// decimalSyntax is the documented form of a numeric: PostgreSQL's.
var decimalSyntax = regexp.MustCompile(`^([+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?|NaN|[+-]?Infinity)$`)

// sqliteStored is a value as SQLite holds it: its storage class, its bytes (as hex()
// gives them) and, for a REAL, its bits.
type sqliteStored struct {
	class string
	hex   string
	bits  uint64
}

func readStored(t *testing.T, db *sql.DB, table string) sqliteStored {
	t.Helper()
	var s sqliteStored
	q := `SELECT typeof(v), hex(v) FROM "` + table + `" WHERE id = 2`
	require.NoError(t, db.QueryRow(q).Scan(&s.class, &s.hex))
	if s.class == "real" {
		var f float64
		require.NoError(t, db.QueryRow(`SELECT v FROM "`+table+`" WHERE id = 2`).Scan(&f))
		s.bits = math.Float64bits(f)
	}
	return s
}

// TestValuesMatchTheDocumentedStorage is a differential test of the value path: every
// value goes through a full refresh and a merge (staged in a TEMP table, then INSERT ...
// SELECT) into a table the sink creates and into tables declared otherwise, and its
// documented storage form goes through a plain INSERT into a table declared the same way.
// Both loads must store exactly what the INSERT stores (storage class, bytes, a REAL's
// bits), or refuse the value where the documentation says so, naming the table, the row,
// its source line, the column and the value.
func TestValuesMatchTheDocumentedStorage(t *testing.T) {
	t.Parallel()
	db := fidelityDB(t)
	ctx := context.Background()

	plus14 := time.FixedZone("+14", 14*3600)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	cases := []struct {
		name     string
		declared string // the column's declared type; "" for the type the sink creates
		typ      etl.Type
		value    any
		refused  bool   // the sink must refuse the value, whatever storageForm says
		class    string // when set, the storage class the sink must have stored
		stored   string // when set, the bytes (as text) the sink must have stored
	}{
		{name: "empty text", typ: etl.TypeText, value: "", class: "text", stored: ""},
		{name: "NUL bytes", typ: etl.TypeText, value: "\x00a\x00", class: "text", stored: "\x00a\x00"},
		{name: "CR LF and lone CR", typ: etl.TypeText, value: "a\r\nb\rc", class: "text", stored: "a\r\nb\rc"},
		{name: "backslashes and tabs", typ: etl.TypeText, value: "\\N\t\\", class: "text", stored: "\\N\t\\"},
		{name: "the word NULL", typ: etl.TypeText, value: "NULL", class: "text", stored: "NULL"},
		{name: "4-byte UTF-8", typ: etl.TypeText, value: "😀𝄞", class: "text", stored: "😀𝄞"},
		{name: "invalid UTF-8", typ: etl.TypeText, value: "a\xffb\xc0\x80"},
		{name: "NULL text", typ: etl.TypeText, value: nil, class: "null"},
		{name: "leading zeros in a numeric column", declared: "NUMERIC", typ: etl.TypeText, value: "007"},
		{name: "text into INTEGER", declared: "INTEGER", typ: etl.TypeText, value: " 12 "},
		{name: "text into VARCHAR(3)", declared: "VARCHAR(3)", typ: etl.TypeText, value: "longer than three", class: "text"},

		{name: "max int64", typ: etl.TypeInt64, value: int64(math.MaxInt64), class: "integer"},
		{name: "min int64", typ: etl.TypeInt64, value: int64(math.MinInt64), class: "integer"},
		{name: "int into TEXT", declared: "TEXT", typ: etl.TypeInt64, value: int64(-7), class: "text", stored: "-7"},
		{name: "int into REAL", declared: "REAL", typ: etl.TypeInt64, value: int64(1<<53 + 1)},

		{name: "0.1", typ: etl.TypeFloat64, value: 0.1, class: "real"},
		{name: "max float64", typ: etl.TypeFloat64, value: math.MaxFloat64, class: "real"},
		{name: "smallest subnormal", typ: etl.TypeFloat64, value: math.SmallestNonzeroFloat64, class: "real"},
		// A REAL column stores a whole float as an integer, so -0 as 0, as documented.
		{name: "negative zero", typ: etl.TypeFloat64, value: math.Copysign(0, -1), class: "real"},
		{name: "whole float", typ: etl.TypeFloat64, value: 3.0, class: "real"},
		{name: "2^63 as float", typ: etl.TypeFloat64, value: 0x1p63, class: "real"},
		{name: "infinity", typ: etl.TypeFloat64, value: math.Inf(1), class: "real"},
		{name: "minus infinity", typ: etl.TypeFloat64, value: math.Inf(-1), class: "real"},
		{name: "NaN", typ: etl.TypeFloat64, value: math.NaN()},
		{name: "float into TEXT", declared: "TEXT", typ: etl.TypeFloat64, value: 0.1 + 0.2},
		{name: "float into INTEGER", declared: "INTEGER", typ: etl.TypeFloat64, value: 2.5},
		{name: "float into no type", declared: "ANY", typ: etl.TypeFloat64, value: math.Copysign(0, -1)},

		{name: "decimal", typ: etl.TypeNumeric, value: etl.Decimal("-12.50"), class: "text", stored: "-12.50"},
		{name: "long decimal", typ: etl.TypeNumeric, value: etl.Decimal("0." + strings.Repeat("1", 80)), class: "text"},
		{name: "decimal exponent", typ: etl.TypeNumeric, value: etl.Decimal("1.50E-3"), class: "text", stored: "1.50E-3"},
		{name: "decimal with a comma", typ: etl.TypeNumeric, value: etl.Decimal("1,5")},
		{name: "empty decimal", typ: etl.TypeNumeric, value: etl.Decimal("")},
		{name: "decimal with spaces", typ: etl.TypeNumeric, value: etl.Decimal(" 1")},
		{name: "decimal into NUMERIC", declared: "NUMERIC", typ: etl.TypeNumeric, value: etl.Decimal("0.1000000000000000000001")},
		{name: "decimal into DECIMAL(12,2)", declared: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("12345678901234567890")},

		{name: "true", typ: etl.TypeBool, value: true, class: "integer"},
		{name: "false", typ: etl.TypeBool, value: false, class: "integer"},
		{name: "bool into BOOLEAN", declared: "BOOLEAN", typ: etl.TypeBool, value: true, class: "integer"},

		{name: "timestamp", typ: etl.TypeTimestamp, value: time.Date(2027, 1, 1, 0, 30, 0, 123456789, plus14), class: "text",
			stored: "2026-12-31T10:30:00.123456789Z"},
		{name: "year 1", typ: etl.TypeTimestamp, value: utc(1, 1, 1, 0, 0, 0, 0), class: "text", stored: "0001-01-01T00:00:00.000000000Z"},
		{name: "year 9999", typ: etl.TypeTimestamp, value: utc(9999, 12, 31, 23, 59, 59, 999999999), class: "text",
			stored: "9999-12-31T23:59:59.999999999Z"},
		{name: "year 10000", typ: etl.TypeTimestamp, value: utc(10000, 1, 1, 0, 0, 0, 0)},
		{name: "zone into year 10000", typ: etl.TypeTimestamp, value: time.Date(9999, 12, 31, 23, 0, 0, 0, time.FixedZone("-2", -7200))},
		{name: "year -1", typ: etl.TypeTimestamp, value: utc(-1, 1, 1, 0, 0, 0, 0)},
		{name: "leap day", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 12, 0, 0, 0), class: "text", stored: "2024-02-29T12:00:00.000000000Z"},
		{name: "timestamp text", typ: etl.TypeTimestamp, value: "2026-01-01T09:00:00.1234567890+09:00", class: "text",
			stored: "2026-01-01T00:00:00.123456789Z"},
		{name: "timestamp text finer than nanoseconds", typ: etl.TypeTimestamp, value: "2026-01-01T00:00:00.1234567891Z", refused: true},
		{name: "timestamp into DATETIME", declared: "DATETIME", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 12, 0, 0, 1), class: "text"},

		{name: "date", typ: etl.TypeDate, value: utc(2024, 2, 29, 0, 0, 0, 0), class: "text", stored: "2024-02-29"},
		{name: "date in a zone", typ: etl.TypeDate, value: time.Date(2024, 3, 1, 0, 0, 0, 0, plus14), class: "text", stored: "2024-03-01"},
		{name: "date year 0", typ: etl.TypeDate, value: utc(0, 1, 1, 0, 0, 0, 0), class: "text", stored: "0000-01-01"},
		{name: "date year 10000", typ: etl.TypeDate, value: utc(10000, 1, 1, 0, 0, 0, 0)},
		{name: "last date in a zone behind UTC", typ: etl.TypeDate, value: time.Date(9999, 12, 31, 0, 0, 0, 0, time.FixedZone("-2", -7200)),
			class: "text", stored: "9999-12-31"},
		{name: "first date in a zone ahead of UTC", typ: etl.TypeDate, value: time.Date(0, 1, 1, 0, 0, 0, 0, plus14),
			class: "text", stored: "0000-01-01"},

		{name: "every byte", typ: etl.TypeBytes, value: allBytes, class: "blob", stored: string(allBytes)},
		{name: "empty bytes", typ: etl.TypeBytes, value: []byte{}, class: "blob", stored: ""},
		{name: "NULL bytes", typ: etl.TypeBytes, value: nil, class: "null"},
		{name: "bytes into TEXT", declared: "TEXT", typ: etl.TypeBytes, value: []byte("a\x00b"), class: "blob", stored: "a\x00b"},

		{name: "json", typ: etl.TypeJSON, value: `{"a": [1, 2.50, "\u0000"]}`, class: "text"},
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref, full, merged := fmt.Sprintf("ref_%d", i), fmt.Sprintf("full_%d", i), fmt.Sprintf("merged_%d", i)
			declared := tc.declared
			if declared == "" {
				// The type the sink gives the column when it creates the table.
				_, err := load(ctx, &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: ref, Create: true}}, "create "+ref,
					etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v", Type: tc.typ}}, []etl.Row{{int64(1), nil}})
				require.NoError(t, err)
				require.NoError(t, db.SQL().QueryRow(`SELECT type FROM pragma_table_info(?) WHERE name = 'v'`, ref).Scan(&declared))
				_, err = db.SQL().Exec(`DROP TABLE "` + ref + `"`)
				require.NoError(t, err)
			}
			for _, table := range []string{ref, full, merged} {
				_, err := db.SQL().Exec(`CREATE TABLE "` + table + `" (id INTEGER PRIMARY KEY, v ` + declared + `)`)
				require.NoError(t, err)
			}
			form, ok := storageForm(tc.typ, tc.value)
			ok = ok && !tc.refused
			var want sqliteStored
			if ok {
				_, err := db.SQL().Exec(`INSERT INTO "`+ref+`" (id, v) VALUES (2, ?)`, form)
				require.NoError(t, err)
				want = readStored(t, db.SQL(), ref)
			}

			schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v", Type: tc.typ}}
			for _, sink := range []struct {
				table  string
				loader etl.Loader
			}{
				{full, &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: full}}},
				{merged, &sqlite.Merge{Target: sqlite.Target{DB: db, Table: merged, Key: []string{"id"}}}},
			} {
				_, err := lineStream(ctx, sink.table, sink.loader, schema, etl.Row{int64(1), nil}, etl.Row{int64(2), tc.value})
				if !ok {
					require.Error(t, err, "%s stored %+v", sink.table, err)
					var ve *sqlite.ValueError
					require.ErrorAs(t, err, &ve)
					msg := err.Error()
					for _, part := range []string{"in.csv: line 12: ", "table " + sink.table, "row 2", `column "v"`} {
						require.Contains(t, msg, part)
					}
					if ve.Value == "" {
						require.Contains(t, msg, `""`, "an empty value is named as such")
					} else {
						require.Contains(t, msg, strconv.Quote(ve.Value), "the value")
					}
					var n int
					require.NoError(t, db.SQL().QueryRow(`SELECT COUNT(*) FROM "`+sink.table+`"`).Scan(&n))
					require.Zero(t, n, "a refused load stores nothing")
					continue
				}
				require.NoError(t, err, sink.table)
				got := readStored(t, db.SQL(), sink.table)
				require.Equal(t, want, got, "%s: stored by the load vs by INSERT", sink.table)
				if tc.class != "" {
					require.Equal(t, tc.class, got.class)
				}
				if tc.stored != "" || tc.class == "text" && tc.value == "" {
					require.Equal(t, strings.ToUpper(fmt.Sprintf("%x", tc.stored)), got.hex)
				}
				if f, isFloat := tc.value.(float64); isFloat && tc.declared == "" {
					if f == 0 {
						f = 0 // -0 reads back as 0, as documented
					}
					require.Equal(t, math.Float64bits(f), got.bits, "the float's own bits")
				}
			}
		})
	}
}

// lineStream runs a pipeline that loads rows through sink from a source that reads them
// from lines 11, 12, ... of "in.csv".
func lineStream(ctx context.Context, name string, sink etl.Loader, schema etl.Schema, rows ...etl.Row) (etl.Result, error) {
	p := &etl.Pipeline{Name: name, Sink: sink, Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		line := int64(10)
		return etl.Stream{Schema: schema, Position: func() etl.Position { return etl.Position{Source: "in.csv", Line: line} },
			Rows: func(yield func(etl.Row, error) bool) {
				for _, r := range rows {
					line++
					if !yield(r, nil) {
						return
					}
				}
			}}, nil
	})}
	return p.Run(ctx, etl.Window{})
}
