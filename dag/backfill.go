package dag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sluice-etl/sluice/etl"
)

// Reprocess chooses which windows a backfill runs again when the store already has runs
// of them.
type Reprocess string

// The reprocess policies.
const (
	// ReprocessNone, the default, runs every window that has never succeeded: windows with
	// no run and windows whose runs all failed. Succeeded windows are skipped, so a
	// backfill re-run after a fix picks up where it failed.
	ReprocessNone Reprocess = "none"
	// ReprocessFailed runs only windows whose latest run failed or never finished,
	// leaving windows never run alone.
	ReprocessFailed Reprocess = "failed"
	// ReprocessAll runs every window again, succeeded or not (--force).
	ReprocessAll Reprocess = "all"
)

// BackfillOptions tunes [DAG.Backfill]. The zero value runs each never-succeeded window,
// one at a time, and carries on past failed windows.
type BackfillOptions struct {
	// Parallel bounds how many windows run at once. Defaults to 1. Serial tasks still
	// run for one window at a time; see [DAG.Backfill].
	Parallel int
	// Reprocess picks the windows to run again. Defaults to [ReprocessNone].
	Reprocess Reprocess
	// StopOnFailure starts no more windows once one has failed. Defaults to false: every
	// window runs and failures are reported together.
	StopOnFailure bool
	// DryRun plans the backfill without running anything, and without taking the lock.
	// Defaults to false.
	DryRun bool
}

// WindowPlan is what a backfill does, or would do, with one window.
type WindowPlan struct {
	// Window is the data interval.
	Window etl.Window `json:"window"`
	// Run says whether the window runs.
	Run bool `json:"run"`
	// Reason says why it runs or is skipped, such as "never run" or "succeeded in run X".
	Reason string `json:"reason"`
	// Report is the window's run, when it ran.
	Report *Report `json:"report,omitempty"`
}

// BackfillReport is the outcome of [DAG.Backfill].
type BackfillReport struct {
	// DAG is the DAG's name.
	DAG string `json:"dag"`
	// DryRun reports a plan that was not carried out.
	DryRun bool `json:"dry_run"`
	// Windows lists every window in order, run or not.
	Windows []WindowPlan `json:"windows"`
}

// Count returns how many planned windows ran and ended with status s; StatusSkipped
// counts windows the plan skipped.
func (b *BackfillReport) Count(s Status) int {
	n := 0
	for _, w := range b.Windows {
		switch {
		case !w.Run && s == StatusSkipped:
			n++
		case w.Report != nil && w.Report.Status == s:
			n++
		}
	}
	return n
}

// Backfill runs the DAG once per window of length every in [from, to) (see
// [etl.Windows]); every defaults to [Config.Every], or a day. Which windows run depends
// on the store's history and opt.Reprocess. Windows run in parallel up to opt.Parallel,
// under one hold of the DAG's lock. A serial task ([Task.Serial]; every task made by
// [DAG.Pipeline] is one) runs for one window at a time, the others waiting their turn:
// the loads of one pipeline take its lock, and would otherwise fail for all windows but
// one. A range of more than [MaxWindows] windows is an error.
//
// The error is nil when every window that ran succeeded. A failed window does not stop
// the others unless opt.StopOnFailure is set; the error then wraps [ErrRunFailed] and
// names the failed windows. The report lists every window, run or not, with its reason.
func (d *DAG) Backfill(ctx context.Context, from, to time.Time, every time.Duration, opt BackfillOptions) (*BackfillReport, error) {
	g, err := d.build()
	if err != nil {
		return nil, err
	}
	if every <= 0 {
		every = d.every()
	}
	windows, err := d.windows(from, to, every)
	if err != nil {
		return nil, err
	}
	if len(windows) == 0 {
		return nil, fmt.Errorf("dag %q: backfill from %s to %s by %s has no windows", d.name,
			from.Format(time.RFC3339), to.Format(time.RFC3339), every)
	}
	store := d.Store()
	if !opt.DryRun {
		unlock, err := store.Lock(ctx, d.name)
		if err != nil {
			return nil, fmt.Errorf("dag %q: %w", d.name, err)
		}
		defer unlock()
		if err := d.markAbandoned(ctx, store, "backfill"); err != nil {
			return nil, err
		}
	}
	plan, err := d.plan(ctx, store, windows, opt.Reprocess)
	if err != nil {
		return nil, err
	}
	br := &BackfillReport{DAG: d.name, DryRun: opt.DryRun, Windows: plan}
	if opt.DryRun {
		return br, nil
	}
	return br, d.runWindows(ctx, g, store, br, opt)
}

