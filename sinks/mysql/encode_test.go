package mysql

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// readLine splits one line of the bulk format the way LOAD DATA reads it (FIELDS
// TERMINATED BY '\t' ESCAPED BY '\\' LINES TERMINATED BY '\n', no ENCLOSED BY): a
// reference reader written from the MySQL manual, for the round-trip tests. A nil field
// is NULL.
func readLine(line []byte) ([][]byte, error) {
	if len(line) == 0 || line[len(line)-1] != '\n' {
		return nil, errors.New("no line terminator")
	}
	line = line[:len(line)-1]
	var fields [][]byte
	var cur []byte
	raw := 0 // bytes of the field as written, to recognise a lone \N
	null := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\':
			if i+1 == len(line) {
				return nil, errors.New("dangling escape")
			}
			i++
			e := line[i]
			switch e {
			case 'N':
				null = raw == 0 && (i+1 == len(line) || line[i+1] == '\t')
				cur = append(cur, 'N')
			case '0':
				cur = append(cur, 0)
			case 'b':
				cur = append(cur, '\b')
			case 'n':
				cur = append(cur, '\n')
			case 'r':
				cur = append(cur, '\r')
			case 't':
				cur = append(cur, '\t')
			case 'Z':
				cur = append(cur, 0x1a)
			default:
				cur = append(cur, e)
			}
			raw += 2
		case c == '\t':
			if null {
				cur = nil
			} else if cur == nil {
				cur = []byte{}
			}
			fields = append(fields, cur)
			cur, raw, null = nil, 0, false
		case c == '\n':
			return nil, errors.New("raw newline inside a line")
		default:
			cur = append(cur, c)
			raw++
		}
	}
	if null {
		cur = nil
	} else if cur == nil {
		cur = []byte{}
	}
	return append(fields, cur), nil
}

func textPlan(n int) *loadPlan {
	lp := &loadPlan{table: "t"}
	for range n {
		lp.cols = append(lp.cols, colPlan{name: "c", col: column{DataType: "varchar", Nullable: true, Scale: -1, Precision: -1}})
	}
	return lp
}

