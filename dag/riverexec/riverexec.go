package riverexec

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/etl"
)

// Config configures an [Executor]. The zero Config is usable.
type Config struct {
	// Schema holds river's tables and the attempts table. Defaults to the store's
	// schema, so that one schema holds a DAG's history, queue and attempts.
	Schema string
	// Concurrency bounds the attempts one worker runs at once. Defaults to 10.
	Concurrency int
	// CommandConcurrency bounds the queued commands (run --detach) one worker schedules
	// at once. Defaults to 2.
	CommandConcurrency int
	// FetchCooldown is the least time between two fetches of a worker, river's
	// Config.FetchCooldown. Every new attempt wakes the workers through LISTEN/NOTIFY,
	// and one that comes sooner than this after a fetch waits for the rest of it.
	// Defaults to 2ms.
	FetchCooldown time.Duration
	// FetchPollInterval is how often a worker looks for attempts when no notification
	// came (one was lost with a connection, say), river's Config.FetchPollInterval.
	// Defaults to 1s.
	FetchPollInterval time.Duration
	// CheckInterval is how often the scheduling side checks that the workers running
	// its attempts are alive, and how often a worker checks that it still holds its
	// task's lock. An attempt whose worker died fails (and so is retried, if the task
	// has retries) at most this long after. Defaults to 1s.
	CheckInterval time.Duration
	// CancelGrace is how long a cancelled attempt (the run was cancelled, or timed
	// out) may take to report back before the run moves on without its result.
	// Defaults to 10s.
	CancelGrace time.Duration
	// RescueStuckJobsAfter is river's Config.RescueStuckJobsAfter: when river itself
	// gives up on a job still marked running. sluice does not wait for it, since it
	// finds dead workers through their database sessions (see CheckInterval); it only
	// tidies river's view of the job. Defaults to 1h.
	RescueStuckJobsAfter time.Duration
	// WorkerID names this process in river and in the attempts table. Defaults to
	// host-pid-random.
	WorkerID string
	// MermaidURL is the script the UI page loads to draw graphs: a classic script that
	// defines the global mermaid, as Mermaid's dist/mermaid.min.js does. "-" loads none,
	// and the page shows the graph's Mermaid source. A URL of your own is loaded as
	// given, without an integrity check. Defaults to Mermaid 11.17.2's mermaid.min.js
	// from the jsDelivr CDN, which the browser runs only if its bytes are the published
	// ones (Subresource Integrity).
	MermaidURL string
	// Logger receives the executor's and river's logs. Defaults to the logger
	// [dag.MainArgs] passes to [Open], or to discarding them.
	Logger *slog.Logger
}

// ErrNotMigrated is wrapped by the error of an executor used before [Executor.Migrate]
// created its tables.
var ErrNotMigrated = errors.New("the queue's tables do not exist; run the migrate command first")

// ErrWorkerLost is matched by the error of an attempt whose worker died, or lost its
// database session, while it ran the attempt.
var ErrWorkerLost = errors.New("worker lost")

// Executor runs the attempts of a DAG's tasks on river workers. It is a [dag.Queue]:
// the scheduling side calls [Executor.Execute] for each attempt, which queues a river
// job and waits for its result in the attempts table; workers call [Executor.Work]. It
// is safe for concurrent use.
type Executor struct {
	store   *pgstore.Store
	pool    *pgxpool.Pool
	schema  string
	cfg     Config
	log     *slog.Logger
	client  *river.Client[pgx.Tx] // inserts and cancels; workers start their own
	ownPool *pgxpool.Pool         // a pool New made, closed by Close

	readyMu sync.Mutex
	ready   bool

	watchMu sync.Mutex
	waiters map[attemptKey]chan *outcome
	stop    context.CancelFunc // stops the listener, when started
	stopped chan struct{}
	heard   chan struct{} // closed once the listener first listens
}

var _ dag.Queue = (*Executor)(nil)

