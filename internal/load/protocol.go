package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/etl"
)

// Spec describes one load's target and policies.
type Spec struct {
	// Schema and Table name the target. Schema may be empty for the default schema.
	Schema, Table string
	// Columns are the target's loaded columns, in stream order.
	Columns []string
	// Key is the target's key, used by checks.UniqueKey with no columns.
	Key []string
	// FullRefresh makes an empty extract an error unless the run allows it.
	FullRefresh bool
	// Checks run inside the transaction after Apply.
	Checks []checks.Check
	// MetaSchema holds sluice_runs and sluice_state. Defaults to Schema.
	MetaSchema string
	// LockWait bounds the wait for another run's lock. Defaults to 0: fail at once with
	// etl.ErrLocked.
	LockWait time.Duration
	// MaxAttempts bounds transaction attempts after retryable errors. Defaults to 4.
	MaxAttempts int
	// RetryBackoff is the first retry's delay; it doubles each time, with jitter.
	// Defaults to 500ms.
	RetryBackoff time.Duration
}

// TableName returns the target as people write it: schema.table.
func (s *Spec) TableName() string {
	if s.Schema == "" {
		return s.Table
	}
	return s.Schema + "." + s.Table
}

func (s *Spec) metaSchema() string {
	if s.MetaSchema != "" {
		return s.MetaSchema
	}
	return s.Schema
}

// Run executes the protocol: it loads in into the target described by spec through mode,
// atomically. On failure the target keeps its previous rows and a failed-run record is
// written; the returned error carries the failed step (see etl.Step) and, for failed
// checks, *checks.Error values.
func Run(ctx context.Context, d Dialect, spec Spec, mode Mode, run *etl.Run, in etl.Stream) (res etl.LoadResult, err error) {
	log := run.Log().With(slog.String("pipeline", run.Pipeline), slog.String("table", spec.TableName()),
		slog.String("mode", mode.Kind()))
	p := &protocol{d: d, spec: spec, mode: mode, run: run, log: log}
	if p.spec.MaxAttempts <= 0 {
		p.spec.MaxAttempts = 4
	}
	if p.spec.RetryBackoff <= 0 {
		p.spec.RetryBackoff = 500 * time.Millisecond
	}

	committed := false
	defer func() {
		if c, ok := mode.(Cleaner); ok {
			// A cleanup failure never changes the outcome: the rows are committed (or rolled
			// back) already, and what was left behind is swept later.
			if cerr := c.Cleanup(context.WithoutCancel(ctx), committed); cerr != nil {
				log.Warn("cleanup after load failed", slog.Bool("committed", committed), slog.Any("error", cerr))
			}
		}
	}()

	sess, err := d.Session(ctx)
	if err != nil {
		err = etl.WithStep("connect", err)
		p.recordFailure(ctx, nil, run.Stats(), err, 0)
		return res, err
	}
	defer sess.Close(context.WithoutCancel(ctx))

	release, err := sess.Lock(ctx, run.Pipeline, spec.LockWait)
	if err != nil {
		// No record: the run that holds the lock is the one whose history matters, and
		// writing ours could wait on its locks.
		return res, etl.WithStep("lock", err)
	}
	defer release(context.WithoutCancel(ctx))

	if err := EnsureMeta(ctx, d, sess, p.spec.metaSchema()); err != nil {
		err = etl.WithStep("state", err)
		p.recordFailure(ctx, sess, run.Stats(), err, 0)
		return res, err
	}

	in = p.watch(ctx, in)
	if ps, ok := mode.(Prestager); ok {
		if err := p.prestage(ctx, sess, ps, in); err != nil {
			p.recordFailure(ctx, sess, run.Stats(), err, 0)
			return res, err
		}
	}
	var attempt int
	for attempt = 1; ; attempt++ {
		res, err = p.attempt(ctx, sess, in, attempt)
		if err == nil {
			committed = true
			return res, nil
		}
		if !p.retry(ctx, err, attempt) {
			break
		}
	}
	if errors.Is(err, etl.ErrLocked) {
		// Another run holds the target (Redshift's in-transaction LOCK): as with the
		// session lock above, its history is the one that matters.
		return res, err
	}
	stats := run.Stats()
	stats.RowsWritten, stats.RowsDeleted = res.RowsWritten, res.RowsDeleted
	p.recordFailure(ctx, sess, stats, err, attempt, res.Checks...)
	return res, err
}