// MaxWindows caps the windows of one [DAG.Backfill] or [DAG.DueWindows], whose plan and
// reports are held in memory: a slip such as --every 1s over a year fails at once
// instead of exhausting memory. Split a longer backfill into parts.
const MaxWindows = 100_000

// windows is [etl.Windows] with [MaxWindows] enforced before anything is allocated.
func (d *DAG) windows(from, to time.Time, every time.Duration) ([]etl.Window, error) {
	if every > 0 && to.After(from) && (to.Sub(from)-1)/every >= MaxWindows {
		return nil, fmt.Errorf("dag %q: %s to %s by %s is more than %d windows; split it into parts", d.name,
			from.Format(time.RFC3339), to.Format(time.RFC3339), every, MaxWindows)
	}
	return etl.Windows(from, to, every), nil
}

func (d *DAG) every() time.Duration {
	if d.cfg.Every > 0 {
		return d.cfg.Every
	}
	return 24 * time.Hour
}

// plan decides, from the store's history, which windows run and why.
func (d *DAG) plan(ctx context.Context, store Store, windows []etl.Window, policy Reprocess) ([]WindowPlan, error) {
	switch policy {
	case "", ReprocessNone, ReprocessFailed, ReprocessAll:
	default:
		return nil, fmt.Errorf("dag %q: unknown reprocess policy %q", d.name, policy)
	}
	runs, err := store.Runs(ctx, Query{DAG: d.name, From: windows[0].Start, To: windows[len(windows)-1].End, Limit: -1})
	if err != nil {
		return nil, fmt.Errorf("dag %q: read history: %w", d.name, err)
	}
	type past struct{ latest, success, unfinished *Report }
	history := make(map[[2]int64]*past)
	key := func(w etl.Window) [2]int64 { return [2]int64{w.Start.UnixNano(), w.End.UnixNano()} }
	for _, r := range runs { // newest first
		p := history[key(r.Window)]
		if p == nil {
			p = &past{}
			history[key(r.Window)] = p
		}
		if p.latest == nil && r.Status != StatusRunning {
			// An abandoned run counts as ended: it did not succeed.
			p.latest = r
		}
		if p.unfinished == nil && r.Status == StatusRunning {
			p.unfinished = r
		}
		if p.success == nil && r.Status == StatusSuccess {
			p.success = r
		}
	}
	plan := make([]WindowPlan, len(windows))
	for i, w := range windows {
		p := history[key(w)]
		wp := WindowPlan{Window: w}
		switch {
		case policy == ReprocessAll:
			wp.Run, wp.Reason = true, "forced (reprocess all)"
			if p != nil && p.success != nil {
				wp.Reason += "; succeeded before in run " + p.success.RunID
			}
		case p == nil && policy == ReprocessFailed:
			wp.Reason = "never run (reprocess failed runs only failed windows)"
		case p == nil:
			wp.Run, wp.Reason = true, "never run"
		case p.latest == nil:
			// Only runs that never finished: the process died, or one is running now
			// under another store's lock.
			wp.Run, wp.Reason = true, "run "+p.unfinished.RunID+" never finished"
		case p.success != nil && p.latest.Status == StatusSuccess:
			wp.Reason = "succeeded in run " + p.success.RunID
		case policy == ReprocessFailed || p.success == nil:
			wp.Run, wp.Reason = true, "last run "+p.latest.RunID+" "+string(p.latest.Status)
		default:
			// Succeeded once, failed since: under "none" it already succeeded.
			wp.Reason = "succeeded in run " + p.success.RunID + " (a later run failed)"
		}
		plan[i] = wp
	}
	return plan, nil
}

