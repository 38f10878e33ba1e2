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
	// SourceTable and TargetTable name the table in each schema.
	SourceTable, TargetTable string
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
		Table:   s.SourceTable,
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
		Sink: &postgres.Merge{Target: postgres.Target{Pool: pool, Schema: s.TargetSchema, Table: s.TargetTable, Key: []string{"id"}}},
	}
	return p.Run(ctx, etl.Window{})
}

// sluiceReadme runs the README's incremental program (readmeIncremental) on two pools,
// one per side, whose search_path is the source's and the target's schema. It returns the
// pipeline's last run record as the result, since the README's program returns only an
// error.
func sluiceReadme(ctx context.Context, s syncSpec) (etl.Result, error) {
	source, err := poolIn(ctx, s.DSN, s.SourceSchema)
	if err != nil {
		return etl.Result{}, err
	}
	defer source.Close()
	warehouse, err := poolIn(ctx, s.DSN, s.TargetSchema)
	if err != nil {
		return etl.Result{}, err
	}
	defer warehouse.Close()
	if err := readmeIncremental(ctx, source, warehouse); err != nil {
		return etl.Result{}, err
	}
	runs, err := (&postgres.State{Pool: warehouse}).Runs(ctx, readmePipeline, 1)
	if err != nil || len(runs) == 0 {
		return etl.Result{}, err
	}
	return etl.Result{Stats: runs[0].Stats}, nil
}

// readmeIncremental is the README's incremental snippet, copied from
// examples/readme/incremental.go rather than imported, so that the child links only what
// such a program links (the examples package also pulls in river, MySQL and the DAG
// runner). TestReadmeSnippetIsCurrent keeps the copy equal to the snippet.
func readmeIncremental(ctx context.Context, sourcePool, warehouse *pgxpool.Pool) error {
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

// poolIn connects a pool whose search_path is schema, as a program configured for one
// database would be.
func poolIn(ctx context.Context, dsn, schema string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	return pgxpool.NewWithConfig(ctx, cfg)
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
