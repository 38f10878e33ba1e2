package postgres_test

import (
	"context"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// A full refresh of a small table, with checks that roll the load back when they fail.
func ExampleFullRefresh() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()

	schema := etl.Schema{{Name: "name"}, {Name: "gender"}}
	p := &etl.Pipeline{
		Name: "name_gender",
		Meta: etl.Meta{Owner: "growth team"},
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(schema, []etl.Row{{"Adaleigh", "F"}, {"Amryn", "Unisex"}}), nil
		}),
		Sink: &postgres.FullRefresh{
			Target: postgres.Target{Pool: pool, Table: "name_gender", Create: true, Key: []string{"name"},
				Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey()}},
			Strategy: postgres.Swap,
		},
	}
	if _, err := p.Run(ctx, etl.Window{}); err != nil {
		fmt.Println(err)
	}
}

// An incremental merge: soft-deleted rows are removed, and the latest version of a key
// wins. The merge takes its cursor and soft-delete column from what the source declares;
// name them on the merge only for a source that does not.
func ExampleMerge() {
	var pool *pgxpool.Pool // connected elsewhere
	src, err := pgsource.New(pool, pgsource.Config{Table: "orders", Cursor: "modified", Deleted: "deleted"})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = &etl.Pipeline{Name: "orders_sync", Source: src, Sink: &postgres.Merge{
		Target: postgres.Target{Pool: pool, Table: "orders", Key: []string{"id"}, Create: true},
	}}
}

// Reading and resetting a pipeline's watermark, for a re-sync from scratch, and reading
// its run history.
func ExampleState() {
	var pool *pgxpool.Pool // connected elsewhere
	state := &postgres.State{Pool: pool}
	_ = state.Reset // state.Reset(ctx, "orders_sync") makes the next run read everything
	_ = state.Runs  // state.Runs(ctx, "orders_sync", 10) returns its last ten runs
}

// Other tools can stay out of a pipeline's way by taking its lock themselves, such as
// with SELECT pg_advisory_lock($1).
func ExampleLockKey() {
	fmt.Println(postgres.LockKey("public", "orders_sync"))
	fmt.Println(postgres.LockKey("public", "orders_sync") == postgres.LockKey("staging", "orders_sync"))
	// Output:
	// 585165481175261470
	// false
}
