package mysql

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// State reads and changes the incremental state of pipelines: the watermark each one
// keeps in the sluice_state table, committed with its rows, and the run history in
// sluice_runs. Reset a watermark to re-sync a pipeline from the start.
type State struct {
	// DB connects to the server. Required.
	DB *sql.DB
	// MetaSchema is the database that holds sluice_state and sluice_runs: the loaders'
	// MetaSchema. Defaults to the connection's current database.
	MetaSchema string
	// LockWait bounds the wait for a running load of the pipeline to finish before Set or
	// Reset. Defaults to 0: fail at once with an error wrapping etl.ErrLocked.
	LockWait time.Duration
}

// Watermark returns the pipeline's stored watermark (int64, time.Time, string or
// etl.Decimal), or nil when it has none.
func (s *State) Watermark(ctx context.Context, pipeline string) (any, error) {
	var v any
	err := s.with(ctx, pipeline, false, func(d dialect, sess load.Session) (err error) {
		v, err = load.State(ctx, d, sess, s.MetaSchema, pipeline)
		return err
	})
	return v, err
}

// Reset deletes the pipeline's watermark, so its next run syncs everything. It takes the
// pipeline's lock, so it never races a running load.
func (s *State) Reset(ctx context.Context, pipeline string) error {
	return s.with(ctx, pipeline, true, func(d dialect, sess load.Session) error {
		return load.ResetState(ctx, d, sess, s.MetaSchema, pipeline)
	})
}

// Set stores v (int64, time.Time, string or etl.Decimal) as the pipeline's watermark, to
// re-sync from a chosen point. It takes the pipeline's lock.
func (s *State) Set(ctx context.Context, pipeline string, v any) error {
	return s.with(ctx, pipeline, true, func(d dialect, sess load.Session) error {
		return load.SetState(ctx, d, sess, s.MetaSchema, pipeline, v)
	})
}

func (s *State) with(ctx context.Context, pipeline string, lock bool, fn func(dialect, load.Session) error) error {
	if s.DB == nil {
		return errors.New("mysql: State has no DB")
	}
	d := dialect{db: s.DB, meta: s.MetaSchema}
	sess, err := d.Session(ctx)
	if err != nil {
		return err
	}
	defer sess.Close(ctx)
	if lock {
		release, err := sess.Lock(ctx, pipeline, s.LockWait)
		if err != nil {
			return err
		}
		defer release(context.WithoutCancel(ctx))
	}
	return fn(d, sess)
}

// RunRecord is one row of the sluice_runs table: what one load did, or why it failed.
type RunRecord struct {
	// RunID is the run's etl.Run ID.
	RunID string
	// Pipeline is the pipeline's name.
	Pipeline string
	// Mode is "full_refresh", "merge" or "window_replace".
	Mode string
	// Target is the loaded table, as database.table or table.
	Target string
	// Window is the run's data interval; zero for all data.
	Window etl.Window
	// Status is "success" or "failed".
	Status string
	// Step names the step that failed ("extract", "stage", "check", ...), and Error is its
	// message; both are empty after a success.
	Step, Error string
	// Stats counts what the run read, rejected, filtered, wrote and deleted; its Duration
	// is Finished - Started.
	Stats etl.Stats
	// Loaded counts the rows the database received in the stage step.
	Loaded int64
	// Checks holds every check's result, passed or not.
	Checks []etl.CheckResult
	// Rejects holds the first rejected records, as messages.
	Rejects []string
	// Watermark is the text of the watermark stored by a successful run, or "".
	Watermark string
	// Attempts counts the load's transaction attempts; 0 for a run that failed before
	// its load began.
	Attempts int
	// Owner is the pipeline's business owner (etl.Meta.Owner).
	Owner string
	// Started and Finished bound the run.
	Started, Finished time.Time
}

// Runs returns the last n run records of pipeline, newest first; an empty pipeline means
// every pipeline and n <= 0 means all records. A database no run has touched has none.
func (s *State) Runs(ctx context.Context, pipeline string, n int) ([]RunRecord, error) {
	if s.DB == nil {
		return nil, errors.New("mysql: State has no DB")
	}
	kind, err := tableType(ctx, s.DB, s.MetaSchema, load.RunsTable)
	if err != nil {
		return nil, fmt.Errorf("mysql: read runs: %w", err)
	}
	if kind == "" {
		return nil, nil
	}
	q := "SELECT run_id, pipeline, mode, target, window_start, window_end, status, step, error, rows_read, " +
		"rows_rejected, rows_filtered, rows_loaded, rows_written, rows_deleted, checks, rejects, watermark, attempts, " +
		"owner, started_at, finished_at FROM " + qualify(s.MetaSchema, load.RunsTable)
	var args []any
	if pipeline != "" {
		q += " WHERE pipeline = ?"
		args = append(args, pipeline)
	}
	q += " ORDER BY started_at DESC, finished_at DESC"
	if n > 0 {
		q += " LIMIT ?"
		args = append(args, int64(n))
	}
	rows, err := queryRows(ctx, s.DB, q, args...)
	if err != nil {
		return nil, fmt.Errorf("mysql: read runs: %w", err)
	}
	out := make([]RunRecord, len(rows))
	for i, r := range rows {
		str := func(j int) string { v, _ := r[j].(string); return v }
		num := func(j int) int64 { v, _ := r[j].(int64); return v }
		tm := func(j int) time.Time { v, _ := r[j].(time.Time); return v }
		rec := RunRecord{
			RunID: str(0), Pipeline: str(1), Mode: str(2), Target: str(3),
			Window: etl.Window{Start: tm(4), End: tm(5)},
			Status: str(6), Step: str(7), Error: str(8),
			Stats: etl.Stats{RowsRead: num(9), RowsRejected: num(10), RowsFiltered: num(11),
				RowsWritten: num(13), RowsDeleted: num(14)},
			Loaded: num(12), Watermark: str(17), Attempts: int(num(18)), Owner: str(19),
			Started: tm(20), Finished: tm(21),
		}
		rec.Stats.Duration = rec.Finished.Sub(rec.Started)
		if c := str(15); c != "" && c != "null" {
			if err := json.Unmarshal([]byte(c), &rec.Checks); err != nil {
				return nil, fmt.Errorf("mysql: run %s: checks: %w", rec.RunID, err)
			}
		}
		if c := str(16); c != "" && c != "null" {
			if err := json.Unmarshal([]byte(c), &rec.Rejects); err != nil {
				return nil, fmt.Errorf("mysql: run %s: rejects: %w", rec.RunID, err)
			}
		}
		out[i] = rec
	}
	return out, nil
}
