package readme

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/sinks/postgres"
)

// Resync reports the watermark and recent runs of orders_sync and resets its watermark:
// the README's state example.
func Resync(ctx context.Context, warehouse *pgxpool.Pool) error {
	// README: state
	state := &postgres.State{Pool: warehouse}
	wm, err := state.Watermark(ctx, "orders_sync") // what the last committed run stored
	if err != nil {
		return err
	}
	runs, err := state.Runs(ctx, "orders_sync", 5) // its last five runs, newest first
	if err != nil {
		return err
	}
	log.Printf("orders_sync: watermark %v, %d recent runs", wm, len(runs))
	if err := state.Reset(ctx, "orders_sync"); err != nil { // fails with etl.ErrLocked while a run loads
		return err
	}
	// README end
	return nil
}
