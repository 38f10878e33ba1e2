// Package riverexec runs the task attempts of a sluice DAG on river workers
// (github.com/riverqueue/river), in any number of processes on any number of machines
// that reach one PostgreSQL database. It is the only sluice package that imports river.
//
// # How a run goes
//
// [Executor] is a [dag.Queue]. The process that runs the DAG (a `run` or `backfill`
// command, or with --detach a worker that took the command from the queue) schedules
// it as package dag always does: dependencies, trigger rules, retries with backoff,
// cancellation, the DAG lock and the report in the store. Only each attempt goes
// elsewhere: [Executor.Execute] inserts a river job into the DAG's queue and waits. A
// worker ([Executor.Work]) declares the same DAG, takes the job, rebuilds the attempt with
// [dag.DAG.NewAttempt], runs it under the task's timeout, and commits its result (status,
// error, failed step, rows, checks) to the dag_attempts table with a notification that
// wakes the scheduler. The report the scheduler writes to the store (package
// dag/pgstore) is what `history` shows on every machine.
//
// Each DAG has its own river queues, sluice_<dag> for attempts and
// sluice_<dag>_commands for commands queued with --detach, so a worker takes only work
// for the DAG it declares. With no worker running, attempts wait in the queue, and the
// run waits with them: the time in the queue counts against no timeout. The run's
// [dag.Config.Concurrency] still bounds how many of its attempts are queued or running
// at once, so raise it to use many workers.
//
// A worker holds one connection per running attempt, for its lock; when the store's
// pool is smaller than [Config.Concurrency] needs, the Executor opens a larger pool of
// its own on the same connection settings. Its river client runs on a further pool of
// at most 10 connections (see Latency).
//
// # Dead workers, and no task twice at once
//
// While it runs an attempt a worker holds a session-level advisory lock named after
// the DAG, the window and the task, and releases it only after the result has committed.
// Two attempts of one task over one window therefore never run at once, even across
// runs. When a worker dies (SIGKILL, a crash, a lost machine or network) PostgreSQL ends
// its session and drops the lock; the scheduler sees an attempt marked running whose lock
// is gone within [Config.CheckInterval] and fails it as lost ([ErrWorkerLost]), and the
// task's retries run it again on another worker. The report's [dag.TaskReport.Retried]
// lists the lost attempt and the worker it was on. A worker that loses its own session
// cancels the attempt it runs, since another worker may take the task over. River's own
// rescuer ([Config.RescueStuckJobsAfter]) only tidies river's view of such jobs.
//
// A worker told to stop (SIGTERM to `worker`) takes no new attempts, lets running ones
// finish for --grace, then cancels them and hands them back to the queue with river's
// JobSnooze: another worker runs them again, and the hand-back is not a failed attempt.
//
// # Passing data between tasks
//
// Values passed through [dag.Output] live in the process that set them, and an attempt
// may run anywhere: on a worker, [dag.Output.Must] fails with [dag.ErrOutputNotShared].
// Tasks that run on the queue pass data through tables, as examples/scaleout does.
//
// # Tables
//
// Nothing is created on import or on first use. [Executor.Migrate] (the `migrate`
// command of [dag.MainArgs]) applies river's migrations through river's rivermigrate
// API and creates dag_attempts, in the store's schema unless [Config.Schema] says
// otherwise; until then the executor fails with [ErrNotMigrated].
//
// # Latency
//
// Every queued attempt notifies its queue, and workers fetch on a notification at most
// every [Config.FetchCooldown] (2 ms by default, against river's 100 ms), polling every
// [Config.FetchPollInterval] only as a fallback; schedulers learn of results through a
// LISTEN of their own, whose notification carries a plain success's outcome.
//
// An attempt's path waits for two disk flushes: the statement that starts it (takes the
// task's lock and marks it running) commits with synchronous_commit on, which makes
// the attempt's job durable with it, and so does the statement that records its result.
// The job's insert and river's fetch and completion (a worker's river client runs on a
// pool of its own with synchronous_commit off) commit without waiting for the disk; what
// a crash of the server can lose of them is an attempt not yet started, failed as lost
// and retried (see [Executor.Work]).
//
// bench/river measures the latency this adds to a task, the CPU time per task, and the
// throughput on 1, 2 and 4 workers.
//
// # Operator UI
//
// [Executor.Handler] (the `ui` command) serves river's UI (riverqueue.com/riverui) at
// /river/, and at / a read-only page of the DAG's runs: each task's state, live while the
// run goes on, every attempt with its worker, and the run as a Mermaid graph.
//
// # Use from dag.Main
//
//	d := dag.New("orders", dag.Config{
//		OpenStore: pgstore.Open,
//		Queues:    map[string]dag.OpenQueue{"river": riverexec.Open(riverexec.Config{})},
//	})
//	dag.Main(d) // migrate; worker; --executor river run [--detach]; ui
package riverexec