func TestEscapedTextRoundTrips(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "plain", "a\tb", "a\nb", "a\r\nb", `\`, `\\`, `\N`, "NULL", "\x00", "a\x00\\\t\n\r\x1a",
		"😀", "\xff\xfe", strings.Repeat(`\t`, 10)} {
		b, err := textPlan(2).appendRow(nil, etl.Row{s, nil}, 1)
		require.NoError(t, err)
		fields, err := readLine(b)
		require.NoError(t, err)
		require.Len(t, fields, 2)
		require.Equal(t, []byte(s), fields[0], "%q encoded as %q", s, b)
		require.Nil(t, fields[1])
	}
}

// FuzzEscapedText checks that any pair of strings survives the bulk format, so that no
// value can split a field, end a line early, or turn into NULL.
func FuzzEscapedText(f *testing.F) {
	for _, s := range []string{"", "a\tb", `\N`, "x\n", "\\", "\x00", "😀"} {
		f.Add(s, s+"\t")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		line, err := textPlan(3).appendRow(nil, etl.Row{a, []byte(b), nil}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Count(line, []byte{'\n'}) != 1 {
			t.Fatalf("%q and %q make %q, not one line", a, b, line)
		}
		fields, err := readLine(line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(fields) != 3 || string(fields[0]) != a || string(fields[1]) != b || fields[0] == nil || fields[1] == nil || fields[2] != nil {
			t.Fatalf("%q and %q read back as %q", a, b, fields)
		}
	})
}

func TestValuesEncodeForTheirColumns(t *testing.T) {
	t.Parallel()
	plus9 := time.FixedZone("+09", 9*3600)
	col := func(dataType string, scale, fsp int, typ etl.Type) colPlan {
		return colPlan{name: "v", stream: etl.Column{Name: "v", Type: typ},
			col: column{Name: "v", DataType: dataType, Type: dataType, Scale: scale, Precision: fsp}}
	}
	cases := []struct {
		name string
		col  colPlan
		v    any
		want string // "" with wantErr
		err  string
	}{
		{"int64", col("bigint", 0, -1, etl.TypeInt64), int64(math.MinInt64), "-9223372036854775808", ""},
		{"uint64", col("bigint", 0, -1, etl.TypeInt64), uint64(math.MaxUint64), "18446744073709551615", ""},
		{"bool", col("tinyint", 0, -1, etl.TypeBool), true, "1", ""},
		{"float", col("double", -1, -1, etl.TypeFloat64), 0.1, "0.1", ""},
		{"float32", col("float", -1, -1, etl.TypeFloat64), float32(0.1), "0.1", ""},
		{"NaN", col("double", -1, -1, etl.TypeFloat64), math.Inf(1), "", "no NaN or infinity"},
		{"decimal", col("decimal", 2, -1, etl.TypeNumeric), etl.Decimal("-12.50"), "-12.50", ""},
		{"decimal too fine", col("decimal", 2, -1, etl.TypeNumeric), etl.Decimal("0.125"), "", "3 digits after the point"},
		{"decimal exponent", col("decimal", 2, -1, etl.TypeNumeric), etl.Decimal("1.25e1"), "1.25e1", ""},
		{"float too fine for decimal", col("decimal", 1, -1, etl.TypeFloat64), 0.25, "", "2 digits after the point"},
		{"datetime", col("datetime", -1, 0, etl.TypeTimestamp), time.Date(2026, 2, 28, 12, 0, 0, 0, plus9), "2026-02-28 03:00:00", ""},
		{"datetime(3)", col("datetime", -1, 3, etl.TypeTimestamp), time.Date(2026, 2, 28, 3, 0, 0, 5e6, time.UTC), "2026-02-28 03:00:00.005", ""},
		{"datetime(6) too fine", col("datetime", -1, 6, etl.TypeTimestamp), time.Date(2026, 2, 28, 3, 0, 0, 1, time.UTC), "", "6 fractional digits"},
		{"timestamp", col("timestamp", -1, 6, etl.TypeTimestamp), time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC), "1970-01-01 00:00:01.000000", ""},
		{"date keeps its day", col("date", -1, -1, etl.TypeDate), time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("+14", 14*3600)), "2026-03-01", ""},
		{"date into datetime keeps its day", col("datetime", -1, 0, etl.TypeDate), time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("+14", 14*3600)), "2026-03-01 00:00:00", ""},
		{"date into text keeps its day", col("varchar", -1, -1, etl.TypeDate), time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("+14", 14*3600)), "2026-03-01", ""},
		{"timestamp into date at midnight", col("date", -1, -1, etl.TypeTimestamp), time.Date(2026, 3, 1, 9, 0, 0, 0, plus9), "2026-03-01", ""},
		{"timestamp into date", col("date", -1, -1, etl.TypeTimestamp), time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC), "", "time of day"},
		{"time into text", col("varchar", -1, -1, etl.TypeTimestamp), time.Date(2026, 3, 1, 1, 2, 3, 4e8, plus9), "2026-02-28 16:02:03.4", ""},
		{"midnight into text", col("varchar", -1, -1, etl.TypeTimestamp), time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "2026-03-01", ""},
		{"year 10000", col("datetime", -1, 0, etl.TypeTimestamp), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "", "year out of"},
		{"time column", col("time", -1, 0, etl.TypeTimestamp), time.Now(), "", "TIME"},
		{"unknown type", col("varchar", -1, -1, etl.TypeText), struct{}{}, "", "not supported"},
		{"NULL into NOT NULL", col("varchar", -1, -1, etl.TypeText), nil, "", "NOT NULL column"},
		{"fraction into an integer", col("int", 0, -1, etl.TypeNumeric), etl.Decimal(" 2.5"), "", "1 digits after the point"},
		{"integer out of range", colPlan{name: "v", stream: etl.Column{Name: "v", Type: etl.TypeInt64},
			col: column{Name: "v", DataType: "tinyint", Type: "tinyint(3) unsigned", Scale: 0, Precision: -1}}, int64(256), "", "out of the range"},
		{"characters, not bytes", colPlan{name: "v", stream: etl.Column{Name: "v", Type: etl.TypeText},
			col: column{Name: "v", DataType: "varchar", Type: "varchar(2)", Scale: -1, Precision: -1, MaxChars: 2, MaxBytes: 8}}, "日本", "日本", ""},
		{"one character too many", colPlan{name: "v", stream: etl.Column{Name: "v", Type: etl.TypeText},
			col: column{Name: "v", DataType: "varchar", Type: "varchar(2)", Scale: -1, Precision: -1, MaxChars: 2, MaxBytes: 8}}, "日本語", "", "3 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.col.appendValue(nil, tc.v)
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, string(b))
		})
	}

	bin := colPlan{name: "b", kind: kindBinary, col: column{DataType: "blob", Type: "blob"}}
	b, err := bin.appendValue(nil, []byte{0, '\t', '\\', 0xff})
	require.NoError(t, err)
	require.Equal(t, hex.EncodeToString([]byte{0, '\t', '\\', 0xff}), string(b))
	_, err = bin.appendValue(nil, int64(1))
	require.ErrorContains(t, err, "binary column")
}

func TestValueErrorsNameTheRowAndColumn(t *testing.T) {
	t.Parallel()
	lp := &loadPlan{table: "db.t", cols: []colPlan{
		{name: "id", col: column{DataType: "bigint", Scale: 0, Precision: -1}},
		{name: "amount", col: column{DataType: "decimal", Scale: 2, Precision: -1}},
	}}
	_, err := lp.appendRow(nil, etl.Row{int64(1), etl.Decimal("1.005")}, 42)
	var ve *ValueError
	require.True(t, errors.As(err, &ve), "%v", err)
	require.Equal(t, int64(42), ve.Row)
	require.Equal(t, "amount", ve.Column)
	require.Equal(t, `table db.t, row 42, column "amount": value "1.005": 3 digits after the point do not fit the column's scale of 2; MySQL would round it`, err.Error())

	_, err = lp.appendRow(nil, etl.Row{int64(1)}, 7)
	require.ErrorContains(t, err, "row 7: 1 values for 2 columns")

	long := strings.Repeat("é", 100)
	require.LessOrEqual(t, len(shown(long)), maxShown+5)
	require.Contains(t, shown(bytes.Repeat([]byte{1}, 100)), "...")
}

