package postgres_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sources/postgres"
)

// An incremental source of an orders table with soft deletes. The sink that loads it
// stores the watermark; here the run stands in for it.
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	src, err := postgres.New(pool, postgres.Config{
		Schema:   "sales",
		Table:    "orders",
		Cursor:   "modified",
		LookBack: 5 * time.Minute,
		Deleted:  "deleted",
	})
	if err != nil {
		log.Fatal(err)
	}

	run := etl.NewRun("orders_sync", etl.Window{})
	run.SetWatermark(time.Date(2024, 5, 10, 0, 0, 0, 0, time.UTC)) // what the sink stored
	stream, err := src.Extract(ctx, run)
	if err != nil {
		log.Fatal(err)
	}
	n := 0
	for _, err := range stream.Rows {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	next, _ := run.NextWatermark()
	fmt.Println(n, "changed rows; next watermark", next)
}

// Keys streams the primary keys of the last 30 days' orders, for a sink that removes
// target rows whose key is gone from the source.
func ExampleSource_Keys() {
	ctx := context.Background()
	src, err := postgres.Open(ctx, os.Getenv("DATABASE_URL"), postgres.Config{Table: "orders"})
	if err != nil {
		log.Fatal(err)
	}
	defer src.Close()

	keys := src.Keys([]string{"id"}, "created >= now() - interval '30 days'")
	stream, err := keys.Extract(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stream.Schema.Names())
}
