package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

// A duplicate that the table's primary key refuses (while the COPY runs, or when the
// index is rebuilt after it) is the unique_key check failing: every strategy reports it as
// that check, naming the key, and keeps the old rows.
func TestDuplicateRefusedByTheKeyFailsTheUniqueKeyCheck(t *testing.T) {
	t.Parallel()
	for _, strategy := range []postgres.Strategy{postgres.Truncate, postgres.Delete, postgres.Swap} {
		t.Run(strategy.String(), func(t *testing.T) {
			t.Parallel()
			db := pgtest.New(t)
			ctx := context.Background()
			_, err := db.Pool.Exec(ctx, `CREATE TABLE name_gender (name varchar(32) PRIMARY KEY, gender varchar(8));
				INSERT INTO name_gender VALUES ('Adaleigh', 'F'), ('Amryn', 'Unisex')`)
			require.NoError(t, err)
			schema := etl.Schema{{Name: "name", NotNull: true}, {Name: "gender"}}
			p := &etl.Pipeline{Name: "names",
				Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
					return etl.SliceStream(schema, []etl.Row{{"Ann", "F"}, {"Bob", "M"}, {"Ann", "Unisex"}}), nil
				}),
				Sink: &postgres.FullRefresh{Strategy: strategy, Target: postgres.Target{Pool: db.Pool, Table: "name_gender",
					Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("name")}}},
			}
			_, err = p.Run(ctx, etl.Window{})
			require.Error(t, err)
			require.Equal(t, "check", etl.Step(err))
			var ce *checks.Error
			require.True(t, errors.As(err, &ce), "want a *checks.Error, got %v", err)
			require.Equal(t, "unique_key(name)", ce.Result.Name)
			require.Equal(t, []string{"(name)=(Ann)"}, ce.Result.Samples)

			var n int
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT count(*) FROM name_gender WHERE name IN ('Adaleigh', 'Amryn')`).Scan(&n))
			require.Equal(t, 2, n, "the previous table stays")
			var step string
			require.NoError(t, db.Pool.QueryRow(ctx, `SELECT step FROM sluice_runs WHERE status = 'failed'`).Scan(&step))
			require.Equal(t, "check", step)
		})
	}
}
