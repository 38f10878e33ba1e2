package main

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// syncSpec is what the sluice side of the benchmark needs.
type syncSpec struct {
	DSN                        string
	SourceSchema, TargetSchema string
	// Table is the table's name in both schemas.
	Table string
	// Pipeline names the pipeline, whose watermark lives in TargetSchema.
	Pipeline string
}

// sluiceIncremental is the whole sluice side, written as a user would: sources/postgres
// reads the rows modified after the stored watermark, with the deleted flag, and
// sinks/postgres merges them into the target by id, applying the soft deletes as hard
// deletes and storing the new watermark in the same transaction. Rows stream from one
// table to the other with no file in between.
func sluiceIncremental(ctx context.Context, s syncSpec) (etl.Result, error) {
	pool, err := pgxpool.New(ctx, s.DSN)
	if err != nil {
		return etl.Result{}, err
	}
	defer pool.Close()
	src, err := pgsource.New(pool, pgsource.Config{
		Schema:  s.SourceSchema,
		Table:   s.Table,
		Cursor:  "modified",
		Deleted: "deleted",
	})
	if err != nil {
		return etl.Result{}, err
	}
	p := etl.Pipeline{
		Name:   s.Pipeline,
		Source: src,
		// The merge takes its cursor and soft-delete column from the source's stream.
		Sink: &postgres.Merge{Target: postgres.Target{Pool: pool, Schema: s.TargetSchema, Table: s.Table, Key: []string{"id"}}},
	}
	return p.Run(ctx, etl.Window{})
}

// resetWatermark sets the pipeline's stored watermark to x, as the previous sync left it.
func resetWatermark(ctx context.Context, dsn, schema, pipeline string, x time.Time) error {
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	st := postgres.State{Pool: pool, MetaSchema: schema}
	return st.Set(ctx, pipeline, x)
}
