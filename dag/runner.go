package dag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
)

// ErrTimeout is wrapped by the error of a task attempt that ran past its timeout.
var ErrTimeout = errors.New("task timed out")

// Run runs the DAG once over window w (the zero Window for all data) and returns its
// report. It holds the store's lock for the DAG while it runs, so two runs of one DAG
// never overlap: when another holds it, Run returns an error wrapping [etl.ErrLocked].
//
// The error is nil when every task succeeded or was skipped by its trigger rule. When a
// task failed it wraps [ErrRunFailed]; when ctx was cancelled it wraps ctx's error. The
// report is returned in both cases, and saved to the store.
func (d *DAG) Run(ctx context.Context, w etl.Window) (*Report, error) {
	g, err := d.build()
	if err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, fmt.Errorf("dag %q: %w", d.name, err)
	}
	store := d.Store()
	unlock, err := store.Lock(ctx, d.name)
	if err != nil {
		return nil, fmt.Errorf("dag %q: %w", d.name, err)
	}
	defer unlock()
	if err := d.markAbandoned(ctx, store, "run"); err != nil {
		return nil, err
	}
	return d.runLocked(ctx, g, store, w, nil)
}

// markAbandoned marks the DAG's runs still recorded as running abandoned. The caller holds
// the DAG's lock, which proves that their processes are gone; by names what found them.
func (d *DAG) markAbandoned(ctx context.Context, store Store, by string) error {
	now := d.cfg.Now().UTC()
	why := "abandoned: the process running it ended before it recorded how the run ended (killed, or cut off " +
		"from the store); found by a " + by + " that took the DAG's lock at " + now.Format(time.RFC3339)
	var n int64
	if a, ok := store.(Abandoner); ok {
		var err error
		if n, err = a.MarkAbandoned(ctx, d.name, why, now); err != nil {
			return fmt.Errorf("dag %q: mark abandoned runs: %w", d.name, err)
		}
	} else {
		runs, err := store.Runs(ctx, Query{DAG: d.name, Limit: -1})
		if err != nil {
			return fmt.Errorf("dag %q: read history: %w", d.name, err)
		}
		for _, r := range runs {
			if r.Status != StatusRunning {
				continue
			}
			abandon(r, why, now)
			if err := store.SaveRun(ctx, r); err != nil {
				return fmt.Errorf("dag %q: mark run %s abandoned: %w", d.name, r.RunID, err)
			}
			n++
		}
	}
	if n > 0 {
		d.logger.Warn("earlier runs ended without a record of how; marked abandoned", slog.String("dag", d.name), slog.Int64("runs", n))
	}
	return nil
}

// saveTimeout bounds the save of a run's final record, which outlives ctx; once ctx is
// cancelled, the save gets at most Config.CleanupTimeout.
const saveTimeout = 30 * time.Second

// runLocked runs one window with the lock already held. Tasks marked serial take their
// turn at gates, shared by the windows of one backfill; nil means no other window runs.
func (d *DAG) runLocked(ctx context.Context, g *graph, store Store, w etl.Window, gates *gates) (*Report, error) {
	t0 := time.Now()
	rep := d.newReport(g, w)
	rep.Started = t0.UTC()
	log := d.logger.With(slog.String("dag", d.name), slog.String("run_id", rep.RunID))
	// Stores copy what they keep (see Store.SaveRun), so rep is handed over as is.
	if err := store.SaveRun(ctx, rep); err != nil {
		return nil, fmt.Errorf("dag %q: save run: %w", d.name, err)
	}
	log.Info("dag run started", slog.String("window", w.String()), slog.Int("tasks", len(g.tasks)))
	runErr := d.execute(ctx, g, rep, log, gates)
	rep.Duration = time.Since(t0)
	rep.Finished = rep.Started.Add(rep.Duration)
	if runErr != nil {
		rep.Status = StatusFailed
		// The report is history that stores keep and UIs show, as sluice_runs is: a
		// task's error that quotes a connection string loses its password here.
		rep.Error = redact.DSN(runErr.Error())
	} else {
		rep.Status = StatusSuccess
	}
	// Record how the run ended even when ctx was cancelled, but do not hang on a store
	// that stopped answering.
	saveCtx, cancel := d.cleanupContext(ctx, saveTimeout)
	defer cancel()
	if err := store.SaveRun(saveCtx, rep); err != nil {
		runErr = errors.Join(runErr, fmt.Errorf("dag %q: save run: %w", d.name, err))
	}
	if runErr != nil {
		log.Error("dag run failed", slog.Any("error", runErr), slog.Duration("duration", rep.Duration))
		return rep, fmt.Errorf("dag %q: %w", d.name, runErr)
	}
	log.Info("dag run finished", slog.Int64("rows", rep.Rows()), slog.Duration("duration", rep.Duration))
	return rep, nil
}

