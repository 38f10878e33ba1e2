package postgres_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// A table written by the sink and read by the source has one lineage identity,
// "postgres://host:port" and "database.schema.table", with the schema resolved from the
// search_path when the Target leaves it out.
func TestDatasetsNameTheTableAsTheSourceDoes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for _, schema := range []string{"", "Sales"} {
		sink := (&postgres.FullRefresh{Target: postgres.Target{Pool: db.Pool, Schema: schema, Table: "Items"}}).Datasets()
		src, err := pgsource.New(db.Pool, pgsource.Config{Schema: schema, Table: "Items"})
		require.NoError(t, err)
		require.Equal(t, src.Datasets(), sink)
		want := schema
		if want == "" {
			want = db.Schema
		}
		cc := db.Pool.Config().ConnConfig
		require.Equal(t, cc.Database+"."+want+".Items", sink[0].Name, "quoted names keep their case on PostgreSQL")
	}
	require.Nil(t, (&postgres.FullRefresh{Target: postgres.Target{Table: "t"}}).Datasets())
}
