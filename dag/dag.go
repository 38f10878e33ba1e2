package dag

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/etl"
)

// Build errors. [DAG.Validate], [DAG.Run] and [DAG.Backfill] return them wrapped with the
// DAG's and the task's names; test for them with errors.Is.
var (
	// ErrDuplicateTask is returned when two tasks share a name.
	ErrDuplicateTask = errors.New("duplicate task name")
	// ErrMissingDependency is returned when a task depends on a name no task has.
	ErrMissingDependency = errors.New("dependency names no task")
	// ErrCycle is matched by every [*CycleError].
	ErrCycle = errors.New("dependency cycle")
	// ErrNoTasks is returned when a DAG with no tasks is run.
	ErrNoTasks = errors.New("the DAG has no tasks")
)

// CycleError reports a dependency cycle. Path starts and ends with the same task, in the
// order the tasks would have to run: "a -> b -> c -> a".
type CycleError struct {
	// DAG is the DAG's name.
	DAG string
	// Path lists the tasks on the cycle, the first repeated at the end.
	Path []string
}

// Error formats the cycle as "dag \"name\": dependency cycle: a -> b -> a".
func (e *CycleError) Error() string {
	return fmt.Sprintf("dag %q: %v: %s", e.DAG, ErrCycle, strings.Join(e.Path, " -> "))
}

// Is reports whether target is [ErrCycle].
func (e *CycleError) Is(target error) bool { return target == ErrCycle }

// Config configures a [DAG]. The zero Config is usable: tasks run in process, four at a
// time, without retries or timeouts, with history kept in memory.
type Config struct {
	// Concurrency bounds how many tasks of one run execute at once. Defaults to 4.
	Concurrency int
	// Retries is how many times a failed task is tried again, unless the task sets its
	// own. Defaults to 0: no retries.
	Retries int
	// RetryDelay is the wait before the first retry; it doubles on each further retry up to
	// MaxRetryDelay, and each wait is jittered to between half and all of its value.
	// Defaults to 1s.
	RetryDelay time.Duration
	// MaxRetryDelay caps the wait between retries. Defaults to 5m.
	MaxRetryDelay time.Duration
	// Timeout bounds each attempt of a task, unless the task sets its own. Defaults to
	// none.
	Timeout time.Duration
	// CancelOnFailure cancels every running task and starts no more once one task has
	// failed. Defaults to false: a failure skips only what is downstream of it, and
	// independent branches finish.
	CancelOnFailure bool
	// Every is the schedule interval: the length of the window that `run` covers and the
	// default step of a backfill. Defaults to 0: runs cover all data (the zero
	// [etl.Window]) and backfills step by a day.
	Every time.Duration
	// Start is the first window's start, used by [DAG.DueWindows] when the store has no
	// successful run yet. Defaults to zero: only the latest complete window is due.
	Start time.Time
	// Meta documents the DAG as a whole: owner, description and schedule hint, as shown
	// by `describe`. Defaults to none.
	Meta etl.Meta
	// Store keeps run history and the overlap lock. Defaults to a [MemoryStore], or to the
	// store [MainArgs] opens with OpenStore.
	Store Store
	// OpenStore opens a store from a connection string given to [MainArgs] by --store or
	// SLUICE_DAG_STORE, such as pgstore.Open. Defaults to nil: only "memory" is accepted.
	OpenStore func(ctx context.Context, dsn string) (Store, error)
	// PruneHooks trim history kept outside the store when the `prune` command of
	// [MainArgs] runs, such as the run records the sinks keep in sluice_runs. Each is
	// called, with the --older-than age, after the store has been pruned:
	//
	//	PruneHooks: []dag.PruneHook{{Name: "sluice_runs",
	//		Prune: func(ctx context.Context, age time.Duration) (int64, error) {
	//			return postgres.PruneRuns(ctx, pool, "", age)
	//		}}},
	//
	// Defaults to none: `prune` trims only the store.
	PruneHooks []PruneHook
	// Executor runs each task attempt. Defaults to [LocalExecutor], or to the [Queue]
	// that --executor names under [MainArgs].
	Executor Executor
	// Queues are the queue executors [MainArgs] can run tasks on, by the name given to
	// --executor (or SLUICE_DAG_EXECUTOR); each is opened with the store the command
	// opened. Package dag/riverexec provides one:
	//
	//	Queues: map[string]dag.OpenQueue{"river": riverexec.Open(riverexec.Config{})},
	//
	// Defaults to none: tasks run in process.
	Queues map[string]OpenQueue
	// Logger receives the DAG's logs. Defaults to discarding them; under [MainArgs], to
	// standard error in the --log-format and --log-level given.
	Logger *slog.Logger
	// Now returns the current time, for working out which windows are due and which runs
	// `prune` forgets (PruneHooks keep their own clocks). Defaults to time.Now.
	Now func() time.Time
}