func (d *DAG) newReport(g *graph, w etl.Window) *Report {
	rep := &Report{
		RunID:  etl.NewRunID(),
		DAG:    d.name,
		Window: w,
		Status: StatusRunning,
		Tasks:  make([]TaskReport, len(g.tasks)),
	}
	// Report tasks in topological order; pos maps a task index to its report slot.
	for k, i := range g.order {
		t := g.tasks[i]
		var up []string
		if len(g.up[i]) > 0 {
			up = make([]string, len(g.up[i]))
			for j, u := range g.up[i] {
				up[j] = g.tasks[u].name
			}
		}
		rep.Tasks[k] = TaskReport{Name: t.name, Upstream: up, Status: StatusPending}
	}
	return rep
}

type outcome struct {
	task int32
	tr   TaskReport
}

// execute schedules the tasks of one run: a task starts once all its upstream tasks have
// ended and its trigger rule says so. One goroutine, this one, makes every decision and
// is the only one to start tasks, so a count of the running tasks is the concurrency
// bound; finished tasks come back on a channel large enough that no task ever blocks on
// it. The scheduler never waits for a slot while it holds ready tasks, so it sees each
// failure (and a cancellation) before it starts anything more.
func (d *DAG) execute(ctx context.Context, g *graph, rep *Report, log *slog.Logger, gates *gates) error {
	n := len(g.tasks)
	slot := make([]int32, n) // task index -> report index
	for k, i := range g.order {
		slot[i] = int32(k)
	}
	status := make([]Status, n)
	waiting := make([]int32, n)
	var ready []int32
	for i := range n {
		status[i] = StatusPending
		waiting[i] = int32(len(g.up[i]))
		if waiting[i] == 0 {
			ready = append(ready, int32(i))
		}
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	shared := &sharedState{}
	done := make(chan outcome, n)
	var wg sync.WaitGroup

	var failed []string
	ended, running := 0, 0
	var settle []int32 // tasks that ended and whose downstream must be looked at

	end := func(i int32, tr TaskReport) {
		status[i] = tr.Status
		tr.Name, tr.Upstream = rep.Tasks[slot[i]].Name, rep.Tasks[slot[i]].Upstream
		rep.Tasks[slot[i]] = tr
		ended++
		settle = append(settle, i)
	}
	// propagate decides, for every task whose upstream has all ended, whether it runs.
	propagate := func() {
		for len(settle) > 0 {
			i := settle[len(settle)-1]
			settle = settle[:len(settle)-1]
			for _, c := range g.down[i] {
				if waiting[c]--; waiting[c] > 0 {
					continue
				}
				if st, why := decide(g, c, status); st != "" {
					end(c, TaskReport{Status: st, Error: why})
					continue
				}
				ready = append(ready, c)
			}
		}
	}

	for ended < n {
		for len(ready) > 0 {
			i := ready[0]
			if cause := context.Cause(runCtx); cause != nil {
				ready = ready[1:]
				end(i, TaskReport{Status: StatusSkipped, Error: "not started: " + cause.Error()})
				propagate()
				continue
			}
			if running == d.cfg.Concurrency {
				break // all slots busy: wait for a task to end
			}
			ready = ready[1:]
			t := g.tasks[i]
			running++
			wg.Go(func() {
				done <- outcome{task: i, tr: d.runTask(runCtx, t, rep, shared, log, gates)}
			})
		}
		if ended == n {
			break
		}
		if running == 0 {
			// Cannot happen with a validated graph; guard against a silent hang.
			return fmt.Errorf("scheduler stalled with %d of %d tasks ended", ended, n)
		}
		o := <-done
		running--
		if o.tr.Status == StatusFailed {
			failed = append(failed, g.tasks[o.task].name)
			if d.cfg.CancelOnFailure {
				cancel(fmt.Errorf("task %q failed and CancelOnFailure is set", g.tasks[o.task].name))
			}
		}
		end(o.task, o.tr)
		propagate()
	}
	wg.Wait()

	var errs []error
	if len(failed) > 0 {
		first := rep.FirstFailure()
		errs = append(errs, fmt.Errorf("%w: task %s failed: %s", ErrRunFailed, strings.Join(failed, ", "), first.Error))
	}
	if err := ctx.Err(); err != nil {
		errs = append(errs, fmt.Errorf("run cancelled: %w", err))
	}
	return errors.Join(errs...)
}

// decide applies a trigger rule to the statuses of a task's upstream tasks, all ended. It
// returns "" when the task should run, or the status to give it and why.
func decide(g *graph, task int32, status []Status) (Status, string) {
	var failed, skipped string
	for _, u := range g.up[task] {
		switch status[u] {
		case StatusFailed, StatusUpstreamFailed:
			if failed == "" {
				failed = g.tasks[u].name
			}
		case StatusSkipped:
			if skipped == "" {
				skipped = g.tasks[u].name
			}
		}
	}
	anyFailed, anySkipped := failed != "", skipped != ""
	switch g.tasks[task].rule() {
	case AllDone:
		return "", ""
	case OneFailed:
		if anyFailed {
			return "", ""
		}
		return StatusSkipped, "no upstream task failed (trigger one_failed)"
	default:
		if anyFailed {
			return StatusUpstreamFailed, "upstream task " + failed + " did not succeed"
		}
		if anySkipped {
			return StatusSkipped, "upstream task " + skipped + " was skipped"
		}
		return "", ""
	}
}

// runTask runs every attempt of one task and reports how the last one ended. A serial
// task first waits for the same task of other windows to end.
func (d *DAG) runTask(ctx context.Context, t *Task, rep *Report, shared *sharedState, log *slog.Logger, gates *gates) TaskReport {
	if t.serial && gates != nil {
		leave, err := gates.enter(ctx, t.name)
		if err != nil {
			return TaskReport{Status: StatusSkipped, Error: "not started: " + context.Cause(ctx).Error()}
		}
		defer leave()
	}
	retries := t.retries
	if retries < 0 {
		retries = d.cfg.Retries
	}
	timeout := t.timeout
	if timeout < 0 {
		timeout = d.cfg.Timeout
	}
	tlog := log
	if log.Handler() != slog.DiscardHandler { // With costs allocations even when discarded
		tlog = log.With(slog.String("task", t.name))
	}
	t0 := time.Now()
	tr := TaskReport{Started: t0.UTC()}
	for attempt := 1; ; attempt++ {
		r := &Run{ID: rep.RunID, DAG: rep.DAG, Task: t.name, Window: rep.Window, Attempt: attempt, Logger: tlog, shared: shared, baseLog: d.logger}
		err := d.attempt(ctx, r, t.fn, timeout)
		tr.Attempts = attempt
		tr.Rows = r.Rows()
		tr.Checks = r.checkResults()
		if err == nil {
			tr.Status = StatusSuccess
			tr.Error, tr.Step = "", ""
			break
		}
		tr.Status = StatusFailed
		tr.Error = redact.DSN(err.Error())
		tr.Step = etl.Step(err)
		if attempt > retries || ctx.Err() != nil {
			tlog.Error("task failed", slog.Int("attempt", attempt), slog.Any("error", err))
			break
		}
		f := AttemptFailure{Attempt: attempt, Error: tr.Error}
		var w AttemptWorker
		if errors.As(err, &w) {
			f.Worker = w.AttemptWorker()
		}
		tr.Retried = append(tr.Retried, f)
		wait := backoff(d.cfg.RetryDelay, d.cfg.MaxRetryDelay, attempt)
		tlog.Warn("task attempt failed; retrying", slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("error", err))
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			tr.Retried = tr.Retried[:len(tr.Retried)-1] // it stays the last attempt
			tr.Duration = time.Since(t0)
			return tr
		case <-timer.C:
		}
	}
	tr.Duration = time.Since(t0)
	return tr
}

