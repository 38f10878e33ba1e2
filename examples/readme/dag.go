package readme

import (
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
)

// CourseSummary is the README's DAG: a rollup in the warehouse, a pipeline that publishes
// it, and a retention job, run from cron through dag.Main. It never returns, so it is
// compiled but not run.
func CourseSummary(warehouse *pgxpool.Pool, publish *etl.Pipeline, rollupSQL string) {
	// README: dag
	d := dag.New("course_summary", dag.Config{OpenStore: pgstore.Open})
	d.Task("rollup", dag.SQL(postgres.Execer{Pool: warehouse}, rollupSQL)) // ELT: SQL runs in the warehouse
	d.Pipeline(publish).After("rollup")
	d.Task("trim_reviews", dag.Job(postgres.Retention{ // a plain job: sinks do not import dag
		Pool: warehouse, Table: "course_review", TimeColumn: "created", OlderThan: 2 * 365 * 24 * time.Hour,
	}))
	dag.Main(d)
	// README end
}
