package origin_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/origin"
)

func TestTrackerLocatesEveryRow(t *testing.T) {
	t.Parallel()
	// Rows as a source would yield them: two files, a record over two lines, a skipped
	// line (a rejected row), a blank line.
	positions := []etl.Position{
		{Source: "a.csv", Line: 2}, {Source: "a.csv", Line: 3}, {Source: "a.csv", Line: 4}, {Source: "a.csv", Line: 6}, {Source: "a.csv", Line: 7}, {Source: "a.csv", Line: 10},
		{Source: "b.csv", Line: 2}, {Source: "b.csv", Line: 3}, {Source: "a.csv", Line: 4},
	}
	var cur etl.Position
	tr := origin.New(etl.Stream{Position: func() etl.Position { return cur }})
	for _, p := range positions {
		cur = p
		tr.Next()
	}
	for i, want := range positions {
		got, ok := tr.Locate(int64(i + 1))
		require.True(t, ok, "row %d", i+1)
		require.Equal(t, want, got, "row %d", i+1)
	}
	_, ok := tr.Locate(0)
	require.False(t, ok)
	_, ok = tr.Locate(int64(len(positions) + 1))
	require.False(t, ok)

	require.Nil(t, origin.New(etl.Stream{}), "a stream without positions has no tracker")
	var none *origin.Tracker
	none.Next()
	_, ok = none.Locate(1)
	require.False(t, ok)
}

func TestTrackerStopsAtItsBound(t *testing.T) {
	t.Parallel()
	var cur etl.Position
	tr := origin.New(etl.Stream{Position: func() etl.Position { return cur }})
	rows := int64(origin.MaxSpans + 10)
	for n := int64(1); n <= rows; n++ {
		cur = etl.Position{Source: "f", Line: 2 * n} // every record on two lines
		tr.Next()
	}
	p, ok := tr.Locate(origin.MaxSpans)
	require.True(t, ok)
	require.Equal(t, int64(2*origin.MaxSpans), p.Line)
	_, ok = tr.Locate(origin.MaxSpans + 1)
	require.False(t, ok, "past the bound a row is not located rather than located wrongly")
}

func BenchmarkNext(b *testing.B) {
	var cur etl.Position
	tr := origin.New(etl.Stream{Position: func() etl.Position { return cur }})
	cur.Source = "in.csv"
	for b.Loop() {
		cur.Line++
		tr.Next()
	}
}
