package pgxrows_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/internal/pgxrows"
)

func TestCollectMakesValuesPlain(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	ctx := context.Background()
	got, err := pgxrows.Collect(db.Pool.Query(ctx, `SELECT 12.50::numeric, NULL::numeric, 7::int2, 8::int4, 9::int8,
		'1b4e28ba-2fa1-41d2-883f-0016d3cca427'::uuid, 'x'::text`))
	require.NoError(t, err)
	require.Equal(t, [][]any{{etl.Decimal("12.50"), nil, int64(7), int64(8), int64(9),
		"1b4e28ba-2fa1-41d2-883f-0016d3cca427", "x"}}, got)

	_, err = pgxrows.Collect(db.Pool.Query(ctx, `SELECT nope`))
	require.Error(t, err)
	boom := errors.New("boom")
	_, err = pgxrows.Collect(nil, boom)
	require.ErrorIs(t, err, boom)
}
