package pgtest_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
)

func TestNewGivesAnIsolatedSchema(t *testing.T) {
	t.Parallel()
	a, b := pgtest.New(t), pgtest.New(t)
	require.NotEqual(t, a.Schema, b.Schema)
	ctx := context.Background()
	_, err := a.Pool.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err)
	_, err = b.Pool.Exec(ctx, "CREATE TABLE t (id int)")
	require.NoError(t, err, "the same table name in another test's schema must not collide")
	var schema string
	require.NoError(t, a.Pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema))
	require.Equal(t, a.Schema, schema)
}
