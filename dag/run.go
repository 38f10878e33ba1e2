package dag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Run is what a task attempt knows about the DAG run it belongs to. Each attempt gets its
// own *Run; the values passed through [Output] are shared by all tasks of the DAG run.
type Run struct {
	// ID identifies the DAG run; every task of the run sees the same ID.
	ID string
	// DAG is the DAG's name.
	DAG string
	// Task is the name of the task this attempt runs.
	Task string
	// Window is the data interval of the DAG run; zero means all data.
	Window etl.Window
	// Attempt counts from 1.
	Attempt int
	// Logger receives the task's logs, with the DAG, task and run ID attached. It is not
	// serialised: the receiving side of a remote [Executor] sets its own.
	Logger *slog.Logger `json:"-"`

	shared  *sharedState
	baseLog *slog.Logger // the DAG's logger, before the run's attributes
	remote  bool         // rebuilt by NewAttempt in a process other than the scheduler's
	rows    atomic.Int64
	mu      sync.Mutex
	checks  []etl.CheckResult
}

// sharedState is what the tasks of one DAG run share: the values passed downstream.
type sharedState struct {
	mu     sync.Mutex
	values map[*outputKey]any
}

// AddRows counts n rows the task moved; the run report shows the sum.
func (r *Run) AddRows(n int64) { r.rows.Add(n) }

// Rows returns the rows counted so far by [Run.AddRows].
func (r *Run) Rows() int64 { return r.rows.Load() }

// AddChecks records check results for the run report and history.
func (r *Run) AddChecks(c ...etl.CheckResult) {
	r.mu.Lock()
	r.checks = append(r.checks, c...)
	r.mu.Unlock()
}

// Checks returns a copy of the check results recorded so far by [Run.AddChecks].
func (r *Run) Checks() []etl.CheckResult { return r.checkResults() }

func (r *Run) checkResults() []etl.CheckResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]etl.CheckResult(nil), r.checks...)
}

// Log returns the attempt's logger, or a discarding one.
func (r *Run) Log() *slog.Logger {
	if r.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Logger
}

type runKey struct{}

// FromContext returns the *Run of the task attempt that ctx was given to, for code that
// receives only a context, such as a source inside a [Pipeline] task that reads an
// upstream [Output].
func FromContext(ctx context.Context) (*Run, bool) {
	r, ok := ctx.Value(runKey{}).(*Run)
	return r, ok
}

// ErrOutputNotShared is wrapped by the error [Output.Must] returns in a task attempt that
// runs in another process than the one scheduling the DAG, such as on a queue worker
// ([Queue]): values passed through an Output stay in the process that set them. Tasks
// that may run on workers pass data through tables (or files every worker can read).
var ErrOutputNotShared = errors.New("values passed through dag.Output do not cross processes")

// Output is a typed key through which a task passes a value to the tasks downstream of it
// in the same DAG run. Make one with [NewOutput], usually as a package-level variable next
// to the DAG's declaration; values live in the run, not in the key, so concurrent runs and
// backfill windows never see each other's values.
//
// A task reads only values set by tasks upstream of it: the runner starts a task after its
// upstream tasks have returned, which orders the Set before the Get. Values do not cross
// processes and are not kept in history: under a [Queue] executor each attempt may run in
// another process, so there [Output.Get] finds nothing and [Output.Must] fails with
// [ErrOutputNotShared]; pass such data through a table instead.
type Output[T any] struct {
	key *outputKey
}

type outputKey struct{ name string }

// NewOutput returns a new key. name is used in error messages only; two keys made with
// the same name are still distinct.
func NewOutput[T any](name string) Output[T] {
	return Output[T]{key: &outputKey{name: name}}
}

// Name returns the name given to [NewOutput].
func (o Output[T]) Name() string {
	if o.key == nil {
		return ""
	}
	return o.key.name
}

// Set stores v in r's DAG run under o, replacing any earlier value. A *Run made by hand,
// as in a unit test of one task, keeps the values set on it.
func (o Output[T]) Set(r *Run, v T) {
	if o.key == nil {
		panic("dag: Output used without NewOutput")
	}
	if r.shared == nil {
		r.shared = &sharedState{}
	}
	s := r.shared
	s.mu.Lock()
	if s.values == nil {
		s.values = make(map[*outputKey]any)
	}
	s.values[o.key] = v
	s.mu.Unlock()
}

