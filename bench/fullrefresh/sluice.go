package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sluice-etl/sluice/bench/internal/dataset"
	"github.com/sluice-etl/sluice/bench/internal/harness"
	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/sinks/postgres"
	csvsource "github.com/sluice-etl/sluice/sources/csv"
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
	// Tracer, when not nil, traces the statements of the loader's connections. It is the
	// benchmark's instrument, not part of what a user writes.
	Tracer pgx.QueryTracer
	// BackendCPU, when set, is called once the load is done and receives the CPU time of
	// the server process that ran it (see harness.BackendCPUSQL); it is not called when
	// the load used more than one connection. Loaded is called before that query.
	BackendCPU func(time.Duration)
	Loaded     func()
}

var strategies = map[string]postgres.Strategy{
	"truncate": postgres.Truncate,
	"delete":   postgres.Delete,
	"swap":     postgres.Swap,
}

// sluiceFullRefresh is the whole sluice side of a case, written as a user would: a
// pipeline that reads the CSV with sources/csv and loads it with sinks/postgres as a full
// refresh with the given strategy, with the unique-key and row-count checks on.
func sluiceFullRefresh(ctx context.Context, s loadSpec) (etl.Result, error) {
	strategy, ok := strategies[s.Strategy]
	if !ok {
		return etl.Result{}, fmt.Errorf("unknown strategy %q", s.Strategy)
	}
	cfg, err := pgxpool.ParseConfig(s.DSN)
	if err != nil {
		return etl.Result{}, err
	}
	cfg.ConnConfig.Tracer = s.Tracer
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return etl.Result{}, err
	}
	defer pool.Close()
	src, err := csvsource.New(csvsource.Config{Path: s.CSV, Schema: dataset.Schema})
	if err != nil {
		return etl.Result{}, err
	}
	p := etl.Pipeline{
		Name:   "bench_fullrefresh",
		Source: src,
		Sink: &postgres.FullRefresh{
			Target: postgres.Target{
				Pool:   pool,
				Schema: s.Schema,
				Table:  s.Table,
				Checks: []checks.Check{checks.UniqueKey("id"), checks.RowCount{Min: s.Rows, Max: s.Rows}},
			},
			Strategy: strategy,
		},
		Observer: s.Observer,
	}
	res, err := p.Run(ctx, etl.Window{})
	if s.Loaded != nil {
		s.Loaded()
	}
	if err == nil && s.BackendCPU != nil && pool.Stat().TotalConns() == 1 {
		var stat string
		if qerr := pool.QueryRow(ctx, harness.BackendCPUSQL).Scan(&stat); qerr == nil {
			if cpu, perr := harness.ParseBackendCPU(stat); perr == nil {
				s.BackendCPU(cpu)
			}
		}
	}
	return res, err
}
