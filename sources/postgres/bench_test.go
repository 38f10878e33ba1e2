package postgres_test

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sources/postgres"
)

// benchRows is the size of the benchmark table: SLUICE_BENCH_ROWS, or 500k.
func benchRows(b *testing.B) int {
	if s := os.Getenv("SLUICE_BENCH_ROWS"); s != "" {
		n, err := strconv.Atoi(s)
		require.NoError(b, err)
		return n
	}
	return 500_000
}

// BenchmarkStream streams a table of the 9-column shape (bigint id, text name, email,
// gender, country, numeric(12,2) amount, timestamptz created, modified, boolean deleted)
// and reports rows/s. "pgx_values" is the same read through pgx's generic rows.Values,
// for comparison: it is what a source built on pgx's scanning would pay at least.
func BenchmarkStream(b *testing.B) {
	db := pgtest.New(b)
	n := benchRows(b)
	ctx := context.Background()
	exec(b, db, `CREATE TABLE people (id bigint PRIMARY KEY, name text, email text, gender text,
		country text, amount numeric(12,2), created timestamptz, modified timestamptz, deleted boolean)`)
	exec(b, db, `INSERT INTO people SELECT g, 'name ' || g, 'user' || g || '@example.com',
		(ARRAY['F', 'M', 'Unisex'])[g % 3 + 1], (ARRAY['NZ', 'DE', 'BR', 'JP'])[g % 4 + 1],
		(g % 1000000)::numeric / 100, timestamptz '2024-01-01' + g * interval '1 second',
		timestamptz '2024-01-01' + g * interval '2 seconds', g % 100 = 0
		FROM generate_series(1, $1) g`, n)
	exec(b, db, `VACUUM ANALYZE people`)

	b.Run("sluice", func(b *testing.B) {
		src := newSource(b, db, postgres.Config{Table: "people"})
		for b.Loop() {
			s, err := src.Extract(ctx, nil)
			require.NoError(b, err)
			got := 0
			for _, err := range s.Rows {
				if err != nil {
					b.Fatal(err)
				}
				got++
			}
			require.Equal(b, n, got)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("pgx_values", func(b *testing.B) {
		for b.Loop() {
			rows, err := db.Pool.Query(ctx, `SELECT * FROM people`)
			require.NoError(b, err)
			got := 0
			for rows.Next() {
				if _, err := rows.Values(); err != nil {
					b.Fatal(err)
				}
				got++
			}
			require.NoError(b, rows.Err())
			require.Equal(b, n, got)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("pgx_raw", func(b *testing.B) {
		// The floor: rows received and not decoded at all.
		for b.Loop() {
			rows, err := db.Pool.Query(ctx, `SELECT * FROM people`, pgx.QueryResultFormats{pgx.BinaryFormatCode})
			require.NoError(b, err)
			got := 0
			for rows.Next() {
				_ = rows.RawValues()
				got++
			}
			require.NoError(b, rows.Err())
			require.Equal(b, n, got)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}
