package dag

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Queue is an [Executor] that sends each task attempt through a queue that worker
// processes share, on this machine or on others; package dag/riverexec provides one on
// river. The process that runs the DAG still schedules it: it decides what runs when,
// applies trigger rules, retries failed attempts and writes the report, exactly as in
// process, while each attempt runs on whichever worker takes it. Workers declare the same
// DAG and rebuild each attempt with [DAG.NewAttempt], so values passed through [Output]
// do not reach them ([ErrOutputNotShared]): tasks that run on a Queue pass data through
// tables.
//
// With a Queue, the time an attempt waits for a worker does not count against its
// timeout: the worker applies [Attempt.Timeout] from the moment it starts the attempt.
//
// [MainArgs] uses a Queue named by --executor, from [Config.Queues], and then offers the
// commands worker, migrate and ui, and --detach on run and backfill. A Queue that holds
// resources may implement io.Closer; MainArgs closes the one it opened.
type Queue interface {
	Executor
	// Work takes attempts of d's tasks from the queue and runs them, and runs the
	// commands [Queue.Submit] queued through opts.Command, until ctx is cancelled.
	// Then it takes no more work, lets running attempts finish for up to opts.Grace,
	// cancels those still running and hands them back to the queue, so that another
	// worker runs them again, and returns.
	Work(ctx context.Context, d *DAG, opts WorkOptions) error
	// Submit queues a command of d's program (its name and flags, such as
	// ["run", "--logical-date", "2026-01-05"]) for a worker to run with
	// [WorkOptions.Command], and returns at once with an ID that names the queued
	// command. A command already queued with the same arguments and not yet ended is
	// not queued twice.
	Submit(ctx context.Context, d *DAG, args []string) (id string, err error)
	// Migrate creates or upgrades the queue's tables, and says what it did on w. Nothing
	// creates them implicitly.
	Migrate(ctx context.Context, w io.Writer) error
	// Handler returns the operator's web UI for d: the queue and its jobs, and d's runs.
	// The handler's background work stops when ctx is done.
	Handler(ctx context.Context, d *DAG) (http.Handler, error)
}

// OpenQueue opens a [Queue] for one command of [MainArgs], on the store the command
// opened (results and reports live there, so that every process sees the same run);
// see [Config.Queues].
type OpenQueue func(ctx context.Context, store Store, log *slog.Logger) (Queue, error)

// WorkOptions tunes [Queue.Work].
type WorkOptions struct {
	// Concurrency bounds the attempts this worker runs at once. Defaults to the
	// Queue's own default.
	Concurrency int
	// Grace is how long running attempts may go on once Work's ctx is cancelled, before
	// they are cancelled and handed back. Defaults to 0: cancelled at once.
	Grace time.Duration
	// Command runs a command queued with [Queue.Submit], writing what it prints to
	// stdout. Defaults to nil: such commands fail on this worker.
	Command CommandFunc
	// Stdout receives what the queued commands print, one command's output at a time.
	// [MainArgs] sets it to its own stdout, which hides passwords. Defaults to
	// os.Stdout.
	Stdout io.Writer
}

// CommandFunc runs one command line of a DAG's program, such as a `run` that was queued
// with --detach. It returns nil when the command succeeded, an error wrapping
// [etl.ErrLocked] when another run held the DAG's lock, or another error.
type CommandFunc func(ctx context.Context, args []string, stdout io.Writer) error
