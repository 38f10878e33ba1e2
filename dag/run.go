package dag

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

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

// Output is a typed key through which a task passes a value to the tasks downstream of it
// in the same DAG run. Make one with [NewOutput], usually as a package-level variable next
// to the DAG's declaration; values live in the run, not in the key, so concurrent runs and
// backfill windows never see each other's values.
//
// A task reads only values set by tasks upstream of it: the runner starts a task after its
// upstream tasks have returned, which orders the Set before the Get. Values do not cross
// processes and are not kept in history.
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

// Get returns the value stored under o in r's DAG run, and whether there was one.
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
	fn  TaskFunc
}

// NewAttempt returns an attempt of the task r names, for the receiving side of an
// [Executor] that runs attempts in another process: it decodes r's exported fields, finds
// the task here by name, and calls [Attempt.Call]. Values passed through [Output] do not
// cross processes, so such tasks read their inputs from where upstream tasks stored them;
// rows and checks recorded on the receiving side count once the sender adds them to its
// own attempt's Run.
func (d *DAG) NewAttempt(r *Run) (*Attempt, error) {
	for _, t := range d.tasks {
		if t.name == r.Task {
			return &Attempt{Run: r, fn: t.fn}, nil
		}
	}
	return nil, fmt.Errorf("dag %q: no task %q", d.name, r.Task)
}

// Call runs the task in this goroutine and returns its error. A panic in the task becomes
// an error that carries the stack.
func (a *Attempt) Call(ctx context.Context) (err error) {
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
