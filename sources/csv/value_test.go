package csv_test

import (
	"context"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

func TestParseValue(t *testing.T) {
	t.Parallel()
	plus2 := time.FixedZone("", 2*3600)
	minus0530 := time.FixedZone("", -(5*3600 + 30*60))
	ok := []struct {
		typ  etl.Type
		in   string
		want any
	}{
		{etl.TypeInt64, "0", int64(0)},
		{etl.TypeInt64, "-9223372036854775808", int64(math.MinInt64)},
		{etl.TypeInt64, "+17", int64(17)},
		{etl.TypeFloat64, "1e3", 1000.0},
		{etl.TypeFloat64, "-0.25", -0.25},
		{etl.TypeFloat64, ".5", 0.5}, {etl.TypeFloat64, "5.", 5.0}, {etl.TypeFloat64, "+1E-2", 0.01},
		{etl.TypeFloat64, "1e-310", 1e-310}, // subnormal, as PostgreSQL keeps it
		{etl.TypeFloat64, "-Infinity", math.Inf(-1)}, {etl.TypeFloat64, "inf", math.Inf(1)},
		{etl.TypeFloat64, "-0", math.Copysign(0, -1)}, {etl.TypeFloat64, "0e-999", 0.0},
		{etl.TypeNumeric, "12.50", etl.Decimal("12.50")},
		{etl.TypeNumeric, "-0.001", etl.Decimal("-0.001")},
		{etl.TypeNumeric, "+3", etl.Decimal("3")},
		{etl.TypeNumeric, ".5", etl.Decimal(".5")},
		{etl.TypeNumeric, "5.", etl.Decimal("5.")},
		{etl.TypeNumeric, "123456789012345678901234567890.123", etl.Decimal("123456789012345678901234567890.123")},
		{etl.TypeBool, "t", true}, {etl.TypeBool, "F", false},
		{etl.TypeBool, "TRUE", true}, {etl.TypeBool, "false", false},
		{etl.TypeBool, "1", true}, {etl.TypeBool, "0", false},
		{etl.TypeBool, "Yes", true}, {etl.TypeBool, "no", false},
		{etl.TypeTimestamp, "2024-06-01T12:30:00Z", time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC)},
		{etl.TypeTimestamp, "2024-06-01T12:30:00.123456789+02:00", time.Date(2024, 6, 1, 12, 30, 0, 123456789, plus2)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00", time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00.5", time.Date(2024, 6, 1, 12, 30, 0, 5e8, time.UTC)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00+02", time.Date(2024, 6, 1, 12, 30, 0, 0, plus2)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00.000001-0530", time.Date(2024, 6, 1, 12, 30, 0, 1000, minus0530)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00-05:30", time.Date(2024, 6, 1, 12, 30, 0, 0, minus0530)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00+00", time.Date(2024, 6, 1, 12, 30, 0, 0, time.UTC)},
		{etl.TypeTimestamp, "2024-06-01 12:30:00.1234567891", time.Date(2024, 6, 1, 12, 30, 0, 123457000, time.UTC)}, // rounded as PostgreSQL rounds
		{etl.TypeDate, "2024-02-29", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{etl.TypeBytes, `\xDEADbeef`, []byte{0xde, 0xad, 0xbe, 0xef}},
		{etl.TypeBytes, "raw", []byte("raw")},
		{etl.TypeBytes, `a\\b\001\377`, []byte{'a', '\\', 'b', 1, 0xff}},
		{etl.TypeDate, "0001-01-01", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{etl.TypeJSON, `{"a":[1,2]}`, `{"a":[1,2]}`},
		{etl.TypeJSON, `"s"`, `"s"`},
		{etl.TypeText, "héllo", "héllo"},
		{etl.TypeText, "", ""},
	}
	for _, tc := range ok {
		got, err := csv.ParseValue(tc.typ, tc.in)
		require.NoError(t, err, "%s %q", tc.typ, tc.in)
		if want, isTime := tc.want.(time.Time); isTime {
			require.True(t, want.Equal(got.(time.Time)), "%s %q: got %v want %v", tc.typ, tc.in, got, want)
			_, wo := want.Zone()
			_, go_ := got.(time.Time).Zone()
			require.Equal(t, wo, go_, "%q keeps its offset", tc.in)
			continue
		}
		require.Equal(t, tc.want, got, "%s %q", tc.typ, tc.in)
	}

	bad := []struct {
		typ etl.Type
		in  string
	}{
		{etl.TypeInt64, ""}, {etl.TypeInt64, "1.0"}, {etl.TypeInt64, "9223372036854775808"}, {etl.TypeInt64, " 1"},
		{etl.TypeFloat64, "abc"}, {etl.TypeFloat64, ""},
		// What strconv takes and PostgreSQL's documented input does not.
		{etl.TypeFloat64, "0x1p-2"}, {etl.TypeFloat64, "1_000.5"}, {etl.TypeFloat64, "1e"}, {etl.TypeFloat64, "Infinityx"},
		// Beyond a double's range: overflow, and a non-zero value that would round to zero.
		{etl.TypeFloat64, "1e400"}, {etl.TypeFloat64, "-1e-400"}, {etl.TypeFloat64, "0.0000000001e-320"},
		{etl.TypeNumeric, ""}, {etl.TypeNumeric, "-"}, {etl.TypeNumeric, "."}, {etl.TypeNumeric, "1.2.3"},
		{etl.TypeNumeric, "1e5"}, {etl.TypeNumeric, "NaN"}, {etl.TypeNumeric, "1,5"}, {etl.TypeNumeric, "--1"},
		{etl.TypeBool, "maybe"}, {etl.TypeBool, ""}, {etl.TypeBool, "2"}, {etl.TypeBool, "on"},
		{etl.TypeTimestamp, "2024-06-01"}, {etl.TypeTimestamp, "2024-13-01 00:00:00"},
		{etl.TypeTimestamp, "2023-02-29 00:00:00"}, {etl.TypeTimestamp, "2024-06-01 24:00:00"},
		{etl.TypeTimestamp, "2024-06-01 12:60:00"}, {etl.TypeTimestamp, "2024-06-01 12:00:60"},
		{etl.TypeTimestamp, "2024-06-01X12:00:00"}, {etl.TypeTimestamp, "2024-06-01 12:00:00."},
		{etl.TypeTimestamp, "2024-06-01 12:00:00+2"}, {etl.TypeTimestamp, "2024-06-01 12:00:00+02:0"},
		{etl.TypeTimestamp, "2024-06-01 12:00:00 UTC"}, {etl.TypeTimestamp, "2024-06-01 12:00:00+16"},
		{etl.TypeTimestamp, "June 1, 2024"},
		{etl.TypeDate, "2024-6-1"}, {etl.TypeDate, "2024-06-31"}, {etl.TypeDate, "2024-06-01 00:00:00"},
		// Year 0 does not exist; Go would read it as 1 BC.
		{etl.TypeDate, "0000-01-01"}, {etl.TypeTimestamp, "0000-12-31 23:00:00-02"},
		{etl.TypeBytes, `\xabc`}, {etl.TypeBytes, `\xzz`}, {etl.TypeBytes, `a\b`}, {etl.TypeBytes, `\400`}, {etl.TypeBytes, `x\`},
		{etl.TypeJSON, "{"}, {etl.TypeJSON, ""}, {etl.TypeJSON, "\xff"},
		{etl.TypeText, "a\xffb"},
	}
	for _, tc := range bad {
		_, err := csv.ParseValue(tc.typ, tc.in)
		require.Error(t, err, "%s %q", tc.typ, tc.in)
		if strings.Contains(tc.in, "\xff") {
			require.ErrorIs(t, err, csv.ErrInvalidUTF8)
		} else {
			require.ErrorIs(t, err, csv.ErrInvalidValue)
			require.ErrorContains(t, err, tc.typ.String())
		}
	}
}

// FuzzParseValue checks the hand-written parsers against the standard library: whatever
// they accept, time.Parse and big.Rat read the same way.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{"2024-06-01T12:30:00.5+02:00", "2024-06-01 12:30:00", "2024-02-29",
		"-12.50", ".5", "1e5", "t", "yes", "FALSE", `\x00ff`, "123", "2024-06-01 12:30:00.1234567891-0530"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for typ := etl.TypeText; typ <= etl.TypeJSON; typ++ {
			v, err := csv.ParseValue(typ, s)
			if err != nil {
				if v != nil {
					t.Fatalf("%s %q: value %v with error %v", typ, s, v, err)
				}
				continue
			}
			switch typ {
			case etl.TypeNumeric:
				if _, ok := new(big.Rat).SetString(string(v.(etl.Decimal))); !ok {
					t.Fatalf("numeric %q accepted, but big.Rat refuses %q", s, v)
				}
			case etl.TypeTimestamp:
				got := v.(time.Time)
				// Past nine digits the fraction is rounded to microseconds, as PostgreSQL
				// rounds it, where time.Parse cuts it to nanoseconds.
				if len(s) > 10 && s[10] == 'T' && !longFraction(s) {
					if want, err := time.Parse(time.RFC3339Nano, s); err == nil && !want.Equal(got) {
						t.Fatalf("timestamp %q: got %v, time.Parse says %v", s, got, want)
					}
				}
			case etl.TypeDate:
				want, err := time.Parse(time.DateOnly, s)
				if err != nil || !want.Equal(v.(time.Time)) {
					t.Fatalf("date %q: got %v, time.Parse says %v, %v", s, v, want, err)
				}
			}
		}
		sourceAgrees(t, s)
	})
}

// sourceAgrees checks that a Source reads field s as ParseValue does, for every type: the
// Source parses the common types inline and boxes them from slabs, and must not drift
// from ParseValue. A carriage return is left out, since CSV turns a quoted \r\n into \n.
func sourceAgrees(t *testing.T, s string) {
	if strings.ContainsRune(s, '\r') {
		return
	}
	field := `"` + strings.ReplaceAll(s, `"`, `""`) + `"` + "\n"
	for typ := etl.TypeText; typ <= etl.TypeJSON; typ++ {
		if s == "" && typ != etl.TypeText {
			continue // an empty field is NULL there
		}
		want, werr := csv.ParseValue(typ, s)
		src, err := csv.New(csv.Config{Reader: strings.NewReader(field), NoHeader: true,
			Schema: etl.Schema{{Name: "v", Type: typ}}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := src.Extract(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		rows, gerr := etl.Collect(st)
		switch {
		case (werr == nil) != (gerr == nil):
			t.Fatalf("%s %q: ParseValue says %v, the source %v", typ, s, werr, gerr)
		case werr != nil:
			for _, sentinel := range []error{csv.ErrInvalidValue, csv.ErrInvalidUTF8} {
				if errors.Is(werr, sentinel) != errors.Is(gerr, sentinel) {
					t.Fatalf("%s %q: ParseValue says %v, the source %v", typ, s, werr, gerr)
				}
			}
		case len(rows) != 1 || !reflect.DeepEqual(rows[0][0], want):
			t.Fatalf("%s %q: ParseValue gives %#v, the source %#v", typ, s, want, rows)
		}
	}
}

// longFraction reports whether timestamp text s has more than nine digits of seconds.
func longFraction(s string) bool {
	if len(s) < 20 || s[19] != '.' {
		return false
	}
	n := 0
	for i := 20; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n++
	}
	return n > 9
}
