package readme

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// Incremental syncs the changes of the table orders, read through sourcePool, into the
// warehouse's orders: the README's incremental load.
func Incremental(ctx context.Context, sourcePool, warehouse *pgxpool.Pool) error {
	// README: incremental
	src, err := pgsource.New(sourcePool, pgsource.Config{
		Table: "orders", Cursor: "modified", Deleted: "deleted", LookBack: 5 * time.Minute,
	})
	if err != nil {
		return err
	}
	sync := &etl.Pipeline{Name: "orders_sync", Source: src, Sink: &postgres.Merge{
		Target: postgres.Target{Pool: warehouse, Table: "orders", Key: []string{"id"}, Create: true},
	}}
	if _, err := sync.Run(ctx, etl.Window{}); err != nil {
		return err
	}
	// README end
	return nil
}
