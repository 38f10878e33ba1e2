package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// outcome is what one path did with one value.
type outcome struct {
	stored string // the stored value: HEX of its bytes as MySQL renders them
	null   bool
	err    error // refused
	notes  int64 // warnings and notes left by a plain INSERT
}

// expect says how the bulk path must compare with a plain INSERT with a bound parameter.
type expect int

const (
	same     expect = iota // both store the same bytes, and the INSERT raised no warning
	refused                // the INSERT fails, and so does the load
	stricter               // the INSERT stores a changed value, with a note or silently; the load refuses it
	ownDate                // a date with a zone: the load keeps its own day, the INSERT converts to UTC first
)

func (e expect) String() string {
	return [...]string{"same", "refused", "stricter", "ownDate"}[e]
}

// TestValuesMatchAPlainInsert loads awkward values through the bulk path (LOAD DATA
// LOCAL INFILE) and through a plain INSERT with a bound parameter, in the same session
// settings, and compares what each stored or refused. The bulk path may only differ by
// refusing a value the INSERT would change with a mere note (a decimal rounded to the
// column's scale, sub-second digits cut), and by the timestamp rule for dates.
func TestValuesMatchAPlainInsert(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()

	plus9 := time.FixedZone("+09", 9*3600)
	plus14 := time.FixedZone("+14", 14*3600)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	cases := []struct {
		name   string
		column string // SQL type of the column v
		typ    etl.Type
		value  any
		want   expect
		stored string // when set, the stored value as CAST(v AS CHAR) must be this
	}{
		{"tab", "VARCHAR(100)", etl.TypeText, "a\tb", same, "a\tb"},
		{"newlines", "VARCHAR(100)", etl.TypeText, "line\nnext\r\nlast\r", same, "line\nnext\r\nlast\r"},
		{"backslashes", "VARCHAR(100)", etl.TypeText, `a\b\\c\`, same, `a\b\\c\`},
		{"escape look-alikes", "VARCHAR(100)", etl.TypeText, `\t\n\0\Z\r`, same, `\t\n\0\Z\r`},
		{"NULL marker as text", "VARCHAR(100)", etl.TypeText, `\N`, same, `\N`},
		{"the word NULL", "VARCHAR(100)", etl.TypeText, "NULL", same, "NULL"},
		{"NUL byte", "VARCHAR(100)", etl.TypeText, "a\x00b", same, "a\x00b"},
		{"control-Z", "VARCHAR(100)", etl.TypeText, "a\x1ab", same, "a\x1ab"},
		{"emoji", "VARCHAR(100)", etl.TypeText, "😀 naïve 日本", same, "😀 naïve 日本"},
		{"empty string", "VARCHAR(100)", etl.TypeText, "", same, ""},
		{"spaces", "VARCHAR(100)", etl.TypeText, "  padded  ", same, "  padded  "},
		{"NULL", "VARCHAR(100)", etl.TypeText, nil, same, ""},
		{"too long", "VARCHAR(3)", etl.TypeText, "abcd", refused, ""},
		{"emoji into latin1", "VARCHAR(10) CHARACTER SET latin1", etl.TypeText, "😀", refused, ""},
		{"invalid UTF-8", "VARCHAR(10)", etl.TypeText, "a\xffb", refused, ""},
		{"long text", "LONGTEXT", etl.TypeText, string(make([]byte, 100000)), same, ""},
		{"text into int", "INT", etl.TypeText, "12abc", refused, ""},
		{"digits into int", "INT", etl.TypeText, "12", same, "12"},

		{"max int64", "BIGINT", etl.TypeInt64, int64(math.MaxInt64), same, "9223372036854775807"},
		{"min int64", "BIGINT", etl.TypeInt64, int64(math.MinInt64), same, "-9223372036854775808"},
		{"int overflow", "INT", etl.TypeInt64, int64(math.MaxInt32) + 1, refused, ""},
		{"negative unsigned", "TINYINT UNSIGNED", etl.TypeInt64, int64(-1), refused, ""},
		{"max uint64", "BIGINT UNSIGNED", etl.TypeInt64, uint64(math.MaxUint64), same, "18446744073709551615"},
		{"zero into auto increment", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", etl.TypeInt64, int64(0), same, "0"},

		{"decimal", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("12.50"), same, "12.50"},
		{"negative cents", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("-0.05"), same, "-0.05"},
		{"trailing zeros", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("1.000"), same, "1.00"},
		{"exponent", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("1.5e2"), same, "150.00"},
		{"beyond the scale", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("1.005"), stricter, ""},
		{"beyond the scale by exponent", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("1005e-3"), stricter, ""},
		{"beyond the precision", "DECIMAL(4,2)", etl.TypeNumeric, etl.Decimal("123.45"), refused, ""},
		{"widest decimal", "DECIMAL(65,30)", etl.TypeNumeric,
			etl.Decimal("12345678901234567890123456789012345.123456789012345678901234567890"), same,
			"12345678901234567890123456789012345.123456789012345678901234567890"},
		{"not a number", "DECIMAL(12,2)", etl.TypeNumeric, etl.Decimal("12,50"), refused, ""},
		{"float into decimal", "DECIMAL(12,2)", etl.TypeFloat64, 0.1, same, "0.10"},

		{"double", "DOUBLE", etl.TypeFloat64, 0.1, same, ""},
		{"huge double", "DOUBLE", etl.TypeFloat64, 1e300, same, ""},
		{"tiny double", "DOUBLE", etl.TypeFloat64, 5e-324, same, ""},
		{"NaN", "DOUBLE", etl.TypeFloat64, math.NaN(), refused, ""},

		{"timestamp with offset into DATETIME", "DATETIME", etl.TypeTimestamp,
			time.Date(2026, 2, 28, 12, 0, 0, 0, plus9), same, "2026-02-28 03:00:00"},
		{"timestamp with offset into TIMESTAMP", "TIMESTAMP NULL", etl.TypeTimestamp,
			time.Date(2026, 2, 28, 12, 0, 0, 0, plus9), same, "2026-02-28 03:00:00"},
		{"microseconds", "DATETIME(6)", etl.TypeTimestamp,
			time.Date(2026, 2, 28, 3, 0, 0, 123456000, time.UTC), same, "2026-02-28 03:00:00.123456"},
		{"milliseconds into DATETIME(3)", "DATETIME(3)", etl.TypeTimestamp,
			time.Date(2026, 2, 28, 3, 0, 0, 120000000, time.UTC), same, "2026-02-28 03:00:00.120"},
		{"fraction into DATETIME(0)", "DATETIME", etl.TypeTimestamp,
			time.Date(2026, 2, 28, 3, 0, 0, 500000000, time.UTC), stricter, ""},
		{"nanoseconds", "DATETIME(6)", etl.TypeTimestamp,
			time.Date(2026, 2, 28, 3, 0, 0, 123456789, time.UTC), stricter, ""},
		{"TIMESTAMP past 2038", "TIMESTAMP NULL", etl.TypeTimestamp,
			time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), refused, ""},
		{"date", "DATE", etl.TypeDate, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), same, "2026-03-01"},
		{"date with a zone", "DATE", etl.TypeDate, time.Date(2026, 3, 1, 0, 0, 0, 0, plus14), ownDate, "2026-03-01"},
		{"timestamp into date", "DATE", etl.TypeTimestamp, time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), stricter, ""},
		{"leap day", "DATE", etl.TypeDate, time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC), same, "2024-02-29"},
		{"timestamp text", "DATETIME", etl.TypeText, "2026-02-28 03:00:00", same, "2026-02-28 03:00:00"},
		{"zero date text", "DATETIME", etl.TypeText, "0000-00-00 00:00:00", refused, ""},

		{"json", "JSON", etl.TypeJSON, `{"a": [1, 2.50, "x\ty", null]}`, same, ""},
		{"invalid json", "JSON", etl.TypeJSON, `{"a":`, refused, ""},

		{"bytes", "VARBINARY(300)", etl.TypeBytes, allBytes, same, ""},
		{"blob", "LONGBLOB", etl.TypeBytes, append(append([]byte(nil), allBytes...), allBytes...), same, ""},
		{"empty bytes", "BLOB", etl.TypeBytes, []byte{}, same, ""},
		{"padded binary", "BINARY(4)", etl.TypeBytes, []byte{1}, same, "\x01\x00\x00\x00"},
		{"bytes too long", "VARBINARY(2)", etl.TypeBytes, []byte{1, 2, 3}, refused, ""},
		{"text into blob", "BLOB", etl.TypeText, "tab\there", same, "tab\there"},

		{"true", "BOOLEAN", etl.TypeBool, true, same, "1"},
		{"false", "BOOLEAN", etl.TypeBool, false, same, "0"},
		{"bit", "BIT(1)", etl.TypeBool, true, same, "\x01"},
		{"enum", "ENUM('a', 'b')", etl.TypeText, "b", same, "b"},
		{"not in the enum", "ENUM('a', 'b')", etl.TypeText, "c", refused, ""},
	}

	insertConn, err := db.DB.Conn(ctx)
	require.NoError(t, err)
	defer insertConn.Close()
	for _, q := range []string{"SET NAMES utf8mb4",
		"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO', time_zone = '+00:00'"} {
		_, err := insertConn.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	read := func(table string) (outcome, error) {
		var o outcome
		var hexed, text sql.NullString
		err := db.DB.QueryRowContext(ctx, "SELECT HEX(v), CAST(v AS CHAR) FROM `"+table+"`").Scan(&hexed, &text)
		o.stored, o.null = hexed.String, !hexed.Valid
		return o, err
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins, bulk := fmt.Sprintf("ins_%d", i), fmt.Sprintf("bulk_%d", i)
			for _, table := range []string{ins, bulk} {
				_, err := db.DB.ExecContext(ctx, "CREATE TABLE `"+table+"` (v "+tc.column+") CHARACTER SET utf8mb4")
				require.NoError(t, err)
			}

			var viaInsert outcome
			if _, viaInsert.err = insertConn.ExecContext(ctx, "INSERT INTO `"+ins+"` (v) VALUES (?)", tc.value); viaInsert.err == nil {
				require.NoError(t, insertConn.QueryRowContext(ctx, "SHOW COUNT(*) WARNINGS").Scan(&viaInsert.notes))
				o, err := read(ins)
				require.NoError(t, err)
				viaInsert.stored, viaInsert.null = o.stored, o.null
			}

			schema := etl.Schema{{Name: "v", Type: tc.typ}}
			p := &etl.Pipeline{Name: "fidelity " + tc.name,
				Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
					return etl.SliceStream(schema, []etl.Row{{tc.value}}), nil
				}),
				Sink: &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: bulk}}}
			_, loadErr := p.Run(ctx, etl.Window{})
			viaLoad := outcome{err: loadErr}
			if loadErr == nil {
				o, err := read(bulk)
				require.NoError(t, err)
				viaLoad.stored, viaLoad.null = o.stored, o.null
			}

			switch tc.want {
			case same:
				require.NoError(t, viaInsert.err, "INSERT")
				require.Zero(t, viaInsert.notes, "INSERT left warnings")
				require.NoError(t, loadErr, "load")
				require.Equal(t, viaInsert, viaLoad, "stored through INSERT vs LOAD DATA")
				if tc.stored != "" {
					var text sql.NullString
					require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT CAST(v AS CHAR) FROM `"+bulk+"`").Scan(&text))
					require.Equal(t, tc.stored, text.String)
				}
				require.Equal(t, tc.value == nil, viaLoad.null, "NULL stays NULL and nothing else becomes NULL")
			case refused:
				require.Error(t, viaInsert.err, "INSERT stored %+v", viaInsert)
				require.Error(t, loadErr, "load stored %+v", viaLoad)
				requireLocated(t, loadErr)
			case stricter:
				require.NoError(t, viaInsert.err, "INSERT")
				require.Error(t, loadErr, "load stored %+v", viaLoad)
				requireLocated(t, loadErr)
			case ownDate:
				require.NoError(t, loadErr)
				var got string
				require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT CAST(v AS CHAR) FROM `"+bulk+"`").Scan(&got))
				require.Equal(t, tc.stored, got, "a date keeps its own day")
			}
			if loadErr != nil {
				var n int
				require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+bulk+"`").Scan(&n))
				require.Zero(t, n, "a refused load stores nothing")
			}
		})
	}
}

// requireLocated checks that a refused value's error names the table, and the row or
// the column (some server messages, such as a failed CHECK, name no row).
func requireLocated(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	require.Contains(t, msg, "bulk_")
	require.Regexp(t, `row 1|column "v"|column 'v'|`+"`v`|\\.v`", msg)
}
