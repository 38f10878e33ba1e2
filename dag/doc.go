// Package dag runs a small graph of tasks in process: the extract, load and summary jobs
// of one data product, with dependencies, parallel branches, retries, timeouts, a run
// report, backfills over windows, and a [Main] that turns the program into a command for
// cron.
//
// Package dag imports only package etl, the standard library and golang.org/x/sync. Run
// history lives behind [Store]; package dag/pgstore keeps it in PostgreSQL.
//
// # Declaring a DAG
//
// A [DAG] is declared in Go. Each task has a name and a [TaskFunc]; dependencies are
// declared with [Task.After] or [Task.Before]:
//
//	d := dag.New("orders", dag.Config{Every: 24 * time.Hour})
//	d.Task("extract", extract)
//	d.Task("by_day", byDay).After("extract")
//	d.Task("by_region", byRegion).After("extract")
//
// [DAG.Validate] (and every run) reports a duplicate name ([ErrDuplicateTask]), a
// dependency on an unknown name ([ErrMissingDependency]) and a cycle, as a [*CycleError]
// whose path reads "a -> b -> a".
//
// [Pipeline] adapts an [etl.Pipeline] into a task, and [SQL] runs one statement in the
// warehouse through an [Execer], the ELT case. [Job] adapts a value whose Run(ctx) returns
// a result, such as a sink's retention, and [Func] a plain func(ctx) error: the packages
// that load and clean data never import dag. [Task.Doc] and [Task.Checks] document a
// task for [DAG.WriteMarkdown]; [DAG.Pipeline] documents a pipeline's checks by itself
// when its sink lists them ([etl.CheckLister]).
//
// # Passing results downstream
//
// A task passes a value to the tasks after it through an [Output] key, made once with
// [NewOutput]. The value lives in the DAG run, so concurrent runs and backfill windows are
// isolated, and the type is checked by the compiler:
//
//	var orders = dag.NewOutput[[]Order]("orders")
//	// in extract:  orders.Set(r, rows)
//	// in by_day:   rows, err := orders.Must(r)
//
// # Running
//
// [DAG.Run] runs the tasks whose upstream tasks have ended, up to [Config.Concurrency] at
// once. A failed attempt is retried with exponential backoff and jitter ([Task.Retries]),
// and each attempt can have a timeout ([Task.Timeout], [ErrTimeout]). The [Trigger] rule of
// a task decides whether it runs once its upstream tasks have ended: [AllSuccess] (the
// default), [AllDone] or [OneFailed]. A failure marks everything downstream
// upstream_failed while independent branches finish, unless [Config.CancelOnFailure] is
// set. Cancelling the context stops the run: running tasks see the cancellation and no new
// task starts.
//
// Task attempts are carried out by an [Executor]. The default, [LocalExecutor], calls the
// task in process. A [Queue] sends each attempt to worker processes through a shared
// queue, on this machine or others, while the run is still scheduled where it started;
// package dag/riverexec provides one on river. Tasks need no change, except that values
// passed through [Output] do not reach another process ([ErrOutputNotShared]): tasks that
// run on a Queue pass data through tables.
//
// # Reports and graphs
//
// Every run yields a [Report]: each task's [Status], attempts, duration, rows, checks and
// error, with the passwords of any connection string in an error hidden, since stores
// keep the report and UIs show it. It prints as a table ([Report.WriteTable]), serialises as JSON, and renders as a
// Mermaid graph coloured by status ([Report.Mermaid]). The DAG itself renders as Mermaid
// ([DAG.Mermaid]) and DOT ([DAG.DOT]).
//
// # History and overlap
//
// A [Store] keeps every run's report and holds a per-DAG lock, so that two invocations of
// one DAG never overlap: the second gets an error wrapping [etl.ErrLocked]. The default
// [MemoryStore] lasts as long as the process; use dag/pgstore to keep history across cron
// invocations. Package dag/dagtest holds the conformance suite every store must pass. A
// store may also implement [Pruner], to forget old runs, [Watermarker], to find the
// catch-up point of a scheduled run without reading its whole history, and [Abandoner].
//
// A run whose process is killed stays "running" in the store. The next run or backfill
// that takes the DAG's lock marks it [StatusAbandoned], since holding the lock proves it
// is gone; `history --failed` lists it and a backfill runs its window again. Once the
// context is cancelled (SIGINT or SIGTERM under [Main]), saving how a run ended gets at
// most [Config.CleanupTimeout].
//
// # Backfill
//
// [DAG.Backfill] runs the DAG once per window, several windows at once up to
// [BackfillOptions.Parallel]. A [Task.Serial] task, as every [DAG.Pipeline] task is, runs
// for one window at a time while the other windows' runs of it wait their turn: each
// load holds its pipeline's lock, so running them together would only fail all but one.
// With a persistent store it resumes: a window that already
// succeeded is skipped unless the [Reprocess] policy says otherwise, so re-running a
// backfill after a fix runs only the windows that failed. A dry run lists the windows and
// why each would run. [DAG.DueWindows] works out which windows a scheduled run should
// catch up on since the last success. Plans and reports are held in memory, so one
// backfill covers at most [MaxWindows] windows.
//
// # Main
//
// [Main] makes a program a command with the subcommands run, backfill, graph, describe,
// history and prune, and exit codes that tell cron a failure ([ExitFailed]) from a run that
// found another holding the lock ([ExitLocked]). [MainArgs] is the same, testable. run
// refuses a window that has not ended yet (its data is incomplete, and its success would
// mark it done) unless given --force. Nothing the command prints shows the password of a
// connection string, the store's included. prune
// forgets old runs in the store ([Pruner]) and, through [Config.PruneHooks], history the
// tasks keep elsewhere, such as the sinks' sluice_runs.
//
// With a [Queue] in [Config.Queues], --executor NAME runs run and backfill on it, and
// --detach queues the command for a worker and returns at once; worker runs attempts
// until SIGTERM, migrate creates the queue's tables, and ui serves its web UI. Package
// dag itself imports no queue: the program names one.
package dag
