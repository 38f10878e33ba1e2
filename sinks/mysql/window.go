package mysql

import (
	"context"
	"errors"
	"fmt"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/load"
)

// WindowReplace replaces one time window of a table, the backfill mode: for the run's
// etl.Window [Start, End) it deletes the target rows whose TimeColumn falls in the window
// and loads the stream's rows, in one transaction. Re-running any past window replaces
// exactly that window.
//
// The rows are loaded straight into the emptied window, and then counted there: a row
// whose time falls outside the window (or is NULL) fails the load, since it would survive
// the next run of its own window as a duplicate.
type WindowReplace struct {
	Target
	// TimeColumn names the column that places a row in a window: a DATETIME, TIMESTAMP
	// or DATE, compared with the window's bounds in UTC. Required.
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
		return etl.LoadResult{}, errors.New("mysql: WindowReplace has no TimeColumn")
	}
	if run.Window.IsZero() {
		return etl.LoadResult{}, etl.WithStep("stage", fmt.Errorf("table %s: %w", w.name(), ErrNoWindow))
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
	w       *WindowReplace
	p       *prepared
	col     string // the time column, quoted
	loaded  int64
	deleted int64
}

func (wm *windowMode) Kind() string { return "window_replace" }

func (wm *windowMode) Stage(ctx context.Context, ltx load.Tx, run *etl.Run, in etl.Stream) (int64, error) {
	t, err := asTx(ltx)
	if err != nil {
		return 0, err
	}
	if wm.p, err = wm.w.prepare(ctx, t, in.Schema); err != nil {
		return 0, err
	}
	if !containsFoldSchema(in.Schema, wm.w.TimeColumn) {
		return 0, fmt.Errorf("table %s: the stream has no time column %q", wm.p.name(), wm.w.TimeColumn)
	}
	c, _ := wm.p.column(wm.w.TimeColumn)
	wm.col = quoteIdent(c.Name)
	if wm.deleted, err = t.Exec(ctx, "DELETE FROM "+wm.p.sql()+" WHERE "+wm.col+" >= ? AND "+wm.col+" < ?",
		run.Window.Start, run.Window.End); err != nil {
		return 0, fmt.Errorf("delete window %s of %s: %w", run.Window, wm.p.name(), err)
	}
	wm.loaded, err = loadData(ctx, t, wm.p.sql(), wm.p.plan, in)
	return wm.loaded, err
}

// Apply counts the rows in the window: after the delete, only the loaded rows can be
// there, so fewer than were loaded means some fell outside it.
func (wm *windowMode) Apply(ctx context.Context, ltx load.Tx, run *etl.Run) (load.Applied, error) {
	t, err := asTx(ltx)
	if err != nil {
		return load.Applied{}, err
	}
	rows, err := t.QueryRows(ctx, "SELECT COUNT(*) FROM "+wm.p.sql()+" WHERE "+wm.col+" >= ? AND "+wm.col+" < ?",
		run.Window.Start, run.Window.End)
	if err != nil {
		return load.Applied{}, err
	}
	inside, _ := rows[0][0].(int64)
	if outside := wm.loaded - inside; outside > 0 {
		return load.Applied{}, fmt.Errorf("table %s: %d rows have %s outside the window %s (or NULL)", wm.p.name(), outside,
			wm.w.TimeColumn, run.Window)
	}
	return load.Applied{Written: wm.loaded, Deleted: wm.deleted}, nil
}
