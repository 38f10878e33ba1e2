package dag

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sluice-etl/sluice/etl"
)

// Pipeline returns a task that runs p over the DAG run's window with [etl.Pipeline.RunWith].
// Each attempt is a pipeline run of its own, with its own run ID (so sinks that keep run
// records see one record per attempt); its logs carry the DAG run's ID as dag_run_id. The
// rows p wrote are the task's rows, and its check results go into the run report. Sources
// inside p can reach the task's [Run], and so the values of upstream tasks, with
// [FromContext]. The pipeline run names the DAG run as its parent, for lineage.
func Pipeline(p *etl.Pipeline) TaskFunc {
	return func(ctx context.Context, r *Run) error {
		run := etl.NewRun(p.Name, r.Window)
		// The pipeline adds its own run_id; start from the DAG's logger, not the task's.
		base := r.baseLog
		if base == nil {
			base = r.Log()
		}
		run.Logger = base.With(slog.String("dag", r.DAG), slog.String("task", r.Task), slog.String("dag_run_id", r.ID))
		run.Parent = &etl.ParentRun{RunID: r.ID, Job: r.DAG}
		res, err := p.RunWith(ctx, run)
		r.AddRows(res.Stats.RowsWritten)
		r.AddChecks(res.Checks...)
		return err
	}
}

// Pipeline adds a task named after p that runs it (see the function [Pipeline]), and
// documents the task with p's metadata, lineage and, when its sink is an
// [etl.CheckLister], checks, so that `describe` shows them. The task is [Task.Serial]:
// a backfill loads one window of p at a time, since each load holds p's lock.
func (d *DAG) Pipeline(p *etl.Pipeline) *Task {
	m := p.Meta
	if p.Source != nil && p.Sink != nil {
		m.Inputs, m.Outputs = p.Lineage()
	}
	t := d.Task(p.Name, Pipeline(p)).Doc(m).Serial()
	if cl, ok := p.Sink.(etl.CheckLister); ok {
		t.Checks(cl.CheckNames()...)
	}
	return t
}

// Runnable is work that a package outside dag offers as a value with a Run method, such
// as postgres.Retention, sqlite.Retention or redshift.Sweep: packages that load and clean
// data do not import dag, and [Job] adapts them, the way net/http adapts a HandlerFunc.
type Runnable[R any] interface {
	Run(ctx context.Context) (R, error)
}

// RowCounter is implemented by the results of jobs that count what they changed, such as
// the rows a retention deleted. [Job] adds the count to the task's rows.
type RowCounter interface {
	RowsAffected() int64
}

// Job returns a task that runs j, adds the rows its result counts (see [RowCounter])
// to the task's rows, and logs the result at Info on the task's logger:
//
//	d.Task("trim_events", dag.Job(postgres.Retention{Pool: pool, Table: "events",
//		TimeColumn: "created_at", OlderThan: 90 * 24 * time.Hour}))
//
// The job logs through its own logger, if it has one: dag cannot hand it the task's.
func Job[R any](j Runnable[R]) TaskFunc {
	return func(ctx context.Context, r *Run) error {
		res, err := j.Run(ctx)
		if c, ok := any(res).(RowCounter); ok {
			r.AddRows(c.RowsAffected())
		}
		if err != nil {
			return err
		}
		r.Log().LogAttrs(ctx, slog.LevelInfo, "job done", slog.Any("result", res))
		return nil
	}
}

// Func returns a task that runs f: work that needs neither the run's window nor its
// report, written as a plain function.
func Func(f func(ctx context.Context) error) TaskFunc {
	return func(ctx context.Context, _ *Run) error { return f(ctx) }
}

// Execer runs one SQL statement and returns how many rows it affected. Package dag does
// not import any database driver: postgres.Execer (a pool) and pgstore.Execer satisfy
// it, and any database/sql *DB fits with a three-line adapter.
type Execer interface {
	// ExecContext runs sql with args bound to its placeholders, and returns how many rows
	// it affected.
	ExecContext(ctx context.Context, sql string, args ...any) (rowsAffected int64, err error)
}

// ExecFunc adapts a function to [Execer].
type ExecFunc func(ctx context.Context, sql string, args ...any) (int64, error)

// ExecContext calls f(ctx, sql, args...).
func (f ExecFunc) ExecContext(ctx context.Context, sql string, args ...any) (int64, error) {
	return f(ctx, sql, args...)
}

type windowBound int

// Placeholders for [SQL] arguments, replaced by the DAG run's window bounds when the
// statement runs, so that a summary job can rebuild exactly its window:
//
//	dag.SQL(db, `DELETE FROM daily WHERE day >= $1 AND day < $2`, dag.WindowStart, dag.WindowEnd)
const (
	// WindowStart stands for the run's window start, inclusive.
	WindowStart windowBound = iota + 1
	// WindowEnd stands for the run's window end, exclusive.
	WindowEnd
)

// SQL returns a task that runs one statement in the warehouse through db: the ELT case,
// where a summary or report table is built by SQL where the data already is. The rows it
// affected are the task's rows. Values are bound through args, never formatted into the
// statement; [WindowStart] and [WindowEnd] in args stand for the run's window.
//
// Run several statements atomically by writing them as one statement (a CTE), or by
// giving an Execer that wraps a transaction.
func SQL(db Execer, statement string, args ...any) TaskFunc {
	return func(ctx context.Context, r *Run) error {
		bound := make([]any, len(args))
		for i, a := range args {
			switch a {
			case WindowStart:
				bound[i] = r.Window.Start
			case WindowEnd:
				bound[i] = r.Window.End
			default:
				bound[i] = a
			}
		}
		n, err := db.ExecContext(ctx, statement, bound...)
		if err != nil {
			return fmt.Errorf("task %q: sql: %w", r.Task, err)
		}
		r.AddRows(n)
		return nil
	}
}