type protocol struct {
	d          Dialect
	spec       Spec
	mode       Mode
	run        *etl.Run
	log        *slog.Logger
	loaded     int64 // rows the stage step delivered in the last attempt
	stored     any   // watermark the run started from
	haveStored bool  // stored has been read
}

// prestage reads the watermark in a short transaction of its own and hands the stream to
// the mode before any attempt begins.
func (p *protocol) prestage(ctx context.Context, sess Session, ps Prestager, in etl.Stream) error {
	tx, err := sess.Begin(ctx)
	if err != nil {
		return etl.WithStep("begin", err)
	}
	wm, err := ReadWatermark(ctx, p.d, tx, p.spec.metaSchema(), p.run.Pipeline)
	_ = tx.Rollback(context.WithoutCancel(ctx))
	if err != nil {
		return etl.WithStep("state", err)
	}
	p.stored, p.haveStored = wm, true
	p.run.SetWatermark(wm)
	return etl.WithStep("stage", ps.Prestage(ctx, p.run, in))
}

// attempt runs one transaction: begin -> prepare -> watermark -> stage -> apply -> checks
// -> state and run record -> commit.
func (p *protocol) attempt(ctx context.Context, sess Session, in etl.Stream, attempt int) (res etl.LoadResult, err error) {
	tx, err := sess.Begin(ctx)
	if err != nil {
		return res, etl.WithStep("begin", err)
	}
	done := false
	defer func() {
		if !done {
			if rerr := tx.Rollback(context.WithoutCancel(ctx)); rerr != nil {
				p.log.Warn("rollback failed", slog.Any("error", rerr))
			}
		}
	}()

	if pr, ok := p.mode.(Preparer); ok {
		if err := pr.Prepare(ctx, tx, p.run); err != nil {
			return res, etl.WithStep("lock", err)
		}
	}
	meta := p.spec.metaSchema()
	wm, err := ReadWatermark(ctx, p.d, tx, meta, p.run.Pipeline)
	if err != nil {
		return res, etl.WithStep("state", err)
	}
	if !p.haveStored {
		p.stored, p.haveStored = wm, true
		p.run.SetWatermark(wm)
	} else if !sameWatermark(wm, p.stored) {
		return res, etl.WithStep("state", fmt.Errorf("the stored watermark moved from %v to %v since this run read it; its staged rows may be stale", p.stored, wm))
	}

	prior := int64(-1)
	if needsPrior(p.spec.Checks) {
		if prior, err = countRows(ctx, tx, p.d.Qualify(p.spec.Schema, p.spec.Table)); err != nil {
			return res, etl.WithStep("check", err)
		}
	}

	loaded, err := p.mode.Stage(ctx, tx, p.run, in)
	p.loaded = loaded
	if err != nil {
		return p.uniqueViolation(ctx, res, "stage", err)
	}
	if err := ctx.Err(); err != nil {
		return res, etl.WithStep("stage", err)
	}
	stats := p.run.Stats()
	if p.spec.FullRefresh && loaded == 0 && !p.run.AllowEmpty {
		return res, etl.WithStep("stage", fmt.Errorf("table %s: %w", p.spec.TableName(), etl.ErrEmpty))
	}

	applied, err := p.mode.Apply(ctx, tx, p.run)
	if err != nil {
		return p.uniqueViolation(ctx, res, "apply", err)
	}
	res.RowsWritten, res.RowsDeleted = applied.Written, applied.Deleted
	stats.RowsWritten, stats.RowsDeleted = applied.Written, applied.Deleted

	// A Publisher's rows sit in a table of its own until Publish: the checks look there.
	checkSchema, checkTable := p.spec.Schema, p.spec.Table
	pub, publishes := p.mode.(Publisher)
	if publishes {
		checkSchema, checkTable = pub.CheckTable()
	}
	target := checks.Target{
		DB: tx, Dialect: p.d,
		Table:     p.d.Qualify(checkSchema, checkTable),
		Name:      p.spec.TableName(),
		Columns:   p.spec.Columns,
		Key:       p.spec.Key,
		Stats:     stats,
		Loaded:    loaded,
		PriorRows: prior,
	}
	if ui, ok := p.d.(UniqueIndexer); ok {
		target.UniqueIndex = func(ctx context.Context, cols []string) (bool, error) {
			return ui.UniqueIndex(ctx, tx, checkSchema, checkTable, cols)
		}
	}
	results, err := checks.Run(ctx, target, p.spec.Checks)
	res.Checks = results
	for i := range results {
		p.run.Emit(ctx, etl.Event{Kind: etl.EventCheck, Stats: stats, Check: &results[i]})
		if !results[i].Passed {
			p.log.Warn("check failed", slog.String("check", results[i].Name),
				slog.String("severity", string(results[i].Severity)), slog.String("found", results[i].Found))
		}
	}
	if err != nil {
		return res, etl.WithStep("check", err)
	}
	if err := checks.Failed(results); err != nil {
		return res, etl.WithStep("check", err)
	}
	if publishes {
		if err := pub.Publish(ctx, tx, p.run); err != nil {
			return res, etl.WithStep("apply", err)
		}
	}

	next, ok := p.run.NextWatermark()
	if ok {
		if err := WriteWatermark(ctx, p.d, tx, meta, p.run.Pipeline, next, p.run.ID); err != nil {
			return res, etl.WithStep("state", err)
		}
	}
	stats.Duration = time.Since(p.run.Started)
	rec := p.record(stats, "success", nil, attempt, results)
	if err := WriteRecord(ctx, p.d, tx, meta, rec); err != nil {
		return res, etl.WithStep("state", err)
	}
	done = true
	if err := tx.Commit(ctx); err != nil {
		return res, etl.WithStep("commit", err)
	}
	p.log.Info("load committed", slog.Int64("rows_loaded", loaded), slog.Int64("rows_written", applied.Written),
		slog.Int64("rows_deleted", applied.Deleted), slog.Int("attempts", attempt))
	return res, nil
}

