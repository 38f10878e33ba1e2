package riverexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/internal/redact"
)

// Work runs attempts of d's tasks, and commands queued with [Executor.Submit], until
// ctx is cancelled; see [dag.Queue]. Then it takes no new work, gives running attempts
// opts.Grace to finish, cancels the rest and hands them back to the queue (river's
// JobSnooze), so that another worker runs them again, and returns nil.
//
// Each attempt holds an advisory lock named after the DAG, the window and the task,
// on a session of its own, from before it starts until its result has committed: no
// two attempts of one task over one window run at once, and the scheduling side knows
// the worker died when the lock is gone while the attempt is marked running.
//
// Only the statement that starts an attempt waits for the disk when it commits; since
// PostgreSQL flushes its WAL in order, that also makes the attempt's job and its fetch
// durable. River's own statements (fetches, completions, upkeep) run on a pool of the
// worker's own, of at most 10 connections, with synchronous_commit off; the statement
// that records a result waits for the disk. A crash of the server can therefore lose
// only the fetch of an attempt not yet started (a worker fetches the job again) or a
// completion (river's rescuer discards the job, whose MaxAttempts is 1, and the
// attempts table keeps the result).
func (e *Executor) Work(ctx context.Context, d *dag.DAG, opts dag.WorkOptions) error {
	if err := e.checkReady(ctx); err != nil {
		return err
	}
	if err := d.Validate(); err != nil {
		return err
	}
	conc := opts.Concurrency
	if conc <= 0 {
		conc = e.cfg.Concurrency
	}
	w := &worker{e: e, d: d, opts: opts, out: opts.Stdout}
	if w.out == nil {
		w.out = os.Stdout
	}
	workers := river.NewWorkers()
	if err := river.AddWorkerSafely(workers, &attemptWorker{w: w}); err != nil {
		return fmt.Errorf("riverexec: %w", err)
	}
	if err := river.AddWorkerSafely(workers, &commandWorker{w: w}); err != nil {
		return fmt.Errorf("riverexec: %w", err)
	}
	riverPool, err := e.asyncCommitPool(ctx)
	if err != nil {
		return err
	}
	defer riverPool.Close()
	client, err := river.NewClient(riverpgxv5.New(riverPool), &river.Config{
		ID:                   e.cfg.WorkerID,
		Schema:               e.schema,
		Logger:               e.log,
		FetchCooldown:        e.cfg.FetchCooldown,
		FetchPollInterval:    e.cfg.FetchPollInterval,
		JobTimeout:           -1, // the attempt applies the task's own timeout
		RescueStuckJobsAfter: e.cfg.RescueStuckJobsAfter,
		MaxAttempts:          1,
		Queues: map[string]river.QueueConfig{
			queueName(d.Name(), ""):          {MaxWorkers: conc},
			queueName(d.Name(), "_commands"): {MaxWorkers: e.cfg.CommandConcurrency},
		},
		Workers: workers,
	})
	if err != nil {
		return fmt.Errorf("riverexec: %w", err)
	}
	// The client runs on its own context: ctx's end starts the graceful stop below,
	// not river's own.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("riverexec: start worker %s: %w", e.cfg.WorkerID, err)
	}
	e.log.Info("riverexec: worker taking attempts", slog.String("dag", d.Name()), slog.String("worker", e.cfg.WorkerID),
		slog.String("queue", queueName(d.Name(), "")), slog.Int("concurrency", conc))
	<-ctx.Done()
	w.stopping.Store(true)
	e.log.Info("riverexec: worker stopping", slog.String("worker", e.cfg.WorkerID), slog.Duration("grace", opts.Grace))
	stopCtx := context.WithoutCancel(ctx)
	if opts.Grace > 0 {
		graceCtx, cancel := context.WithTimeout(stopCtx, opts.Grace)
		err = client.Stop(graceCtx)
		cancel()
		if err == nil {
			return nil
		}
	}
	// Cancelled attempts hand themselves back; wait for that to be recorded.
	hardCtx, cancel := context.WithTimeout(stopCtx, e.cfg.CancelGrace)
	defer cancel()
	if err := client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("riverexec: stop worker %s: %w", e.cfg.WorkerID, err)
	}
	return nil
}

// asyncCommitPool opens the pool of a worker's river client, on the executor's
// connection settings but with synchronous_commit off: river's fetches, completions
// and upkeep then commit without waiting for the WAL to reach the disk, a flush off
// each attempt's path. Why what a crash of the server can lose of them is harmless is
// in [Executor.Work]'s doc.
func (e *Executor) asyncCommitPool(ctx context.Context) (*pgxpool.Pool, error) {
	cfg := e.pool.Config().Copy()
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "off"
	// River's notifier, one fetch per queue, the completer and the leader's upkeep.
	cfg.MaxConns = 10
	cfg.MinConns, cfg.MinIdleConns = 0, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("riverexec: %w", err)
	}
	return pool, nil
}