// Get returns the value stored under o in r's DAG run, and whether there was one. In an
// attempt rebuilt by [DAG.NewAttempt] it finds only what the same attempt set.
func (o Output[T]) Get(r *Run) (T, bool) {
	var zero T
	if o.key == nil || r.shared == nil {
		return zero, false
	}
	s := r.shared
	s.mu.Lock()
	v, ok := s.values[o.key]
	s.mu.Unlock()
	if !ok {
		return zero, false
	}
	return v.(T), true
}

// Must returns the value stored under o, or an error that names the output and the task
// when no upstream task set it.
func (o Output[T]) Must(r *Run) (T, error) {
	v, ok := o.Get(r)
	if !ok && r.remote {
		return v, fmt.Errorf("task %q: output %q is not available: the task runs in a worker process and %w; pass the data through a table",
			r.Task, o.Name(), ErrOutputNotShared)
	}
	if !ok {
		return v, fmt.Errorf("task %q: output %q was not set by any upstream task", r.Task, o.Name())
	}
	return v, nil
}

// Attempt is one try of one task, as handed to an [Executor].
type Attempt struct {
	// Run describes the attempt: the DAG, task, run ID, window and attempt number. An
	// executor that sends work elsewhere serialises these fields, and the other side,
	// which declares the same DAG, rebuilds the attempt with [DAG.NewAttempt].
	Run *Run
	// Timeout bounds the attempt; zero means none. The runner bounds Execute's ctx by it,
	// except for a [Queue], where the time an attempt waits in the queue must not count:
	// a Queue sends Timeout along, the receiving side sets it on the attempt
	// [DAG.NewAttempt] returns, and [Attempt.Call] applies it there.
	Timeout time.Duration
	fn      TaskFunc
	remote  bool
}

// NewAttempt returns an attempt of the task r names, for the receiving side of an
// [Executor] that runs attempts in another process: it decodes r's exported fields, finds
// the task here by name, and calls [Attempt.Call]. Values passed through [Output] do not
// cross processes, so such tasks read their inputs from where upstream tasks stored them;
// rows and checks recorded on the receiving side count once the sender adds them to its
// own attempt's Run.
//
// In such an attempt, [Output.Must] fails with [ErrOutputNotShared], and r.Logger, when
// nil, becomes the DAG's logger with the run's attributes.
func (d *DAG) NewAttempt(r *Run) (*Attempt, error) {
	for _, t := range d.tasks {
		if t.name == r.Task {
			r.remote = true
			if r.baseLog == nil {
				r.baseLog = d.logger
			}
			if r.Logger == nil {
				r.Logger = d.logger.With(slog.String("dag", d.name), slog.String("run_id", r.ID), slog.String("task", r.Task))
			}
			return &Attempt{Run: r, fn: t.fn, remote: true}, nil
		}
	}
	return nil, fmt.Errorf("dag %q: no task %q", d.name, r.Task)
}

// Call runs the task in this goroutine and returns its error. A panic in the task becomes
// an error that carries the stack. On an attempt made by [DAG.NewAttempt], Call applies
// a.Timeout as the runner does in process: past it, ctx is cancelled and the error wraps
// [ErrTimeout].
func (a *Attempt) Call(ctx context.Context) error {
	if !a.remote || a.Timeout <= 0 {
		return a.call(ctx)
	}
	return withTimeout(ctx, a.Run.Task, a.Timeout, a.call)
}

func (a *Attempt) call(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("task %q panicked: %v\n%s", a.Run.Task, p, debug.Stack())
		}
	}()
	if a.fn == nil {
		return fmt.Errorf("task %q has no function to run", a.Run.Task)
	}
	return a.fn(context.WithValue(ctx, runKey{}, a.Run), a.Run)
}

// Executor runs task attempts. The runner decides what runs when, and handles retries,
// timeouts and the report; an executor only carries out one attempt and returns its
// error. The seam exists so that tasks can later run on a distributed queue without any
// change to task code.
type Executor interface {
	// Execute carries out attempt a and returns its error, or nil when it succeeded.
	// ctx carries the attempt's timeout and the run's cancellation; the run waits for
	// Execute to return.
	Execute(ctx context.Context, a *Attempt) error
}

// LocalExecutor runs each attempt in the runner's process, on the runner's goroutine for
// that task. It is the default [Executor].
type LocalExecutor struct{}

// Execute calls a.Call(ctx).
func (LocalExecutor) Execute(ctx context.Context, a *Attempt) error { return a.Call(ctx) }

// ExecutorFunc adapts a function to [Executor], for an executor that wraps each attempt
// (to trace it, say) and then calls [Attempt.Call].
type ExecutorFunc func(ctx context.Context, a *Attempt) error

// Execute calls f(ctx, a).
func (f ExecutorFunc) Execute(ctx context.Context, a *Attempt) error { return f(ctx, a) }