// New returns an Executor whose queue, attempts and reports live in store's database.
// It creates no table: call [Executor.Migrate] once, as the migrate command of
// [dag.MainArgs] does.
func New(store *pgstore.Store, cfg Config) (*Executor, error) {
	if cfg.Schema == "" {
		cfg.Schema = store.Schema()
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 10
	}
	if cfg.CommandConcurrency <= 0 {
		cfg.CommandConcurrency = 2
	}
	if cfg.FetchCooldown <= 0 {
		cfg.FetchCooldown = 2 * time.Millisecond
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = time.Second
	}
	if cfg.CheckInterval <= 0 {
		cfg.CheckInterval = time.Second
	}
	if cfg.CancelGrace <= 0 {
		cfg.CancelGrace = 10 * time.Second
	}
	if cfg.RescueStuckJobsAfter <= 0 {
		cfg.RescueStuckJobsAfter = time.Hour
	}
	if cfg.WorkerID == "" {
		cfg.WorkerID = defaultWorkerID()
	}
	if cfg.MermaidURL == "" {
		cfg.MermaidURL = defaultMermaidURL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	e := &Executor{store: store, pool: store.Pool(), schema: cfg.Schema, cfg: cfg, log: cfg.Logger,
		waiters: map[attemptKey]chan *outcome{}}
	// A worker holds a connection per running attempt (its lock) and river needs a few
	// of its own: a store's pool too small for that gets a sibling that is not.
	if need := int32(cfg.Concurrency + 2*cfg.CommandConcurrency + 6); e.pool.Config().MaxConns < need {
		pcfg := e.pool.Config().Copy()
		pcfg.MaxConns = need
		pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
		if err != nil {
			return nil, fmt.Errorf("riverexec: %w", err)
		}
		e.pool, e.ownPool = pool, pool
	}
	// River's client sends an insert notification only when its last one for the queue
	// is older than its FetchCooldown: a job queued just after a worker's fetch would
	// then wait for the worker's next poll (FetchPollInterval), which a chain of fast
	// tasks hit often. [Executor.insert] notifies for every job itself, so the client's
	// own notifications are held to one per FetchPollInterval.
	client, err := river.NewClient(riverpgxv5.New(e.pool), &river.Config{Schema: e.schema, Logger: e.log,
		FetchCooldown: cfg.FetchPollInterval, FetchPollInterval: cfg.FetchPollInterval})
	if err == nil {
		err = checkFetchTimes(cfg) // what the workers' clients would refuse
	}
	if err != nil {
		if e.ownPool != nil {
			e.ownPool.Close()
		}
		return nil, fmt.Errorf("riverexec: %w", err)
	}
	e.client = client
	return e, nil
}

// checkFetchTimes refuses the fetch times that a worker's river client would refuse,
// so that New fails rather than Work.
func checkFetchTimes(cfg Config) error {
	if cfg.FetchCooldown < river.FetchCooldownMin {
		return fmt.Errorf("FetchCooldown must be at least %s", river.FetchCooldownMin)
	}
	if cfg.FetchPollInterval < cfg.FetchCooldown {
		return fmt.Errorf("FetchPollInterval cannot be shorter than FetchCooldown (%s)", cfg.FetchCooldown)
	}
	return nil
}

// Open returns a [dag.OpenQueue] for [dag.Config.Queues]: it makes an Executor on the
// PostgreSQL store [dag.MainArgs] opened (package dag/pgstore), logging to MainArgs'
// logger unless cfg has one.
func Open(cfg Config) dag.OpenQueue {
	return func(ctx context.Context, store dag.Store, log *slog.Logger) (dag.Queue, error) {
		s, ok := store.(*pgstore.Store)
		if !ok {
			return nil, fmt.Errorf("riverexec: the river executor keeps attempts and reports beside the queue, in PostgreSQL: give --store a PostgreSQL connection string (the store is %T)", store)
		}
		if cfg.Logger == nil {
			cfg.Logger = log
		}
		return New(s, cfg)
	}
}

// Close stops listening for attempt results, and closes the pool New made when the
// store's was too small for [Config.Concurrency]. It leaves the store's pool open.
func (e *Executor) Close() error {
	e.watchMu.Lock()
	stop, stopped := e.stop, e.stopped
	e.stop = nil
	e.watchMu.Unlock()
	if stop != nil {
		stop()
		<-stopped
	}
	if e.ownPool != nil {
		e.ownPool.Close()
	}
	return nil
}

func defaultWorkerID() string {
	host, _ := os.Hostname()
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", cmpOr(host, "worker"), os.Getpid(), hex.EncodeToString(b[:]))
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (e *Executor) table() string { return pgx.Identifier{e.schema, "dag_attempts"}.Sanitize() }

// channel is the LISTEN/NOTIFY channel on which workers announce ended attempts.
func (e *Executor) channel() string {
	h := fnv.New64a()
	h.Write([]byte(e.schema))
	return fmt.Sprintf("sluice_attempt_%016x", h.Sum64())
}

// checkReady fails with [ErrNotMigrated] until the queue's tables exist.
func (e *Executor) checkReady(ctx context.Context) error {
	e.readyMu.Lock()
	defer e.readyMu.Unlock()
	if e.ready {
		return nil
	}
	var job, att *string
	err := e.pool.QueryRow(ctx, `SELECT to_regclass($1)::text, to_regclass($2)::text`,
		pgx.Identifier{e.schema, "river_job"}.Sanitize(), e.table()).Scan(&job, &att)
	if err != nil {
		return fmt.Errorf("riverexec: look for the queue's tables: %w", err)
	}
	if job == nil || att == nil {
		return fmt.Errorf("riverexec: schema %q: %w", e.schema, ErrNotMigrated)
	}
	e.ready = true
	return nil
}

// queueName turns a DAG's name into river queue names, which allow letters, digits,
// underscores and hyphens up to 64 characters. Each DAG has its own queues, so that a
// worker takes only attempts of the DAG it declares. A name that had to change gets a
// hash of the original, so that two DAGs never share a queue.
func queueName(dagName, suffix string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(dagName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else if s := b.String(); s != "" && !strings.HasSuffix(s, "_") {
			b.WriteByte('_')
		}
	}
	clean := strings.Trim(b.String(), "_")
	if clean != dagName || len(clean) > 32 {
		h := fnv.New32a()
		h.Write([]byte(dagName))
		clean = fmt.Sprintf("%s_%08x", strings.TrimRight(clean[:min(len(clean), 32)], "_"), h.Sum32())
		clean = strings.TrimLeft(clean, "_")
	}
	return "sluice_" + clean + suffix
}

// attemptArgs is the river job of one attempt. The attempts table's key, not river's
// uniqueness, refuses a second start or result of one attempt.
type attemptArgs struct {
	RunID       string        `json:"run_id"`
	DAG         string        `json:"dag"`
	Task        string        `json:"task"`
	Attempt     int           `json:"attempt"`
	WindowStart time.Time     `json:"window_start,omitzero"`
	WindowEnd   time.Time     `json:"window_end,omitzero"`
	Timeout     time.Duration `json:"timeout_ns,omitempty"`
}

// Kind implements river.JobArgs.
func (attemptArgs) Kind() string { return "sluice_task_attempt" }

func (a attemptArgs) window() etl.Window { return etl.Window{Start: a.WindowStart, End: a.WindowEnd} }

type attemptKey struct {
	run, task string
	attempt   int
}

// payload is the notification of an ended attempt. A plain success (no checks) carries
// its rows, so that the scheduler need not read the row; anything else says only which
// attempt ended.
func (k attemptKey) payload(status string, rows int64, checks bool) string {
	p := k.run + "\x1f" + k.task + "\x1f" + strconv.Itoa(k.attempt)
	if status == "success" && !checks {
		p += "\x1f" + strconv.FormatInt(rows, 10)
	}
	return p
}

// parsePayload reads a notification: the attempt, and its outcome when it carried one.
func parsePayload(s string) (attemptKey, *outcome, bool) {
	parts := strings.Split(s, "\x1f")
	if len(parts) != 3 && len(parts) != 4 {
		return attemptKey{}, nil, false
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil {
		return attemptKey{}, nil, false
	}
	k := attemptKey{parts[0], parts[1], n}
	if len(parts) == 3 {
		return k, nil, true
	}
	rows, err := strconv.ParseInt(parts[3], 10, 64)
	if err != nil {
		return k, nil, true
	}
	return k, &outcome{status: "success", rows: rows}, true
}

// AttemptError is the error of an attempt that failed on a worker. Its message is the
// task's error as the worker saw it, so that the report reads as it would in process.
type AttemptError struct {
	// Task names the task, and Attempt counts from 1.
	Task    string
	Attempt int
	// Worker names the worker process that ran the attempt.
	Worker string
	// Message is the attempt's error.
	Message string
	// Step is the pipeline step that failed, from [etl.Step], if any.
	Step string
	// TimedOut reports an attempt stopped by its timeout; the error then matches
	// [dag.ErrTimeout].
	TimedOut bool
	// Lost reports an attempt whose worker died or lost its database session; the error
	// then matches [ErrWorkerLost].
	Lost bool
}

// Error returns the attempt's error message.
func (e *AttemptError) Error() string { return e.Message }

// AttemptWorker implements [dag.AttemptWorker].
func (e *AttemptError) AttemptWorker() string { return e.Worker }

// Is matches [dag.ErrTimeout] for a timed-out attempt and [ErrWorkerLost] for a lost one.
func (e *AttemptError) Is(target error) bool {
	return target == dag.ErrTimeout && e.TimedOut || target == ErrWorkerLost && e.Lost
}

// Unwrap returns the step the attempt failed in, for [etl.Step].
func (e *AttemptError) Unwrap() error {
	if e.Step == "" {
		return nil
	}
	return &etl.StepError{Step: e.Step, Err: errors.New(e.Message)}
}

// Execute queues attempt a as a river job and waits until a worker reports how it
// ended; the rows and checks the worker recorded are added to a.Run. A worker that dies
// while running it fails the attempt with [ErrWorkerLost] within
// [Config.CheckInterval]. When ctx is cancelled the job is cancelled too, and Execute
// waits up to [Config.CancelGrace] for the worker to report.
func (e *Executor) Execute(ctx context.Context, a *dag.Attempt) error {
	if err := e.checkReady(ctx); err != nil {
		return err
	}
	r := a.Run
	key := attemptKey{r.ID, r.Task, r.Attempt}
	wake, err := e.register(key)
	if err != nil {
		return err
	}
	defer e.unregister(key)
	e.awaitListener(ctx)
	// The job is not unique in river's sense: the attempts table's key already refuses a
	// second start or result of one attempt, and river's uniqueness would cost a hash
	// and an index entry per job.
	res, err := e.insert(ctx, attemptArgs{
		RunID: r.ID, DAG: r.DAG, Task: r.Task, Attempt: r.Attempt,
		WindowStart: r.Window.Start, WindowEnd: r.Window.End, Timeout: a.Timeout,
	}, &river.InsertOpts{Queue: queueName(r.DAG, ""), MaxAttempts: 1}, false)
	if err != nil {
		return fmt.Errorf("riverexec: queue task %q attempt %d: %w", r.Task, r.Attempt, err)
	}
	jobID := res.Job.ID
	tick := time.NewTicker(e.cfg.CheckInterval)
	defer tick.Stop()
	for {
		select {
		case out := <-wake:
			if out != nil {
				return out.apply(a)
			}
		case <-tick.C:
		case <-ctx.Done():
			return e.cancelled(ctx, a, key, jobID, wake)
		}
		out, err := e.check(ctx, key, jobID)
		if err != nil {
			if ctx.Err() != nil {
				continue // the cancel path takes over
			}
			e.log.Warn("riverexec: check attempt", slog.String("task", r.Task), slog.Any("error", err))
			continue
		}
		if out != nil {
			return out.apply(a)
		}
	}
}

// insert queues a river job in a transaction of its own, and notifies the job's queue
// in it, as river documents for jobs it did not notify itself: workers wake for every
// job, not only for those river's client chose to announce. The notification is queued
// by the statement that begins the transaction, one round trip as a plain BEGIN, and
// PostgreSQL delivers it at commit, after the job is visible.
//
// With durable false the commit does not wait for the WAL to reach the disk
// (synchronous_commit off). An attempt's job needs no more: a worker starts the attempt
// with a statement whose commit does wait, and so makes the job durable before the task
// runs; a job lost with a crash of the server before that is not found by
// [Executor.check], which fails the attempt as lost, and the task's retries run it again.
func (e *Executor) insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts, durable bool) (*rivertype.JobInsertResult, error) {
	channel := "current_schema() || '.river_insert'"
	if e.schema != "" {
		channel = quoteLiteral(e.schema + ".river_insert")
	}
	payload, err := json.Marshal(struct {
		Queue string `json:"queue"`
	}{opts.Queue})
	if err != nil {
		return nil, err
	}
	begin := "BEGIN; "
	if !durable {
		begin += "SET LOCAL synchronous_commit = off; "
	}
	begin += "SELECT pg_notify(" + channel + ", " + quoteLiteral(string(payload)) + ")"
	tx, err := e.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: begin})
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	res, err := e.client.InsertTx(ctx, tx, args, opts)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

// quoteLiteral quotes s as an SQL string literal, for the statement that begins an
// insert's transaction: it runs on the simple protocol, which binds no parameters.
func quoteLiteral(s string) string {
	return "E'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(s) + "'"
}

// cancelled cancels the attempt's job and waits, up to CancelGrace, for the worker to
// report how the attempt ended.
func (e *Executor) cancelled(ctx context.Context, a *dag.Attempt, key attemptKey, jobID int64, wake <-chan *outcome) error {
	cause := context.Cause(ctx)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.CancelGrace)
	defer cancel()
	if _, err := e.client.JobCancel(ctx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		e.log.Warn("riverexec: cancel job", slog.Int64("job", jobID), slog.Any("error", err))
	}
	tick := time.NewTicker(min(e.cfg.CheckInterval, 100*time.Millisecond))
	defer tick.Stop()
	for {
		out, err := e.check(ctx, key, jobID)
		if err == nil && out != nil {
			return out.apply(a)
		}
		select {
		case out := <-wake:
			if out != nil {
				return out.apply(a)
			}
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("%w (the worker did not report within %s)", cause, e.cfg.CancelGrace)
		}
	}
}

