package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sources/csv"
)

// A timestamp read from CSV text is stored to the microsecond PostgreSQL's own input
// stores from the same text, half-microsecond ties and digits past the ninth included.
func TestSubMicrosecondRoundingMatchesPostgreSQL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pgtest.URL(t))
	require.NoError(t, err)
	defer conn.Close(ctx)
	fracs := []string{"0000005", "0000015", "0000025", "0000035", "1234565", "9999995", "00000050", "000000501",
		"0000004999", "0000005000000001", "0000025000000000001", "5", "123456", "1234564", "999999949", "999999950", "9999999999"}
	for d := 0; d < 1000; d += 7 { // every tie and its neighbours, in steps
		fracs = append(fracs, fmt.Sprintf("%06d5", d), fmt.Sprintf("%06d49", d), fmt.Sprintf("%06d51", d))
	}
	for _, f := range fracs {
		text := "2024-06-01 12:00:59." + f + "+00"
		v, err := csv.ParseValue(etl.TypeTimestamp, text)
		require.NoError(t, err, text)
		var want int64
		require.NoError(t, conn.QueryRow(ctx,
			"SELECT (extract(epoch FROM $1::text::timestamptz - '2000-01-01 00:00:00+00') * 1000000)::bigint", text).Scan(&want))
		require.Equal(t, want, micros(v.(time.Time)), text)
	}
}
