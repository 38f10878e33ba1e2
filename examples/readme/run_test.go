package readme

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/pgtest"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

func count(t *testing.T, db *pgtest.DB, query string) int {
	t.Helper()
	var n int
	require.NoError(t, db.Pool.QueryRow(context.Background(), query).Scan(&n))
	return n
}

// The first pipeline runs on a fresh database, as written: it creates its table.
func TestPipelineRunsOnAFreshDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	for range 2 {
		require.NoError(t, Pipeline(t.Context(), db.Pool))
		require.Equal(t, 100, count(t, db, "SELECT count(*) FROM name_gender"))
	}
	require.Equal(t, 0, count(t, db, "SELECT count(*) FROM name_gender WHERE gender NOT IN ('F', 'M', 'Unisex')"))
}

// people streams n rows; every seventh has no country, which the checks only warn about.
func people(n int) etl.Extractor {
	schema := etl.Schema{{Name: "id", Type: etl.TypeInt64}, {Name: "name"}, {Name: "gender"}, {Name: "email"}, {Name: "country"}}
	return etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
		rows := make([]etl.Row, n)
		for i := range rows {
			var country any = "NZ"
			if i%7 == 0 {
				country = nil
			}
			rows[i] = etl.Row{int64(i + 1), fmt.Sprint("name ", i), []string{"F", "M", "Unisex"}[i%3], fmt.Sprintf("p%d@example.com", i), country}
		}
		return etl.SliceStream(schema, rows), nil
	})
}

// The checks pass on a first load into a table the load creates (a shrink guard included),
// and a later load that would lose more than half the rows is rolled back.
func TestChecksGuardTheLoad(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t)
	p := &etl.Pipeline{Name: "people", Source: people(2400), Sink: PeopleSink(db.Pool)}
	res, err := p.Run(t.Context(), etl.Window{})
	require.NoError(t, err)
	require.Len(t, res.Checks, 7)
	for _, c := range res.Checks {
		if c.Severity == etl.SeverityWarn {
			require.False(t, c.Passed, "some rows have no country")
			continue
		}
		require.True(t, c.Passed, "%s: %s", c.Name, c.Found)
	}

	p.Source = people(1000)
	_, err = p.Run(t.Context(), etl.Window{})
	var ce *checks.Error
	require.ErrorAs(t, err, &ce)
	require.Contains(t, ce.Result.Name, "shrink")
	require.Equal(t, 2400, count(t, db, "SELECT count(*) FROM people"), "the failed load keeps the old rows")
}

// The incremental snippet, as written, applies the source's soft deletes: the merge
// takes the deleted column from the source's stream.
func TestIncrementalAppliesSoftDeletes(t *testing.T) {
	t.Parallel()
	source, warehouse := pgtest.New(t), pgtest.New(t)
	ctx := t.Context()
	_, err := source.Pool.Exec(ctx, `CREATE TABLE orders (id bigint PRIMARY KEY, item text NOT NULL,
		modified timestamptz NOT NULL, deleted boolean NOT NULL DEFAULT false);
		INSERT INTO orders (id, item, modified) VALUES
		  (1, 'tea', now() - interval '1 hour'), (2, 'coffee', now() - interval '1 hour'), (3, 'cocoa', now() - interval '1 hour')`)
	require.NoError(t, err)
	contents := func() []string {
		rows, err := warehouse.Pool.Query(ctx, "SELECT id || ':' || item FROM orders ORDER BY id")
		require.NoError(t, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			require.NoError(t, rows.Scan(&s))
			out = append(out, s)
		}
		require.NoError(t, rows.Err())
		return out
	}

	require.NoError(t, Incremental(ctx, source.Pool, warehouse.Pool))
	require.Equal(t, []string{"1:tea", "2:coffee", "3:cocoa"}, contents())

	_, err = source.Pool.Exec(ctx, `UPDATE orders SET deleted = true, modified = now() WHERE id = 2;
		UPDATE orders SET item = 'hot cocoa', modified = now() WHERE id = 3`)
	require.NoError(t, err)
	for range 2 { // the look-back re-reads the same changes: nothing more happens
		require.NoError(t, Incremental(ctx, source.Pool, warehouse.Pool))
		require.Equal(t, []string{"1:tea", "3:hot cocoa"}, contents(), "the soft-deleted order is gone from the warehouse")
	}

	// The state snippet reads the watermark and the runs, and resets the watermark.
	state := &postgres.State{Pool: warehouse.Pool}
	runs, err := state.Runs(ctx, "orders_sync", 0)
	require.NoError(t, err)
	require.Len(t, runs, 3)
	require.Equal(t, int64(1), runs[1].Stats.RowsDeleted)
	wm, err := state.Watermark(ctx, "orders_sync")
	require.NoError(t, err)
	require.NotNil(t, wm)
	require.NoError(t, Resync(ctx, warehouse.Pool))
	wm, err = state.Watermark(ctx, "orders_sync")
	require.NoError(t, err)
	require.Nil(t, wm, "reset")
}
