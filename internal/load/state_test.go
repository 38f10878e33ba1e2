package load

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

func TestClipKeepsRecordsWithinTheWidestColumn(t *testing.T) {
	t.Parallel()
	require.Equal(t, "short", clip("short"))
	long := strings.Repeat("é", maxText) // two bytes each
	got := clip(long)
	require.LessOrEqual(t, len(got), maxText)
	require.True(t, utf8.ValidString(got), "the cut must fall on a character boundary")
	require.True(t, strings.HasSuffix(got, "[truncated]"))
}

func TestWatermarkRoundTrip(t *testing.T) {
	t.Parallel()
	ts := time.Date(2026, 11, 25, 15, 4, 5, 123456789, time.FixedZone("x", 3600))
	for _, v := range []any{int64(-42), ts, etl.Decimal("12.50"), "cursor-é"} {
		text, typ, err := EncodeWatermark(v)
		require.NoError(t, err)
		back, err := DecodeWatermark(text, typ)
		require.NoError(t, err)
		require.True(t, sameWatermark(v, back), "%v -> %q/%s -> %v", v, text, typ, back)
	}
	_, _, err := EncodeWatermark(3.5)
	require.ErrorContains(t, err, "float64")
	_, err = DecodeWatermark("x", "mystery")
	require.Error(t, err)
}
