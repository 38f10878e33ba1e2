package redshiftcopy

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

func TestEncoderValues(t *testing.T) {
	t.Parallel()
	ts := time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("x", 3600))
	cases := []struct {
		typ  etl.Type
		in   any
		want string
	}{
		{etl.TypeText, nil, `\N`},
		{etl.TypeText, "", `""`},
		{etl.TypeText, `a "b", c`, `"a ""b"", c"`},
		{etl.TypeText, "l1\nl2\r\n", "\"l1\nl2\r\n\""},
		{etl.TypeText, `\\N`, `"\\N"`},
		{etl.TypeJSON, `{"a":1}`, `"{""a"":1}"`},
		{etl.TypeInt64, int64(-42), "-42"},
		{etl.TypeInt64, 7, "7"},
		{etl.TypeFloat64, 0.1, "0.1"},
		{etl.TypeFloat64, 1e300, "1e+300"},
		{etl.TypeNumeric, etl.Decimal("-12.50"), "-12.50"},
		{etl.TypeNumeric, "3", "3"},
		{etl.TypeBool, true, "t"},
		{etl.TypeBool, false, "f"},
		{etl.TypeTimestamp, ts, "2024-02-29 22:59:58.123456+00"},
		{etl.TypeTimestamp, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), "2000-01-01 00:00:00+00"},
		{etl.TypeDate, time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC), "1999-12-31"},
		{etl.TypeBool, nil, `\N`},
	}
	for _, c := range cases {
		e := encoder{schema: etl.Schema{{Name: "c", Type: c.typ}}}
		got, err := e.appendRow(nil, etl.Row{c.in})
		require.NoError(t, err, "%v %#v", c.typ, c.in)
		require.Equal(t, c.want+"\n", string(got), "%v %#v", c.typ, c.in)
	}
}

func TestEncoderRefuses(t *testing.T) {
	t.Parallel()
	cases := []struct {
		typ    etl.Type
		in     any
		reason string
	}{
		{etl.TypeText, `\N`, "reads back as NULL"},
		{etl.TypeText, "a\x00b", "NUL"},
		{etl.TypeText, "\xff", "UTF-8"},
		{etl.TypeText, 3, "want string"},
		{etl.TypeFloat64, math.NaN(), "no exact form"},
		{etl.TypeFloat64, math.Inf(-1), "no exact form"},
		{etl.TypeNumeric, etl.Decimal("1e5"), "not a decimal"},
		{etl.TypeNumeric, etl.Decimal("-"), "not a decimal"},
		{etl.TypeNumeric, etl.Decimal("1.2.3"), "not a decimal"},
		{etl.TypeBytes, []byte("x"), "not supported"},
		{etl.TypeTimestamp, time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "outside 1-9999"},
		{etl.TypeTimestamp, "2024-01-01", "want time.Time"},
	}
	for _, c := range cases {
		e := encoder{schema: etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "col", Type: c.typ}}}
		_, err := e.appendRow(nil, etl.Row{int64(1), nil})
		require.NoError(t, err)
		_, err = e.appendRow(nil, etl.Row{int64(2), c.in})
		require.ErrorIs(t, err, ErrUnsupportedValue, "%v %#v", c.typ, c.in)
		var ve *ValueError
		require.True(t, errors.As(err, &ve))
		require.Equal(t, int64(2), ve.Row)
		require.Equal(t, "col", ve.Column)
		require.Contains(t, err.Error(), c.reason)
		require.Contains(t, err.Error(), `row 2, column "col"`)
	}
	e := encoder{schema: etl.Schema{{Name: "a"}}}
	_, err := e.appendRow(nil, etl.Row{"x", "y"})
	require.ErrorContains(t, err, "2 values for 1 columns")
}
