// Command summary is the seed's report job done as ELT: it rolls course reviews up per
// course with SQL inside the warehouse (PostgreSQL here; Redshift runs the same SQL), then
// publishes the summary table to the production database the product reads from (MySQL,
// through sinks/mysql) as an atomic full refresh guarded by checks. Without MySQL configured,
// the summary stays in the warehouse.
//
//	SLUICE_WAREHOUSE_URL=postgres://postgres@127.0.0.1:5432/test \
//	SLUICE_MYSQL_URL='root@tcp(127.0.0.1:3306)/test' \
//	go run ./examples/summary run
//
// Its command line is dag.Main's, so graph, describe, backfill and history work as well;
// it calls dag.MainArgs rather than dag.Main, which exits, so that its connections close
// before the process ends. Set SLUICE_SUMMARY_SEED=1 to create the course tables with
// sample rows first.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/mysql"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

// rollup rebuilds course_summary atomically: sent without parameters, the two statements
// travel as one simple query, which PostgreSQL runs as a single implicit transaction, so
// readers see the old summary or the new one and never half of each.
const rollup = `DELETE FROM course_summary;
INSERT INTO course_summary (courseid, students, reviews, avg_rating)
SELECT c.courseid,
       COUNT(DISTINCT cr.studentid) AS students,
       COUNT(DISTINCT cr.reviewid)  AS reviews,
       AVG(cr.rating)::numeric(6,3) AS avg_rating
FROM course c
LEFT JOIN course_review cr ON c.courseid = cr.courseid
GROUP BY 1`

const warehouseDDL = `
CREATE TABLE IF NOT EXISTS course (courseid bigint PRIMARY KEY, title text NOT NULL);
CREATE TABLE IF NOT EXISTS course_review (
  reviewid bigint PRIMARY KEY, courseid bigint NOT NULL, studentid bigint NOT NULL, rating int NOT NULL);
CREATE TABLE IF NOT EXISTS course_summary (
  courseid bigint PRIMARY KEY, students bigint NOT NULL, reviews bigint NOT NULL, avg_rating numeric(6,3));`

const sampleRows = `
INSERT INTO course VALUES (1, 'Data pipelines'), (2, 'Warehouses'), (3, 'Airflow')
  ON CONFLICT DO NOTHING;
INSERT INTO course_review VALUES
  (10, 1, 100, 5), (11, 1, 101, 4), (12, 1, 100, 3), (13, 2, 102, 2)
  ON CONFLICT DO NOTHING;`

func main() {
	// dag.Main would exit the process, and deferred calls with it: the pools would never
	// close. run returns the exit code instead, after its cleanup.
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run builds the DAG from the environment, runs the command line args against it as
// dag.Main does, closes the connections it opened, and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	d, cleanup, err := build(ctx, os.Getenv("SLUICE_WAREHOUSE_URL"), os.Getenv("SLUICE_MYSQL_URL"),
		os.Getenv("SLUICE_SUMMARY_SEED") != "")
	if err != nil {
		fmt.Fprintln(stderr, "summary:", err)
		return dag.ExitUsage
	}
	defer cleanup()
	return dag.MainArgs(ctx, d, args, stdout, stderr)
}

// build declares the DAG: rollup in the warehouse, then publish to MySQL when mysqlDSN is
// set.
func build(ctx context.Context, warehouseDSN, mysqlDSN string, seed bool) (*dag.DAG, func(), error) {
	if warehouseDSN == "" {
		return nil, nil, fmt.Errorf("set SLUICE_WAREHOUSE_URL to the warehouse, such as postgres://postgres@127.0.0.1:5432/test")
	}
	pool, err := pgxpool.New(ctx, warehouseDSN)
	if err != nil {
		// pgx's error quotes the connection string, password and all.
		return nil, nil, fmt.Errorf("warehouse: SLUICE_WAREHOUSE_URL does not parse as a connection string")
	}
	closers := []func(){pool.Close}
	cleanup := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if _, err := pool.Exec(ctx, warehouseDDL); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("warehouse: create tables: %w", err)
	}
	if seed {
		if _, err := pool.Exec(ctx, sampleRows); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("warehouse: sample rows: %w", err)
		}
	}

	d := dag.New("course_summary", dag.Config{
		OpenStore: pgstore.Open,
		Meta: etl.Meta{
			Owner:       "learning-product",
			Description: "Students, reviews and average rating per course, for the course pages.",
			Schedule:    "hourly",
		},
	})
	d.Task("rollup", dag.SQL(pgstore.Execer(pool), rollup)).Doc(etl.Meta{
		Owner:       "analytics",
		Description: "Aggregates course_review per course inside the warehouse.",
		Inputs:      []etl.Dataset{{Namespace: "warehouse", Name: "course"}, {Namespace: "warehouse", Name: "course_review"}},
		Outputs:     []etl.Dataset{{Namespace: "warehouse", Name: "course_summary"}},
	})
	if mysqlDSN == "" {
		return d, cleanup, nil
	}

	db, err := sql.Open("mysql", mysqlDSN)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("mysql: %w", err)
	}
	closers = append(closers, func() { _ = db.Close() })
	// The product owns its table's definition; the publish step only fills it.
	if _, err := db.ExecContext(ctx, productDDL); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("mysql: create course_summary: %w", err)
	}
	src, err := pgsource.New(pool, pgsource.Config{Table: "course_summary"})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	d.Pipeline(&etl.Pipeline{
		Name:   "publish_course_summary",
		Meta:   etl.Meta{Owner: "learning-product", Description: "Copies course_summary to the product database."},
		Source: src,
		Sink:   publishSink(db, mysqlDSN, checks.RowCount{}, checks.UniqueKey("courseid"), checks.NotNull("students", "reviews")),
	}).After("rollup")
	return d, cleanup, nil
}

// productDDL is the product database's summary table.
const productDDL = `CREATE TABLE IF NOT EXISTS course_summary (
  courseid BIGINT PRIMARY KEY, students BIGINT NOT NULL, reviews BIGINT NOT NULL, avg_rating DECIMAL(6,3))`

// publishSink replaces the product's course_summary atomically with LOAD DATA: the old
// rows are deleted and the new ones loaded in one transaction, the checks run inside it,
// and the product's readers see the old summary until commit.
// dsn, which db was opened with, names the table for lineage.
func publishSink(db *sql.DB, dsn string, cs ...checks.Check) etl.Loader {
	return &mysql.FullRefresh{Target: mysql.Target{DB: db, DSN: dsn, Table: "course_summary", Checks: cs}}
}
