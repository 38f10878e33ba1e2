package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// WindowReplace replaces one time window of a table, the backfill mode: for the run's
// etl.Window [Start, End) it deletes the target rows whose TimeColumn falls in the window
// and inserts the stream's rows, in one transaction. Re-running any past window replaces
// exactly that window.
//
// The rows are staged in a temporary table first, and a row whose time falls outside
// the window fails the load, since it would survive the next run of its own window as a
// duplicate.
type WindowReplace struct {
	Target
	// TimeColumn names the column that places a row in a window: a timestamptz,
	// timestamp or date. Required.
	TimeColumn string
}

var (
	_ etl.Loader          = (*WindowReplace)(nil)
	_ etl.FailureRecorder = (*WindowReplace)(nil)
	_ etl.Lineage         = (*WindowReplace)(nil)
)

// ErrNoWindow is returned by a window replace run without a window.
var ErrNoWindow = errors.New("window replace needs a run window (a zero window would replace the whole table)")

// Load replaces the run's window of the table with in's rows.
func (w *WindowReplace) Load(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	if err := w.validate(); err != nil {
		return etl.LoadResult{}, err
	}
	if w.TimeColumn == "" {
		return etl.LoadResult{}, errors.New("postgres: WindowReplace has no TimeColumn")
	}
	if run.Window.IsZero() {
		return etl.LoadResult{}, etl.WithStep("stage", fmt.Errorf("table %s: %w", w.ref(), ErrNoWindow))
	}
	spec, err := w.loadSpec(ctx, false, in)
	if err != nil {
		return etl.LoadResult{}, etl.WithStep("connect", err)
	}
	return load.Run(ctx, w.dialect(), spec, &windowMode{tableMaker: tableMaker{&w.Target, in.Schema}, w: w}, run, in)
}

// RecordFailure writes the run record of a run that failed before its load began.
func (w *WindowReplace) RecordFailure(ctx context.Context, run *etl.Run, stats etl.Stats, err error) error {
	return w.recordFailure(ctx, "window_replace", run, stats, err)
}

type windowMode struct {
	tableMaker
	w     *WindowReplace
	p     *prepared
	stage tableRef
	names []string
}

func (wm *windowMode) Kind() string { return "window_replace" }

func (wm *windowMode) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asPgTx(ltx)
	if err != nil {
		return 0, err
	}
	tx := t.tx
	if wm.p, err = wm.w.prepare(ctx, tx, in.Schema); err != nil {
		return 0, err
	}
	if in.Schema.Index(wm.w.TimeColumn) < 0 {
		return 0, fmt.Errorf("table %s: the stream has no time column %q", wm.p.ref, wm.w.TimeColumn)
	}
	wm.names = in.Schema.Names()
	if wm.stage, err = stageTable(ctx, tx, wm.p, runTable("sluice_stage", run.ID), wm.names, false); err != nil {
		return 0, err
	}
	return wm.p.plan.copyIn(ctx, tx.Conn().PgConn(), wm.stage, false, in)
}

func (wm *windowMode) Apply(ctx context.Context, ltx load.Tx, run *etl.Run) (load.Applied, error) {
	t, err := asPgTx(ltx)
	if err != nil {
		return load.Applied{}, err
	}
	tx := t.tx
	target, col := wm.p.ref, quoteIdent(wm.w.TimeColumn)
	start, end := run.Window.Start, run.Window.End
	for _, c := range wm.p.cols {
		if c.Name == wm.w.TimeColumn && c.Receive == "timestamp_recv" {
			// A timestamp without time zone holds UTC wall-clock times (see package
			// sinks), and pgx sends a bound's own wall-clock time: compare in UTC.
			start, end = start.UTC(), end.UTC()
		}
	}
	var outside int64
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+wm.stage.sql()+" WHERE NOT ("+col+" >= $1 AND "+col+" < $2)",
		start, end).Scan(&outside); err != nil {
		return load.Applied{}, err
	}
	if outside > 0 {
		return load.Applied{}, fmt.Errorf("table %s: %d rows have %s outside the window %s (or NULL)", target, outside, wm.w.TimeColumn, run.Window)
	}
	del, err := tx.Exec(ctx, "DELETE FROM "+target.sql()+" WHERE "+col+" >= $1 AND "+col+" < $2", start, end)
	if err != nil {
		return load.Applied{}, fmt.Errorf("delete window %s of %s: %w", run.Window, target, err)
	}
	ins, err := tx.Exec(ctx, "INSERT INTO "+target.sql()+" ("+quoteList(wm.names)+") SELECT "+quoteList(wm.names)+" FROM "+wm.stage.sql())
	if err != nil {
		return load.Applied{}, fmt.Errorf("insert window %s into %s: %w", run.Window, target, err)
	}
	return load.Applied{Written: ins.RowsAffected(), Deleted: del.RowsAffected()}, nil
}
