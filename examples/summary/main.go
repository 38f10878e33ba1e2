// Command summary is the seed's report job done as ELT: it rolls course reviews up per
// course with SQL inside the warehouse (PostgreSQL here; Redshift runs the same SQL), then
// publishes the summary table to the production database the product reads from (MySQL),
// as an atomic full refresh guarded by checks. Without MySQL configured, the summary stays
// in the warehouse.
//
//	SLUICE_WAREHOUSE_URL=postgres://postgres@127.0.0.1:5432/test \
//	SLUICE_MYSQL_URL='root@tcp(127.0.0.1:3306)/test' \
//	go run ./examples/summary run
//
// It is a dag.Main program, so graph, describe, backfill and history work as well. Set
// SLUICE_SUMMARY_SEED=1 to create the course tables with sample rows first.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/etl"
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
	ctx := context.Background()
	d, cleanup, err := build(ctx, os.Getenv("SLUICE_WAREHOUSE_URL"), os.Getenv("SLUICE_MYSQL_URL"),
		os.Getenv("SLUICE_SUMMARY_SEED") != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, "summary:", err)
		os.Exit(2)
	}
	defer cleanup()
	dag.Main(d)
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
	src, err := pgsource.New(pool, pgsource.Config{Table: "course_summary"})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	d.Pipeline(&etl.Pipeline{
		Name:   "publish_course_summary",
		Meta:   etl.Meta{Owner: "learning-product", Description: "Copies course_summary to the product database."},
		Source: src,
		Sink: &mysqlRefresh{db: db, table: "course_summary", key: "courseid",
			checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("courseid"), checks.NotNull("students", "reviews")}},
	}).After("rollup")
	return d, cleanup, nil
}

// mysqlRefresh replaces a small MySQL table atomically: DELETE and batched INSERTs in one
// transaction, then the checks, rendered in MySQL's dialect, before COMMIT. It is the
// example's own loader; sluice's bulk sinks target warehouses.
type mysqlRefresh struct {
	db     *sql.DB
	table  string
	key    string
	checks []checks.Check
}

// mysqlDialect renders checks for MySQL.
type mysqlDialect struct{}

func (mysqlDialect) QuoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }
func (mysqlDialect) Placeholder(int) string     { return "?" }

type mysqlTx struct{ tx *sql.Tx }

func (t mysqlTx) QueryRows(ctx context.Context, q string, args ...any) ([][]any, error) {
	rows, err := t.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok { // MySQL returns numbers as text
				var n int64
				if _, err := fmt.Sscan(string(b), &n); err == nil && fmt.Sprint(n) == string(b) {
					vals[i] = n
				} else {
					vals[i] = string(b)
				}
			}
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

const batch = 200

// Load implements etl.Loader.
func (m *mysqlRefresh) Load(ctx context.Context, run *etl.Run, in etl.Stream) (res etl.LoadResult, err error) {
	d := mysqlDialect{}
	cols := make([]string, len(in.Schema))
	for i, c := range in.Schema {
		cols[i] = d.QuoteIdent(c.Name)
	}
	if _, err := m.db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS "+d.QuoteIdent(m.table)+
		" (courseid BIGINT PRIMARY KEY, students BIGINT NOT NULL, reviews BIGINT NOT NULL, avg_rating DECIMAL(6,3))"); err != nil {
		return res, fmt.Errorf("mysql: create %s: %w", m.table, err)
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return res, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err := tx.ExecContext(ctx, "DELETE FROM "+d.QuoteIdent(m.table)); err != nil {
		return res, etl.WithStep("apply", err)
	}
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ") + ")"
	insert := func(args []any, n int) error {
		q := "INSERT INTO " + d.QuoteIdent(m.table) + " (" + strings.Join(cols, ", ") + ") VALUES " +
			strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
		_, err := tx.ExecContext(ctx, q, args...)
		return err
	}
	var args []any
	pending := 0
	for r, err := range in.Rows {
		if err != nil {
			return res, err
		}
		for _, v := range r {
			if dec, ok := v.(etl.Decimal); ok {
				v = string(dec)
			}
			args = append(args, v)
		}
		pending++
		res.RowsWritten++
		if pending == batch {
			if err := insert(args, pending); err != nil {
				return res, etl.WithStep("stage", err)
			}
			args, pending = args[:0], 0
		}
	}
	if pending > 0 {
		if err := insert(args, pending); err != nil {
			return res, etl.WithStep("stage", err)
		}
	}
	if res.RowsWritten == 0 && !run.AllowEmpty {
		return res, etl.WithStep("stage", etl.ErrEmpty)
	}
	stats := run.Stats()
	stats.RowsWritten = res.RowsWritten
	target := checks.Target{DB: mysqlTx{tx}, Dialect: d, Table: d.QuoteIdent(m.table), Name: "mysql:" + m.table,
		Columns: in.Schema.Names(), Key: []string{m.key}, Stats: stats, Loaded: res.RowsWritten, PriorRows: -1}
	res.Checks, err = checks.Run(ctx, target, m.checks)
	if err != nil {
		return res, etl.WithStep("check", err)
	}
	if err := checks.Failed(res.Checks); err != nil {
		return res, etl.WithStep("check", err)
	}
	return res, tx.Commit()
}

// Datasets reports the MySQL table for lineage.
func (m *mysqlRefresh) Datasets() []etl.Dataset {
	return []etl.Dataset{{Namespace: "mysql", Name: m.table}}
}
