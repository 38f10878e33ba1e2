package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// State returns the pipeline's stored watermark (int64, time.Time, string or etl.Decimal),
// or nil when none is stored.
func State(ctx context.Context, db *DB, pipeline string) (any, error) {
	var v any
	err := withSession(ctx, db, func(d dialect, s load.Session) (err error) {
		v, err = load.State(ctx, d, s, "", pipeline)
		return err
	})
	return v, err
}

// ResetState deletes the pipeline's stored watermark, so that its next run syncs from the
// start. It takes the pipeline's lock, waiting up to the busy timeout, so it never races a
// running load; when a load holds it longer the error wraps etl.ErrLocked.
func ResetState(ctx context.Context, db *DB, pipeline string) error {
	return withSession(ctx, db, func(d dialect, s load.Session) error {
		release, err := s.Lock(ctx, pipeline, db.cfg.BusyTimeout)
		if err != nil {
			return err
		}
		defer release(ctx)
		return load.ResetState(ctx, d, s, "", pipeline)
	})
}

// SetState stores v (int64, time.Time, string or etl.Decimal) as the pipeline's watermark,
// for an operator who re-syncs from a chosen point. It takes the pipeline's lock, as
// [ResetState] does.
func SetState(ctx context.Context, db *DB, pipeline string, v any) error {
	return withSession(ctx, db, func(d dialect, s load.Session) error {
		release, err := s.Lock(ctx, pipeline, db.cfg.BusyTimeout)
		if err != nil {
			return err
		}
		defer release(ctx)
		return load.SetState(ctx, d, s, "", pipeline, v)
	})
}

func withSession(ctx context.Context, db *DB, f func(dialect, load.Session) error) error {
	if db == nil {
		return errNilDB
	}
	d := dialect{db}
	s, err := d.Session(ctx)
	if err != nil {
		return err
	}
	defer s.Close(ctx)
	if err := f(d, s); err != nil {
		return fmt.Errorf("sqlite %s: %w", db.path, err)
	}
	return nil
}

// RunRecord is one row of the sluice_runs table: what a run did, or why it failed.
type RunRecord struct {
	RunID    string
	Pipeline string
	// Mode is "full_refresh", "merge" or "window_replace".
	Mode string
	// Target is the loaded table.
	Target string
	Window etl.Window
	// Status is "success" or "failed".
	Status string
	// Step names the step that failed ("extract", "stage", "check", ...); Error is its
	// message.
	Step, Error string
	Stats       etl.Stats
	// Loaded counts the rows the database received.
	Loaded int64
	Checks []etl.CheckResult
	// Rejects holds the first rejected records, as messages.
	Rejects []string
	// Watermark is the stored watermark's text after a successful run.
	Watermark string
	Attempts  int64
	Owner     string
	Started   time.Time
	Finished  time.Time
}

// Runs returns the last n run records of pipeline, newest first; an empty pipeline means
// every pipeline and n <= 0 means all records. A database no run has touched has none.
func Runs(ctx context.Context, db *DB, pipeline string, n int) ([]RunRecord, error) {
	if db == nil {
		return nil, errNilDB
	}
	exists, err := queryRows(ctx, db.db, "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?", load.RunsTable)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: read runs: %w", db.path, err)
	}
	if len(exists) == 0 {
		return nil, nil
	}
	q := "SELECT run_id, pipeline, mode, target, window_start, window_end, status, step, error, rows_read, " +
		"rows_rejected, rows_filtered, rows_loaded, rows_written, rows_deleted, checks, rejects, watermark, attempts, " +
		"owner, started_at, finished_at FROM " + quoteIdent(load.RunsTable)
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
	rows, err := queryRows(ctx, db.db, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: read runs: %w", db.path, err)
	}
	out := make([]RunRecord, len(rows))
	for i, r := range rows {
		s := func(j int) string { v, _ := r[j].(string); return v }
		n := func(j int) int64 { v, _ := r[j].(int64); return v }
		tm := func(j int) time.Time {
			t, _ := time.Parse(time.RFC3339Nano, s(j))
			return t
		}
		rec := RunRecord{
			RunID: s(0), Pipeline: s(1), Mode: s(2), Target: s(3),
			Window: etl.Window{Start: tm(4), End: tm(5)},
			Status: s(6), Step: s(7), Error: s(8),
			Stats: etl.Stats{RowsRead: n(9), RowsRejected: n(10), RowsFiltered: n(11),
				RowsWritten: n(13), RowsDeleted: n(14)},
			Loaded: n(12), Watermark: s(17), Attempts: n(18), Owner: s(19),
			Started: tm(20), Finished: tm(21),
		}
		rec.Stats.Duration = rec.Finished.Sub(rec.Started)
		if c := s(15); c != "" && c != "null" {
			if err := json.Unmarshal([]byte(c), &rec.Checks); err != nil {
				return nil, fmt.Errorf("sqlite %s: run %s: checks: %w", db.path, rec.RunID, err)
			}
		}
		if c := s(16); c != "" && c != "null" {
			if err := json.Unmarshal([]byte(c), &rec.Rejects); err != nil {
				return nil, fmt.Errorf("sqlite %s: run %s: rejects: %w", db.path, rec.RunID, err)
			}
		}
		out[i] = rec
	}
	return out, nil
}