// outcome is how an attempt ended, as read from the attempts table.
type outcome struct {
	status string
	err    *AttemptError
	rows   int64
	checks []etl.CheckResult
}

func (o *outcome) apply(a *dag.Attempt) error {
	a.Run.AddRows(o.rows)
	a.Run.AddChecks(o.checks...)
	if o.status == "success" {
		return nil
	}
	return o.err
}

// lockHeld is true while the session that runs an attempt holds the task's advisory lock;
// PostgreSQL drops the lock with the session when the worker dies.
const lockHeld = `EXISTS (SELECT 1 FROM pg_locks l
	WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
	AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
	AND l.classid = ((a.lock_key >> 32) & 4294967295)::oid
	AND l.objid = (a.lock_key & 4294967295)::oid)`

// check reads the attempt's row. It returns nil while the attempt is queued or running,
// and marks the attempt lost when its worker's session is gone.
func (e *Executor) check(ctx context.Context, k attemptKey, jobID int64) (*outcome, error) {
	var (
		status                 string
		worker, msg, step      *string
		timedOut, orphaned     bool
		rows                   int64
		checks                 []byte
		startedBy, lostMessage string
	)
	err := e.pool.QueryRow(ctx, `SELECT a.status, a.worker, a.error, a.step, a.timed_out, a.rows, a.checks,
			a.status = 'running' AND NOT `+lockHeld+`
		FROM `+e.table()+` a WHERE a.run_id = $1 AND a.task = $2 AND a.attempt = $3`,
		k.run, k.task, k.attempt).Scan(&status, &worker, &msg, &step, &timedOut, &rows, &checks, &orphaned)
	if errors.Is(err, pgx.ErrNoRows) {
		return e.checkUnstarted(ctx, k, jobID)
	}
	if err != nil {
		return nil, err
	}
	if worker != nil {
		startedBy = *worker
	}
	switch status {
	case "queued":
		return e.checkHandedBack(ctx, k, jobID)
	case "running":
		if !orphaned {
			return nil, nil
		}
		lostMessage = fmt.Sprintf("worker %s stopped while running attempt %d of task %q: its database session ended (the process was killed, crashed or was cut off)",
			startedBy, k.attempt, k.task)
		// The worker holds the lock until its result has committed, so a row still
		// running without it was left by a dead worker. The condition is checked again
		// under the row's lock, against a worker finishing at this moment.
		tag, err := e.pool.Exec(ctx, `UPDATE `+e.table()+` a SET status = 'lost', error = $4, finished = now()
			WHERE a.run_id = $1 AND a.task = $2 AND a.attempt = $3 AND a.status = 'running' AND NOT `+lockHeld,
			k.run, k.task, k.attempt, lostMessage)
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			return nil, nil // it finished after all; the next check reads the result
		}
		e.forgetJob(ctx, jobID)
		e.log.Warn("riverexec: attempt lost with its worker", slog.String("task", k.task), slog.Int("attempt", k.attempt), slog.String("worker", startedBy))
		return &outcome{status: "lost", err: &AttemptError{Task: k.task, Attempt: k.attempt, Worker: startedBy, Message: lostMessage, Lost: true}}, nil
	}
	out := &outcome{status: status, rows: rows}
	if len(checks) > 0 {
		if err := json.Unmarshal(checks, &out.checks); err != nil {
			return nil, fmt.Errorf("decode the checks of task %q attempt %d: %w", k.task, k.attempt, err)
		}
	}
	if status != "success" {
		ae := &AttemptError{Task: k.task, Attempt: k.attempt, Worker: startedBy, TimedOut: timedOut, Lost: status == "lost"}
		if msg != nil {
			ae.Message = *msg
		}
		if step != nil {
			ae.Step = *step
		}
		out.err = ae
	}
	return out, nil
}

