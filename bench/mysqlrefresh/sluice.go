package main

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/mysql"
	csvsource "github.com/sluice-etl/sluice/sources/csv"
)

// loadSpec is what the sluice side of a case needs.
type loadSpec struct {
	DSN, Table string
	// CSV is the file to load; Rows is how many data rows it holds.
	CSV  string
	Rows int64
	// Strategy is "delete" or "swap".
	Strategy string
}

var strategies = map[string]mysql.Strategy{"delete": mysql.Delete, "swap": mysql.Swap}

// sluiceFullRefresh is the whole sluice side of a case, written as a user would: a
// pipeline that reads the CSV with sources/csv and loads it with sinks/mysql as a full
// refresh with the given strategy, with the unique-key and row-count checks on.
func sluiceFullRefresh(ctx context.Context, s loadSpec) (etl.Result, error) {
	strategy, ok := strategies[s.Strategy]
	if !ok {
		return etl.Result{}, fmt.Errorf("unknown strategy %q", s.Strategy)
	}
	db, err := sql.Open("mysql", s.DSN)
	if err != nil {
		return etl.Result{}, err
	}
	defer db.Close()
	src, err := csvsource.New(csvsource.Config{Path: s.CSV, Schema: dataset.Schema})
	if err != nil {
		return etl.Result{}, err
	}
	p := etl.Pipeline{
		Name:   "bench_mysqlrefresh",
		Source: src,
		Sink: &mysql.FullRefresh{
			Target: mysql.Target{
				DB:     db,
				Table:  s.Table,
				Checks: []checks.Check{checks.UniqueKey("id"), checks.RowCount{Min: s.Rows, Max: s.Rows}},
			},
			Strategy: strategy,
		},
	}
	return p.Run(ctx, etl.Window{})
}
