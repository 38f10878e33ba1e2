package mysql_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/mysqltest"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// exactCase is one value pushed through the sink and, as text, through the server's own
// input.
type exactCase struct {
	name   string
	column string // the SQL type of column v
	typ    etl.Type
	value  any
	// ref, when set, is what the reference INSERT binds instead of the value's text.
	ref any
	// stricter marks a value the server stores changed without a word that the sink
	// refuses by design (sub-second digits a column does not keep, say).
	stricter bool
	// stored, when set, is what the sink must have stored, as CAST(v AS BINARY).
	stored string
	// first is the value of the row before, which must load; defaults to NULL.
	first any
	// unlocated marks a refusal that a LOAD DATA straight into the table cannot locate:
	// the server skips the row with a warning that names neither row nor column.
	unlocated bool
}

// refText is the text the server's own input is given for v: the text a source would
// hold for it, under the timestamp rule of package sinks (a timestamp's UTC wall-clock
// time, a date's own day).
func refText(typ etl.Type, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return x
	case etl.Decimal:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case time.Time:
		if typ == etl.TypeDate {
			return x.Format("2006-01-02")
		}
		return x.UTC().Format("2006-01-02 15:04:05.999999999")
	case []byte:
		return x
	}
	panic(fmt.Sprintf("no reference text for %T", v))
}

// stored is a value as the server holds it: its bytes as CAST(v AS BINARY) gives them and,
// for a floating-point column, its bits as the binary protocol returns them.
type stored struct {
	null  bool
	bytes string
	float uint64
}

