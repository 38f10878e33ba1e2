package pgstore_test

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
)

// A cron-run program keeps its history in PostgreSQL: `--store postgres://...` (or
// $SLUICE_DAG_STORE) opens the store through Config.OpenStore, and a second invocation
// that finds the first still running exits with code 75.
func ExampleOpen() {
	d := dag.New("orders", dag.Config{
		Every:     24 * time.Hour,
		OpenStore: pgstore.Open,
	})
	d.Task("extract", func(ctx context.Context, r *dag.Run) error { return nil })
	dag.Main(d)
}

// A store on a pool the program already has, in its own schema; the DAG's SQL task runs
// a summary over each window on the same pool.
func ExampleNew() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://etl@db.internal/warehouse")
	if err != nil {
		return
	}
	defer pool.Close()
	d := dag.New("summary", dag.Config{
		Every: 24 * time.Hour,
		Store: pgstore.New(pool, pgstore.Config{Schema: "etl_meta"}),
	})
	d.Task("daily_sales", dag.SQL(pgstore.Execer(pool), `
		INSERT INTO daily_sales SELECT day, sum(amount) FROM orders
		WHERE day >= $1 AND day < $2 GROUP BY day`, dag.WindowStart, dag.WindowEnd))
	dag.Main(d)
}