// runWindows runs the planned windows, up to opt.Parallel at once.
func (d *DAG) runWindows(ctx context.Context, g *graph, store Store, br *BackfillReport, opt BackfillOptions) error {
	parallel := max(opt.Parallel, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var eg errgroup.Group
	eg.SetLimit(parallel)
	gates := &gates{}
	var mu sync.Mutex
	var failed []error
	for i := range br.Windows {
		wp := &br.Windows[i]
		if !wp.Run {
			continue
		}
		if ctx.Err() != nil {
			wp.Run, wp.Reason = false, "not started: "+context.Cause(ctx).Error()
			continue
		}
		eg.Go(func() error {
			if ctx.Err() != nil {
				wp.Run, wp.Reason = false, "not started: "+context.Cause(ctx).Error()
				return nil
			}
			rep, err := d.runLocked(ctx, g, store, wp.Window, gates)
			wp.Report = rep
			if err != nil {
				mu.Lock()
				failed = append(failed, fmt.Errorf("window %s: %w", wp.Window, err))
				mu.Unlock()
				if opt.StopOnFailure {
					cancel()
				}
			}
			return nil
		})
	}
	_ = eg.Wait()
	if len(failed) > 0 {
		d.logger.Error("backfill finished with failed windows", slog.String("dag", d.name), slog.Int("failed", len(failed)))
		return fmt.Errorf("dag %q: backfill: %d window(s) failed: %w", d.name, len(failed), errors.Join(failed...))
	}
	return ctx.Err()
}

// DueWindows works out which windows a scheduled invocation should run now: every
// complete window of length [Config.Every] from the end of the latest successful run up to
// now. With no successful run it starts at [Config.Start], or returns only the latest
// complete window when Start is zero. Windows align to Config.Start (or the Unix epoch);
// when the latest success ended off that grid, the window it ended in is due again.
// A DAG without Config.Every has no windows: it returns the zero Window, meaning all
// data. The latest success comes from the store's [Watermarker] when it has one. More
// than [MaxWindows] due windows is an error.
func (d *DAG) DueWindows(ctx context.Context) ([]etl.Window, error) {
	if d.cfg.Every <= 0 {
		return []etl.Window{{}}, nil
	}
	every := d.cfg.Every
	now := d.cfg.Now()
	anchor := d.cfg.Start
	if anchor.IsZero() {
		anchor = time.Unix(0, 0).UTC()
	}
	if now.Before(anchor) {
		return nil, nil
	}
	// The end of the latest complete window.
	last := anchor.Add(now.Sub(anchor) / every * every)
	from, err := d.watermark(ctx)
	if err != nil {
		return nil, fmt.Errorf("dag %q: read history: %w", d.name, err)
	}
	switch {
	case !from.IsZero():
		// A run over hand-picked bounds may end off the grid; start from the window
		// it ends in, so that the windows due stay aligned.
		off := from.Sub(anchor) % every
		if off < 0 {
			off += every
		}
		from = from.Add(-off)
	case !d.cfg.Start.IsZero():
		from = d.cfg.Start
	default:
		from = last.Add(-every)
	}
	return d.windows(from, last, every)
}

// watermark returns the latest window end among the DAG's successful runs.
func (d *DAG) watermark(ctx context.Context) (time.Time, error) {
	store := d.Store()
	if wm, ok := store.(Watermarker); ok {
		return wm.Watermark(ctx, d.name)
	}
	runs, err := store.Runs(ctx, Query{DAG: d.name, Limit: -1})
	if err != nil {
		return time.Time{}, err
	}
	var end time.Time
	for _, r := range runs {
		if r.Status == StatusSuccess && !r.Window.IsZero() && r.Window.End.After(end) {
			end = r.Window.End
		}
	}
	return end, nil
}
