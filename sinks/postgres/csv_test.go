package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/sluice-etl/sluice/sources/csv"
	"github.com/stretchr/testify/require"
)

// CSV into PostgreSQL end to end: bad input names its line and loads nothing, and an
// empty file never empties the table.
func TestCSVFullRefresh(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, fmt.Sprintf(wideTableSQL, "w"))
	require.NoError(t, err)
	header := "id,Name,e mail,\"gen\"\"der\",country;,amount,created,modified,deleted\r\n"
	good := header + "1,\"Smith, Ann\",a@x,F,IS,12.50,2024-01-01T00:00:00Z,2024-01-02 03:04:05.123456+00,false\r\n" +
		"2,\"multi\nline\",b@x,M,,-0.01,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,true\r\n\r\n"
	load := func(name, data string, allowEmpty bool) error {
		src, err := csv.New(csv.Config{Reader: strings.NewReader(data), Name: name, Schema: wideSchema})
		require.NoError(t, err)
		l := &postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Table: "w"}}
		_, err = (&etl.Pipeline{Name: "csv", Source: src, Sink: l, AllowEmpty: allowEmpty}).Run(ctx, etl.Window{})
		return err
	}
	require.NoError(t, load("good.csv", "\ufeff"+good, false))
	old := checksum(t, db.Pool, "w")
	var amount, name string
	require.NoError(t, db.Pool.QueryRow(ctx, `SELECT amount::text, "Name" FROM w WHERE id = 1`).Scan(&amount, &name))
	require.Equal(t, "12.50", amount)
	require.Equal(t, "Smith, Ann", name)

	for _, tt := range []struct{ name, data, want string }{
		{"ragged.csv", header + "3,a,b,F,IS,1,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z\n", "ragged.csv: line 2"},
		{"quote.csv", header + "3,\"never closed,b,F,IS,1,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,false\n", "quote.csv: line 2"},
		{"utf8.csv", header + "3,a\xff,b,F,IS,1,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,false\n", "utf8.csv: line 2"},
		{"type.csv", header + strings.Repeat("4,a,b,F,IS,1,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,false\n", 3) +
			"5,a,b,F,IS,lots,2024-01-01T00:00:00Z,2024-01-01T00:00:00Z,false\n", "type.csv: line 5"},
	} {
		err := load(tt.name, tt.data, false)
		require.ErrorContains(t, err, tt.want)
		require.Equal(t, "extract", etl.Step(err), "%s: %v", tt.name, err)
		require.Equal(t, old, checksum(t, db.Pool, "w"), tt.name)
	}

	err = load("empty.csv", header, false)
	require.ErrorIs(t, err, etl.ErrEmpty)
	require.Equal(t, old, checksum(t, db.Pool, "w"))
	require.NoError(t, load("empty.csv", header, true))
	require.Equal(t, "empty", checksum(t, db.Pool, "w"))
}