func (d *DAG) attempt(ctx context.Context, r *Run, fn TaskFunc, timeout time.Duration) error {
	a := &Attempt{Run: r, fn: fn, Timeout: timeout}
	if _, queued := d.cfg.Executor.(Queue); queued || timeout <= 0 {
		return d.cfg.Executor.Execute(ctx, a)
	}
	return withTimeout(ctx, r.Task, timeout, func(ctx context.Context) error { return d.cfg.Executor.Execute(ctx, a) })
}

// withTimeout runs fn under timeout; when fn fails after the timeout cancelled ctx, its
// error is made to wrap [ErrTimeout].
func withTimeout(ctx context.Context, task string, timeout time.Duration, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, timeout, fmt.Errorf("task %q: %w after %s", task, ErrTimeout, timeout))
	defer cancel()
	err := fn(ctx)
	if err != nil && errors.Is(context.Cause(ctx), ErrTimeout) && !errors.Is(err, ErrTimeout) {
		err = fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

// cleanupContext returns a context for work that must outlive ctx, such as saving how a
// run ended: not cancelled with ctx, bounded by limit, and ending Config.CleanupTimeout
// after ctx is cancelled, so that a stopped process stops even when its store hangs.
func (d *DAG) cleanupContext(ctx context.Context, limit time.Duration) (context.Context, context.CancelFunc) {
	c, cancel := context.WithTimeout(context.WithoutCancel(ctx), limit)
	stop := context.AfterFunc(ctx, func() {
		t := time.NewTimer(d.cleanupTimeout())
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-c.Done():
		}
	})
	return c, func() { stop(); cancel() }
}

func (d *DAG) cleanupTimeout() time.Duration {
	if d.cfg.CleanupTimeout > 0 {
		return d.cfg.CleanupTimeout
	}
	return etl.DefaultCleanupTimeout
}

// gates let one window at a time through per serial task, across the windows of a
// backfill.
type gates struct {
	mu sync.Mutex
	m  map[string]chan struct{}
}

// enter waits for the gate of task, and returns the function that leaves it.
func (g *gates) enter(ctx context.Context, task string) (leave func(), err error) {
	g.mu.Lock()
	if g.m == nil {
		g.m = map[string]chan struct{}{}
	}
	c, ok := g.m[task]
	if !ok {
		c = make(chan struct{}, 1)
		g.m[task] = c
	}
	g.mu.Unlock()
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// backoff returns the wait before retry number attempt (from 1): base doubled for each
// earlier retry, capped at limit, then jittered to between half and all of it so that
// tasks failing together do not retry in step.
func backoff(base, limit time.Duration, attempt int) time.Duration {
	w := base
	for i := 1; i < attempt && w < limit; i++ {
		w *= 2
	}
	w = min(w, limit)
	half := w / 2
	if half <= 0 {
		return w
	}
	return half + rand.N(w-half+1)
}