type worker struct {
	e        *Executor
	d        *dag.DAG
	opts     dag.WorkOptions
	stopping atomic.Bool
	outMu    sync.Mutex
	out      io.Writer
}

// handBack reports whether err ended an attempt only because the worker is stopping.
func (w *worker) handBack(ctx context.Context, err error) bool {
	return err != nil && w.stopping.Load() && ctx.Err() != nil && !errors.Is(err, dag.ErrTimeout)
}

type attemptWorker struct {
	river.WorkerDefaults[attemptArgs]
	w *worker
}

// Timeout leaves the attempt's timeout to the attempt itself.
func (*attemptWorker) Timeout(*river.Job[attemptArgs]) time.Duration { return -1 }

// errSessionLost cancels an attempt whose lock session died: another worker may take
// the task over, so this one stops.
var errSessionLost = errors.New("lost the database session that holds the task's lock; stopping so that no other worker runs the task at the same time")

// Work runs one attempt. Its result commits together with a notification that wakes
// the scheduling side; the task's lock is released only after that.
func (aw *attemptWorker) Work(ctx context.Context, job *river.Job[attemptArgs]) error {
	w, e, a := aw.w, aw.w.e, job.Args
	if a.DAG != w.d.Name() {
		return river.JobCancel(fmt.Errorf("worker %s runs dag %q, not %q", e.cfg.WorkerID, w.d.Name(), a.DAG))
	}
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		if w.handBack(ctx, err) {
			return river.JobSnooze(0)
		}
		return err
	}
	lockName := fmt.Sprintf("sluice.task:%s:%s:%s:%s", e.schema, a.DAG, a.window(), a.Task)
	// One statement takes the task's lock, waiting for an earlier attempt of the task
	// over this window (from a run whose scheduler died, say) to end, and marks the
	// attempt running.
	var started bool
	err = conn.QueryRow(ctx, `WITH lock AS (SELECT pg_advisory_lock(hashtextextended($7, 0)))
		INSERT INTO `+e.table()+` AS a (run_id, task, attempt, dag, job_id, status, worker, lock_key, started)
		SELECT $1, $2, $3, $4, $5, 'running', $6, hashtextextended($7, 0), now() FROM lock
		ON CONFLICT (run_id, task, attempt) DO UPDATE SET status = 'running', worker = EXCLUDED.worker,
			lock_key = EXCLUDED.lock_key, started = EXCLUDED.started, job_id = EXCLUDED.job_id
		WHERE a.status = 'queued'
		RETURNING true`,
		a.RunID, a.Task, a.Attempt, a.DAG, job.ID, e.cfg.WorkerID, lockName).Scan(&started)
	if errors.Is(err, pgx.ErrNoRows) {
		releaseLock(ctx, e.log, conn, lockName)
		return nil // this attempt already ended; river delivered it again
	}
	if err != nil {
		// The lock may or may not have been taken: drop the session to be sure.
		c, cancel := cleanupContext(ctx)
		_ = conn.Conn().Close(c)
		cancel()
		conn.Release()
		if w.handBack(ctx, err) {
			return river.JobSnooze(0)
		}
		return fmt.Errorf("lock and start task %q attempt %d: %w", a.Task, a.Attempt, err)
	}
	unlocked := false
	defer func() {
		if unlocked {
			conn.Release()
			return
		}
		releaseLock(ctx, e.log, conn, lockName)
	}()

	r := &dag.Run{ID: a.RunID, DAG: a.DAG, Task: a.Task, Window: a.window(), Attempt: a.Attempt}
	runErr := func() error {
		att, err := w.d.NewAttempt(r)
		if err != nil {
			return err
		}
		att.Timeout = a.Timeout
		actx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		done := make(chan struct{})
		var watching sync.WaitGroup
		watching.Go(func() { e.watchSession(ctx, done, conn, cancel) })
		defer watching.Wait() // before conn is used again
		defer close(done)
		return att.Call(actx)
	}()

	if w.handBack(ctx, runErr) {
		// ctx is done: the hand-back gets the cleanup's bound, so that a server that
		// stopped answering cannot hold the worker's stop forever.
		c, cancel := cleanupContext(ctx)
		defer cancel()
		_, err := conn.Exec(c, `UPDATE `+e.table()+` SET status = 'queued', worker = NULL, lock_key = NULL, started = NULL
			WHERE run_id = $1 AND task = $2 AND attempt = $3 AND status = 'running'`, a.RunID, a.Task, a.Attempt)
		if err != nil {
			e.log.Warn("riverexec: hand back attempt", slog.String("task", a.Task), slog.Any("error", err))
		}
		e.log.Info("riverexec: attempt handed back to the queue", slog.String("task", a.Task), slog.Int("attempt", a.Attempt))
		return river.JobSnooze(0)
	}
	unlocked, err = e.record(context.WithoutCancel(ctx), conn, a, r, runErr, lockName)
	if err != nil {
		e.log.Error("riverexec: record attempt", slog.String("task", a.Task), slog.Int("attempt", a.Attempt), slog.Any("error", err))
		return hidePasswords(errors.Join(runErr, err))
	}
	return hidePasswords(runErr)
}

