package readme

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	"github.com/sluice-etl/sluice/sources/csv"
)

// Pipeline loads name_gender.csv into the table name_gender through pool: the README's
// first pipeline.
func Pipeline(ctx context.Context, pool *pgxpool.Pool) error {
	// README: pipeline
	src, err := csv.New(csv.Config{
		Path:   "name_gender.csv", // or https://... or s3://bucket/key
		Schema: etl.Schema{{Name: "name", NotNull: true}, {Name: "gender"}},
	})
	if err != nil {
		return err
	}
	p := &etl.Pipeline{
		Name:   "name_gender",
		Meta:   etl.Meta{Owner: "growth-team", Description: "first names and their gender"},
		Source: src,
		Sink: &postgres.FullRefresh{Target: postgres.Target{
			Pool:   pool,
			Table:  "name_gender",
			Key:    []string{"name"},
			Create: true, // on the first run, from the CSV's columns
			Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey(), checks.DuplicateRows{}},
		}},
	}
	res, err := p.Run(ctx, etl.Window{}) // one transaction: the old rows stay unless everything passes
	if err != nil {
		return err
	}
	log.Printf("name_gender: %d rows read, %d written", res.Stats.RowsRead, res.Stats.RowsWritten)
	// README end
	return nil
}