// DAG is a set of named tasks and the dependencies between them. Declare it once, with
// [New] and [DAG.Task], then run it with [DAG.Run], [DAG.Backfill] or [Main]. Declaring is
// not safe for concurrent use; running is.
type DAG struct {
	name   string
	cfg    Config
	tasks  []*Task
	store  Store
	logger *slog.Logger
}

// New returns an empty DAG with the given name and configuration.
func New(name string, cfg Config) *DAG {
	d := &DAG{name: name, cfg: cfg, store: cfg.Store, logger: cfg.Logger}
	if d.store == nil {
		d.store = NewMemoryStore()
	}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if d.cfg.Concurrency <= 0 {
		d.cfg.Concurrency = 4
	}
	if d.cfg.RetryDelay <= 0 {
		d.cfg.RetryDelay = time.Second
	}
	if d.cfg.MaxRetryDelay <= 0 {
		d.cfg.MaxRetryDelay = 5 * time.Minute
	}
	if d.cfg.Executor == nil {
		d.cfg.Executor = LocalExecutor{}
	}
	if d.cfg.Now == nil {
		d.cfg.Now = time.Now
	}
	return d
}

// Name returns the DAG's name.
func (d *DAG) Name() string { return d.name }

// Meta returns the DAG's documentation from its Config.
func (d *DAG) Meta() etl.Meta { return d.cfg.Meta }

// Store returns the store that keeps the DAG's history.
func (d *DAG) Store() Store { return d.store }

// withEnv returns a copy of d that keeps history in store and logs to logger, for one
// command of [MainArgs]; d itself stays as declared, so concurrent calls do not race and
// d is not left holding a store MainArgs has closed.
func (d *DAG) withEnv(store Store, logger *slog.Logger, exec Executor) *DAG {
	c := *d
	c.store, c.logger = store, logger
	if exec != nil {
		c.cfg.Executor = exec
	}
	return &c
}

// Tasks returns the DAG's tasks in the order they were declared.
func (d *DAG) Tasks() []*Task { return slices.Clone(d.tasks) }

// Task adds a task named name that runs fn, and returns it so that dependencies and
// settings can be chained:
//
//	d.Task("load", load).After("extract").Retries(3)
//
// A duplicate name is reported when the DAG is validated, not here.
func (d *DAG) Task(name string, fn TaskFunc) *Task {
	t := &Task{name: name, fn: fn, retries: -1, timeout: -1}
	d.tasks = append(d.tasks, t)
	return t
}

// TaskFunc is the work of one task. It returns nil on success. r carries the run's window,
// the attempt number and the typed values upstream tasks passed on (see [Output]).
type TaskFunc func(ctx context.Context, r *Run) error

// Trigger says when a task runs, given how its upstream tasks ended.
type Trigger string

// The trigger rules.
const (
	// AllSuccess, the default, runs a task when every upstream task succeeded. A failed
	// upstream marks it upstream_failed and a skipped one marks it skipped.
	AllSuccess Trigger = "all_success"
	// AllDone runs a task once every upstream task has ended, however it ended, as for a
	// cleanup or a notification.
	AllDone Trigger = "all_done"
	// OneFailed runs a task once every upstream task has ended and at least one failed, as
	// for an alert; otherwise the task is skipped.
	OneFailed Trigger = "one_failed"
)

// Task is one node of a [DAG]. Its setters return the task so that calls chain.
type Task struct {
	name          string
	fn            TaskFunc
	after, before []string
	retries       int
	timeout       time.Duration
	trigger       Trigger
	meta          etl.Meta
	checks        []string
}

// Name returns the task's name.
func (t *Task) Name() string { return t.name }

// After makes t run after each named task.
func (t *Task) After(names ...string) *Task { t.after = append(t.after, names...); return t }

// Before makes each named task run after t.
func (t *Task) Before(names ...string) *Task { t.before = append(t.before, names...); return t }

// Retries sets how many times t is tried again after a failure, overriding
// [Config.Retries].
func (t *Task) Retries(n int) *Task { t.retries = max(n, 0); return t }

// Timeout bounds each attempt of t, overriding [Config.Timeout]. Zero means none.
func (t *Task) Timeout(d time.Duration) *Task { t.timeout = max(d, 0); return t }

// Trigger sets t's trigger rule. Defaults to [AllSuccess].
func (t *Task) Trigger(rule Trigger) *Task { t.trigger = rule; return t }

