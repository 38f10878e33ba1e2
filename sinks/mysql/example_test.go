package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/mysql"
)

// A production-data job: publish a summary to the database the product reads, replacing
// the table atomically, with checks inside the transaction.
func ExampleFullRefresh() {
	ctx := context.Background()
	db, err := sql.Open("mysql", "app:secret@tcp(db:3306)/product")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	var summary etl.Extractor // the warehouse query, say sources/postgres
	sink := &mysql.FullRefresh{
		Target: mysql.Target{
			DB:     db,
			Table:  "course_summary",
			Checks: []checks.Check{checks.RowCount{}, checks.UniqueKey("courseid")},
		},
		Strategy: mysql.Delete, // the default; or mysql.Swap
	}
	p := &etl.Pipeline{Name: "publish_course_summary", Source: summary, Sink: sink}
	res, err := p.Run(ctx, etl.Window{})
	if err != nil {
		panic(err) // the table kept its old rows; sluice_runs says why
	}
	fmt.Println(res.Stats.RowsWritten)
}

// An incremental sync by key, with soft deletes applied and the watermark committed with
// the rows.
func ExampleMerge() {
	var db *sql.DB
	sink := &mysql.Merge{
		Target:  mysql.Target{DB: db, Table: "orders", Key: []string{"id"}},
		Cursor:  "modified",
		Deleted: "deleted",
	}
	_ = sink
}

// Re-sync a pipeline from a chosen point, and read its last runs.
func ExampleState() {
	ctx := context.Background()
	var db *sql.DB
	state := &mysql.State{DB: db, LockWait: time.Minute}
	if err := state.Set(ctx, "orders_sync", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		panic(err)
	}
	runs, err := state.Runs(ctx, "orders_sync", 5)
	if err != nil {
		panic(err)
	}
	for _, r := range runs {
		fmt.Println(r.Started, r.Status, r.Step, r.Stats.RowsWritten)
	}
}