func TestFitsScale(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s     string
		scale int
		ok    bool
	}{
		{"1", 0, true}, {"1.0", 0, true}, {"1.5", 0, false}, {"-1.50", 1, true}, {"+.25", 2, true},
		{"1e-2", 2, true}, {"1e-3", 2, false}, {"1.5e1", 0, true}, {"12.345e2", 1, true}, {"12.345e1", 1, false},
		{"0.000", 0, true}, {"abc", 0, true}, {"1.5", -1, true},
		// As the server reads them: around spaces, and by where the last nonzero digit
		// lands once the exponent moves the point.
		{" 1.5", 0, false}, {"1.5 ", 0, false}, {"\t+.05\n", 1, false}, {"1500e-2", 0, true}, {"1500e-3", 0, false},
		{"100", 0, true}, {"0.0e-5", 0, true}, {"1e-99999999999999999999", 30, false}, {"0e-99999999999999999999", 0, true},
		{"1e99999999999999999999", 0, true}, {"1e-9223372036854775808", 30, false}, {"5e9223372036854775807", 0, true},
	} {
		err := fitsScale(tc.s, tc.scale)
		require.Equal(t, tc.ok, err == nil, "%s at scale %d: %v", tc.s, tc.scale, err)
	}
}

func TestColumnsClause(t *testing.T) {
	t.Parallel()
	lp := &loadPlan{cols: []colPlan{{name: "a"}, {name: "b`x", kind: kindBinary}, {name: "c", kind: kindBit}}}
	require.Equal(t, "(`a`, @sluice_2, @sluice_3) SET `b``x` = UNHEX(@sluice_2), `c` = CAST(@sluice_3 AS UNSIGNED)", lp.columnsClause())
}