// Doc documents t: its owner, description, schedule hint, inputs and outputs, as shown by
// `describe`.
func (t *Task) Doc(m etl.Meta) *Task { t.meta = m; return t }

// Checks documents, in words, the checks t runs, as shown by `describe`.
func (t *Task) Checks(text ...string) *Task { t.checks = append(t.checks, text...); return t }

// Meta returns t's documentation.
func (t *Task) Meta() etl.Meta { return t.meta }

// CheckText returns the checks documented with [Task.Checks].
func (t *Task) CheckText() []string { return slices.Clone(t.checks) }

func (t *Task) rule() Trigger {
	if t.trigger == "" {
		return AllSuccess
	}
	return t.trigger
}

// graph is a validated DAG: indices of upstream and downstream tasks, and a topological
// order.
type graph struct {
	tasks    []*Task
	up, down [][]int32
	order    []int32
}

// Validate reports a duplicate task name, a dependency on a name no task has, a cycle
// (as a [*CycleError] with its path), an unknown trigger rule, or a DAG with no tasks.
func (d *DAG) Validate() error {
	_, err := d.build()
	return err
}

func (d *DAG) build() (*graph, error) {
	n := len(d.tasks)
	if n == 0 {
		return nil, fmt.Errorf("dag %q: %w", d.name, ErrNoTasks)
	}
	idx := make(map[string]int32, n)
	for i, t := range d.tasks {
		if t.name == "" {
			return nil, fmt.Errorf("dag %q: task %d has no name", d.name, i+1)
		}
		if _, dup := idx[t.name]; dup {
			return nil, fmt.Errorf("dag %q: task %q: %w", d.name, t.name, ErrDuplicateTask)
		}
		switch t.rule() {
		case AllSuccess, AllDone, OneFailed:
		default:
			return nil, fmt.Errorf("dag %q: task %q: unknown trigger rule %q", d.name, t.name, t.trigger)
		}
		idx[t.name] = int32(i)
	}
	g := &graph{tasks: d.tasks, up: make([][]int32, n), down: make([][]int32, n)}
	edge := func(from, to int32) {
		if !slices.Contains(g.up[to], from) {
			g.up[to] = append(g.up[to], from)
			g.down[from] = append(g.down[from], to)
		}
	}
	for i, t := range d.tasks {
		for _, a := range t.after {
			j, ok := idx[a]
			if !ok {
				return nil, fmt.Errorf("dag %q: task %q runs after %q: %w", d.name, t.name, a, ErrMissingDependency)
			}
			edge(j, int32(i))
		}
		for _, b := range t.before {
			j, ok := idx[b]
			if !ok {
				return nil, fmt.Errorf("dag %q: task %q runs before %q: %w", d.name, t.name, b, ErrMissingDependency)
			}
			edge(int32(i), j)
		}
	}
	// Kahn's algorithm; what it cannot order lies on or behind a cycle.
	indeg := make([]int32, n)
	g.order = make([]int32, 0, n)
	for i := range n {
		indeg[i] = int32(len(g.up[i]))
		if indeg[i] == 0 {
			g.order = append(g.order, int32(i))
		}
	}
	for k := 0; k < len(g.order); k++ {
		for _, c := range g.down[g.order[k]] {
			if indeg[c]--; indeg[c] == 0 {
				g.order = append(g.order, c)
			}
		}
	}
	if len(g.order) < n {
		return nil, &CycleError{DAG: d.name, Path: g.cyclePath(indeg)}
	}
	return g, nil
}

// cyclePath finds one cycle among the tasks Kahn's algorithm left with a positive
// in-degree, by walking upstream until a task repeats.
func (g *graph) cyclePath(indeg []int32) []string {
	start := int32(-1)
	for i, v := range indeg {
		if v > 0 {
			start = int32(i)
			break
		}
	}
	seen := map[int32]int{}
	var walk []int32
	for cur := start; ; {
		if at, ok := seen[cur]; ok {
			walk = walk[at:]
			break
		}
		seen[cur] = len(walk)
		walk = append(walk, cur)
		for _, u := range g.up[cur] {
			if indeg[u] > 0 {
				cur = u
				break
			}
		}
	}
	// walk follows edges backwards; reverse it into run order and close the loop.
	// Start at the task declared first, so the message is stable.
	slices.Reverse(walk)
	first := slices.Index(walk, slices.Min(walk))
	walk = append(walk[first:], walk[:first]...)
	path := make([]string, 0, len(walk)+1)
	for _, i := range walk {
		path = append(path, g.tasks[i].name)
	}
	return append(path, path[0])
}
