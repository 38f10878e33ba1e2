package dataset

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
)

// Rows and WriteCSV are the same data: render each streamed row the way the CSV writes
// it and compare line by line.
func TestRowsMatchTheCSV(t *testing.T) {
	t.Parallel()
	const n = 500 // enough to include quoted names (about 1 in 200)
	var csvOut bytes.Buffer
	_, err := WriteCSV(&csvOut, n, DefaultSeed)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSuffix(csvOut.String(), "\n"), "\n")[1:]
	require.Len(t, lines, n)

	i := 0
	quoted := 0
	for row, err := range Rows(n, DefaultSeed) {
		require.NoError(t, err)
		r := Generate(DefaultSeed, int64(i+1))
		if r.Quoted {
			quoted++
		}
		want := string(AppendCSV(nil, &r))
		require.Equal(t, strings.TrimSuffix(want, "\n"), lines[i])
		require.Equal(t, r.ID, row[0])
		require.Equal(t, etl.Decimal(AppendCents(nil, r.Cents)), row[5])
		require.True(t, time.Unix(r.Modified, 0).Equal(row[7].(time.Time)))
		name := r.First + " " + r.Last
		if r.Quoted {
			name = r.Last + ", " + r.First
		}
		require.Equal(t, name, row[1])
		i++
	}
	require.Equal(t, n, i)
	require.Positive(t, quoted, "the sample must include a quoted name")
}