// TestValuesMatchTheServersOwnInput is a differential test of the bulk path: every value
// goes through a full refresh (LOAD DATA LOCAL straight into the table), a swap (into a
// new table LIKE it) and a merge (LOAD DATA into a stage, then INSERT ... SELECT ... ON
// DUPLICATE KEY UPDATE), and its
// text goes through a plain INSERT in the same strict session. Where the INSERT stores it
// without a warning or note, both loads must store the same bytes (the same bits for a
// float); where the INSERT fails or warns (a change: rounded, truncated, cut), both loads
// must fail with an error that names the table, the row, its source line and the column.
func TestValuesMatchTheServersOwnInput(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()

	plus14 := time.FixedZone("+14", 14*3600)
	minus12 := time.FixedZone("-12", -12*3600)
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	cases := []exactCase{
		// Text and the bulk format's own bytes.
		{name: "empty string", column: "VARCHAR(10)", typ: etl.TypeText, value: "", stored: ""},
		{name: "NULL marker", column: "VARCHAR(10)", typ: etl.TypeText, value: `\N`, stored: `\N`},
		{name: "NULL marker then text", column: "VARCHAR(10)", typ: etl.TypeText, value: `\Nx`, stored: `\Nx`},
		{name: "the word NULL", column: "VARCHAR(10)", typ: etl.TypeText, value: "NULL", stored: "NULL"},
		{name: "lone N", column: "VARCHAR(10)", typ: etl.TypeText, value: "N", stored: "N"},
		{name: "NUL bytes", column: "VARCHAR(10)", typ: etl.TypeText, value: "\x00a\x00", stored: "\x00a\x00"},
		{name: "CR LF", column: "VARCHAR(10)", typ: etl.TypeText, value: "a\r\nb", stored: "a\r\nb"},
		{name: "lone CR", column: "VARCHAR(10)", typ: etl.TypeText, value: "\r", stored: "\r"},
		{name: "lone LF", column: "VARCHAR(10)", typ: etl.TypeText, value: "\n", stored: "\n"},
		{name: "tab", column: "VARCHAR(10)", typ: etl.TypeText, value: "\t", stored: "\t"},
		{name: "backslash", column: "VARCHAR(10)", typ: etl.TypeText, value: `\`, stored: `\`},
		{name: "trailing backslash", column: "VARCHAR(10)", typ: etl.TypeText, value: `ab\`, stored: `ab\`},
		{name: "escape letters", column: "VARCHAR(20)", typ: etl.TypeText, value: `\t\n\r\0\Z\b\\`, stored: `\t\n\r\0\Z\b\\`},
		{name: "control-Z and backspace", column: "VARCHAR(10)", typ: etl.TypeText, value: "\x1a\b", stored: "\x1a\b"},
		{name: "quotes", column: "VARCHAR(10)", typ: etl.TypeText, value: `'"` + "`", stored: `'"` + "`"},
		{name: "leading and trailing spaces", column: "VARCHAR(10)", typ: etl.TypeText, value: "  a  ", stored: "  a  "},
		{name: "4-byte UTF-8", column: "VARCHAR(10)", typ: etl.TypeText, value: "😀𝄞", stored: "😀𝄞"},
		{name: "4-byte UTF-8 into utf8mb3", column: "VARCHAR(10) CHARACTER SET utf8mb3", typ: etl.TypeText, value: "😀"},
		{name: "invalid UTF-8", column: "VARCHAR(10)", typ: etl.TypeText, value: "a\xffb"},
		{name: "overlong UTF-8", column: "VARCHAR(10)", typ: etl.TypeText, value: "\xc0\x80"},
		{name: "surrogate in UTF-8", column: "VARCHAR(10)", typ: etl.TypeText, value: "\xed\xa0\x80"},
		{name: "cut UTF-8", column: "VARCHAR(10)", typ: etl.TypeText, value: "a\xe2\x82"},
		{name: "characters not bytes", column: "VARCHAR(3)", typ: etl.TypeText, value: "日本語", stored: "日本語"},
		{name: "4-byte characters", column: "VARCHAR(3)", typ: etl.TypeText, value: "😀😀😀", stored: "😀😀😀"},
		{name: "one character too many", column: "VARCHAR(3)", typ: etl.TypeText, value: "日本語x"},
		{name: "trailing space too many", column: "VARCHAR(3)", typ: etl.TypeText, value: "abc "},
		{name: "CHAR pads", column: "CHAR(5)", typ: etl.TypeText, value: "ab  "},
		{name: "CHAR too long", column: "CHAR(2)", typ: etl.TypeText, value: "abc"},
		{name: "TINYTEXT bytes", column: "TINYTEXT", typ: etl.TypeText, value: strings.Repeat("é", 128)},
		{name: "TINYTEXT at its limit", column: "TINYTEXT", typ: etl.TypeText, value: strings.Repeat("x", 255)},
		{name: "TEXT at its limit", column: "TEXT", typ: etl.TypeText, value: strings.Repeat("\t", 65535)},
		{name: "TEXT too long", column: "TEXT", typ: etl.TypeText, value: strings.Repeat("a", 65536)},
		{name: "long text across chunks", column: "LONGTEXT", typ: etl.TypeText, value: strings.Repeat("a\\\tb\n\x00", 40000)},
		{name: "latin1", column: "VARCHAR(10) CHARACTER SET latin1", typ: etl.TypeText, value: "é€", stored: "\xe9\x80"},
		{name: "not latin1", column: "VARCHAR(10) CHARACTER SET latin1", typ: etl.TypeText, value: "日"},
		{name: "enum", column: "ENUM('a','b')", typ: etl.TypeText, value: "b", stored: "b"},
		{name: "enum by index text", column: "ENUM('a','b')", typ: etl.TypeText, value: "2"},
		{name: "not in the enum", column: "ENUM('a','b')", typ: etl.TypeText, value: "c"},
		{name: "set", column: "SET('a','b')", typ: etl.TypeText, value: "b,a", stored: "a,b"},
		{name: "text into int", column: "INT", typ: etl.TypeText, value: "12x"},
		{name: "empty text into int", column: "INT", typ: etl.TypeText, value: ""},
		{name: "padded digits into int", column: "INT", typ: etl.TypeText, value: " 12 "},
		{name: "fraction text into int", column: "INT", typ: etl.TypeText, value: "1.5", stricter: true},
		{name: "text into date", column: "DATE", typ: etl.TypeText, value: "2024-02-30"},
		{name: "text fraction into DATETIME", column: "DATETIME", typ: etl.TypeText, value: "2026-01-01 00:00:00.5", stricter: true}, // INSERT cuts it
		{name: "text with a zero fraction", column: "DATETIME", typ: etl.TypeText, value: "2026-01-01 00:00:00.000", stored: "2026-01-01 00:00:00"},
		{name: "text with a seventh digit", column: "DATETIME(6)", typ: etl.TypeText, value: "2026-01-01 00:00:00.1234567"},
		{name: "text fraction into TIME(1)", column: "TIME(1)", typ: etl.TypeText, value: "10:00:00.25", stricter: true},
		{name: "compact text fraction into DATETIME", column: "DATETIME", typ: etl.TypeText, value: "20260101100000.5", stricter: true}, // INSERT cuts it
		{name: "compact text fraction into TIME", column: "TIME", typ: etl.TypeText, value: "100000.5", stricter: true},
		{name: "compact text with a zero fraction", column: "DATETIME", typ: etl.TypeText, value: "20260101100000.00", stored: "2026-01-01 10:00:00"},
		{name: "text with dots between the date's parts", column: "DATETIME", typ: etl.TypeText, value: "2026.01.01", stored: "2026-01-01 00:00:00"},
		{name: "text into TIME(1)", column: "TIME(1)", typ: etl.TypeText, value: "-838:59:59.5", stored: "-838:59:59.5"},
		{name: "empty text into date", column: "DATE", typ: etl.TypeText, value: ""},
		{name: "NULL", column: "VARCHAR(10)", typ: etl.TypeText, value: nil},
		{name: "NULL into NOT NULL", column: "VARCHAR(10) NOT NULL", typ: etl.TypeText, value: nil, first: "x"},
		{name: "a CHECK", column: "VARCHAR(10) CHECK (v <> 'no')", typ: etl.TypeText, value: "no", unlocated: true},
		{name: "CHAR drops trailing spaces", column: "CHAR(2)", typ: etl.TypeText, value: "ab   ", stored: "ab"},

		// int64
		{name: "max int64", column: "BIGINT", typ: etl.TypeInt64, value: int64(math.MaxInt64), stored: "9223372036854775807"},
		{name: "min int64", column: "BIGINT", typ: etl.TypeInt64, value: int64(math.MinInt64), stored: "-9223372036854775808"},
		{name: "INT max", column: "INT", typ: etl.TypeInt64, value: int64(math.MaxInt32), stored: "2147483647"},
		{name: "INT max + 1", column: "INT", typ: etl.TypeInt64, value: int64(math.MaxInt32) + 1},
		{name: "INT min - 1", column: "INT", typ: etl.TypeInt64, value: int64(math.MinInt32) - 1},
		{name: "unsigned -1", column: "INT UNSIGNED", typ: etl.TypeInt64, value: int64(-1)},
		{name: "TINYINT UNSIGNED 256", column: "TINYINT UNSIGNED", typ: etl.TypeInt64, value: int64(256)},
		{name: "int into DECIMAL", column: "DECIMAL(5,2)", typ: etl.TypeInt64, value: int64(999), stored: "999.00"},
		{name: "int beyond DECIMAL", column: "DECIMAL(5,2)", typ: etl.TypeInt64, value: int64(1000)},
		{name: "int into VARCHAR too long", column: "VARCHAR(3)", typ: etl.TypeInt64, value: int64(-100)},
		{name: "int into BIT", column: "BIT(8)", typ: etl.TypeInt64, value: int64(255), ref: int64(255), stored: "\xff"},
		{name: "int beyond BIT", column: "BIT(8)", typ: etl.TypeInt64, value: int64(256), ref: int64(256)},

		// float64
		{name: "0.1", column: "DOUBLE", typ: etl.TypeFloat64, value: 0.1},
		{name: "1/3", column: "DOUBLE", typ: etl.TypeFloat64, value: 1.0 / 3},
		{name: "max float64", column: "DOUBLE", typ: etl.TypeFloat64, value: math.MaxFloat64},
		{name: "min float64", column: "DOUBLE", typ: etl.TypeFloat64, value: -math.MaxFloat64},
		{name: "smallest normal", column: "DOUBLE", typ: etl.TypeFloat64, value: 0x1p-1022},
		{name: "largest subnormal", column: "DOUBLE", typ: etl.TypeFloat64, value: 0x1p-1022 - 0x1p-1074},
		{name: "smallest subnormal", column: "DOUBLE", typ: etl.TypeFloat64, value: math.SmallestNonzeroFloat64},
		{name: "negative subnormal", column: "DOUBLE", typ: etl.TypeFloat64, value: -3 * math.SmallestNonzeroFloat64},
		{name: "negative zero", column: "DOUBLE", typ: etl.TypeFloat64, value: math.Copysign(0, -1)}, // MariaDB stores 0
		{name: "2^53 + 2", column: "DOUBLE", typ: etl.TypeFloat64, value: float64(1<<53 + 2)},
		{name: "1e22", column: "DOUBLE", typ: etl.TypeFloat64, value: 1e22},
		{name: "1e23", column: "DOUBLE", typ: etl.TypeFloat64, value: 1e23},
		{name: "17 digits", column: "DOUBLE", typ: etl.TypeFloat64, value: 1.2345678901234567e-100},
		{name: "NaN", column: "DOUBLE", typ: etl.TypeFloat64, value: math.NaN()},
		{name: "infinity", column: "DOUBLE", typ: etl.TypeFloat64, value: math.Inf(1)},
		{name: "minus infinity", column: "DOUBLE", typ: etl.TypeFloat64, value: math.Inf(-1)},
		{name: "float into FLOAT", column: "FLOAT", typ: etl.TypeFloat64, value: 0.5},
		{name: "FLOAT keeps single precision", column: "FLOAT", typ: etl.TypeFloat64, value: 0.1},
		{name: "int into DOUBLE beyond 2^53", column: "DOUBLE", typ: etl.TypeInt64, value: int64(1<<53 + 1)},
		{name: "beyond FLOAT", column: "FLOAT", typ: etl.TypeFloat64, value: 1e39},
		{name: "below FLOAT", column: "FLOAT", typ: etl.TypeFloat64, value: 1e-46, stricter: true}, // INSERT stores 0
		{name: "scaled DOUBLE", column: "DOUBLE(10,2)", typ: etl.TypeFloat64, value: 0.5},
		{name: "beyond a DOUBLE's scale", column: "DOUBLE(10,2)", typ: etl.TypeFloat64, value: 0.125, stricter: true},
		{name: "float into DECIMAL", column: "DECIMAL(12,2)", typ: etl.TypeFloat64, value: 0.1, stored: "0.10"},
		{name: "float beyond DECIMAL scale", column: "DECIMAL(12,2)", typ: etl.TypeFloat64, value: 0.125},
		{name: "small float into DECIMAL", column: "DECIMAL(12,2)", typ: etl.TypeFloat64, value: 1e-7},
		{name: "negative zero into DECIMAL", column: "DECIMAL(12,2)", typ: etl.TypeFloat64, value: math.Copysign(0, -1)},
		{name: "huge float into DECIMAL", column: "DECIMAL(65,0)", typ: etl.TypeFloat64, value: 1e21, stored: "1000000000000000000000"},
		{name: "float into INT", column: "INT", typ: etl.TypeFloat64, value: 2.0, stored: "2"},
		{name: "fraction into INT", column: "INT", typ: etl.TypeFloat64, value: 1.5, stricter: true},
		{name: "fraction into BIGINT", column: "BIGINT", typ: etl.TypeFloat64, value: -0.5, stricter: true},
		{name: "float into text", column: "VARCHAR(30)", typ: etl.TypeFloat64, value: 1e-7, stored: "1e-07"},

		// numeric
		{name: "decimal", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("-12.50"), stored: "-12.50"},
		{name: "fewer digits", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("12.5"), stored: "12.50"},
		{name: "trailing zeros", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1.0000000"), stored: "1.00"},
		{name: "beyond scale", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1.005")},
		{name: "beyond scale, trailing zero", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1.0050")},
		{name: "beyond scale, leading space", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal(" 1.005")},
		{name: "beyond scale, plus sign", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("+1.005")},
		{name: "beyond scale, no integer part", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal(".001")},
		{name: "exponent", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1.5E+1"), stored: "15.00"},
		{name: "negative exponent", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("125e-2"), stored: "1.25"},
		{name: "exponent beyond scale", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1e-3")},
		{name: "huge exponent", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1e99999999999999999999")},
		{name: "tiny exponent", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1e-99999999999999999999"), stricter: true},
		{name: "precision edge", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("9999999999.99"), stored: "9999999999.99"},
		{name: "beyond precision", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("10000000000")},
		{name: "rounds up beyond precision", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("9999999999.995")},
		{name: "negative zero decimal", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("-0.00")},
		{name: "widest", column: "DECIMAL(65,30)", typ: etl.TypeNumeric,
			value:  etl.Decimal("-12345678901234567890123456789012345.123456789012345678901234567890"),
			stored: "-12345678901234567890123456789012345.123456789012345678901234567890"},
		{name: "very long decimal", column: "DECIMAL(65,30)", typ: etl.TypeNumeric,
			value: etl.Decimal("0." + strings.Repeat("1", 30) + strings.Repeat("0", 100))},
		{name: "long leading zeros", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal(strings.Repeat("0", 100) + "1.5")},
		{name: "comma", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("1,5")},
		{name: "empty decimal", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("")},
		{name: "NaN decimal", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("NaN")},
		{name: "Infinity decimal", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("Infinity")},
		{name: "hexadecimal", column: "DECIMAL(12,2)", typ: etl.TypeNumeric, value: etl.Decimal("0x10")},
		{name: "decimal into INT", column: "INT", typ: etl.TypeNumeric, value: etl.Decimal("12"), stored: "12"},
		{name: "whole decimal into INT", column: "INT", typ: etl.TypeNumeric, value: etl.Decimal("12.000"), stored: "12"},
		{name: "decimal fraction into INT", column: "INT", typ: etl.TypeNumeric, value: etl.Decimal("12.5"), stricter: true},
		{name: "small fraction into BIGINT", column: "BIGINT", typ: etl.TypeNumeric, value: etl.Decimal("0.4"), stricter: true},
		{name: "exponent into INT", column: "INT", typ: etl.TypeNumeric, value: etl.Decimal("1.5e1"), stored: "15"},
		{name: "decimal into DOUBLE", column: "DOUBLE", typ: etl.TypeNumeric, value: etl.Decimal("0.1")},
		{name: "decimal beyond DOUBLE", column: "DOUBLE", typ: etl.TypeNumeric, value: etl.Decimal("1e309")},
		{name: "decimal below DOUBLE", column: "DOUBLE", typ: etl.TypeNumeric, value: etl.Decimal("1e-400"), stricter: true}, // INSERT stores 0
		{name: "zero decimal into DOUBLE", column: "DOUBLE", typ: etl.TypeNumeric, value: etl.Decimal("0.000e-400")},
		{name: "text below FLOAT", column: "FLOAT", typ: etl.TypeText, value: "1e-46", stricter: true},
		{name: "decimal beyond a DOUBLE's scale", column: "DOUBLE(10,2)", typ: etl.TypeNumeric, value: etl.Decimal("0.125"), stricter: true},

		// bool
		{name: "true", column: "BOOLEAN", typ: etl.TypeBool, value: true, stored: "1"},
		{name: "false", column: "BOOLEAN", typ: etl.TypeBool, value: false, stored: "0"},
		{name: "true into BIT", column: "BIT(1)", typ: etl.TypeBool, value: true, ref: int64(1), stored: "\x01"},
		{name: "false into BIT", column: "BIT(1)", typ: etl.TypeBool, value: false, ref: int64(0), stored: "\x00"},
		{name: "bool into text", column: "VARCHAR(5)", typ: etl.TypeBool, value: true, stored: "1"},

		// timestamp
		{name: "year 1", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(1, 1, 1, 0, 0, 0, 0), stored: "0001-01-01 00:00:00.000000"},
		{name: "year 9999", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(9999, 12, 31, 23, 59, 59, 999999000),
			stored: "9999-12-31 23:59:59.999999"},
		{name: "year 10000", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(10000, 1, 1, 0, 0, 0, 0)},
		{name: "year 0", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(0, 1, 1, 0, 0, 0, 0)},
		{name: "year -1", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(-1, 1, 1, 0, 0, 0, 0)},
		{name: "leap day", column: "DATETIME", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 23, 59, 59, 0), stored: "2024-02-29 23:59:59"},
		{name: "zone crosses the year", column: "DATETIME(6)", typ: etl.TypeTimestamp,
			value: time.Date(2027, 1, 1, 0, 30, 0, 0, plus14), stored: "2026-12-31 10:30:00.000000"},
		{name: "zone crosses the leap day", column: "DATETIME", typ: etl.TypeTimestamp,
			value: time.Date(2024, 2, 28, 12, 0, 0, 0, minus12), stored: "2024-02-29 00:00:00"},
		{name: "zone into year 10000", column: "DATETIME", typ: etl.TypeTimestamp, value: time.Date(9999, 12, 31, 12, 0, 0, 0, minus12)},
		{name: "zone out of year 0", column: "DATETIME", typ: etl.TypeTimestamp,
			value: time.Date(1, 1, 1, 2, 0, 0, 0, plus14), stored: "0000-12-31 12:00:00"},
		{name: "microseconds", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(2026, 1, 1, 0, 0, 0, 1000), stored: "2026-01-01 00:00:00.000001"},
		{name: "seventh digit", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(2026, 1, 1, 0, 0, 0, 100), stricter: true},
		{name: "nanosecond below a second", column: "DATETIME(6)", typ: etl.TypeTimestamp, value: utc(2026, 1, 1, 23, 59, 59, 999999999), stricter: true},
		{name: "fraction into DATETIME(0)", column: "DATETIME", typ: etl.TypeTimestamp, value: utc(2026, 1, 1, 0, 0, 0, 500000000), stricter: true},
		{name: "fraction into DATETIME(3)", column: "DATETIME(3)", typ: etl.TypeTimestamp, value: utc(2026, 1, 1, 0, 0, 0, 123400000), stricter: true},
		{name: "milliseconds into DATETIME(3)", column: "DATETIME(3)", typ: etl.TypeTimestamp, value: utc(2026, 1, 1, 0, 0, 0, 123000000), stored: "2026-01-01 00:00:00.123"},
		{name: "TIMESTAMP low edge", column: "TIMESTAMP(6) NULL", typ: etl.TypeTimestamp, value: utc(1970, 1, 1, 0, 0, 1, 0), stored: "1970-01-01 00:00:01.000000"},
		{name: "TIMESTAMP below its range", column: "TIMESTAMP(6) NULL", typ: etl.TypeTimestamp, value: utc(1970, 1, 1, 0, 0, 0, 0)},
		{name: "TIMESTAMP high edge", column: "TIMESTAMP(6) NULL", typ: etl.TypeTimestamp, value: utc(2038, 1, 19, 3, 14, 7, 999999000),
			stored: "2038-01-19 03:14:07.999999"},
		{name: "TIMESTAMP beyond its range", column: "TIMESTAMP(6) NULL", typ: etl.TypeTimestamp, value: utc(2038, 1, 19, 3, 14, 8, 0)},
		{name: "NULL into TIMESTAMP NOT NULL", column: "TIMESTAMP NOT NULL", typ: etl.TypeTimestamp, value: nil,
			first: utc(2000, 1, 1, 0, 0, 0, 0), stricter: true}, // INSERT stores the current time
		{name: "NULL into AUTO_INCREMENT", column: "BIGINT NOT NULL AUTO_INCREMENT UNIQUE", typ: etl.TypeInt64, value: nil,
			first: int64(5), stricter: true}, // INSERT stores a new number
		{name: "timestamp into DATE", column: "DATE", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 0, 0, 0, 0), stored: "2024-02-29"},
		{name: "timestamp with a time into DATE", column: "DATE", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 0, 0, 1, 0), ref: "2024-02-29 00:00:01"},
		{name: "timestamp into text", column: "VARCHAR(40)", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 1, 2, 3, 4),
			stored: "2024-02-29 01:02:03.000000004"},
		{name: "timestamp into TIME", column: "TIME", typ: etl.TypeTimestamp, value: utc(2024, 2, 29, 1, 2, 3, 0), stricter: true},

		// date
		{name: "date", column: "DATE", typ: etl.TypeDate, value: utc(2024, 2, 29, 0, 0, 0, 0), stored: "2024-02-29"},
		{name: "date year 1", column: "DATE", typ: etl.TypeDate, value: utc(1, 1, 1, 0, 0, 0, 0), stored: "0001-01-01"},
		{name: "date year 9999", column: "DATE", typ: etl.TypeDate, value: utc(9999, 12, 31, 0, 0, 0, 0), stored: "9999-12-31"},
		{name: "date year 10000", column: "DATE", typ: etl.TypeDate, value: utc(10000, 1, 1, 0, 0, 0, 0)},
		{name: "date in a zone", column: "DATE", typ: etl.TypeDate, value: time.Date(2024, 3, 1, 0, 0, 0, 0, plus14), stored: "2024-03-01"},
		{name: "date with a time of day", column: "DATE", typ: etl.TypeDate, value: utc(2024, 3, 1, 12, 0, 0, 0), stored: "2024-03-01"},
		{name: "date into DATETIME", column: "DATETIME", typ: etl.TypeDate, value: utc(2024, 3, 1, 0, 0, 0, 0), stored: "2024-03-01 00:00:00"},
		{name: "date into text", column: "VARCHAR(20)", typ: etl.TypeDate, value: utc(2024, 3, 1, 0, 0, 0, 0), stored: "2024-03-01"},

		// bytes
		{name: "every byte", column: "VARBINARY(256)", typ: etl.TypeBytes, value: allBytes, stored: string(allBytes)},
		{name: "every byte into BLOB", column: "BLOB", typ: etl.TypeBytes, value: allBytes, stored: string(allBytes)},
		{name: "empty bytes", column: "BLOB", typ: etl.TypeBytes, value: []byte{}, stored: ""},
		{name: "NULL bytes", column: "BLOB", typ: etl.TypeBytes, value: nil},
		{name: "bytes too long", column: "VARBINARY(2)", typ: etl.TypeBytes, value: []byte{0, 0, 0}},
		{name: "BLOB too long", column: "BLOB", typ: etl.TypeBytes, value: make([]byte, 65536)},
		{name: "BINARY pads", column: "BINARY(3)", typ: etl.TypeBytes, value: []byte{'\t'}, stored: "\t\x00\x00"},
		{name: "UTF-8 bytes into text", column: "VARCHAR(10)", typ: etl.TypeBytes, value: []byte("é\t\\"), stored: "é\t\\"},
		{name: "every byte into text", column: "TEXT", typ: etl.TypeBytes, value: allBytes},

		// JSON
		{name: "json", column: "JSON", typ: etl.TypeJSON, value: `{"a": [1, 2.50, "\u0000\t😀", null], "b": 1e400}`},
		{name: "invalid json", column: "JSON", typ: etl.TypeJSON, value: `{"a":`},
		{name: "empty json", column: "JSON", typ: etl.TypeJSON, value: ``},
		{name: "json with a raw tab", column: "JSON", typ: etl.TypeJSON, value: "[\"a\tb\"]"},
	}

	// The reference: a plain INSERT of the value's text, in the session a load sets.
	ref, err := db.DB.Conn(ctx)
	require.NoError(t, err)
	defer ref.Close()
	for _, q := range []string{"SET NAMES utf8mb4",
		"SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO," +
			"NO_ENGINE_SUBSTITUTION,NO_AUTO_VALUE_ON_ZERO', time_zone = '+00:00', sql_notes = 1"} {
		_, err := ref.ExecContext(ctx, q)
		require.NoError(t, err)
	}
	read := func(table string, float bool) stored {
		t.Helper()
		var b sql.NullString
		require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT HEX(CAST(v AS BINARY)) FROM `"+table+"` WHERE id = 2").Scan(&b))
		s := stored{null: !b.Valid, bytes: b.String}
		if float && b.Valid {
			// A bound argument makes the driver use the binary protocol, which carries
			// the double's own bits rather than its text.
			var f float64
			require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT v FROM `"+table+"` WHERE id = ?", 2).Scan(&f))
			s.float = math.Float64bits(f)
		}
		return s
	}

	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refTable := fmt.Sprintf("ref_%d", i)
			full, swapped, merged := fmt.Sprintf("full_%d", i), fmt.Sprintf("swapped_%d", i), fmt.Sprintf("merged_%d", i)
			for _, table := range []string{refTable, full, swapped, merged} {
				execSQL(t, db.DB, "CREATE TABLE `"+table+"` (id BIGINT NOT NULL PRIMARY KEY, v "+tc.column+") CHARACTER SET utf8mb4")
			}
			float := strings.HasPrefix(tc.column, "DOUBLE") || strings.HasPrefix(tc.column, "FLOAT")

			input := tc.ref
			if input == nil {
				input = refText(tc.typ, tc.value)
			}
			var notes int64
			_, refErr := ref.ExecContext(ctx, "INSERT INTO `"+refTable+"` (id, v) VALUES (2, ?)", input)
			if refErr == nil {
				require.NoError(t, ref.QueryRowContext(ctx, "SHOW COUNT(*) WARNINGS").Scan(&notes))
			}
			changed := refErr != nil || notes > 0 || tc.stricter
			var want stored
			if !changed {
				want = read(refTable, float)
			}

			schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "v", Type: tc.typ}}
			for _, sink := range []struct {
				table  string
				loader etl.Loader
			}{
				{full, &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: full}}},
				{swapped, &mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: swapped}, Strategy: mysql.Swap}},
				{merged, &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: merged}}},
			} {
				_, err := lineStream(ctx, "exact "+sink.table, sink.loader, schema, etl.Row{int64(1), tc.first}, etl.Row{int64(2), tc.value})
				if changed {
					require.Error(t, err, "%s stored %+v; the INSERT: %v, %d warnings", sink.table, storedOrNone(t, db.DB, sink.table), refErr, notes)
					if tc.unlocated && sink.table != merged {
						require.ErrorContains(t, err, sink.table)
					} else {
						requireRowLocated(t, err, sink.table)
					}
					var n int
					require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+sink.table+"`").Scan(&n))
					require.Zero(t, n, "a refused load stores nothing")
					continue
				}
				require.NoError(t, err, sink.table)
				got := read(sink.table, float)
				require.Equal(t, want, got, "%s: stored by the load vs by INSERT", sink.table)
				require.Equal(t, tc.value == nil, got.null, "NULL stays NULL and nothing else becomes NULL")
				if tc.stored != "" || tc.value == "" {
					require.Equal(t, strings.ToUpper(fmt.Sprintf("%x", tc.stored)), got.bytes, "stored")
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

// requireRowLocated checks that a refusal of row 2's value names the table, the row, its
// source line and the column, and, when the sink itself refused it, the value.
func requireRowLocated(t *testing.T, err error, table string) {
	t.Helper()
	msg := err.Error()
	require.Contains(t, msg, table)
	require.Contains(t, msg, "in.csv: line 12", "the source line")
	require.Regexp(t, `row 2\b`, msg)
	require.Regexp(t, `column "v"|column 'v'|`+"`v`", msg)
	var ve *mysql.ValueError
	if errors.As(err, &ve) {
		require.NotEmpty(t, ve.Value)
	}
}

func storedOrNone(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var s sql.NullString
	err := db.QueryRowContext(context.Background(), "SELECT HEX(CAST(v AS BINARY)) FROM `"+table+"` WHERE id = 2").Scan(&s)
	if err != nil {
		return err.Error()
	}
	if !s.Valid {
		return "NULL"
	}
	return s.String
}

// TestRandomTextAndBytesRoundTrip loads random texts and byte strings built from the bytes
// the bulk format treats specially (the escape, field and line terminators, NUL, the
// NULL marker's letters) and a few multi-byte characters, and requires every one to
// read back byte for byte, with NULL and empty kept apart.
func TestRandomTextAndBytesRoundTrip(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE rt (id BIGINT NOT NULL PRIMARY KEY, s LONGTEXT, b LONGBLOB) CHARACTER SET utf8mb4")

	pieces := []string{`\`, "\t", "\n", "\r", "\x00", "N", "NULL", `\N`, "\x1a", "\b", "'", `"`, " ", "é", "😀", "a", "0", ","}
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []etl.Row
	for id := range int64(2000) {
		var s strings.Builder
		for range rng.IntN(12) {
			s.WriteString(pieces[rng.IntN(len(pieces))])
		}
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = []byte("\\\t\n\r\x00N\xff\x80")[rng.IntN(8)]
		}
		var sv, bv any = s.String(), b
		switch rng.IntN(10) {
		case 0:
			sv = nil
		case 1:
			bv = nil
		}
		rows = append(rows, etl.Row{id, sv, bv})
	}
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "s", Type: etl.TypeText}, {Name: "b", Type: etl.TypeBytes}}
	for _, sink := range []etl.Loader{
		&mysql.FullRefresh{Target: mysql.Target{DB: db.DB, Table: "rt"}},
		&mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "rt"}},
	} {
		_, err := lineStream(ctx, "random", sink, schema, rows...)
		require.NoError(t, err)
		got, err := db.DB.QueryContext(ctx, "SELECT id, s, b FROM rt ORDER BY id")
		require.NoError(t, err)
		n := 0
		for got.Next() {
			var id int64
			var s sql.NullString
			var b []byte
			require.NoError(t, got.Scan(&id, &s, &b))
			want := rows[id]
			if want[1] == nil {
				require.False(t, s.Valid, "row %d: NULL text", id)
			} else {
				require.True(t, s.Valid, "row %d: text became NULL", id)
				require.Equal(t, want[1], s.String, "row %d", id)
			}
			if want[2] == nil {
				require.Nil(t, b, "row %d: NULL bytes", id)
			} else {
				require.NotNil(t, b, "row %d: bytes became NULL", id)
				require.Equal(t, want[2], b, "row %d", id)
			}
			n++
		}
		require.NoError(t, got.Err())
		require.NoError(t, got.Close())
		require.Equal(t, len(rows), n)
	}
}

