package csv_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/csv"
)

// ExtractLent yields the rows Extract yields, value for value, each read before the next
// row reuses its memory; and the rows Extract yields stay intact after the stream moved
// on.
func TestExtractLentYieldsTheSameRows(t *testing.T) {
	t.Parallel()
	wide := etl.Schema{
		{Name: "id", Type: etl.TypeInt64}, {Name: "name"}, {Name: "x", Type: etl.TypeFloat64},
		{Name: "n", Type: etl.TypeNumeric}, {Name: "ts", Type: etl.TypeTimestamp}, {Name: "d", Type: etl.TypeDate},
		{Name: "b", Type: etl.TypeBool}, {Name: "raw", Type: etl.TypeBytes}, {Name: "j", Type: etl.TypeJSON},
	}
	odd := "id,name,x,n,ts,d,b,raw,j\n" +
		"1,plain,1.5,12.50,2024-05-01 12:00:00+02,2024-05-01,t,\\x0102,\"{\"\"a\"\":1}\"\n" +
		"2,\"Smith, Ann\",-0,-0.01,2024-05-01T12:00:00.123456789Z,2024-02-29,false,abc,[1]\n" +
		"3,\"multi\r\nline\",,,,,,,\n" +
		"4,café,1e300,.5,2024-05-01 12:00:00,0001-01-01,yes,\\\\,null\n" +
		strings.Repeat("5,a longer name that goes on past the eight-byte words,2.25,99999.99,2025-12-31 23:59:59.5-0330,2025-12-31,0,,\"\"\"s\"\"\"\n", 300)
	for _, tc := range []struct {
		name   string
		schema etl.Schema
		data   string
	}{
		{"bulk shape", benchSchema, benchText(2000)},
		{"every type", wide, odd},
	} {
		read := func(lent bool) etl.Stream {
			src, err := csv.New(csv.Config{Reader: strings.NewReader(tc.data), Schema: tc.schema})
			require.NoError(t, err)
			extract := src.Extract
			if lent {
				extract = src.ExtractLent
			}
			s, err := extract(context.Background(), etl.NewRun("lend", etl.Window{}))
			require.NoError(t, err)
			return s
		}
		var owned []etl.Row
		for row, err := range read(false).Rows {
			require.NoError(t, err, tc.name)
			owned = append(owned, row.Clone())
		}
		i := 0
		for row, err := range read(true).Rows {
			require.NoError(t, err, tc.name)
			require.Less(t, i, len(owned), tc.name)
			require.Equal(t, owned[i], row, "%s: row %d", tc.name, i+1)
			i++
		}
		require.Equal(t, len(owned), i, tc.name)
		// The owned rows, read to the end, still hold what a fresh read gives.
		fresh, err := etl.Collect(read(false))
		require.NoError(t, err)
		require.Equal(t, fresh, owned, tc.name)
	}
}
