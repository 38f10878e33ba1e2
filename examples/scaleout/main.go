// Command scaleout is a DAG whose tasks run on worker processes, on this machine or on
// many, through the river executor (package dag/riverexec). extract loads a day of
// orders into the orders table; large_orders and region_totals fan out from it, each
// reading that table and replacing its own window; daily_report fans back in. Tasks pass
// data through tables, never through dag.Output, since every attempt may run in
// another process.
//
// Everything lives in one PostgreSQL database: the run history, river's queue, and the
// tables the tasks load (in schema $SLUICE_DAG_SCHEMA, default "sluice").
//
//	export SLUICE_DAG_STORE=postgres://etl@db.internal/warehouse
//	go run ./examples/scaleout migrate                      # once: river's tables and the attempts table
//	go run ./examples/scaleout worker &                     # on as many machines as you like
//	go run ./examples/scaleout worker &
//	go run ./examples/scaleout -executor river run --logical-date 2026-01-05
//	go run ./examples/scaleout -executor river run --detach # queue today's due windows, return
//	go run ./examples/scaleout ui --addr 127.0.0.1:8080     # river's UI at /river/, the DAG at /
//
// Without -executor river the same program runs every task in process.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/dag/riverexec"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	pgsource "github.com/sluice-etl/sluice/sources/postgres"
)

func main() {
	schema := os.Getenv("SLUICE_DAG_SCHEMA")
	if schema == "" {
		schema = "sluice"
	}
	dsn := os.Getenv(dag.StoreEnv)
	if dsn == "" {
		fmt.Fprintln(os.Stderr, "scaleout: set SLUICE_DAG_STORE to a PostgreSQL connection string")
		os.Exit(dag.ExitUsage)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scaleout: SLUICE_DAG_STORE: %v\n", err) // pgx hides the password
		os.Exit(dag.ExitUsage)
	}
	cfg.MaxConns = 20 // a running pipeline reads on one connection and loads on another
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "scaleout: %v\n", err)
		os.Exit(dag.ExitFailed)
	}
	d := build(pool, schema)
	dag.Main(d) // exits; the pool goes with the process
}

var orderSchema = etl.Schema{
	{Name: "id", Type: etl.TypeInt64},
	{Name: "placed", Type: etl.TypeTimestamp},
	{Name: "region", Type: etl.TypeText},
	{Name: "amount_cents", Type: etl.TypeInt64},
}

var regions = []string{"north", "south", "west"}

func build(pool *pgxpool.Pool, schema string) *dag.DAG {
	d := dag.New("scaleout", dag.Config{
		Every:       24 * time.Hour,
		Concurrency: 4,
		Retries:     2,
		RetryDelay:  time.Second,
		Meta: etl.Meta{
			Owner:       "sales-ops@example.com",
			Description: "Daily orders, large orders and per-region totals, run on river workers.",
			Schedule:    "daily 02:00 UTC, for the previous day",
		},
		OpenStore: func(ctx context.Context, dsn string) (dag.Store, error) {
			return pgstore.OpenConfig(ctx, dsn, pgstore.Config{Schema: schema})
		},
		Queues: map[string]dag.OpenQueue{"river": riverexec.Open(riverexec.Config{})},
	})
	target := func(table string, key ...string) postgres.Target {
		return postgres.Target{Pool: pool, Schema: schema, Table: table, Create: true, Key: key}
	}
	read := func(name, query string) *pgsource.Source {
		s, err := pgsource.New(pool, pgsource.Config{Query: query, QueryName: name, WindowColumn: "placed"})
		if err != nil {
			panic(err) // a mistake in the declaration above, not in the data
		}
		return s
	}
	table := func(name string) string { return pgx.Identifier{schema, name}.Sanitize() } // quoted as SQL quotes names
	orders := table("orders")

	d.Pipeline(&etl.Pipeline{
		Name:   "extract",
		Meta:   etl.Meta{Description: "Reads the window's orders from the shop's order feed."},
		Source: etl.ExtractFunc(extract),
		Sink:   &postgres.WindowReplace{Target: target("orders", "id"), TimeColumn: "placed"},
	}).Timeout(10 * time.Minute)

	d.Pipeline(&etl.Pipeline{
		Name:   "large_orders",
		Meta:   etl.Meta{Description: "Orders of 5.00 or more, for the fraud review.", Owner: "finance@example.com"},
		Source: read("large_orders", `SELECT id, placed, region, amount_cents FROM `+orders+` WHERE amount_cents >= 500`),
		Sink:   &postgres.WindowReplace{Target: target("large_orders", "id"), TimeColumn: "placed"},
	}).After("extract")

	d.Pipeline(&etl.Pipeline{
		Name: "region_totals",
		Meta: etl.Meta{Description: "Order count and total per region and day."},
		Source: read("region_totals", `SELECT date_trunc('day', placed) AS placed, region, count(*) AS orders,
			sum(amount_cents)::bigint AS total_cents FROM `+orders+` GROUP BY 1, 2`),
		Sink: &postgres.WindowReplace{Target: target("region_totals", "placed", "region"), TimeColumn: "placed"},
	}).After("extract")

	d.Pipeline(&etl.Pipeline{
		Name: "daily_report",
		Meta: etl.Meta{Description: "One line a day: orders, large orders and the total."},
		Source: read("daily_report", fmt.Sprintf(`SELECT t.placed, t.orders, coalesce(l.large, 0) AS large_orders, t.total_cents
			FROM (SELECT placed, sum(orders)::bigint AS orders, sum(total_cents)::bigint AS total_cents FROM %s GROUP BY 1) t
			LEFT JOIN (SELECT date_trunc('day', placed) AS placed, count(*) AS large FROM %s GROUP BY 1) l USING (placed)`,
			table("region_totals"), table("large_orders"))),
		Sink: &postgres.WindowReplace{Target: target("daily_report", "placed"), TimeColumn: "placed"},
	}).After("large_orders", "region_totals")
	return d
}

// extract makes a deterministic day of orders, one every ten minutes, as a stand-in for
// an API.
func extract(ctx context.Context, run *etl.Run) (etl.Stream, error) {
	w := run.Window
	if w.IsZero() {
		w.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		w.End = w.Start.AddDate(0, 0, 1)
	}
	var rows []etl.Row
	for t := w.Start; t.Before(w.End); t = t.Add(10 * time.Minute) {
		n := t.Unix() / 600
		rows = append(rows, etl.Row{n, t, regions[n%3], 100 + (n*37)%1000})
	}
	return etl.SliceStream(orderSchema, rows), nil
}