// uniqueViolation turns a duplicate refused by the table's unique index into the failure
// of the load's unique_key check, when it has one: the check would have failed on the
// same rows, and its result names the key. Other errors keep their step.
func (p *protocol) uniqueViolation(ctx context.Context, res etl.LoadResult, step string, err error) (etl.LoadResult, error) {
	uv, ok := p.d.(UniqueViolator)
	if !ok {
		return res, etl.WithStep(step, err)
	}
	key, ok := uv.UniqueViolation(err)
	if !ok {
		return res, etl.WithStep(step, err)
	}
	for _, c := range p.spec.Checks {
		name := c.Name()
		if name == "unique_key()" && len(p.spec.Key) > 0 {
			name = "unique_key(" + strings.Join(p.spec.Key, ", ") + ")"
		}
		if !strings.HasPrefix(name, "unique_key(") {
			continue
		}
		r := etl.CheckResult{
			Name: name, Table: p.spec.TableName(), Severity: c.Severity(),
			Expected: "no duplicate or NULL keys",
			Found:    "a duplicate key, refused by the table's unique index",
			Samples:  []string{key},
			Note:     "enforced by the database during the " + step + " step",
		}
		res.Checks = []etl.CheckResult{r}
		p.run.Emit(ctx, etl.Event{Kind: etl.EventCheck, Stats: p.run.Stats(), Check: &r})
		return res, etl.WithStep("check", errors.Join(&checks.Error{Result: r}, err))
	}
	return res, etl.WithStep(step, err)
}