// hidePasswords returns err with the passwords of the connection strings its text
// quotes hidden: river keeps a failed job's error text, and river's UI shows it.
func hidePasswords(err error) error {
	if err == nil {
		return nil
	}
	return &redactedError{err}
}

type redactedError struct{ err error }

func (e *redactedError) Error() string { return redact.DSN(e.err.Error()) }
func (e *redactedError) Unwrap() error { return e.err }

// watchSession pings the lock's session while the attempt runs, until done is closed,
// and cancels the attempt when the session is gone. A ping is never cancelled halfway:
// pgx closes a connection whose query is cancelled, and with it the lock.
func (e *Executor) watchSession(ctx context.Context, done <-chan struct{}, conn *pgxpool.Conn, cancel context.CancelCauseFunc) {
	tick := time.NewTicker(e.cfg.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		pctx, stop := context.WithTimeout(context.WithoutCancel(ctx), max(e.cfg.CheckInterval, 5*time.Second))
		err := conn.Ping(pctx)
		stop()
		if err != nil {
			e.log.Error("riverexec: "+errSessionLost.Error(), slog.Any("error", err))
			cancel(errSessionLost)
			return
		}
	}
}

// record saves how the attempt ended, notifies the scheduling side and releases the
// task's lock, in one statement. The unlock takes effect before the statement commits,
// which is safe: the scheduling side marks an attempt lost only with an UPDATE that the
// row lock of this one's makes wait, and then finds the attempt no longer running.
//
// Its commit waits for the disk, as the start's does. The notification reaches the
// scheduler only after the commit, but a crash of the server could still lose a result
// committed without waiting: the row would be left running without its lock, the
// scheduler would fail the attempt as lost, and a task that succeeded would be retried,
// or reported failed with no retries left.
func (e *Executor) record(ctx context.Context, conn *pgxpool.Conn, a attemptArgs, r *dag.Run, runErr error, lockName string) (unlocked bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	status, msg, step := "success", (*string)(nil), (*string)(nil)
	if runErr != nil {
		status = "failed"
		// The attempts table is history that the scheduler's report and the UI show.
		s := redact.DSN(runErr.Error())
		msg = &s
		if st := etl.Step(runErr); st != "" {
			step = &st
		}
	}
	var checks []byte
	if c := r.Checks(); len(c) > 0 {
		if checks, err = json.Marshal(c); err != nil {
			return false, err
		}
	}
	err = conn.QueryRow(ctx, `WITH done AS (
			UPDATE `+e.table()+` SET status = $4, error = $5, step = $6, timed_out = $7, rows = $8, checks = $9, finished = now()
			WHERE run_id = $1 AND task = $2 AND attempt = $3 AND status = 'running'
			RETURNING 1)
		SELECT pg_notify($10, $11), pg_advisory_unlock(hashtextextended($12, 0)) FROM done`,
		a.RunID, a.Task, a.Attempt, status, msg, step, errors.Is(runErr, dag.ErrTimeout), r.Rows(), checks,
		e.channel(), attemptKey{a.RunID, a.Task, a.Attempt}.payload(status, r.Rows(), checks != nil), lockName).Scan(nil, &unlocked)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("task %q attempt %d was no longer running when it ended (marked lost?)", a.Task, a.Attempt)
	}
	return unlocked, err
}

// cleanupContext returns a context for the work that must still happen once ctx is done
// (handing an attempt back, closing a session), bounded as a load's cleanup is: it ends
// etl.DefaultCleanupTimeout after ctx. Call cancel when the work is over.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return (&etl.Run{}).CleanupContext(ctx)
}