// TestMergeNamesTheRowAFailedCheckRefuses: the server's error for a row that fails a
// CHECK constraint names the constraint only; the merge finds the row in its stage and
// names it, its source line and, for a column's own constraint, the column and value.
func TestMergeNamesTheRowAFailedCheckRefuses(t *testing.T) {
	t.Parallel()
	db := mysqltest.New(t)
	ctx := context.Background()
	execSQL(t, db.DB, "CREATE TABLE ck (id BIGINT NOT NULL PRIMARY KEY, qty INT CHECK (qty >= 0), lo INT, hi INT, CONSTRAINT ordered CHECK (lo <= hi))")
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "qty", Type: etl.TypeInt64}, {Name: "lo", Type: etl.TypeInt64}, {Name: "hi", Type: etl.TypeInt64}}
	sink := &mysql.Merge{Target: mysql.Target{DB: db.DB, Table: "ck"}}

	_, err := lineStream(ctx, "check", sink, schema, etl.Row{int64(1), int64(1), nil, nil}, etl.Row{int64(2), int64(-5), int64(1), int64(2)})
	require.Error(t, err)
	var ve *mysql.ValueError
	require.ErrorAs(t, err, &ve, "%v", err)
	require.Equal(t, int64(2), ve.Row)
	require.Equal(t, "in.csv", ve.Source)
	require.Equal(t, int64(12), ve.Line)
	require.Equal(t, "qty", ve.Column)
	require.Equal(t, `"-5"`, ve.Value)
	require.ErrorContains(t, err, "CHECK constraint `qty`")

	_, err = lineStream(ctx, "check", sink, schema, etl.Row{int64(1), int64(1), int64(3), int64(2)}, etl.Row{int64(2), int64(0), nil, nil})
	require.ErrorContains(t, err, "in.csv: line 11: table "+db.Name+".ck, row 1: fails CHECK constraint `ordered`")

	var n int
	require.NoError(t, db.DB.QueryRowContext(ctx, "SELECT COUNT(*) FROM ck").Scan(&n))
	require.Zero(t, n)
}