// checkUnstarted handles an attempt no worker has started: it ends as lost only when its
// job ended without a worker taking it up, as when river's rescuer gave up on it or an
// operator cancelled it.
func (e *Executor) checkUnstarted(ctx context.Context, k attemptKey, jobID int64) (*outcome, error) {
	job, err := e.client.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		job = &rivertype.JobRow{ID: jobID, State: rivertype.JobStateDiscarded}
	} else if err != nil {
		return nil, err
	}
	switch job.State {
	case rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateCompleted:
	default:
		return nil, nil
	}
	// The worker may have written its row just after the first read.
	var n int
	if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM `+e.table()+` WHERE run_id = $1 AND task = $2 AND attempt = $3`,
		k.run, k.task, k.attempt).Scan(&n); err != nil || n > 0 {
		return nil, err
	}
	msg := fmt.Sprintf("attempt %d of task %q never started: its river job %d ended %s", k.attempt, k.task, jobID, job.State)
	if len(job.Errors) > 0 {
		msg += ": " + job.Errors[len(job.Errors)-1].Error
	}
	worker := ""
	if len(job.AttemptedBy) > 0 {
		worker = job.AttemptedBy[len(job.AttemptedBy)-1]
	}
	return &outcome{status: "lost", err: &AttemptError{Task: k.task, Attempt: k.attempt, Worker: worker, Message: msg, Lost: true}}, nil
}

// checkHandedBack handles an attempt a stopping worker handed back to the queue. Its
// job waits for the next worker; the attempt ends as lost only when the job ended
// instead, as when the worker was killed before river recorded the hand-back and
// river's rescuer later gave up on the job, or an operator cancelled it. Without this,
// Execute would wait for a worker that never comes.
func (e *Executor) checkHandedBack(ctx context.Context, k attemptKey, jobID int64) (*outcome, error) {
	state, ended, err := e.jobEnded(ctx, jobID)
	if err != nil || !ended {
		return nil, err
	}
	msg := fmt.Sprintf("attempt %d of task %q was handed back to the queue, but its river job %d ended %s", k.attempt, k.task, jobID, state)
	tag, err := e.pool.Exec(ctx, `UPDATE `+e.table()+` SET status = 'lost', error = $4, finished = now()
		WHERE run_id = $1 AND task = $2 AND attempt = $3 AND status = 'queued'`, k.run, k.task, k.attempt, msg)
	if err != nil || tag.RowsAffected() == 0 {
		return nil, err // a worker took it up after all; the next check reads it
	}
	return &outcome{status: "lost", err: &AttemptError{Task: k.task, Attempt: k.attempt, Message: msg, Lost: true}}, nil
}

// jobEnded reports whether river's job jobID is over (cancelled, discarded, completed or
// gone), and its state.
func (e *Executor) jobEnded(ctx context.Context, jobID int64) (rivertype.JobState, bool, error) {
	job, err := e.client.JobGet(ctx, jobID)
	if errors.Is(err, river.ErrNotFound) {
		return rivertype.JobStateDiscarded, true, nil
	}
	if err != nil {
		return "", false, err
	}
	switch job.State {
	case rivertype.JobStateCancelled, rivertype.JobStateDiscarded, rivertype.JobStateCompleted:
		return job.State, true, nil
	}
	return job.State, false, nil
}

// forgetJob cancels the job of a lost attempt, so that river's rescuer ends it as
// cancelled rather than retrying it.
func (e *Executor) forgetJob(ctx context.Context, jobID int64) {
	if _, err := e.client.JobCancel(ctx, jobID); err != nil && !errors.Is(err, river.ErrNotFound) {
		e.log.Warn("riverexec: cancel the job of a lost attempt", slog.Int64("job", jobID), slog.Any("error", err))
	}
}

// register returns the channel on which the listener wakes the waiter of k, starting
// the listener on first use.
func (e *Executor) register(k attemptKey) (<-chan *outcome, error) {
	e.watchMu.Lock()
	defer e.watchMu.Unlock()
	if e.stop == nil {
		ctx, cancel := context.WithCancel(context.Background())
		e.stop, e.stopped, e.heard = cancel, make(chan struct{}), make(chan struct{})
		go e.listen(ctx, e.stopped, e.heard)
	}
	ch := make(chan *outcome, 1)
	e.waiters[k] = ch
	return ch, nil
}

// awaitListener waits, for at most CheckInterval, until the listener listens, so that
// the first attempts are not left to polling.
func (e *Executor) awaitListener(ctx context.Context) {
	e.watchMu.Lock()
	heard := e.heard
	e.watchMu.Unlock()
	t := time.NewTimer(e.cfg.CheckInterval)
	defer t.Stop()
	select {
	case <-heard:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (e *Executor) unregister(k attemptKey) {
	e.watchMu.Lock()
	delete(e.waiters, k)
	e.watchMu.Unlock()
}

func (e *Executor) wake(k attemptKey, out *outcome) {
	e.watchMu.Lock()
	ch := e.waiters[k]
	e.watchMu.Unlock()
	if ch != nil {
		select {
		case ch <- out:
		default: // a wake-up is pending: the waiter reads the row
		}
	}
}

// listen receives the notifications of ended attempts on a connection of its own, and
// wakes their waiters. When the connection fails the waiters still poll every
// CheckInterval, and listen reconnects.
func (e *Executor) listen(ctx context.Context, stopped, heard chan struct{}) {
	defer close(stopped)
	var once sync.Once
	for ctx.Err() == nil {
		err := e.listenOnce(ctx, func() { once.Do(func() { close(heard) }) })
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("riverexec: listening for attempt results failed; polling until it reconnects", slog.Any("error", err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(e.cfg.CheckInterval):
		}
	}
}

func (e *Executor) listenOnce(ctx context.Context, listening func()) error {
	conn, err := pgx.ConnectConfig(ctx, e.pool.Config().ConnConfig.Copy())
	if err != nil {
		return err
	}
	defer func() {
		// WaitForNotification returns once ctx is done; closing must not then wait on
		// a server that stopped answering.
		c, cancel := cleanupContext(ctx)
		defer cancel()
		_ = conn.Close(c)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{e.channel()}.Sanitize()); err != nil {
		return err
	}
	listening()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if k, out, ok := parsePayload(n.Payload); ok {
			e.wake(k, out)
		}
	}
}
