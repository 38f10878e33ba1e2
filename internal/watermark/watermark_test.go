package watermark_test

import (
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/watermark"
)

func TestCompareDecimal(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1", "2", -1},
		{"10", "9", 1},
		{"10", "9.99", 1},
		{"10.001", "2.5", 1},
		{"0.25", "0.2", 1},
		{"0.5", "0.25", 1},
		{"1.05", "1.5", -1},
		{"1.50", "1.5", 0},
		{"1", "1.0", 0},
		{"-0.00", "0", 0},
		{"-0", "+0.", 0},
		{"-1", "0", -1},
		{"-1", "1", -1},
		{"-10", "-9", -1},
		{"-10", "-9.99", -1},
		{"-0.5", "-0.25", -1},
		{".5", "0.49", 1},
		{"+2", "1.", 1},
		{"007", "7.000", 0},
	} {
		c, ok := watermark.CompareDecimal(tc.a, tc.b)
		require.True(t, ok, "%s vs %s", tc.a, tc.b)
		require.Equal(t, tc.want, c, "%s vs %s", tc.a, tc.b)
		c, _ = watermark.CompareDecimal(tc.b, tc.a)
		require.Equal(t, -tc.want, c, "%s vs %s", tc.b, tc.a)
	}
	for _, bad := range []string{"", ".", "-", "1e5", "abc", "1.2.3", " 1", "NaN"} {
		_, ok := watermark.CompareDecimal(bad, "1")
		require.False(t, ok, "%q", bad)
		require.False(t, watermark.IsDecimal(bad), "%q", bad)
	}
}

func TestCompare(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		a, b any
		want int
		ok   bool
	}{
		{t0.Add(time.Nanosecond), t0, 1, true},
		{t0.In(time.FixedZone("x", 3600)), t0, 0, true}, // one instant
		{int64(-1), int64(2), -1, true},
		{etl.Decimal("2.50"), etl.Decimal("2.5"), 0, true},
		{"b", "a", 1, true},
		{"B", "a", -1, true}, // bytes, not a collation
		{int64(1), etl.Decimal("0"), 0, false},
		{etl.Decimal("x"), etl.Decimal("1"), 0, false},
		{true, false, 0, false},
		{nil, int64(1), 0, false},
	} {
		c, ok := watermark.Compare(tc.a, tc.b)
		require.Equal(t, tc.ok, ok, "%v vs %v", tc.a, tc.b)
		require.Equal(t, tc.want, c, "%v vs %v", tc.a, tc.b)
		require.Equal(t, tc.ok && tc.want > 0, watermark.Greater(tc.a, tc.b), "%v vs %v", tc.a, tc.b)
	}
}

// FuzzCompareDecimal checks the comparison against math/big on the decimals it reads.
func FuzzCompareDecimal(f *testing.F) {
	f.Add("12.50", "-12.5")
	f.Add("0.000000000000000000001", "0")
	f.Add("99999999999999999999.99999", "100000000000000000000")
	f.Add("-0", "0.0")
	f.Add(".5", "1.")
	f.Add("+3", "-.0")
	f.Fuzz(func(t *testing.T, a, b string) {
		c, ok := watermark.CompareDecimal(a, b)
		c2, ok2 := watermark.CompareDecimal(b, a)
		require.Equal(t, ok, ok2)
		require.Equal(t, -c, c2, "antisymmetric")
		if !ok {
			return
		}
		ra, aok := new(big.Rat).SetString(a)
		rb, bok := new(big.Rat).SetString(b)
		require.True(t, aok && bok, "%q and %q parse here but not for math/big", a, b)
		require.Equal(t, ra.Cmp(rb), c, "%q vs %q", a, b)
	})
}