// releaseLock unlocks the task; a connection that cannot is closed, which unlocks it.
func releaseLock(ctx context.Context, log *slog.Logger, conn *pgxpool.Conn, name string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock(hashtextextended($1, 0))`, name); err != nil {
		log.Warn("riverexec: unlock task; closing the connection", slog.Any("error", err))
		_ = conn.Conn().Close(ctx)
	}
	conn.Release()
}

// commandArgs is the river job of a command queued with --detach.
type commandArgs struct {
	DAG  string   `json:"dag"`
	Args []string `json:"args"`
}

// Kind implements river.JobArgs.
func (commandArgs) Kind() string { return "sluice_dag_command" }

type commandWorker struct {
	river.WorkerDefaults[commandArgs]
	w *worker
}

// Timeout lets a command run as long as its DAG runs.
func (*commandWorker) Timeout(*river.Job[commandArgs]) time.Duration { return -1 }

// Work runs a queued command. A command that found the DAG locked is cancelled, as
// another run covers the DAG; one cut short by the worker's stop is handed back.
func (cw *commandWorker) Work(ctx context.Context, job *river.Job[commandArgs]) error {
	w := cw.w
	if job.Args.DAG != w.d.Name() {
		return river.JobCancel(fmt.Errorf("worker %s runs dag %q, not %q", w.e.cfg.WorkerID, w.d.Name(), job.Args.DAG))
	}
	if w.opts.Command == nil {
		return river.JobCancel(errors.New("this worker runs no queued commands"))
	}
	var out bytes.Buffer
	err := w.opts.Command(ctx, job.Args.Args, &out)
	w.outMu.Lock()
	_, _ = io.Copy(w.out, &out)
	w.outMu.Unlock()
	cmd := strings.Join(job.Args.Args, " ")
	switch {
	case w.handBack(ctx, err):
		w.e.log.Info("riverexec: queued command handed back", slog.String("command", cmd))
		return river.JobSnooze(0)
	case errors.Is(err, etl.ErrLocked):
		w.e.log.Warn("riverexec: queued command found another run holding the lock; nothing ran", slog.String("command", cmd))
		return river.JobCancel(err)
	}
	return err
}

// Submit queues a command of d's for a worker; see [dag.Queue]. The ID is the river
// job's, and a command with the same arguments that is still queued or running is not
// queued again: its ID is returned.
func (e *Executor) Submit(ctx context.Context, d *dag.DAG, args []string) (string, error) {
	if err := e.checkReady(ctx); err != nil {
		return "", err
	}
	res, err := e.insert(ctx, commandArgs{DAG: d.Name(), Args: args}, &river.InsertOpts{
		Queue:       queueName(d.Name(), "_commands"),
		MaxAttempts: 1,
		UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: []rivertype.JobState{
			rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRunning,
			rivertype.JobStateRetryable, rivertype.JobStateScheduled,
		}},
	}, true)
	if err != nil {
		return "", fmt.Errorf("riverexec: queue %q: %w", strings.Join(args, " "), err)
	}
	id := fmt.Sprintf("job %d", res.Job.ID)
	if res.UniqueSkippedAsDuplicate {
		id += " (already queued)"
	}
	return id, nil
}

// Migrate creates river's tables (through river's own migrations) and the attempts
// table in the executor's schema, or brings them up to date. It holds an advisory lock
// meanwhile, so that two processes migrating at once do not collide; river applies
// each of its migrations in a transaction of its own.
func (e *Executor) Migrate(ctx context.Context, w io.Writer) error {
	conn, err := e.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("riverexec: migrate: %w", err)
	}
	const lock = "sluice.riverexec.migrate"
	defer func() { releaseLock(ctx, e.log, conn, lock) }()
	for _, q := range []string{
		`SELECT pg_advisory_lock(hashtextextended('` + lock + `', 0))`,
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{e.schema}.Sanitize(),
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("riverexec: migrate: %w", err)
		}
	}
	applied, err := migrateRiver(ctx, e)
	if err != nil {
		return err
	}
	for _, v := range applied {
		fmt.Fprintf(w, "applied river migration %03d %s\n", v.Version, v.Name)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+e.table()+` (
		run_id    text NOT NULL,
		task      text NOT NULL,
		attempt   int NOT NULL,
		dag       text NOT NULL,
		job_id    bigint,
		status    text NOT NULL,
		worker    text,
		lock_key  bigint,
		started   timestamptz,
		finished  timestamptz,
		error     text,
		step      text,
		timed_out boolean NOT NULL DEFAULT false,
		rows      bigint NOT NULL DEFAULT 0,
		checks    jsonb,
		PRIMARY KEY (run_id, task, attempt)
	)`); err != nil {
		return fmt.Errorf("riverexec: create %s: %w", e.table(), err)
	}
	fmt.Fprintf(w, "the queue's tables are ready in schema %s\n", e.schema)
	return nil
}