// retry reports whether to run another attempt after err, sleeping the backoff first.
func (p *protocol) retry(ctx context.Context, err error, attempt int) bool {
	if attempt >= p.spec.MaxAttempts || !p.d.Retryable(err) {
		return false
	}
	if r, ok := p.mode.(Replayer); !ok || !r.CanReplay() {
		return false
	}
	delay := p.spec.RetryBackoff << (attempt - 1)
	delay += time.Duration(rand.Int64N(int64(delay)/2 + 1))
	p.log.Warn("retrying the load transaction", slog.Int("attempt", attempt+1), slog.Duration("after", delay),
		slog.Any("error", err))
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (p *protocol) record(stats etl.Stats, status string, err error, attempts int, results []etl.CheckResult) Record {
	rec := Record{
		RunID:    p.run.ID,
		Pipeline: p.run.Pipeline,
		Mode:     p.mode.Kind(),
		Target:   p.spec.TableName(),
		Window:   p.run.Window,
		Status:   status,
		Stats:    stats,
		Loaded:   p.loaded,
		Checks:   results,
		Rejects:  p.run.Rejects(),
		Attempts: attempts,
		Started:  p.run.Started,
		Owner:    p.run.Meta.Owner,
	}
	if wm, ok := p.run.NextWatermark(); ok && status == "success" {
		rec.Watermark = wm
	}
	if err != nil {
		rec.Step, rec.Error = etl.Step(err), err.Error()
	}
	return rec
}

// recordFailure writes a failed-run record in a transaction of its own, after the load's
// rollback. It tries the load's session first and a fresh one when that is gone (a
// cancelled COPY closes its connection). It never changes the load's error.
func (p *protocol) recordFailure(ctx context.Context, sess Session, stats etl.Stats, loadErr error, attempts int, results ...etl.CheckResult) {
	ctx = context.WithoutCancel(ctx)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	stats.Duration = time.Since(p.run.Started)
	rec := p.record(stats, "failed", loadErr, attempts, results)
	err := errors.New("no session")
	if sess != nil {
		err = writeAlone(ctx, p.d, sess, p.spec.metaSchema(), rec)
	}
	if err != nil {
		fresh, ferr := p.d.Session(ctx)
		if ferr != nil {
			p.log.Error("could not record the failed run", slog.Any("error", errors.Join(err, ferr)))
			return
		}
		defer fresh.Close(ctx)
		err = writeAlone(ctx, p.d, fresh, p.spec.metaSchema(), rec)
	}
	if err != nil {
		p.log.Error("could not record the failed run", slog.Any("error", err))
	}
}

// RecordFailure writes a failed-run record for a run that failed before its load began
// (the source could not be opened, say). Sinks call it from etl.FailureRecorder.
func RecordFailure(ctx context.Context, d Dialect, spec Spec, kind string, run *etl.Run, stats etl.Stats, loadErr error) error {
	ctx = context.WithoutCancel(ctx)
	sess, err := d.Session(ctx)
	if err != nil {
		return err
	}
	defer sess.Close(ctx)
	p := &protocol{d: d, spec: spec, mode: kindOnly(kind), run: run}
	stats.Duration = time.Since(run.Started)
	return writeAlone(ctx, d, sess, spec.metaSchema(), p.record(stats, "failed", loadErr, 0, nil))
}

type kindOnly string

func (k kindOnly) Kind() string { return string(k) }
func (kindOnly) Stage(context.Context, Tx, *etl.Run, etl.Stream) (int64, error) {
	return 0, errors.New("load: not a mode")
}
func (kindOnly) Apply(context.Context, Tx, *etl.Run) (Applied, error) {
	return Applied{}, errors.New("load: not a mode")
}

func writeAlone(ctx context.Context, d Dialect, sess Session, schema string, rec Record) error {
	if err := EnsureMeta(ctx, d, sess, schema); err != nil {
		return err
	}
	tx, err := sess.Begin(ctx)
	if err != nil {
		return err
	}
	if err := WriteRecord(ctx, d, tx, schema, rec); err != nil {
		_ = tx.Rollback(ctx)
		return err
	}
	return tx.Commit(ctx)
}

// watch counts the rows that flow into the stage and emits progress events at the run's
// interval (etl.Run.ProgressEvery), read from the run's clock. Without an observer it returns in unchanged, so it costs nothing.
func (p *protocol) watch(ctx context.Context, in etl.Stream) etl.Stream {
	if p.run.Observer == nil {
		return in
	}
	every := p.run.ProgressEvery
	if every <= 0 {
		every = etl.DefaultProgressEvery
	}
	now := p.run.Clock()
	rows := in.Rows
	in.Rows = func(yield func(etl.Row, error) bool) {
		start := now()
		last := start
		var n int64
		for row, err := range rows {
			if err == nil {
				n++
				if n&255 == 0 {
					if t := now(); t.Sub(last) >= every {
						last = t
						s := p.run.Stats()
						s.RowsWritten = n
						s.Duration = t.Sub(start)
						p.run.Emit(ctx, etl.Event{Kind: etl.EventProgress, Time: t, Stats: s})
					}
				}
			}
			if !yield(row, err) {
				return
			}
		}
	}
	return in
}

func needsPrior(cs []checks.Check) bool {
	for _, c := range cs {
		if pc, ok := c.(checks.PriorCounter); ok && pc.NeedsPriorRows() {
			return true
		}
	}
	return false
}

func countRows(ctx context.Context, tx Tx, table string) (int64, error) {
	rows, err := tx.QueryRows(ctx, "SELECT COUNT(*) FROM "+table)
	if err != nil {
		return 0, err
	}
	if len(rows) != 1 || len(rows[0]) != 1 {
		return 0, fmt.Errorf("count of %s returned no row", table)
	}
	switch n := rows[0][0].(type) {
	case int64:
		return n, nil
	case int32:
		return int64(n), nil
	}
	return 0, fmt.Errorf("count of %s returned %T", table, rows[0][0])
}
