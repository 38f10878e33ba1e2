package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
)

// A time.Time bound for a date column keeps its own wall-clock date, whatever its zone,
// as PostgreSQL's date input keeps the date of '2026-03-01 00:00:00+09': the zone never
// moves the value into another day.
func TestDateIsTheWallClockDateOfItsZone(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	_, err := db.Pool.Exec(ctx, `CREATE TABLE dates (n int, d date)`)
	require.NoError(t, err)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	values := []time.Time{
		time.Date(2026, 3, 1, 0, 0, 0, 0, time.FixedZone("", 9*3600)),        // 2026-02-28 in UTC
		time.Date(2026, 2, 28, 23, 30, 0, 0, time.FixedZone("", -5*3600)),    // 2026-03-01 in UTC
		time.Date(2024, 2, 29, 8, 59, 59, 999999999, tokyo),                  // 2024-02-28 in UTC
		time.Date(1, 1, 1, 0, 0, 0, 0, time.FixedZone("", 14*3600)),          // before year 1 in UTC
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.FixedZone("", -12*3600)), // year 10000 in UTC
		time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	rows := make([]etl.Row, len(values))
	for i, v := range values {
		rows[i] = etl.Row{int64(i), v}
	}
	schema := etl.Schema{{Name: "n", Type: etl.TypeInt64}, {Name: "d", Type: etl.TypeDate}}
	_, err = copyRows(ctx, db.Pool, tableRef{Name: "dates"}, etl.SliceStream(schema, rows))
	require.NoError(t, err)
	for i, v := range values {
		var got, want string
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT d::text FROM dates WHERE n = $1`, i).Scan(&got))
		// PostgreSQL's own reading of the same value written as text, zone and all.
		require.NoError(t, db.Pool.QueryRow(ctx, `SELECT $1::text::date::text`, v.Format("2006-01-02 15:04:05.999999999-07:00")).Scan(&want))
		require.Equal(t, want, got, "%v", v)
		require.Equal(t, v.Format(time.DateOnly), got, "%v", v)
	}
}
