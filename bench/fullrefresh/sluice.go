package main

import (
	"context"

	"github.com/sluice-etl/sluice/etl"
)

// loadSpec is what the sluice side of a full-refresh case needs.
type loadSpec struct {
	DSN, Schema, Table string
	// CSV is the file to load; Rows is how many data rows it holds.
	CSV  string
	Rows int64
	// Strategy is "truncate", "delete" or "swap".
	Strategy string
	// Observer is set on the pipeline when not nil.
	Observer etl.Observer
}

// sluiceFullRefresh is the whole sluice side of a case: a pipeline that reads the CSV with
// sources/csv and loads it with sinks/postgres as a full refresh with the given strategy,
// with the unique-key and row-count checks on.
func sluiceFullRefresh(ctx context.Context, s loadSpec) (etl.Result, error) {
	_ = ctx
	_ = s
	return etl.Result{}, errNotAvailable
}
